#include <cstring>

#include "io/zip_archive.h"
#include "runtime/error.h"
#include "support.h"

using namespace tweedie;
using doctest::Contains;
using test::TempDir;

// Fixtures from tools/golden/make_zip_numpy_fixtures.py. Their contents are formulas recomputed here.
namespace {

using Bytes = std::vector<std::uint8_t>;

std::string fixture(const std::string& name) { return std::string(TWEEDIE_TEST_DATA) + "/checkpoints/" + name; }

Bytes text_bytes(const std::string& s) { return Bytes(s.begin(), s.end()); }

Bytes ramp_bytes(std::size_t n) {  // byte i = i*i mod 251
  Bytes b(n);
  for (std::size_t i = 0; i < n; ++i) b[i] = std::uint8_t((i * i) % 251);
  return b;
}

std::uint32_t get32(const Bytes& b, std::size_t at) {
  std::uint32_t v;
  std::memcpy(&v, &b.at(at + 3) - 3, 4);
  return v;
}

void put16(Bytes& b, std::size_t at, std::uint16_t v) { std::memcpy(&b.at(at + 1) - 1, &v, 2); }
void put32(Bytes& b, std::size_t at, std::uint32_t v) { std::memcpy(&b.at(at + 3) - 3, &v, 4); }

// The end-of-central-directory record: the last "PK\5\6" (the fixtures' comments do not contain one).
std::size_t end_record(const Bytes& b) {
  for (std::size_t pos = b.size() - 22 + 1; pos-- > 0;)
    if (get32(b, pos) == 0x06054b50) return pos;
  FAIL("no end record");
  return 0;
}

// The offset of the k-th central directory header of an archive without ZIP64 records.
std::size_t central_header(const Bytes& b, int k) {
  std::size_t pos = get32(b, end_record(b) + 16);
  for (int i = 0; i < k; ++i) {
    REQUIRE(get32(b, pos) == 0x02014b50);
    std::uint16_t name, extra, comment;
    std::memcpy(&name, &b[pos + 28], 2);
    std::memcpy(&extra, &b[pos + 30], 2);
    std::memcpy(&comment, &b[pos + 32], 2);
    pos += 46 + name + extra + comment;
  }
  REQUIRE(get32(b, pos) == 0x02014b50);
  return pos;
}

// Writes corrupted bytes to a fresh file and opens it, so that errors name that file.
ZipArchive open_bytes(const TempDir& dir, const Bytes& bytes) {
  std::string path = dir.file("bad.zip");
  test::write_bytes(path, bytes);
  return ZipArchive::open(path);
}

// zip_plain.zip: hello.txt (stored), data/ramp.bin (deflated), empty (stored, no bytes), a comment.
constexpr int kRampEntry = 1;

}  // namespace

TEST_CASE("a ZIP archive written by Python lists its entries and returns their stored and deflated bytes") {
  ZipArchive zip = ZipArchive::open(fixture("zip_plain.zip"));
  CHECK(zip.path() == fixture("zip_plain.zip"));
  REQUIRE(zip.entries().size() == 3);
  CHECK(zip.entries()[0].name == "hello.txt");
  CHECK(zip.entries()[0].method == 0);
  CHECK(zip.entries()[1].name == "data/ramp.bin");
  CHECK(zip.entries()[1].method == 8);
  CHECK(zip.entries()[1].size == 5000);
  CHECK(zip.entries()[1].compressed_size < 5000);
  CHECK(zip.read("hello.txt") == text_bytes("Hello from a stored entry.\n"));
  CHECK(zip.read("data/ramp.bin") == ramp_bytes(5000));
  CHECK(zip.read("empty").empty());
  REQUIRE(zip.find("empty") != nullptr);
  CHECK(zip.find("empty")->size == 0);
  CHECK(zip.find("nope") == nullptr);
  CHECK(zip.find("data") == nullptr);
}

TEST_CASE("a ZIP64 archive with its sizes and offsets in extra fields and a ZIP64 end record is read") {
  ZipArchive zip = ZipArchive::open(fixture("zip64.zip"));
  REQUIRE(zip.entries().size() == 2);
  CHECK(zip.entries()[0].name == "a.txt");
  CHECK(zip.entries()[1].local_header_offset > 0);
  CHECK(zip.entries()[1].size == 3000);
  CHECK(zip.read("a.txt") == text_bytes("ZIP64 sizes live in extra fields.\n"));
  CHECK(zip.read("dir/b.bin") == ramp_bytes(3000));
}

TEST_CASE("an archive whose local headers pad the data to 64 bytes, as PyTorch writes them, is read") {
  ZipArchive zip = ZipArchive::open(fixture("zip_aligned.zip"));
  REQUIRE(zip.entries().size() == 3);
  CHECK(zip.read("archive/version") == text_bytes("3\n"));
  Bytes data = zip.read("archive/data/0");
  REQUIRE(data.size() == 6 * sizeof(float));
  for (int i = 0; i < 6; ++i) {
    float v;
    std::memcpy(&v, &data[4 * i], 4);
    CHECK(v == 0.5f * float(i));
  }
}

