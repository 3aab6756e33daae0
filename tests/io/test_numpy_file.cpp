#include <cstring>

#include "io/checkpoint_readers.h"
#include "runtime/error.h"
#include "runtime/half.h"
#include "support.h"

using namespace tweedie;
using doctest::Contains;
using test::TempDir;

// Fixtures from tools/golden/make_zip_numpy_fixtures.py; the values they hold are formulas of the
// row-major element index, recomputed here.
namespace {

using Bytes = std::vector<std::uint8_t>;
using Shape64 = std::vector<std::int64_t>;

std::string fixture(const std::string& name) { return std::string(TWEEDIE_TEST_DATA) + "/checkpoints/" + name; }

template <class T>
std::vector<T> values(const RawTensor& t) {
  REQUIRE(t.data.size() == std::size_t(t.numel()) * sizeof(T));
  std::vector<T> out(std::size_t(t.numel()));
  if (!out.empty()) std::memcpy(out.data(), t.data.data(), t.data.size());
  return out;
}

// i * scale + offset for i = 0..n-1, rounded to T as numpy's astype() does.
template <class T>
std::vector<T> grid(std::size_t n, double scale = 1.0, double offset = 0.0) {
  std::vector<T> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = T(double(i) * scale + offset);
  return out;
}

// A version 1.0 .npy file with the given header text and data.
Bytes npy(const std::string& header, const Bytes& data = {}) {
  std::string preamble("\x93NUMPY\x01\x00", 8);
  preamble += char(header.size() & 0xff);
  preamble += char(header.size() >> 8);
  const std::string text = preamble + header;
  Bytes b(text.size() + data.size());
  std::memcpy(b.data(), text.data(), text.size());
  if (!data.empty()) std::memcpy(b.data() + text.size(), data.data(), data.size());
  return b;
}

template <class T>
Bytes bytes_of(const std::vector<T>& v) {
  Bytes b(v.size() * sizeof(T));
  if (!b.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

RawTensor read_fixture(const std::string& name) { return read_npy(test::read_bytes(fixture(name)), name); }

}  // namespace

TEST_CASE("a float32 array saved by NumPy is read with its shape and values") {
  RawTensor t = read_fixture("numpy_f4.npy");
  CHECK(t.type == ElementType::f32);
  CHECK(t.shape == Shape64{3, 4});
  CHECK(values<float>(t) == grid<float>(12, 0.5, -2.0));
  CHECK(t.to_f32("numpy_f4.npy") == grid<float>(12, 0.5, -2.0));
}

TEST_CASE("a NumPy 0-d array is a scalar with an empty shape") {
  RawTensor t = read_fixture("numpy_scalar.npy");
  CHECK(t.type == ElementType::f64);
  CHECK(t.shape.empty());
  CHECK(values<double>(t) == std::vector<double>{2.75});
}

TEST_CASE("a Fortran-order NumPy array is transposed into row-major order") {
  RawTensor t = read_fixture("numpy_fortran.npy");
  CHECK(t.type == ElementType::f64);
  CHECK(t.shape == Shape64{2, 3, 4});
  CHECK(values<double>(t) == grid<double>(24));
}

TEST_CASE("a big-endian NumPy array is converted to little-endian") {
  RawTensor t = read_fixture("numpy_bigendian.npy");
  CHECK(t.type == ElementType::f32);
  CHECK(t.shape == Shape64{2, 3});
  CHECK(values<float>(t) == grid<float>(6, 0.25, 1.0));
}

TEST_CASE("a version 2.0 .npy file with a 4-byte header length is read") {
  RawTensor t = read_fixture("numpy_v2.npy");
  CHECK(t.type == ElementType::i64);
  CHECK(t.shape == Shape64{5});
  CHECK(values<std::int64_t>(t) == grid<std::int64_t>(5, 3.0));
}

TEST_CASE("an npy header with its keys in another order, double quotes and no trailing comma is parsed") {
  Bytes data = bytes_of(grid<std::int16_t>(6, -2.0));
  RawTensor t = read_npy(npy("{ \"shape\":(3,2) ,'fortran_order':False,'descr':'<i2'}\n", data), "hand.npy");
  CHECK(t.type == ElementType::i16);
  CHECK(t.shape == Shape64{3, 2});
  CHECK(values<std::int16_t>(t) == grid<std::int16_t>(6, -2.0));

  t = read_npy(npy("{'descr': '|u1', 'fortran_order': True, 'shape': (2L, 3L), }", {0, 3, 1, 4, 2, 5}), "py2.npy");
  CHECK(t.shape == Shape64{2, 3});
  CHECK(values<std::uint8_t>(t) == grid<std::uint8_t>(6));

  t = read_npy(npy("{'descr': '>i4', 'fortran_order': True, 'shape': (2,), }", {0, 0, 1, 2, 0xff, 0xff, 0xff, 0xfe}),
               "be.npy");
  CHECK(values<std::int32_t>(t) == std::vector<std::int32_t>{258, -2});
}

TEST_CASE("an npz archive saved by np.savez holds every supported element type under its entry names") {
  TensorDict d = read_npz(fixture("numpy_types.npz"));
  CHECK(d.size() == 12);
  const Shape64 two_by_three{2, 3};
  for (const char* key : {"f2", "f4", "f8", "i1", "u1", "i2", "i4", "i8", "b1"}) {
    CAPTURE(key);
    REQUIRE(d.count(key) == 1);
    CHECK(d[key].shape == two_by_three);
  }
  CHECK(d["f2"].type == ElementType::f16);
  std::vector<float> halves;
  for (std::uint16_t h : values<std::uint16_t>(d["f2"])) halves.push_back(f16_to_f32(h));
  CHECK(halves == grid<float>(6, 0.5, -1.0));
  CHECK(d["f4"].type == ElementType::f32);
  CHECK(values<float>(d["f4"]) == grid<float>(6, 0.25, -0.5));
  CHECK(d["f8"].type == ElementType::f64);
  CHECK(values<double>(d["f8"]) == std::vector<double>{0.0, 1 / 3.0, 2 / 3.0, 3 / 3.0, 4 / 3.0, 5 / 3.0});
  CHECK(d["i1"].type == ElementType::i8);
  CHECK(values<std::int8_t>(d["i1"]) == grid<std::int8_t>(6, 1.0, -3.0));
  CHECK(d["u1"].type == ElementType::u8);
  CHECK(values<std::uint8_t>(d["u1"]) == grid<std::uint8_t>(6, 1.0, 250.0));
  CHECK(d["i2"].type == ElementType::i16);
  CHECK(values<std::int16_t>(d["i2"]) == grid<std::int16_t>(6, -1000.0));
  CHECK(d["i4"].type == ElementType::i32);
  CHECK(values<std::int32_t>(d["i4"]) == grid<std::int32_t>(6, 100000.0, -7.0));
  CHECK(d["i8"].type == ElementType::i64);
  CHECK(values<std::int64_t>(d["i8"]) == grid<std::int64_t>(6, double(std::int64_t(1) << 40), -1.0));
  CHECK(d["b1"].type == ElementType::boolean);
  CHECK(values<std::uint8_t>(d["b1"]) == std::vector<std::uint8_t>{1, 0, 0, 1, 0, 0});

  CHECK(d["scalar"].shape.empty());
  CHECK(values<double>(d["scalar"]) == std::vector<double>{2.75});
  CHECK(d["empty"].shape == Shape64{0, 3});
  CHECK(d["empty"].data.empty());
  REQUIRE(d.count("ema/out.bias") == 1);  // a nested name keeps its slash
  CHECK(values<float>(d["ema/out.bias"]) == grid<float>(4, 1.5));
}

TEST_CASE("an npz archive saved by np.savez_compressed is inflated") {
  TensorDict d = read_npz(fixture("numpy_compressed.npz"));
  CHECK(d.size() == 2);
  REQUIRE(d.count("weight") == 1);
  CHECK(d["weight"].shape == Shape64{10, 100});
  CHECK(values<float>(d["weight"]) == grid<float>(1000, 0.001));
  REQUIRE(d.count("layers/0/bias") == 1);
  CHECK(d["layers/0/bias"].type == ElementType::f16);
  std::vector<float> bias = d["layers/0/bias"].to_f32("bias");
  CHECK(bias == grid<float>(10, -0.5));
}

TEST_CASE("a file without the NumPy magic is not an npy file") {
  Bytes bytes = test::read_bytes(fixture("numpy_f4.npy"));
  bytes[1] = 'n';
  CHECK_THROWS_WITH_AS(read_npy(bytes, "x.npy"), Contains("x.npy: not a NumPy .npy file"), IoError);
  CHECK_THROWS_WITH_AS(read_npy({}, "empty.npy"), Contains("empty.npy: not a NumPy .npy file"), IoError);
  bytes = test::read_bytes(fixture("numpy_f4.npy"));
  bytes[6] = 4;
  CHECK_THROWS_WITH_AS(read_npy(bytes, "x.npy"), Contains("x.npy: unsupported .npy format version 4.0"), IoError);
}

TEST_CASE("an npy header that claims more data than the file holds is reported as truncated") {
  Bytes bytes = test::read_bytes(fixture("numpy_f4.npy"));
  bytes.resize(bytes.size() - 4);
  CHECK_THROWS_WITH_AS(read_npy(bytes, "x.npy"),
                       Contains("x.npy: truncated: shape (3, 4) of <f4 needs 48 bytes of data, the file has 44"),
                       IoError);
  Bytes shape_too_big = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }", bytes_of(grid<float>(4)));
  CHECK_THROWS_WITH_AS(read_npy(shape_too_big, "y.npy"), Contains("y.npy: truncated: shape (5,) of <f4 needs 20 bytes"),
                       IoError);
  bytes.resize(20);  // inside the header
  CHECK_THROWS_WITH_AS(read_npy(bytes, "x.npy"), Contains("extends past the end of the file (truncated?)"), IoError);
}

TEST_CASE("bytes after an npy array's data are rejected") {
  Bytes bytes = test::read_bytes(fixture("numpy_f4.npy"));
  bytes.push_back(0);
  CHECK_THROWS_WITH_AS(read_npy(bytes, "x.npy"), Contains("x.npy: 1 unexpected bytes after the data of shape (3, 4)"),
                       IoError);
}

TEST_CASE("an npy shape whose element count overflows is rejected") {
  Bytes bytes = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 4), }");
  CHECK_THROWS_WITH_AS(read_npy(bytes, "huge.npy"), Contains("huge.npy: shape too large"), IoError);
  bytes = npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }");
  CHECK_THROWS_WITH_AS(read_npy(bytes, "huge.npy"), Contains("a dimension does not fit in 64 bits"), IoError);
}

