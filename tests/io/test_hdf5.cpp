#include "io/hdf5_file.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "io/hdf5_check.h"
#include "support.h"

using namespace tweedie;
namespace fs = std::filesystem;

using test::TempDir;

TEST_CASE("tensors and attributes survive a write and a read") {
  TempDir dir;
  std::string path = dir.file("data.h5");
  std::vector<double> x = test::as_float(test::uniform(2 * 3 * 4, 1));
  std::vector<std::complex<double>> k = test::complex_uniform(5 * 6, 2);
  {
    H5File f = H5File::create(path);
    f.write("x", test::upload(x, {2, 3, 4}));
    f.write("coil/kspace", test::upload(k, {5, 6}));
    f.write("empty", Tensor::zeros({0, 3}));
    f.set_attribute("", "format", std::string("tweedie-test"));
    f.set_attribute("/", "version", std::int64_t(3));
    f.set_attribute("x", "sigma", 0.25);
    CHECK_FALSE(fs::exists(path));  // not before commit
    f.commit();
  }
  CHECK(dir.entries() == 1);  // no temporary left behind
  H5File f = H5File::open(path);
  CHECK(f.has("x"));
  CHECK(f.has("coil/kspace"));
  CHECK_FALSE(f.has("coil"));  // a group, not a dataset
  CHECK_FALSE(f.has("nope/x"));
  CHECK(f.datasets() == std::vector<std::string>{"coil/kspace", "empty", "x"});
  CHECK(f.shape("x") == Shape{2, 3, 4});
  Tensor xr = f.read("x", test::device());
  CHECK(xr.device() == test::device());
  CHECK(test::download(xr) == x);
  Tensor kr = f.read("coil/kspace");
  CHECK(kr.dtype() == DType::c64);
  std::vector<std::complex<double>> k_float;  // what an f32 tensor could hold
  for (auto z : k) k_float.emplace_back(std::complex<float>(z));
  CHECK(test::download_complex(kr) == k_float);
  CHECK(f.read("empty").shape() == Shape{0, 3});
  CHECK(f.string_attribute("", "format") == "tweedie-test");
  CHECK(f.number_attribute("/", "version") == 3);
  CHECK(f.number_attribute("x", "sigma") == 0.25);
  CHECK(f.has_attribute("x", "sigma"));
  CHECK_FALSE(f.has_attribute("x", "mu"));
}

TEST_CASE("an uncommitted or failed write leaves nothing behind, and an old file stays intact") {
  TempDir dir;
  std::string path = dir.file("out.h5");
  {
    H5File f = H5File::create(path);
    f.write("a", Tensor::zeros({3}));
    f.commit();
  }
  {
    H5File f = H5File::create(path);  // replacing it...
    f.write("b", Tensor::zeros({4}));
    CHECK_THROWS_AS(f.write("b", Tensor::zeros({4})), IoError);  // ...fails half way
  }
  CHECK(dir.entries() == 1);
  H5File old = H5File::open(path);
  CHECK(old.has("a"));
  CHECK_FALSE(old.has("b"));
}

TEST_CASE("io errors name the file, the dataset and the problem") {
  TempDir dir;
  std::string path = dir.file("d.h5");
  {
    H5File f = H5File::create(path);
    f.write("x", Tensor::zeros({2}));
    f.write("z", Tensor::zeros({2}, Device::cpu(), DType::c64));
    f.commit();
  }
  H5File f = H5File::open(path);
  CHECK_THROWS_WITH_AS(f.read("y"), (path + ": dataset 'y' not found").c_str(), IoError);
  CHECK_THROWS_WITH_AS(f.read("x", DType::c64), (path + ": dataset 'x' holds real numbers, complex (c64) requested").c_str(), IoError);
  CHECK_THROWS_WITH_AS(f.read("z", DType::f32), doctest::Contains("holds complex numbers"), IoError);
  CHECK_THROWS_WITH_AS(f.write("w", Tensor::zeros({1})), doctest::Contains("on a file opened for reading"), IoError);
  CHECK_THROWS_WITH_AS(f.string_attribute("x", "units"), (path + ": attribute 'units' of 'x' not found").c_str(), IoError);
  CHECK_THROWS_WITH_AS(H5File::open(dir.file("missing.h5")), doctest::Contains("missing.h5: no such file"), IoError);
  std::ofstream(dir.file("text.h5")) << "not hdf5";
  CHECK_THROWS_WITH_AS(H5File::open(dir.file("text.h5")), doctest::Contains("text.h5: not an HDF5 file"), IoError);
  CHECK_THROWS_WITH_AS(H5File::create(dir.file("no/such/folder/x.h5")), doctest::Contains("does not exist"), IoError);
}

TEST_CASE("TW_CHECK turns an HDF5 failure into a BackendError with HDF5's own message") {
  H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
  CHECK_THROWS_WITH_AS(TW_CHECK(H5Fopen("/nonexistent/file.h5", H5F_ACC_RDONLY, H5P_DEFAULT)),
                       doctest::Contains("HDF5 error: "), BackendError);
  try {
    TW_CHECK(H5Dopen2(-1, "x", H5P_DEFAULT));
    FAIL("expected an exception");
  } catch (const BackendError& e) {
    std::string what = e.what();
    CHECK(what.find("H5Dopen2(-1, \"x\", H5P_DEFAULT)") != std::string::npos);
    CHECK(what.find("tests/io/test_hdf5.cpp:") != std::string::npos);  // project-relative source line
  }
}
