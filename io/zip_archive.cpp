#include "io/zip_archive.h"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <string_view>

#include "io/checkpoint.h"
#include "runtime/error.h"

// Field layouts follow PKWARE's APPNOTE 6.3 (sections 4.3.7 local header, 4.3.12 central directory
// header, 4.3.14-4.3.16 end records, 4.5.3 ZIP64 extra field). All fields are little-endian, and so is
// every host tweedie builds for, so a field is read by copying its bytes into an integer.

namespace tweedie {
namespace {

constexpr std::uint32_t kLocalHeaderSignature = 0x04034b50;
constexpr std::uint32_t kCentralHeaderSignature = 0x02014b50;
constexpr std::uint32_t kEndSignature = 0x06054b50;
constexpr std::uint32_t kZip64EndSignature = 0x06064b50;
constexpr std::uint32_t kZip64LocatorSignature = 0x07064b50;
constexpr std::uint16_t kZip64ExtraId = 0x0001;

constexpr std::size_t kLocalHeaderSize = 30, kCentralHeaderSize = 46, kEndSize = 22;
constexpr std::size_t kZip64EndSize = 56, kZip64LocatorSize = 20;
constexpr std::size_t kMaxCommentSize = 0xffff;

constexpr std::uint16_t kEncryptedFlag = 0x0001;
constexpr std::uint16_t kStored = 0, kDeflated = 8;

// Deflate cannot expand data by more than 1032:1 (a 258-byte match per two bits), so a declared size
// beyond that is a lie, and refusing it early avoids allocating for it.
constexpr std::uint64_t kMaxDeflateRatio = 1032;

// zlib counts in 32-bit units; larger buffers go through it in pieces of this size.
constexpr std::uint64_t kZlibChunk = std::uint64_t(1) << 30;

template <class T>
T load(const std::uint8_t* p) {
  T value;
  std::memcpy(&value, p, sizeof value);
  return value;
}

// Whether [offset, offset + length) lies inside a buffer of `size` bytes, without overflowing.
bool fits(std::uint64_t offset, std::uint64_t length, std::uint64_t size) {
  return offset <= size && length <= size - offset;
}

// Sizes and offsets as the end records describe the central directory.
struct Directory {
  std::uint64_t entries = 0, size = 0, offset = 0;
};

// The position of the end-of-central-directory record: the last signature, scanning backwards over at
// most a maximal comment, whose comment fits in the file.
std::uint64_t find_end_record(const std::vector<std::uint8_t>& bytes, const std::string& path) {
  if (bytes.size() >= kEndSize) {
    const std::uint64_t last = bytes.size() - kEndSize;
    const std::uint64_t first = last > kMaxCommentSize ? last - kMaxCommentSize : 0;
    for (std::uint64_t pos = last + 1; pos-- > first;) {
      if (load<std::uint32_t>(&bytes[pos]) != kEndSignature) continue;
      if (fits(pos + kEndSize, load<std::uint16_t>(&bytes[pos + 20]), bytes.size())) return pos;
    }
  }
  if (looks_like_zip(bytes))
    throw IoError(cat(path, ": ZIP archive without an end-of-central-directory record (truncated?)"));
  throw IoError(cat(path, ": not a ZIP archive (no end-of-central-directory record)"));
}

// Replaces the classic end record's values with those of the ZIP64 end record, which the locator just
// before the classic record points to.
void read_zip64_end(const std::vector<std::uint8_t>& bytes, std::uint64_t end_pos, const std::string& path,
                    Directory& dir) {
  const std::uint8_t* locator = &bytes[end_pos - kZip64LocatorSize];
  if (load<std::uint32_t>(locator + 4) != 0 || load<std::uint32_t>(locator + 16) > 1)
    throw IoError(cat(path, ": multi-disk (spanned) ZIP archives are not supported"));
  const std::uint64_t pos = load<std::uint64_t>(locator + 8);
  if (!fits(pos, kZip64EndSize, end_pos - kZip64LocatorSize))
    throw IoError(cat(path, ": ZIP64 end record at offset ", pos, " lies outside the archive (truncated?)"));
  const std::uint8_t* record = &bytes[pos];
  if (load<std::uint32_t>(record) != kZip64EndSignature)
    throw IoError(cat(path, ": no ZIP64 end record at offset ", pos, " (corrupt archive)"));
  if (load<std::uint32_t>(record + 16) != 0 || load<std::uint32_t>(record + 20) != 0)
    throw IoError(cat(path, ": multi-disk (spanned) ZIP archives are not supported"));
  const std::uint64_t on_disk = load<std::uint64_t>(record + 24);
  dir.entries = load<std::uint64_t>(record + 32);
  dir.size = load<std::uint64_t>(record + 40);
  dir.offset = load<std::uint64_t>(record + 48);
  if (on_disk != dir.entries)
    throw IoError(
        cat(path, ": ZIP64 end record counts ", on_disk, " entries on this disk but ", dir.entries, " in all"));
}

Directory read_end_records(const std::vector<std::uint8_t>& bytes, const std::string& path) {
  const std::uint64_t pos = find_end_record(bytes, path);
  const std::uint8_t* end = &bytes[pos];
  const std::uint16_t disk = load<std::uint16_t>(end + 4), directory_disk = load<std::uint16_t>(end + 6);
  const std::uint16_t on_disk = load<std::uint16_t>(end + 8), total = load<std::uint16_t>(end + 10);
  Directory dir{total, load<std::uint32_t>(end + 12), load<std::uint32_t>(end + 16)};
  // A locator means the ZIP64 record holds the true values. Without one, only the count may be 0xffff
  // (an archive of exactly 65535 entries).
  const bool zip64 =
      pos >= kZip64LocatorSize && load<std::uint32_t>(&bytes[pos - kZip64LocatorSize]) == kZip64LocatorSignature;
  if (zip64) {
    read_zip64_end(bytes, pos, path, dir);
  } else if (dir.size == 0xffffffff || dir.offset == 0xffffffff) {
    throw IoError(cat(path, ": the end record defers to a ZIP64 end record, but there is no ZIP64 locator"));
  } else {
    if (disk != 0 || directory_disk != 0)
      throw IoError(cat(path, ": multi-disk (spanned) ZIP archives are not supported"));
    if (on_disk != total)
      throw IoError(cat(path, ": end record counts ", on_disk, " entries on this disk but ", total, " in all"));
  }
  if (!fits(dir.offset, dir.size, pos))
    throw IoError(cat(path, ": central directory (offset ", dir.offset, ", ", dir.size,
                      " bytes) extends past the end of the file (truncated?)"));
  if (dir.entries > dir.size / kCentralHeaderSize)
    throw IoError(cat(path, ": end record counts ", dir.entries, " entries, more than a central directory of ",
                      dir.size, " bytes can hold"));
  return dir;
}

// Fills in the fields a ZIP64 extra field carries: each 64-bit value is present only when its 32-bit
// counterpart in the header is saturated, in the order size, compressed size, offset.
void apply_zip64_extra(const std::uint8_t* extra, std::size_t length, ZipArchive::Entry& entry, bool size_saturated,
                       bool compressed_saturated, bool offset_saturated, const std::string& where) {
  std::size_t pos = 0;
  while (pos + 4 <= length) {
    const std::uint16_t id = load<std::uint16_t>(extra + pos), field_size = load<std::uint16_t>(extra + pos + 2);
    pos += 4;
    if (field_size > length - pos) throw IoError(cat(where, ": extra field overruns its header (corrupt archive)"));
    if (id == kZip64ExtraId) {
      std::size_t at = pos;
      auto next = [&](std::uint64_t& value) {
        if (at + 8 > pos + field_size) throw IoError(cat(where, ": ZIP64 extra field is too short (corrupt archive)"));
        value = load<std::uint64_t>(extra + at);
        at += 8;
      };
      if (size_saturated) next(entry.size);
      if (compressed_saturated) next(entry.compressed_size);
      if (offset_saturated) next(entry.local_header_offset);
      return;
    }
    pos += field_size;
  }
  if (size_saturated || compressed_saturated || offset_saturated)
    throw IoError(
        cat(where, ": 32-bit size or offset is saturated but there is no ZIP64 extra field (corrupt archive)"));
}

// One central directory header at `pos`, which must lie within the directory ending at `end`; returns
// the position of the next one.
std::uint64_t read_central_header(const std::vector<std::uint8_t>& bytes, std::uint64_t pos, std::uint64_t end,
                                  const std::string& path, std::size_t index, ZipArchive::Entry& entry) {
  if (!fits(pos, kCentralHeaderSize, end) || load<std::uint32_t>(&bytes[pos]) != kCentralHeaderSignature)
    throw IoError(cat(path, ": central directory header ", index, " is missing or corrupt"));
  const std::uint8_t* h = &bytes[pos];
  const std::uint16_t flags = load<std::uint16_t>(h + 8);
  entry.method = load<std::uint16_t>(h + 10);
  entry.crc32 = load<std::uint32_t>(h + 16);
  entry.compressed_size = load<std::uint32_t>(h + 20);
  entry.size = load<std::uint32_t>(h + 24);
  const std::uint16_t name_length = load<std::uint16_t>(h + 28), extra_length = load<std::uint16_t>(h + 30);
  const std::uint16_t comment_length = load<std::uint16_t>(h + 32);
  entry.local_header_offset = load<std::uint32_t>(h + 42);
  const std::uint64_t variable = std::uint64_t(name_length) + extra_length + comment_length;
  if (!fits(pos + kCentralHeaderSize, variable, end))
    throw IoError(cat(path, ": central directory header ", index, " overruns the central directory (corrupt archive)"));
  entry.name.assign(reinterpret_cast<const char*>(h + kCentralHeaderSize), name_length);
  if (entry.name.empty() || entry.name.find('\0') != std::string::npos)
    throw IoError(cat(path, ": central directory header ", index, " has an empty or invalid name"));
  const std::string where = cat(path, ": entry ", entry.name);
  apply_zip64_extra(h + kCentralHeaderSize + name_length, extra_length, entry, entry.size == 0xffffffff,
                    entry.compressed_size == 0xffffffff, entry.local_header_offset == 0xffffffff, where);
  if (flags & kEncryptedFlag) throw IoError(cat(where, " is encrypted; encrypted archives are not supported"));
  if (entry.method != kStored && entry.method != kDeflated)
    throw IoError(
        cat(where, " uses compression method ", entry.method, "; only stored (0) and deflate (8) are supported"));
  return pos + kCentralHeaderSize + variable;
}

// Ends a zlib inflate stream however the function using it is left.
struct InflateStream {
  z_stream z{};
  explicit InflateStream(const std::string& where) {
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK) throw IoError(cat(where, ": cannot initialise zlib"));
  }
  ~InflateStream() { inflateEnd(&z); }
  InflateStream(const InflateStream&) = delete;
  InflateStream& operator=(const InflateStream&) = delete;
};

// Inflates raw deflate data into exactly `out.size()` bytes; more or fewer is an error.
void inflate_exactly(const std::uint8_t* in, std::uint64_t in_size, std::vector<std::uint8_t>& out,
                     const std::string& where) {
  InflateStream stream(where);
  z_stream& z = stream.z;
  std::uint64_t in_left = in_size, out_left = out.size();
  std::uint8_t* out_next = out.data();
  std::uint8_t probe = 0;
  bool probing = false;  // the output is full; any further byte proves the declared size wrong
  for (;;) {
    if (z.avail_in == 0 && in_left > 0) {
      const std::uint64_t n = std::min(in_left, kZlibChunk);
      z.next_in = const_cast<Bytef*>(in + (in_size - in_left));  // zlib's API lacks const; it does not write
      z.avail_in = uInt(n);
      in_left -= n;
    }
    if (z.avail_out == 0 && !probing) {
      if (out_left > 0) {
        const std::uint64_t n = std::min(out_left, kZlibChunk);
        z.next_out = out_next;
        z.avail_out = uInt(n);
        out_next += n;
        out_left -= n;
      } else {
        z.next_out = &probe;
        z.avail_out = 1;
        probing = true;
      }
    }
    const int rc = inflate(&z, Z_NO_FLUSH);
    if (probing && z.avail_out == 0)
      throw IoError(cat(where, " decompresses to more than its declared ", out.size(), " bytes"));
    if (rc == Z_STREAM_END) break;
    if (rc == Z_BUF_ERROR && z.avail_in == 0 && in_left == 0)
      throw IoError(cat(where, ": deflate stream ends early (truncated or corrupt)"));
    if (rc != Z_OK && rc != Z_BUF_ERROR)
      throw IoError(cat(where, ": corrupt deflate data (zlib: ", z.msg ? z.msg : "unknown error", ")"));
  }
  const std::uint64_t produced = std::uint64_t(out_next - out.data()) - (probing ? 0 : z.avail_out);
  if (produced != out.size())
    throw IoError(cat(where, " decompresses to ", produced, " bytes, not its declared ", out.size()));
}

std::uint32_t crc32_of(const std::vector<std::uint8_t>& data) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (std::uint64_t at = 0; at < data.size(); at += kZlibChunk)
    crc = crc32(crc, data.data() + at, uInt(std::min<std::uint64_t>(kZlibChunk, data.size() - at)));
  return std::uint32_t(crc);
}

}  // namespace