TEST_CASE("object arrays and other unsupported NumPy dtypes are refused, naming the descr") {
  for (const char* descr : {"|O", "<U5", "<c8", "<u4", "|f4", "<f16", "<M8[s]"}) {
    CAPTURE(descr);
    Bytes bytes = npy(cat("{'descr': '", descr, "', 'fortran_order': False, 'shape': (), }"), Bytes(16));
    std::string message = cat("odd.npy: unsupported NumPy dtype '", descr, "'");
    CHECK_THROWS_WITH_AS(read_npy(bytes, "odd.npy"), Contains(message.c_str()), IoError);
  }
  Bytes structured = npy("{'descr': [('a', '<f4'), ('b', '<i4')], 'fortran_order': False, 'shape': (2,), }", Bytes(16));
  CHECK_THROWS_WITH_AS(read_npy(structured, "rec.npy"), Contains("rec.npy: malformed .npy header: structured dtypes"),
                       IoError);
}

TEST_CASE("malformed npy headers are rejected, naming the problem") {
  auto fails_with = [](const std::string& header, const std::string& message) {
    CAPTURE(header);
    std::string want = cat("h.npy: malformed .npy header: ", message);
    CHECK_THROWS_WITH_AS(read_npy(npy(header, Bytes(4)), "h.npy"), Contains(want.c_str()), IoError);
  };
  fails_with("{'descr': '<f4', 'shape': (1,), }", "it needs the keys");
  fails_with("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 'x', }", "unknown key 'extra'");
  fails_with("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,), }", "key 'descr' appears twice");
  fails_with("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,), }", "expected a string, True, False or a tuple");
  fails_with("{'descr': '<f4', 'fortran_order': 'no', 'shape': (1,), }", "'fortran_order' must be True or False");
  fails_with("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", "expected a non-negative integer");
  fails_with("{'descr': '<f4', 'fortran_order': False, 'shape': (1,) ", "expected '}'");
  fails_with("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } x", "unexpected text after the header dict");
  fails_with("{'descr: '<f4'}", "expected ':'");
  fails_with("['descr']", "expected '{'");
}

TEST_CASE("an npz entry that is not an npy file is rejected") {
  TempDir dir;
  SUBCASE("a ZIP archive of other files") {
    CHECK_THROWS_WITH_AS(read_npz(fixture("zip_plain.zip")),
                         Contains("zip_plain.zip: entry hello.txt is not a .npy array"), IoError);
  }
  SUBCASE("a damaged array inside an npz") {
    Bytes bytes = test::read_bytes(fixture("numpy_types.npz"));
    // The first entry is f2.npy, stored: the magic follows its local header (30 bytes, the name and a
    // 20-byte ZIP64 extra field, which numpy forces).
    std::size_t magic = 30 + 6 + 20;
    REQUIRE(bytes[magic] == 0x93);
    bytes[magic + 1] = 'n';
    std::string path = dir.file("bad.npz");
    test::write_bytes(path, bytes);
    CHECK_THROWS_WITH_AS(read_npz(path), Contains("bad.npz: entry f2.npy: CRC-32 mismatch"), IoError);
  }
  SUBCASE("not a ZIP archive at all") {
    CHECK_THROWS_WITH_AS(read_npz(fixture("numpy_f4.npy")), Contains("not a ZIP archive"), IoError);
  }
}