TEST_CASE("archives in memory are read like files, and only ZIP files look like ZIP files") {
  Bytes bytes = test::read_bytes(fixture("zip_plain.zip"));
  CHECK(looks_like_zip(bytes));
  CHECK_FALSE(looks_like_zip(test::read_bytes(fixture("numpy_f4.npy"))));
  CHECK_FALSE(looks_like_zip({'P', 'K'}));
  ZipArchive zip = ZipArchive::from_bytes(bytes, "memory.zip");
  CHECK(zip.path() == "memory.zip");
  CHECK(zip.read("data/ramp.bin") == ramp_bytes(5000));
  CHECK_THROWS_WITH_AS(zip.read("missing.bin"), Contains("memory.zip: entry missing.bin not found"), IoError);

  Bytes empty_archive = {'P', 'K', 5, 6};  // an end record and nothing else: valid, without entries
  empty_archive.resize(22, 0);
  CHECK(ZipArchive::from_bytes(empty_archive, "empty.zip").entries().empty());
}

TEST_CASE("a file that is not a ZIP archive is rejected as such") {
  CHECK_THROWS_WITH_AS(ZipArchive::open(fixture("numpy_f4.npy")), Contains("numpy_f4.npy: not a ZIP archive"), IoError);
  CHECK_THROWS_WITH_AS(ZipArchive::from_bytes({}, "nothing.zip"), Contains("nothing.zip: not a ZIP archive"), IoError);
  CHECK_THROWS_WITH_AS(ZipArchive::open(fixture("no-such.zip")), Contains("cannot open"), IoError);
}

TEST_CASE("a ZIP archive cut in half is reported as truncated") {
  TempDir dir;
  Bytes bytes = test::read_bytes(fixture("zip_plain.zip"));
  bytes.resize(bytes.size() / 2);
  CHECK_THROWS_WITH_AS(open_bytes(dir, bytes),
                       Contains("bad.zip: ZIP archive without an end-of-central-directory record (truncated?)"),
                       IoError);
}

TEST_CASE("a ZIP archive cut inside its central directory is reported as truncated") {
  TempDir dir;
  Bytes bytes = test::read_bytes(fixture("zip_plain.zip"));
  bytes.resize(central_header(bytes, 1) + 10);
  CHECK_THROWS_WITH_AS(open_bytes(dir, bytes), Contains("(truncated?)"), IoError);
}

TEST_CASE("a central directory that extends past the end of the file is rejected") {
  TempDir dir;
  Bytes bytes = test::read_bytes(fixture("zip_plain.zip"));
  std::size_t end = end_record(bytes);
  put32(bytes, end + 12, get32(bytes, end + 12) + 1000);
  CHECK_THROWS_WITH_AS(open_bytes(dir, bytes), Contains("central directory (offset"), IoError);
  CHECK_THROWS_WITH_AS(open_bytes(dir, bytes), Contains("extends past the end of the file"), IoError);
}

TEST_CASE("an entry count larger than the central directory can hold is rejected") {
  TempDir dir;
  Bytes bytes = test::read_bytes(fixture("zip_plain.zip"));
  std::size_t end = end_record(bytes);
  put16(bytes, end + 8, 60000);
  put16(bytes, end + 10, 60000);
  CHECK_THROWS_WITH_AS(open_bytes(dir, bytes),
                       Contains("end record counts 60000 entries, more than a central directory of"), IoError);
}

TEST_CASE("a central directory header whose name overruns the directory is rejected") {
  TempDir dir;
  Bytes bytes = test::read_bytes(fixture("zip_plain.zip"));
  put16(bytes, central_header(bytes, 2) + 28, 5000);
  CHECK_THROWS_WITH_AS(open_bytes(dir, bytes), Contains("central directory header 2 overruns the central directory"),
                       IoError);
}

TEST_CASE("an entry whose local header lies past the end of the file is rejected") {
  TempDir dir;
  Bytes bytes = test::read_bytes(fixture("zip_plain.zip"));
  put32(bytes, central_header(bytes, kRampEntry) + 42, std::uint32_t(bytes.size() + 100));
  ZipArchive zip = open_bytes(dir, bytes);  // the directory alone is consistent
  CHECK(zip.read("hello.txt") == text_bytes("Hello from a stored entry.\n"));
  CHECK_THROWS_WITH_AS(zip.read("data/ramp.bin"), Contains("bad.zip: entry data/ramp.bin: local header at offset"),
                       IoError);
  CHECK_THROWS_WITH_AS(zip.read("data/ramp.bin"), Contains("lies past the end of the file (truncated?)"), IoError);
}

TEST_CASE("an entry whose compressed size runs past the end of the file is rejected") {
  TempDir dir;
  Bytes bytes = test::read_bytes(fixture("zip_plain.zip"));
  put32(bytes, central_header(bytes, kRampEntry) + 20, std::uint32_t(bytes.size()));
  ZipArchive zip = open_bytes(dir, bytes);
  CHECK_THROWS_WITH_AS(zip.read("data/ramp.bin"),
                       Contains("bad.zip: entry data/ramp.bin extends past the end of the file (truncated?)"), IoError);
}

