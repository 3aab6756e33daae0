// Reading HDF5 files in a child process (io/hdf5_isolation.h): every answer the same as reading in this
// process, and files that crash or hang libhdf5 refused with an error naming them.
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>

#include "io/hdf5_check.h"
#include "io/hdf5_file.h"
#include "support.h"

using namespace tweedie;
namespace fs = std::filesystem;

namespace {

// What a call answered: its value printed, or the message of the error it threw.
std::string answer(const std::function<std::string()>& call) {
  try {
    return call();
  } catch (const Error& e) {
    return cat("error: ", e.what());
  }
}

std::string values(const Tensor& t) {
  std::string out = cat(t.str(), ":");
  if (t.dtype() == DType::c64) {
    for (auto v : t.to_vector<complex64>()) out += cat(" ", v.re, "+", v.im, "i");
  } else {
    for (float v : t.to_vector()) out += cat(" ", v);
  }
  return out;
}

// Everything H5File can be asked of `f` about these names, as one transcript.
std::string transcript(const H5File& f, const std::vector<std::string>& datasets,
                       const std::vector<std::pair<std::string, std::string>>& attributes) {
  std::string out;
  for (const auto& d : f.datasets()) out += cat("listed ", d, "\n");
  for (const auto& d : datasets) {
    out += cat(d, " has ", f.has(d), "\n");
    out += cat(d, " shape ", answer([&] { return f.shape(d).str(); }), "\n");
    out += cat(d, " stored ", answer([&] { return cat(int(f.stored_as(d))); }), "\n");
    out += cat(d, " read ", answer([&] { return values(f.read(d)); }), "\n");
    out += cat(d, " f32 ", answer([&] { return values(f.read(d, DType::f32)); }), "\n");
    out += cat(d, " c64 ", answer([&] { return values(f.read(d, DType::c64)); }), "\n");
  }
  for (const auto& [object, name] : attributes) {
    out += cat(object, "@", name, " has ", f.has_attribute(object, name), "\n");
    out += cat(object, "@", name, " string ", answer([&] { return f.string_attribute(object, name); }), "\n");
    out += cat(object, "@", name, " number ", answer([&] { return cat(f.number_attribute(object, name)); }), "\n");
  }
  return out;
}

// Attributes and datasets of kinds tweedie does not write, made with the C API as other tools would.
void add_foreign_objects(const std::string& path) {
  hid_t file = TW_CHECK(H5Fopen(path.c_str(), H5F_ACC_RDWR, H5P_DEFAULT));
  hid_t scalar = TW_CHECK(H5Screate(H5S_SCALAR));
  hsize_t three = 3;
  hid_t vector = TW_CHECK(H5Screate_simple(1, &three, nullptr));
  // A fixed-length ASCII string attribute (h5py writes these for numpy bytes).
  hid_t fixed = TW_CHECK(H5Tcopy(H5T_C_S1));
  TW_CHECK(H5Tset_size(fixed, 8));
  hid_t a = TW_CHECK(H5Acreate2(file, "fixed", fixed, scalar, H5P_DEFAULT, H5P_DEFAULT));
  TW_CHECK(H5Awrite(a, fixed, "abc\0\0\0\0\0"));
  H5Aclose(a);
  // Three numbers where one is read.
  double three_values[3] = {1, 2, 3};
  a = TW_CHECK(H5Acreate2(file, "triple", H5T_NATIVE_DOUBLE, vector, H5P_DEFAULT, H5P_DEFAULT));
  TW_CHECK(H5Awrite(a, H5T_NATIVE_DOUBLE, three_values));
  H5Aclose(a);
  // Three variable-length strings where one is read.
  hid_t vlen = TW_CHECK(H5Tcopy(H5T_C_S1));
  TW_CHECK(H5Tset_size(vlen, H5T_VARIABLE));
  const char* words[3] = {"one", "two", "three"};
  a = TW_CHECK(H5Acreate2(file, "words", vlen, vector, H5P_DEFAULT, H5P_DEFAULT));
  TW_CHECK(H5Awrite(a, vlen, words));
  H5Aclose(a);
  // An integer dataset (read as f32) and a string dataset (not numbers).
  int counts[3] = {4, -5, 6};
  hid_t d = TW_CHECK(H5Dcreate2(file, "counts", H5T_STD_I32LE, vector, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  TW_CHECK(H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, counts));
  H5Dclose(d);
  d = TW_CHECK(H5Dcreate2(file, "names", vlen, vector, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT));
  TW_CHECK(H5Dwrite(d, vlen, H5S_ALL, H5S_ALL, H5P_DEFAULT, words));
  H5Dclose(d);
  for (hid_t id : {vlen, fixed}) H5Tclose(id);
  for (hid_t id : {vector, scalar}) H5Sclose(id);
  TW_CHECK(H5Fclose(file));
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

struct EnvVar {
  explicit EnvVar(const char* value) { setenv("TWEEDIE_HDF5_VET", value, 1); }
  ~EnvVar() { unsetenv("TWEEDIE_HDF5_VET"); }
};

std::vector<std::string> crasher_files() {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(std::string(TWEEDIE_TEST_DATA) + "/hdf5-crashers"))
    if (entry.path().extension() == ".h5") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  return files;
}

}  // namespace

TEST_CASE("a file read in a child process answers every question as reading it in this process does") {
  test::TempDir dir;
  std::string path = dir.file("mixed.h5");
  {
    H5File f = H5File::create(path);
    f.write("x", test::upload(test::as_float(test::uniform(6, 1)), {2, 3}));
    f.write("half", test::upload(test::as_float(test::uniform(4, 2)), {4}), StoredAs::f16);
    f.write("group/brain", test::upload(test::as_float(test::uniform(5, 3)), {5}), StoredAs::bf16);
    f.write("group/k", test::upload(test::complex_uniform(3, 4), {3}));
    f.write("scalar", Tensor::from_host({2.5f}, Shape{}));
    f.set_attribute("", "format", std::string("tweedie-test"));
    f.set_attribute("group/k", "sigma", 0.125);
    f.set_attribute("x", "steps", std::int64_t(12));
    f.commit();
  }
  add_foreign_objects(path);
  std::vector<std::string> datasets{"x", "/x", "half", "group/brain", "group/k", "scalar", "counts", "names", "group", "missing"};
  std::vector<std::pair<std::string, std::string>> attributes{
      {"", "format"}, {"/", "format"}, {"group/k", "sigma"}, {"x", "steps"}, {"", "fixed"},  {"", "triple"},
      {"", "words"},  {"", "missing"}, {"nowhere", "format"}, {"group", "sigma"}};
  std::string in_process = transcript(H5File::open_in_process(path), datasets, attributes);
  std::string isolated = transcript(H5File::open(path), datasets, attributes);
  CHECK(isolated == in_process);
  // The transcript is not vacuous: values, conversions and refusals are all in it.
  CHECK(contains(isolated, "counts read f32 (3) on cpu: 4 -5 6"));
  CHECK(contains(isolated, "scalar read f32 () on cpu: 2.5"));
  CHECK(contains(isolated, "@fixed string abc"));
  CHECK(contains(isolated, ": attribute 'triple' of '/' holds 3 values; one was expected"));
  CHECK(contains(isolated, ": attribute 'words' of '/' holds 3 values; one was expected"));
  CHECK(contains(isolated, "names read error: " + path + ": dataset 'names' holds neither numbers"));
  CHECK(contains(isolated, "group/k c64 c64 (3) on cpu: 0.5"));
  CHECK(contains(isolated, "x@steps number 12"));
}

TEST_CASE("a read isolated in a child returns the values as stored, and a copy the caller may change") {
  test::TempDir dir;
  std::string path = dir.file("x.h5");
  std::vector<double> x = test::as_float(test::uniform(8, 5));
  {
    H5File f = H5File::create(path);
    f.write("x", test::upload(x, {8}));
    f.commit();
  }
  H5File f = H5File::open(path);
  Tensor first = f.read("x");
  first.data<float>()[0] = 1e6f;
  CHECK(f.read("x").to_vector()[0] == float(x[0]));
}

TEST_CASE("TWEEDIE_HDF5_VET: off reads in this process, a number is the step limit, anything else is refused") {
  test::TempDir dir;
  std::string path = dir.file("x.h5");
  {
    H5File f = H5File::create(path);
    f.set_attribute("", "format", std::string("tweedie-test"));
    f.commit();
  }
  {
    EnvVar off("off");
    CHECK(H5File::open(path).string_attribute("", "format") == "tweedie-test");
  }
  {
    EnvVar seconds("2.5");
    CHECK(H5File::open(path).string_attribute("", "format") == "tweedie-test");
  }
  for (const char* bad : {"yes", "-1", "0", "1s"}) {
    EnvVar wrong(bad);
    std::string expected = cat("TWEEDIE_HDF5_VET=", bad, ": expected \"off\"");
    CHECK_THROWS_WITH_AS(H5File::open(path), doctest::Contains(expected.c_str()), IoError);
  }
}

TEST_CASE("files that crash or hang libhdf5 are refused within a second, with an error naming the file") {
  // tests/data/hdf5-crashers: the corrupted model and prior files that segfaulted or spun inside
  // libhdf5 1.10.8 (H5Aread of a variable-length string attribute, H5HG_read). Opening them and reading
  // every attribute the loaders read must end in an IoError, or in clean reads, never in a crash.
  std::vector<std::string> files = crasher_files();
  REQUIRE(files.size() == 24);
  int refused = 0;
  for (const std::string& path : files) {
    CAPTURE(path);
    auto start = std::chrono::steady_clock::now();
    try {
      H5File f = H5File::open(path);
      for (const char* name : {"format", "architecture", "config", "diffusion", "prior", "version"})
        if (f.has_attribute("", name)) answer([&] { return f.string_attribute("", name); });
    } catch (const IoError& e) {
      CHECK(contains(e.what(), path + ": "));
      ++refused;
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK(seconds < 1.0);
  }
  // Most of them are refused at open; some are corrupt in an attribute no loader reads.
  CHECK(refused >= 20);
}
