// `tweedie simulate` and `tweedie apply` end to end: observation files that stand alone, the adjoint
// through the command line, noise statistics, and refusals that leave no file behind.
#include <cmath>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "io/hdf5_file.h"
#include "support.h"
#include "tools/cli_run.h"

using namespace tweedie;
using namespace tweedie::test;

namespace {

// (n, c, h, w) signals with values in [-1, 1], written as dataset x.
std::vector<double> write_signals(const std::string& path, const Shape& shape, std::uint64_t seed) {
  std::vector<double> x = uniform(std::size_t(shape.numel()), seed);
  H5File f = H5File::create(path);
  f.write("x", Tensor::from_host(std::span<const float>(std::vector<float>(x.begin(), x.end())), shape));
  f.commit();
  return as_float(x);
}

}  // namespace

TEST_CASE("tweedie simulate writes y, the observed entries and a spec that rebuilds the operator from the file alone") {
  TempDir dir;
  std::vector<double> x = write_signals(dir.file("x.h5"), {2, 3, 8, 10}, 1);
  Run r = run("simulate --operator inpaint:p=0.5 --noise none --x " + dir.file("x.h5") + " --seed 7 -o " + dir.file("y.h5"));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  auto report = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  CHECK(report["operator"] == "inpaint:p=0.5:channels=shared:seed=7");

  H5File y = H5File::open(dir.file("y.h5"));
  std::vector<double> got = download(y.read("y")), seen = download(y.read("observed"));
  REQUIRE(got.size() == x.size());
  REQUIRE(seen.size() == x.size() / 2);
  double kept = 0;
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i] == x[i] * seen[i % seen.size()]);
    kept += seen[i % seen.size()];
  }
  // One draw per pixel shared by the 3 channels: 80 pixels, keep 1/2; 5 standard deviations is 22 pixels.
  CHECK(std::abs(kept / 6 - 40) < 23);
  for (std::size_t p = 0; p < 80; ++p) CHECK(seen[p] == seen[p + 80]);
  CHECK(y.string_attribute("", "x_shape") == "3,8,10");

  // The adjoint of a mask is the mask: applying it to y with the observation file as SPEC gives y back.
  Run a = run("apply --operator " + dir.file("y.h5") + " --x " + dir.file("y.h5") + " --adjoint -o " + dir.file("aty.h5"));
  REQUIRE_MESSAGE(a.status == 0, a.out);
  CHECK(download(H5File::open(dir.file("aty.h5")).read("x")) == got);
}

TEST_CASE("tweedie simulate copies the data a spec names into the observation, so the spec survives the file moving") {
  TempDir dir;
  write_signals(dir.file("x.h5"), {1, 1, 6, 8}, 2);
  {
    std::vector<float> k(9, 0.0f);
    k[1] = 0.25f, k[4] = 0.5f, k[7] = 0.25f;  // a vertical 3-tap blur
    H5File f = H5File::create(dir.file("k.h5"));
    f.write("kernel", Tensor::from_host(std::span<const float>(k), {3, 3}));
    f.commit();
  }
  Run r = run("simulate --operator blur:kernel=" + dir.file("k.h5") + " --noise gaussian:sigma=0.1 --x " + dir.file("x.h5") +
              " --seed 1 -o " + dir.file("y.h5"));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  H5File y = H5File::open(dir.file("y.h5"));
  CHECK(y.string_attribute("", "operator") == "blur:kernel=#operator/kernel:boundary=circular");
  CHECK(y.string_attribute("", "noise") == "gaussian:sigma=0.1");
  CHECK(download(y.read("operator/kernel")) == download(H5File::open(dir.file("k.h5")).read("kernel")));
  std::filesystem::remove(dir.file("k.h5"));
  Run a = run("apply --operator " + dir.file("y.h5") + " --x " + dir.file("x.h5") + " -o " + dir.file("ax.h5"));
  REQUIRE_MESSAGE(a.status == 0, a.out);
  // y - A x is the noise alone: mean near 0, standard deviation near 0.1 over 48 entries.
  std::vector<double> yv = download(y.read("y")), ax = download(H5File::open(dir.file("ax.h5")).read("y"));
  double s2 = 0;
  for (std::size_t i = 0; i < yv.size(); ++i) s2 += (yv[i] - ax[i]) * (yv[i] - ax[i]) / double(yv.size());
  CHECK(std::sqrt(s2) > 0.06);
  CHECK(std::sqrt(s2) < 0.14);
}

TEST_CASE("tweedie simulate draws Poisson counts with the right mean, reproducibly") {
  TempDir dir;
  {
    std::vector<float> zeros(4 * 16 * 16, 0.0f);  // rate = 30 exp(0) everywhere
    H5File f = H5File::create(dir.file("x.h5"));
    f.write("x", Tensor::from_host(std::span<const float>(zeros), {4, 1, 16, 16}));
    f.commit();
  }
  std::string args = "simulate --operator identity --noise poisson:scale=30 --x " + dir.file("x.h5") + " --seed 5 -o ";
  Run r = run(args + dir.file("y.h5"));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  REQUIRE(run(args + dir.file("y2.h5")).status == 0);
  std::vector<double> y = download(H5File::open(dir.file("y.h5")).read("y"));
  CHECK(y == download(H5File::open(dir.file("y2.h5")).read("y")));
  double mean = 0;
  for (double v : y) {
    CHECK(v == std::floor(v));
    mean += v / double(y.size());
  }
  CHECK(std::abs(mean - 30) < 5 * std::sqrt(30.0 / double(y.size())));
}