TEST_CASE("an entry pointing at something other than its local header is rejected") {
  TempDir dir;
  Bytes bytes = test::read_bytes(fixture("zip_plain.zip"));
  put32(bytes, central_header(bytes, kRampEntry) + 42, 4);  // inside the first local header
  CHECK_THROWS_WITH_AS(open_bytes(dir, bytes).read("data/ramp.bin"), Contains("no local header at offset 4"), IoError);
}

TEST_CASE("a flipped data byte fails the CRC-32 check of stored and deflated entries") {
  TempDir dir;
  const Bytes good = test::read_bytes(fixture("zip_plain.zip"));
  SUBCASE("stored") {
    Bytes bytes = good;
    std::size_t data = 30 + std::string("hello.txt").size();  // the first entry has no extra field
    REQUIRE(bytes[data] == 'H');
    bytes[data] ^= 0x20;
    CHECK_THROWS_WITH_AS(open_bytes(dir, bytes).read("hello.txt"),
                         Contains("bad.zip: entry hello.txt: CRC-32 mismatch"), IoError);
  }
  SUBCASE("deflated") {
    Bytes bytes = good;
    Bytes stored = text_bytes("Hello from a stored entry.\n");
    std::size_t data = 2 * 30 + 9 + stored.size() + std::string("data/ramp.bin").size();
    // Flipping a bit of a literal keeps the deflate stream valid; the exact failure depends on the
    // bit, so accept either of the two messages that name data damage.
    bytes[data + 40] ^= 0x01;
    ZipArchive zip = open_bytes(dir, bytes);
    try {
      zip.read("data/ramp.bin");
      FAIL("a corrupted entry was read");
    } catch (const IoError& e) {
      std::string what = e.what();
      CHECK(what.find("bad.zip: entry data/ramp.bin") != std::string::npos);
      CHECK((what.find("CRC-32 mismatch") != std::string::npos || what.find("deflate") != std::string::npos ||
             what.find("decompresses to") != std::string::npos));
    }
  }
}

TEST_CASE("a deflated entry that inflates to more or less than its declared size is rejected") {
  TempDir dir;
  Bytes bytes = test::read_bytes(fixture("zip_plain.zip"));
  std::size_t header = central_header(bytes, kRampEntry);
  SUBCASE("more") {
    put32(bytes, header + 24, 4000);
    CHECK_THROWS_WITH_AS(open_bytes(dir, bytes).read("data/ramp.bin"),
                         Contains("entry data/ramp.bin decompresses to more than its declared 4000 bytes"), IoError);
  }
  SUBCASE("less") {
    put32(bytes, header + 24, 6000);
    CHECK_THROWS_WITH_AS(open_bytes(dir, bytes).read("data/ramp.bin"),
                         Contains("entry data/ramp.bin decompresses to 5000 bytes, not its declared 6000"), IoError);
  }
  SUBCASE("impossibly more") {
    put32(bytes, header + 24, 0xfffffff0u);
    CHECK_THROWS_WITH_AS(open_bytes(dir, bytes).read("data/ramp.bin"), Contains("corrupt archive or zip bomb"),
                         IoError);
  }
}

TEST_CASE("encrypted entries and unknown compression methods are refused") {
  TempDir dir;
  Bytes bytes = test::read_bytes(fixture("zip_plain.zip"));
  std::size_t header = central_header(bytes, kRampEntry);
  SUBCASE("encrypted") {
    bytes[header + 8] |= 1;
    CHECK_THROWS_WITH_AS(open_bytes(dir, bytes), Contains("bad.zip: entry data/ramp.bin is encrypted"), IoError);
  }
  SUBCASE("bzip2") {
    put16(bytes, header + 10, 12);
    CHECK_THROWS_WITH_AS(open_bytes(dir, bytes), Contains("bad.zip: entry data/ramp.bin uses compression method 12"),
                         IoError);
  }
}

TEST_CASE("a ZIP64 archive whose ZIP64 end record is missing or whose extra field is short is rejected") {
  TempDir dir;
  const Bytes good = test::read_bytes(fixture("zip64.zip"));
  SUBCASE("no locator") {
    Bytes bytes = good;
    std::size_t end = end_record(bytes);
    put32(bytes, end - 20, 0);  // the locator's signature
    CHECK_THROWS_WITH_AS(open_bytes(dir, bytes), Contains("there is no ZIP64 locator"), IoError);
  }
  SUBCASE("short extra field") {
    Bytes bytes = good;
    std::size_t end = end_record(bytes);
    std::uint64_t directory;  // from the ZIP64 end record, which the locator points to
    std::uint64_t z64;
    std::memcpy(&z64, &bytes[end - 20 + 8], 8);
    std::memcpy(&directory, &bytes[z64 + 48], 8);
    REQUIRE(get32(bytes, directory) == 0x02014b50);
    put16(bytes, directory + 46 + 5 + 2, 16);  // entry "a.txt": its ZIP64 field then lacks the offset
    CHECK_THROWS_WITH_AS(open_bytes(dir, bytes), Contains("entry a.txt: ZIP64 extra field is too short"), IoError);
  }
}
