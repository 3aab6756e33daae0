#include <cstring>

#include "io/checkpoint_readers.h"
#include "runtime/error.h"
#include "runtime/half.h"
#include "support.h"

using namespace tweedie;
using test::TempDir;

namespace {

const std::string kData = std::string(TWEEDIE_TEST_DATA) + "/checkpoints/";

// A safetensors file from a header text and data bytes, as the format lays them out.
void write_safetensors(const std::string& path, const std::string& header, std::size_t data_bytes) {
  std::vector<std::uint8_t> bytes(8 + header.size() + data_bytes, 0);
  std::uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);
  std::memcpy(bytes.data() + 8, header.data(), header.size());
  test::write_bytes(path, bytes);
}

template <class T>
std::vector<T> values_of(const RawTensor& t) {
  REQUIRE(t.data.size() == std::size_t(t.numel()) * sizeof(T));
  std::vector<T> v(std::size_t(t.numel()));
  std::memcpy(v.data(), t.data.data(), t.data.size());
  return v;
}

}  // namespace

TEST_CASE("safetensors written by the safetensors library read back with types, shapes and values") {
  TensorDict d = read_safetensors(kData + "tensors.safetensors");
  CHECK(d.size() == 9);  // __metadata__ is not a tensor
  auto ramp = [](std::int64_t n) {
    std::vector<double> v;
    for (std::int64_t i = 0; i < n; ++i) v.push_back(double(i - 3) / 4);
    return v;
  };
  CHECK(d.at("f16").type == ElementType::f16);
  CHECK(d.at("f16").shape == std::vector<std::int64_t>{2, 3});
  std::vector<float> f16 = d.at("f16").to_f32("f16");
  CHECK(std::vector<double>(f16.begin(), f16.end()) == ramp(6));
  CHECK(d.at("f32").shape == std::vector<std::int64_t>{4, 1, 2});
  std::vector<float> f32 = values_of<float>(d.at("f32"));
  CHECK(std::vector<double>(f32.begin(), f32.end()) == ramp(8));
  CHECK(values_of<double>(d.at("f64")) == ramp(5));
  CHECK(values_of<std::int64_t>(d.at("i64")) == std::vector<std::int64_t>{-3, -2, -1});
  CHECK(values_of<std::int32_t>(d.at("i32")) == std::vector<std::int32_t>{-3, -2, -1, 0});
  CHECK(values_of<std::uint8_t>(d.at("u8")) == std::vector<std::uint8_t>{0, 1, 2, 3});
  CHECK(values_of<std::uint8_t>(d.at("bool")) == std::vector<std::uint8_t>{0, 1, 0});
  CHECK(d.at("scalar").shape.empty());
  CHECK(d.at("scalar").to_f32("scalar") == std::vector<float>{2.5f});
  CHECK(d.at("empty").numel() == 0);
  CHECK_THROWS_WITH_AS(d.at("i64").to_f32("model.pt: i64"), doctest::Contains("not floating point"), IoError);

  TensorDict b = read_safetensors(kData + "bf16.safetensors");
  CHECK(b.at("bf16").type == ElementType::bf16);
  CHECK(b.at("bf16").to_f32("bf16") == std::vector<float>{-0.75f, 0.5f, 1.25f});
}

TEST_CASE("safetensors bytes in memory read as their file does") {
  TensorDict d = read_safetensors(read_file_bytes(kData + "bf16.safetensors"), "upload.safetensors");
  CHECK(d.at("bf16").to_f32("bf16") == std::vector<float>{-0.75f, 0.5f, 1.25f});
  CHECK_THROWS_WITH_AS(read_safetensors(std::vector<std::uint8_t>(4), "upload.safetensors"),
                       doctest::Contains("upload.safetensors: too short for a safetensors file"), IoError);
}

TEST_CASE("malformed safetensors files are refused with the reason") {
  TempDir dir;
  std::string path = dir.file("bad.safetensors");
  auto refused = [&](const std::string& header, std::size_t data_bytes, const char* reason) {
    CAPTURE(header);
    write_safetensors(path, header, data_bytes);
    CHECK_THROWS_WITH_AS(read_safetensors(path), doctest::Contains(reason), IoError);
  };

  SUBCASE("a header length beyond the end of the file") {
    std::vector<std::uint8_t> bytes = test::read_bytes(kData + "tensors.safetensors");
    std::uint64_t huge = bytes.size();
    std::memcpy(bytes.data(), &huge, 8);
    test::write_bytes(path, bytes);
    CHECK_THROWS_WITH_AS(read_safetensors(path), doctest::Contains("is longer than the file"), IoError);
  }
  SUBCASE("a file shorter than the length field") {
    test::write_bytes(path, {1, 2, 3});
    CHECK_THROWS_WITH_AS(read_safetensors(path), doctest::Contains("too short"), IoError);
  }
  SUBCASE("a truncated data section") {
    std::vector<std::uint8_t> bytes = test::read_bytes(kData + "tensors.safetensors");
    bytes.resize(bytes.size() - 5);
    test::write_bytes(path, bytes);
    CHECK_THROWS_WITH_AS(read_safetensors(path), doctest::Contains("past the end of the data"), IoError);
  }
  SUBCASE("overlapping tensors") {
    refused(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12,
            "overlapping data_offsets");
  }
  SUBCASE("offsets that disagree with the shape") {
    refused(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8, "8 bytes for 3 elements of f32");
  }
  SUBCASE("offsets out of order") {
    refused(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8, "begin <= end");
  }
  SUBCASE("a shape whose element count overflows") {
    refused(R"({"a":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,16]}})", 16, "overflows");
  }
  SUBCASE("a negative dimension") {
    refused(R"({"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,0]}})", 0, "negative dimension");
  }
  // Found by fuzzing (tools/fuzz): numbers that are not int64 (1e21, 2^64 - 1) reached nlohmann's
  // integer conversion, a cast whose result is undefined out of range.
  SUBCASE("a dimension or offset that is not a whole number of int64") {
    refused(R"({"a":{"dtype":"F32","shape":[1.8e21],"data_offsets":[0,4]}})", 4, "tensor 'a': shape holds 1.8e+21, not a whole number below 2^63");
    refused(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4.5]}})", 4, "data_offsets holds 4.5");
    refused(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551615]}})", 4, "data_offsets holds 18446744073709551615");
    refused(R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", 8, "shape must be a list of whole numbers, not 2");
  }
  SUBCASE("a negative offset") {
    refused(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})", 4, "0 <= begin <= end");
  }
  SUBCASE("an unsupported dtype") {
    refused(R"({"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", 1, "unsupported dtype \"F8_E4M3\"");
  }
  SUBCASE("a header that is not JSON") { refused(R"({"a": )", 0, "not valid JSON"); }
  SUBCASE("an entry without data_offsets") { refused(R"({"a":{"dtype":"F32","shape":[1]}})", 4, "tensor 'a': malformed entry"); }
}

TEST_CASE("a missing file is named") {
  CHECK_THROWS_WITH_AS(read_safetensors("/nonexistent/w.safetensors"), doctest::Contains("/nonexistent/w.safetensors: cannot open"), IoError);
}