bool looks_like_zip(const std::vector<std::uint8_t>& bytes) {
  return bytes.size() >= 4 && load<std::uint32_t>(bytes.data()) == kLocalHeaderSignature;
}

ZipArchive ZipArchive::open(const std::string& path) { return from_bytes(read_file_bytes(path), path); }

ZipArchive ZipArchive::from_bytes(std::vector<std::uint8_t> bytes, const std::string& path) {
  ZipArchive archive;
  archive.path_ = path;
  const Directory dir = read_end_records(bytes, path);
  archive.entries_.resize(dir.entries);
  const std::uint64_t end = dir.offset + dir.size;  // fits() in read_end_records rules out overflow
  std::uint64_t pos = dir.offset;
  for (std::size_t i = 0; i < archive.entries_.size(); ++i)
    pos = read_central_header(bytes, pos, end, path, i, archive.entries_[i]);

  // A repeated name would make find() and read() ambiguous, which is worse than refusing the file.
  std::vector<std::string_view> names;
  names.reserve(archive.entries_.size());
  for (const Entry& e : archive.entries_) names.emplace_back(e.name);
  std::sort(names.begin(), names.end());
  auto repeated = std::adjacent_find(names.begin(), names.end());
  if (repeated != names.end()) throw IoError(cat(path, ": entry ", *repeated, " appears more than once"));

  archive.bytes_ = std::move(bytes);
  return archive;
}

