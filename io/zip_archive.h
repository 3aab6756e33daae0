#pragma once
// Read-only ZIP archives (PKWARE APPNOTE 6.3): the containers of PyTorch's .pt/.pth files and NumPy's
// .npz. Entries stored or deflated (zlib), ZIP64 sizes and offsets. Every header, size and offset is
// checked against the archive's length before use, and each entry's CRC-32 is verified on extraction.
#include <cstdint>
#include <string>
#include <vector>

namespace tweedie {

class ZipArchive {
 public:
  struct Entry {
    std::string name;
    std::uint64_t compressed_size = 0, size = 0;
    std::uint64_t local_header_offset = 0;
    std::uint16_t method = 0;  // 0 stored, 8 deflate
    std::uint32_t crc32 = 0;
  };

  // Parses the end-of-central-directory record and the central directory. IoError naming `path` on a
  // file that is not a ZIP archive, is truncated, or has inconsistent records.
  static ZipArchive open(const std::string& path);
  // The same from bytes already in memory; `path` only names the origin in errors.
  static ZipArchive from_bytes(std::vector<std::uint8_t> bytes, const std::string& path);

  const std::string& path() const { return path_; }
  const std::vector<Entry>& entries() const { return entries_; }
  const Entry* find(const std::string& name) const;  // nullptr when absent
  // The entry's uncompressed bytes; IoError naming the archive and the entry if it is absent, lies
  // outside the archive, uses another compression method, or fails its CRC.
  std::vector<std::uint8_t> read(const std::string& name) const;

 private:
  std::string path_;
  std::vector<std::uint8_t> bytes_;
  std::vector<Entry> entries_;
};

bool looks_like_zip(const std::vector<std::uint8_t>& bytes);  // starts with a local file header "PK\3\4"

}  // namespace tweedie
