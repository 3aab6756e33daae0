#include <cstring>
#include <filesystem>
#include <functional>

#include "io/checkpoint_readers.h"
#include "io/pickle.h"
#include "runtime/error.h"
#include "support.h"

using namespace tweedie;
using doctest::Contains;
using test::TempDir;
namespace fs = std::filesystem;

// Fixtures from tools/golden/make_torch_fixtures.py; every value is a formula recomputed here.
namespace {

using Bytes = std::vector<std::uint8_t>;

std::string fixture(const std::string& name) { return std::string(TWEEDIE_TEST_DATA) + "/checkpoints/" + name; }

// The payload of the hostile fixtures touches this file.
const char* const kPwned = "/tmp/tweedie_torch_pwned";

template <class T>
T element(const RawTensor& t, std::size_t i) {
  T v;
  std::memcpy(&v, t.data.data() + i * sizeof(T), sizeof(T));
  return v;
}

// Every element as a double, whatever the type (all fixture values are exact in double).
std::vector<double> values(const RawTensor& t) {
  const std::size_t n = std::size_t(t.numel());
  REQUIRE(t.data.size() == n * element_size(t.type));
  std::vector<double> out(n);
  for (std::size_t i = 0; i < n; ++i) {
    switch (t.type) {
      case ElementType::f64: out[i] = element<double>(t, i); break;
      case ElementType::i64: out[i] = double(element<std::int64_t>(t, i)); break;
      case ElementType::i32: out[i] = element<std::int32_t>(t, i); break;
      case ElementType::i16: out[i] = element<std::int16_t>(t, i); break;
      case ElementType::i8: out[i] = element<std::int8_t>(t, i); break;
      case ElementType::u8: out[i] = element<std::uint8_t>(t, i); break;
      case ElementType::boolean: out[i] = element<std::uint8_t>(t, i); break;
      default: out[i] = t.to_f32("test")[i]; break;
    }
  }
  return out;
}

// Row-major values of a 1-d or 2-d tensor from a formula of its indices.
std::vector<double> grid(std::int64_t rows, std::int64_t cols, const std::function<double(std::int64_t, std::int64_t)>& f) {
  std::vector<double> out;
  for (std::int64_t r = 0; r < rows; ++r)
    for (std::int64_t c = 0; c < cols; ++c) out.push_back(f(r, c));
  return out;
}
std::vector<double> ramp(std::int64_t n, const std::function<double(std::int64_t)>& f) {
  return grid(1, n, [&](std::int64_t, std::int64_t k) { return f(k); });
}

struct Expected {
  ElementType type;
  std::vector<std::int64_t> shape;
  std::vector<double> values;
};

// typed_tensors() of the fixture script.
std::map<std::string, Expected> typed_tensors() {
  using E = ElementType;
  const double two40 = 1099511627776.0;
  return {
      {"f32", {E::f32, {3, 4}, ramp(12, [](auto k) { return k / 8.0; })}},
      {"f16", {E::f16, {2, 3}, ramp(6, [](auto k) { return (k - 2) / 4.0; })}},
      {"bf16", {E::bf16, {5}, ramp(5, [](auto k) { return (k - 1) / 2.0; })}},
      {"f64", {E::f64, {4}, ramp(4, [](auto k) { return double(k) / 3.0; })}},
      {"i64", {E::i64, {5}, ramp(5, [&](auto k) { return double(k - 2) * two40 + 7.0 * double(k); })}},
      {"i32", {E::i32, {4}, ramp(4, [](auto k) { return 3.0 - 100000.0 * double(k); })}},
      {"i16", {E::i16, {3}, ramp(3, [](auto k) { return 5.0 - 1000.0 * double(k); })}},
      {"i8", {E::i8, {4}, ramp(4, [](auto k) { return double(k - 2); })}},
      {"u8", {E::u8, {3}, ramp(3, [](auto k) { return 250.0 + double(k); })}},
      {"bool", {E::boolean, {5}, ramp(5, [](auto k) { return k % 2 == 0 ? 1.0 : 0.0; })}},
      {"transposed", {E::f32, {3, 2}, grid(3, 2, [](auto r, auto c) { return (3.0 * c + r) / 4; })}},
      {"rows", {E::f32, {2, 5}, grid(2, 5, [](auto r, auto c) { return (5.0 * (r + 1) + c) / 2; })}},
      {"cols", {E::f32, {4, 2}, grid(4, 2, [](auto r, auto c) { return (5.0 * r + 1 + 2 * c) / 2; })}},
      {"expanded", {E::f32, {3, 2}, grid(3, 2, [](auto, auto c) { return c == 0 ? 1.5 : -2.0; })}},
      {"param", {E::f32, {3}, ramp(3, [](auto k) { return 1 + k / 4.0; })}},
      {"scalar", {E::f32, {}, {2.5}}},
      {"empty", {E::f32, {0, 3}, {}}},
  };
}

void check_tensors(const TensorDict& got, const std::map<std::string, Expected>& want) {
  std::vector<std::string> got_names, want_names;
  for (const auto& [name, t] : got) got_names.push_back(name);
  for (const auto& [name, e] : want) want_names.push_back(name);
  CHECK(got_names == want_names);
  for (const auto& [name, e] : want) {
    CAPTURE(name);
    auto it = got.find(name);
    if (it == got.end()) continue;
    CHECK(element_name(it->second.type) == std::string(element_name(e.type)));
    CHECK(it->second.shape == e.shape);
    if (it->second.shape == e.shape && it->second.type == e.type) CHECK(values(it->second) == e.values);
  }
}

std::string error_of(const std::string& path) {
  try {
    read_torch_checkpoint(path);
  } catch (const IoError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("every storage type, view and parameter of a state dict is read in each torch.save format") {
  // Protocol 2 and 5 zip files and the legacy format hold the same tensors: views, transposes and
  // expanded tensors come out contiguous, and views of one storage each get their own copy.
  for (std::string name : {"torch_types.pt", "torch_types_p5.pt", "torch_types_legacy.pt"}) {
    CAPTURE(name);
    check_tensors(read_torch_checkpoint(fixture(name)), typed_tensors());
  }
}

TEST_CASE("read_checkpoint recognises both PyTorch formats from their first bytes") {
  for (std::string name : {"torch_types.pt", "torch_types_legacy.pt"}) {
    CAPTURE(name);
    check_tensors(read_checkpoint(fixture(name)), typed_tensors());
  }
}

TEST_CASE("bytes in memory read as their file does, in both formats, named by `what` in errors") {
  for (std::string name : {"torch_types.pt", "torch_types_legacy.pt"}) {
    CAPTURE(name);
    check_tensors(read_torch_checkpoint(read_file_bytes(fixture(name)), name), typed_tensors());
  }
  CHECK_THROWS_WITH_AS(read_torch_checkpoint(Bytes{'x', 'y'}, "upload.pt"), Contains("upload.pt: neither a zip archive nor a pickle"), IoError);
}

TEST_CASE("nested checkpoints flatten with slashes and skip everything that is not a tensor") {
  using E = ElementType;
  auto weight = [](double scale) { return grid(2, 3, [=](auto r, auto c) { return scale * (3.0 * r + c) / 4; }); };
  std::map<std::string, Expected> want = {
      {"model/0.weight", {E::f32, {2, 3}, weight(1)}},
      {"model/0.bias", {E::f32, {2}, {0.5, -0.5}}},
      {"model/1.weight", {E::f32, {2}, {1, 1}}},
      {"model/1.bias", {E::f32, {2}, {0, 0}}},
      {"model/1.running_mean", {E::f32, {2}, {0, 0}}},
      {"model/1.running_var", {E::f32, {2}, {1, 1}}},
      {"model/1.num_batches_tracked", {E::i64, {}, {0}}},
      {"ema/0.weight", {E::f32, {2, 3}, weight(2)}},
      {"ema/0.bias", {E::f32, {2}, {1, -1}}},
      {"ema/1.weight", {E::f32, {2}, {2, 2}}},
      {"ema/1.bias", {E::f32, {2}, {0, 0}}},
      {"ema/1.running_mean", {E::f32, {2}, {0, 0}}},
      {"ema/1.running_var", {E::f32, {2}, {1, 1}}},
      {"ema/1.num_batches_tracked", {E::i64, {}, {0}}},
      {"buffers/0", {E::f32, {2}, {3, 3}}},
      {"buffers/1", {E::f32, {1}, {-1}}},
      {"by_index/3", {E::f32, {1}, {4}}},
      {"tied", {E::f32, {2, 3}, weight(1)}},  // the very tensor object of model/0.weight
  };
  const std::vector<std::vector<std::int64_t>> param_shapes = {{2, 3}, {2}, {2}, {2}};
  for (std::string name : {"torch_nested.pt", "torch_nested_legacy.pt"}) {
    CAPTURE(name);
    TensorDict got = read_torch_checkpoint(fixture(name));
    // Adam's state per parameter index; its values depend on a gradient, only the layout is checked.
    for (std::size_t p = 0; p < param_shapes.size(); ++p) {
      const std::string prefix = "optimizer/state/" + std::to_string(p) + "/";
      REQUIRE(got.count(prefix + "step"));
      CHECK(values(got.at(prefix + "step")) == std::vector<double>{1});
      CHECK(got.at(prefix + "exp_avg").shape == param_shapes[p]);
      CHECK(got.at(prefix + "exp_avg_sq").shape == param_shapes[p]);
      for (const char* field : {"step", "exp_avg", "exp_avg_sq"}) got.erase(prefix + field);
    }
    check_tensors(got, want);  // and nothing else: not "step", "config/...", "optimizer/param_groups/..."
  }
}

TEST_CASE("a checkpoint that would run os.system or eval is refused, and nothing runs") {
  fs::remove(kPwned);
  const std::string sys = fixture("torch_os_system.pt");
  CHECK(error_of(sys) == sys + ": archive/data.pkl: pickle byte 180: refusing GLOBAL posix.system (only the globals a "
                               "PyTorch state dict needs are allowed)");
  CHECK_THROWS_WITH_AS(read_torch_checkpoint(fixture("torch_os_system_legacy.pt")),
                       Contains("refusing GLOBAL posix.system (only the globals"), IoError);
  CHECK_THROWS_WITH_AS(read_torch_checkpoint(fixture("torch_eval.pt")),
                       Contains("archive/data.pkl: pickle byte 42: refusing GLOBAL builtins.eval"), IoError);
  CHECK_THROWS_WITH_AS(read_checkpoint(sys), Contains("refusing GLOBAL posix.system"), IoError);
  CHECK_FALSE(fs::exists(kPwned));
}

TEST_CASE("tensors addressing memory outside their storage are refused naming the tensor") {
  auto check = [](const char* name, const std::string& message) {
    const std::string path = fixture(name);
    CHECK(error_of(path) == path + ": tensor 'bad.weight': " + message);
  };
  check("torch_offset_past_end.pt", "storage offset 6 is past the end of its storage (4 elements)");
  check("torch_stride_overflow.pt",
        "size 3 times stride 4611686018427387904 in dimension 0 overflows (corrupt or crafted file)");
  check("torch_shape_overflow.pt", "shape too large (element count overflows)");
  check("torch_short_storage.pt", "storage archive/data/0 holds 16 bytes, but 10 elements of f32 need 40");
  check("torch_size_past_end_legacy.pt", "addresses storage element 4, past the end of its storage (4 elements)");
  check("torch_negative_stride_legacy.pt", "negative stride -1");
}

TEST_CASE("malformed containers are refused with the reason") {
  const std::string no_pkl = fixture("torch_no_data_pkl.pt");
  CHECK(error_of(no_pkl) == no_pkl + ": a zip archive without <folder>/data.pkl, so not a PyTorch checkpoint");
  const std::string big = fixture("torch_big_endian.pt");
  CHECK(error_of(big) == big + ": written on a big-endian machine (archive/byteorder is \"big\"); only little-endian "
                               "checkpoints are supported");
  const std::string big_legacy = fixture("torch_big_endian_legacy.pt");
  CHECK(error_of(big_legacy) ==
        big_legacy + ": written on a big-endian machine; only little-endian checkpoints are supported");
  CHECK_THROWS_WITH_AS(read_torch_checkpoint(fixture("numpy_f4.npy")), Contains("not a PyTorch checkpoint"), IoError);
  CHECK_THROWS_WITH_AS(read_torch_checkpoint(fixture("no_such_file.pt")), Contains("cannot open"), IoError);
}

TEST_CASE("a legacy checkpoint cut short or with a changed storage count fails cleanly") {
  TempDir dir;
  const std::string path = dir.file("cut.pt");
  const Bytes whole = test::read_bytes(fixture("torch_types_legacy.pt"));
  for (std::size_t size = 0; size < whole.size(); size += 7) {
    CAPTURE(size);
    test::write_bytes(path, Bytes(whole.begin(), whole.begin() + std::ptrdiff_t(size)));
    CHECK_THROWS_AS(read_torch_checkpoint(path), IoError);
  }
  // The first storage's element count, right after the fifth pickle, made huge.
  std::size_t pos = 0;
  for (int i = 0; i < 5; ++i) pos = unpickle(whole, pos, "skip").end();
  Bytes changed = whole;
  const std::int64_t huge = std::int64_t(1) << 60;
  std::memcpy(changed.data() + pos, &huge, 8);
  test::write_bytes(path, changed);
  CHECK_THROWS_WITH_AS(read_torch_checkpoint(path), Contains("elements stored"), IoError);
}

TEST_CASE("a renamed checkpoint keeps working: the zip's folder may have any name") {
  TempDir dir;
  const std::string path = dir.file("renamed.pth");  // its folder inside is still "my_model-v2"
  test::write_bytes(path, test::read_bytes(fixture("torch_nested.pt")));
  TensorDict got = read_torch_checkpoint(path);
  CHECK(got.count("model/0.weight"));
  CHECK(got.count("ema/1.running_var"));
}

TEST_CASE("a lone tensor, a legacy storage view and hostile object graphs") {
  TensorDict single = read_torch_checkpoint(fixture("torch_single_tensor.pt"));
  REQUIRE(single.count("torch_single_tensor"));  // named after the file
  CHECK(values(single.at("torch_single_tensor")) == std::vector<double>{-1, 0, 1});
  TensorDict view = read_torch_checkpoint(fixture("torch_storage_view_legacy.pt"));
  REQUIRE(view.count("w"));
  CHECK(values(view.at("w")) == std::vector<double>{3, 4});  // elements 1, 2 of the view [2, 5) of 0..5

  const std::string cycle = fixture("torch_cycle_legacy.pt");
  std::string path = "loop";
  while (path.size() < 60) path += "/0";
  CHECK(error_of(cycle) == cycle + ": '" + path + "...' is nested more than 100 levels deep (a cyclic or crafted object)");
  CHECK_THROWS_WITH_AS(read_torch_checkpoint(fixture("torch_deep_legacy.pt")), Contains("levels deep"), IoError);
  CHECK_THROWS_WITH_AS(read_torch_checkpoint(fixture("torch_diamond_legacy.pt")),
                       Contains("the object refers to its parts more than"), IoError);
}