const ZipArchive::Entry* ZipArchive::find(const std::string& name) const {
  for (const Entry& e : entries_)
    if (e.name == name) return &e;
  return nullptr;
}

std::vector<std::uint8_t> ZipArchive::read(const std::string& name) const {
  const Entry* entry = find(name);
  const std::string where = cat(path_, ": entry ", name);
  if (!entry) throw IoError(cat(where, " not found in the archive"));

  // The local header repeats name and sizes; only its own name and extra lengths matter, since they
  // place the data (writers such as PyTorch's pad the extra field to align it).
  const std::uint64_t header = entry->local_header_offset;
  if (!fits(header, kLocalHeaderSize, bytes_.size()))
    throw IoError(cat(where, ": local header at offset ", header, " lies past the end of the file (truncated?)"));
  const std::uint8_t* h = &bytes_[header];
  if (load<std::uint32_t>(h) != kLocalHeaderSignature)
    throw IoError(cat(where, ": no local header at offset ", header, " (corrupt archive)"));
  if (load<std::uint16_t>(h + 6) & kEncryptedFlag)
    throw IoError(cat(where, " is encrypted; encrypted archives are not supported"));
  const std::uint64_t name_length = load<std::uint16_t>(h + 26), extra_length = load<std::uint16_t>(h + 28);
  const std::uint64_t data = header + kLocalHeaderSize + name_length + extra_length;
  if (!fits(header + kLocalHeaderSize, name_length + extra_length, bytes_.size()) ||
      !fits(data, entry->compressed_size, bytes_.size()))
    throw IoError(cat(where, " extends past the end of the file (truncated?)"));
  if (std::string_view(reinterpret_cast<const char*>(h + kLocalHeaderSize), name_length) != entry->name)
    throw IoError(cat(where, ": local header names a different entry (corrupt archive)"));

  if (entry->method == kStored && entry->compressed_size != entry->size)
    throw IoError(cat(where, " is stored but its sizes disagree (", entry->compressed_size, " vs ", entry->size, ")"));
  if (entry->method == kDeflated && entry->size / kMaxDeflateRatio > entry->compressed_size)
    throw IoError(cat(where, ": declared size ", entry->size, " is impossible for ", entry->compressed_size,
                      " bytes of deflate data (corrupt archive or zip bomb)"));
  if (entry->size > std::numeric_limits<std::size_t>::max() / 2)
    throw IoError(cat(where, ": declared size ", entry->size, " is too large"));

  std::vector<std::uint8_t> out;
  const std::uint8_t* in = bytes_.data() + data;
  if (entry->method == kStored) {
    out.assign(in, in + entry->size);
  } else {
    out.resize(entry->size);
    inflate_exactly(in, entry->compressed_size, out, where);
  }
  const std::uint32_t crc = crc32_of(out);
  if (crc != entry->crc32)
    throw IoError(
        cat(where, ": CRC-32 mismatch (corrupt data): computed ", std::hex, crc, ", archive says ", entry->crc32));
  return out;
}

}  // namespace tweedie
