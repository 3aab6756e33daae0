#include "io/prior_file.h"

#include <cmath>
#include <limits>
#include <map>

#include "io/hdf5_file.h"
#include "support.h"

using namespace tweedie;
using samplers::GaussianDenoiser;
using samplers::GaussianPrior;
using samplers::MixtureDenoiser;
using samplers::MixturePrior;
using Cov = GaussianPrior::Covariance;

namespace {

// alpha = 1 - t, sigma = t: enough for loading; the denoisers' own tests check the math.
class LinearProcess final : public samplers::Process {
 public:
  std::string name() const override { return "test-linear"; }
  double alpha(double t) const override { return 1 - t; }
  double sigma(double t) const override { return t; }
  double drift(double t) const override { return -1 / (1 - t); }
  double diffusion2(double t) const override { return 2 * t + 2 * t * t / (1 - t); }
  double t_min() const override { return 1e-3; }
  double t_max() const override { return 0.999; }
  std::vector<double> time_grid(int steps) const override { return std::vector<double>(steps + 1, 0.5); }
};

std::unique_ptr<samplers::Process> process() { return std::make_unique<LinearProcess>(); }

GaussianPrior gaussian(Cov kind) {
  GaussianPrior p;
  p.kind = kind;
  p.item_shape = {6};
  if (kind == Cov::stationary) p.item_shape = {1, 2, 3};
  p.mean = test::as_float(test::uniform(6, 1));
  if (kind == Cov::dense) {
    p.item_shape = {2, 3};  // any item shape; cov is (D, D)
    p.cov.assign(36, 0.0);
    for (int i = 0; i < 6; ++i)
      for (int j = 0; j < 6; ++j) p.cov[i * 6 + j] = i == j ? 1.0 : 0.25 / (1 + std::abs(i - j));
  }
  if (kind == Cov::diagonal || kind == Cov::low_rank) p.var = test::as_float(test::uniform(6, 2, 0.1, 1));
  if (kind == Cov::low_rank) {
    p.rank = 2;
    p.factor = test::as_float(test::uniform(12, 3));
  }
  if (kind == Cov::stationary) p.spectrum = {1.0, 0.5, 0.5, 0.75, 0.25, 0.25};  // even on a 2 x 3 grid
  return p;
}

MixturePrior mixture() {
  MixturePrior p;
  p.dim = 2;
  p.weights = {0.25, 0.75};
  p.means = {-1, 0, 1, 0.5};
  p.covs = {1, 0.5, 0.5, 1, 0.5, 0, 0, 2};
  return p;
}

Shape batch_of(std::int64_t n, const Shape& item) {
  std::vector<std::int64_t> dims = {n};
  for (std::int64_t e : item.dims()) dims.push_back(e);
  return Shape(std::span<const std::int64_t>(dims));
}

// Denoised values of a fixed batch, to compare two denoisers.
std::vector<double> denoised(const samplers::Denoiser& d) {
  Shape shape = batch_of(3, d.item_shape());
  Tensor xt = test::upload(test::uniform(shape.numel(), 9), shape), x0 = Tensor::empty(shape, test::device());
  d.denoise(test::context(), xt, 0.4, x0);
  return test::download(x0);
}

// A prior file written dataset by dataset, for files save_* would not produce.
struct RawFile {
  std::map<std::string, std::string> strings = {{"format", "tweedie-prior"}, {"prior", "gaussian"}};
  std::int64_t version = 1;
  std::map<std::string, std::pair<std::vector<double>, Shape>> datasets;
  void write(const std::string& path) const {
    H5File f = H5File::create(path);
    for (const auto& [name, value] : strings) f.set_attribute("", name, value);
    if (version) f.set_attribute("", "format_version", version);
    for (const auto& [name, data] : datasets) {
      std::vector<float> v(data.first.begin(), data.first.end());
      f.write(name, Tensor::from_host(std::span<const float>(v), data.second));
    }
    f.commit();
  }
};

RawFile dense_raw() {
  RawFile r;
  r.datasets["mean"] = {{0, 0}, {2}};
  r.datasets["cov"] = {{1, 0, 0, 1}, {2, 2}};
  return r;
}

RawFile gmm_raw() {
  RawFile r;
  r.strings["prior"] = "gmm";
  r.datasets["weights"] = {{0.5, 0.5}, {2}};
  r.datasets["means"] = {{0, 0, 1, 1}, {2, 2}};
  r.datasets["covs"] = {{1, 0, 0, 1, 1, 0, 0, 1}, {2, 2, 2}};
  return r;
}

// load_prior throws IoError whose message names the file and contains `what`.
void refused(const std::string& path, const std::string& what) {
  CAPTURE(what);
  try {
    load_prior(path, process(), test::device());
    FAIL("no error");
  } catch (const IoError& e) {
    std::string m = e.what();
    CAPTURE(m);
    CHECK(m.find(path) != std::string::npos);
    CHECK(m.find(what) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("Gaussian prior files of every covariance structure survive a round trip and load as the same denoiser") {
  test::TempDir dir;
  for (Cov kind : {Cov::dense, Cov::diagonal, Cov::low_rank, Cov::stationary}) {
    CAPTURE(samplers::covariance_name(kind));
    std::string path = dir.file(cat(samplers::covariance_name(kind), ".h5"));
    GaussianPrior p = gaussian(kind);
    save_gaussian_prior(path, p);
    PriorFileContents c = read_prior(path);
    CHECK(c.prior == "gaussian");
    CHECK(c.gaussian.kind == kind);
    CHECK(c.gaussian.item_shape == p.item_shape);
    CHECK(c.gaussian.mean == p.mean);
    CHECK(c.gaussian.cov == test::as_float(p.cov));
    CHECK(c.gaussian.var == p.var);
    CHECK(c.gaussian.factor == p.factor);
    CHECK(c.gaussian.rank == p.rank);
    CHECK(c.gaussian.spectrum == p.spectrum);
    std::unique_ptr<samplers::Denoiser> loaded = load_prior(path, process(), test::device());
    REQUIRE(dynamic_cast<GaussianDenoiser*>(loaded.get()));
    CHECK(loaded->item_shape() == p.item_shape);
    GaussianDenoiser direct(c.gaussian, process(), test::device());
    CHECK(denoised(*loaded) == denoised(direct));
  }
  CHECK(dir.entries() == 4);  // no temporaries left behind
}

TEST_CASE("Gaussian mixture prior files survive a round trip and load as the same denoiser") {
  test::TempDir dir;
  std::string path = dir.file("gmm.h5");
  save_gmm_prior(path, mixture());
  PriorFileContents c = read_prior(path);
  CHECK(c.prior == "gmm");
  CHECK(c.mixture.dim == 2);
  CHECK(c.mixture.weights == mixture().weights);
  CHECK(c.mixture.means == mixture().means);
  CHECK(c.mixture.covs == mixture().covs);
  std::unique_ptr<samplers::Denoiser> loaded = load_prior(path, process(), test::device());
  REQUIRE(dynamic_cast<MixtureDenoiser*>(loaded.get()));
  MixtureDenoiser direct(mixture(), process(), test::device());
  CHECK(denoised(*loaded) == denoised(direct));
  H5File f = H5File::open(path);
  CHECK(f.string_attribute("", "format") == "tweedie-prior");
  CHECK(f.number_attribute("", "format_version") == 1);
}

TEST_CASE("Prior files with wrong attributes, datasets or shapes are refused, naming the file and the dataset") {
  test::TempDir dir;
  int index = 0;
  auto check = [&](RawFile r, const std::string& what) {
    std::string path = dir.file(cat("bad", index++, ".h5"));
    r.write(path);
    refused(path, what);
  };
  RawFile r = dense_raw();
  r.strings["format"] = "tweedie-model";
  check(r, "not a tweedie prior file");
  r = dense_raw();
  r.strings.erase("format");
  check(r, "missing root attribute 'format'");
  r = dense_raw();
  r.version = 2;
  check(r, "format version 2");
  r = dense_raw();
  r.version = 0;
  check(r, "missing root attribute 'format_version'");
  r = dense_raw();
  r.strings["prior"] = "laplace";
  check(r, "prior = \"laplace\"");
  r = dense_raw();
  r.datasets.erase("mean");
  check(r, "missing dataset 'mean'");
  r = dense_raw();
  r.datasets["var"] = {{1, 1}, {2}};
  check(r, "exactly one of 'cov'");
  r = dense_raw();
  r.datasets.erase("cov");
  r.datasets["factor"] = {{1, 1}, {2, 1}};
  check(r, "exactly one of 'cov'");
  r = dense_raw();
  r.datasets["cov"] = {{1, 0, 0, 1, 0, 0}, {2, 3}};
  check(r, "dataset 'cov' has shape (2,3)");
  r = dense_raw();
  r.datasets.erase("cov");
  r.datasets["var"] = {{1, 1, 1}, {3}};
  check(r, "dataset 'var' has shape (3)");
  r = dense_raw();
  r.datasets.erase("cov");
  r.datasets["var"] = {{1, 1}, {2}};
  r.datasets["factor"] = {{1, 1, 1}, {3, 1}};
  check(r, "dataset 'factor' has shape (3,1)");
  r = dense_raw();
  r.datasets.erase("cov");
  r.datasets["spectrum"] = {{1, 1}, {2}};
  check(r, "dataset 'spectrum' needs (C, H, W) items");
  r = dense_raw();
  r.datasets["covs"] = {{1}, {1}};
  check(r, "unexpected dataset 'covs'");
  r = gmm_raw();
  r.datasets.erase("covs");
  check(r, "missing dataset 'covs'");
  r = gmm_raw();
  r.datasets["means"] = {{0, 0, 1, 1, 2, 2}, {3, 2}};
  check(r, "dataset 'means' has shape (3,2)");
  r = gmm_raw();
  r.datasets["covs"] = {{1, 0, 0, 1}, {1, 2, 2}};
  check(r, "dataset 'covs' has shape (1,2,2)");
}

TEST_CASE("Prior files with invalid values are refused, naming the file and the dataset") {
  test::TempDir dir;
  int index = 0;
  auto gaussian_file = [&](const GaussianPrior& p, const std::string& what) {
    std::string path = dir.file(cat("g", index++, ".h5"));
    save_gaussian_prior(path, p);
    refused(path, what);
  };
  auto gmm_file = [&](const MixturePrior& p, const std::string& what) {
    std::string path = dir.file(cat("m", index++, ".h5"));
    save_gmm_prior(path, p);
    refused(path, what);
  };
  GaussianPrior g = gaussian(Cov::dense);
  g.cov[1] += 0.01;
  gaussian_file(g, "'cov' is not symmetric");
  g = gaussian(Cov::dense);
  g.cov[0] = -3;
  gaussian_file(g, "'cov' is not positive semi-definite");
  g = gaussian(Cov::diagonal);
  g.var[3] = -0.5;
  gaussian_file(g, "'var' has the negative value -0.5");
  g = gaussian(Cov::stationary);
  g.spectrum[2] = -1;
  gaussian_file(g, "'spectrum' has the negative value -1");
  g = gaussian(Cov::stationary);
  g.spectrum[1] = 2;
  gaussian_file(g, "'spectrum' is not even");
  g = gaussian(Cov::low_rank);
  g.factor[0] = std::numeric_limits<double>::infinity();
  gaussian_file(g, "'factor' has a non-finite value");
  MixturePrior m = mixture();
  m.weights = {0.25, 0.7};
  gmm_file(m, "'weights' sum to 0.95");
  m.weights = {1.25, -0.25};
  gmm_file(m, "'weights' has the invalid weight -0.25");
  m = mixture();
  m.covs[7] = -2;
  gmm_file(m, "'covs[1]' is not positive semi-definite");
  m = mixture();
  m.covs[1] = 0.4;
  gmm_file(m, "'covs[0]' is not symmetric");

  // Weights off by less than the tolerance load (and are renormalised).
  m = mixture();
  m.weights = {0.25, 0.7500004};
  std::string path = dir.file("close.h5");
  save_gmm_prior(path, m);
  CHECK_NOTHROW(load_prior(path, process(), test::device()));
}