TEST_CASE("tweedie simulate and apply refuse bad specs and inputs by name, and write nothing") {
  TempDir dir;
  write_signals(dir.file("x.h5"), {1, 1, 8, 8}, 3);
  auto refused = [&](const std::string& args, const std::string& expected) { check_refused(args, dir.file("out.h5"), expected); };
  std::string x = " --x " + dir.file("x.h5");
  refused("simulate --operator warp:3 --noise none" + x, "unknown operator 'warp'");
  refused("simulate --operator sr:3 --noise none" + x, "sr:3");
  refused("simulate --operator sr:two --noise none" + x, "factor='two' is not a whole number");
  refused("simulate --operator inpaint:p=0.5:sede=3 --noise none" + x, "unknown field 'sede'");
  refused("simulate --operator inpaint:p=1.5 --noise none" + x, "p=1.5 must be in (0, 1]");
  refused("simulate --operator mri:mask=" + dir.file("nope.h5") + " --noise none" + x, "file '" + dir.file("nope.h5") + "' does not exist");
  refused("simulate --operator identity --noise gaussian:sigma=-1" + x, "sigma");
  refused("simulate --operator identity --noise laplace:1" + x, "unknown noise model 'laplace'");
  refused("simulate --operator identity --noise none --x " + dir.file("x.h5") + ":nothing", "has no dataset 'nothing'");
  refused("simulate --operator mri:R=4 --noise poisson:scale=3" + x, "c64");
  refused("apply --operator sr:2 --adjoint" + x, "--x-shape");
  refused("apply --operator sr:2 --adjoint --x-shape 1,8,8" + x, "(N, 1,4,4)");
  refused("apply --operator sr:2 --adjoint --x-shape 1,0,8" + x, "--x-shape: '1,0,8' has extent 0");

  // Non-finite signals are refused with the item and the index inside it, not turned into y.
  std::vector<float> bad(2 * 64, 0.25f);
  bad[64 + 8 * 2 + 5] = NAN;
  H5File f = H5File::create(dir.file("nan.h5"));
  f.write("x", Tensor::from_host(std::span<const float>(bad), Shape{2, 1, 8, 8}));
  f.commit();
  refused("simulate --operator identity --noise gaussian:sigma=0.1 --x " + dir.file("nan.h5"),
          "--x " + dir.file("nan.h5") + ":x: item 1 has nan at (0, 2, 5) of its (1,8,8) values; signals must be finite");
  bad[64 + 8 * 2 + 5] = 0, bad[7] = -INFINITY;
  H5File g = H5File::create(dir.file("inf.h5"));
  g.write("x", Tensor::from_host(std::span<const float>(bad), Shape{2, 1, 8, 8}));
  g.commit();
  refused("apply --operator sr:2 --x " + dir.file("inf.h5"), "item 0 has -inf at (0, 0, 7)");
}

TEST_CASE("tweedie info checks an observation file as a solver would, naming the bad entry") {
  TempDir dir;
  auto observation = [&](const std::string& name, const std::string& noise, std::vector<float> y) {
    H5File f = H5File::create(dir.file(name));
    f.write("y", Tensor::from_host(std::span<const float>(y), {1, 1, 2, 2}));
    f.set_attribute("", "tweedie", "observation");
    f.set_attribute("", "operator", "identity");
    f.set_attribute("", "noise", noise);
    f.set_attribute("", "x_shape", "1,2,2");
    f.commit();
    return dir.file(name);
  };
  Run good = run("info --json " + observation("good.h5", "poisson:scale=3", {0, 1, 2, 7}));
  REQUIRE_MESSAGE(good.status == 0, good.out);
  auto j = nlohmann::json::parse(good.out.substr(good.out.find('{')));
  CHECK(j["noise"] == "poisson:scale=3:link=exp");
  CHECK(j["valid"] == true);
  Run negative = run("info " + observation("neg.h5", "poisson:scale=3", {0, 1, -2, 7}));
  CHECK(negative.status != 0);
  CHECK_MESSAGE(contains(negative.out, dir.file("neg.h5") + ": dataset 'y'"), negative.out);
  CHECK_MESSAGE(contains(negative.out, "-2"), negative.out);
  Run too_many = run("info " + observation("many.h5", "binomial:n=5", {0, 1, 6, 5}));
  CHECK(too_many.status != 0);
  CHECK_MESSAGE(contains(too_many.out, "6"), too_many.out);
  CHECK(run("info " + observation("real.h5", "gaussian:sigma=1", {0.5f, -1, 2, 3})).status == 0);
  {
    H5File f = H5File::create(dir.file("wrong.h5"));
    f.write("y", Tensor::zeros({1, 3}));
    f.set_attribute("", "tweedie", "observation");
    f.set_attribute("", "operator", "sr:2");
    f.set_attribute("", "noise", "none");
    f.set_attribute("", "x_shape", "1,4,4");
    f.commit();
  }
  Run wrong = run("info " + dir.file("wrong.h5"));
  CHECK(wrong.status != 0);
  CHECK_MESSAGE(contains(wrong.out, "y is (1,3) f32 but operator 'sr:2:bicubic' gives (N, 1,2,2) f32"), wrong.out);
}
