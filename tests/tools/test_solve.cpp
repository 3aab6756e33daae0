// `tweedie solve`, `tweedie demo` and `tweedie phantoms` end to end on small problems: files, metrics
// and refusals.
#include <cmath>
#include <complex>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "io/hdf5_file.h"
#include "io/prior_file.h"
#include "support.h"
#include "tools/cli_run.h"

using namespace tweedie;
using namespace tweedie::test;

namespace {

nlohmann::json last_json(const std::string& out) { return nlohmann::json::parse(out.substr(out.rfind("\n{") == std::string::npos ? out.find('{') : out.rfind("\n{") + 1)); }

// A stationary Gaussian prior on (1, 8, 8) images with a smooth (low-pass) spectrum, and one draw of it.
void write_problem(const TempDir& dir) {
  samplers::GaussianPrior p;
  p.kind = samplers::GaussianPrior::Covariance::stationary;
  p.item_shape = Shape{1, 8, 8};
  p.mean.assign(64, 0.0);
  for (int k = 0; k < 8; ++k)
    for (int l = 0; l < 8; ++l) {
      double fk = std::min(k, 8 - k), fl = std::min(l, 8 - l);
      p.spectrum.push_back(0.5 * std::exp(-(fk * fk + fl * fl) / 4.0) + 1e-3);
    }
  save_gaussian_prior(dir.file("prior.h5"), p);
  write_prior_draws(dir.file("prior.h5"), 9, dir.file("x.h5"), dir.file("truth.h5"));
}

}  // namespace

TEST_CASE("tweedie solve: MMPS and DPS on simulated inpainting, with samples, mean, std, PNGs and metrics") {
  TempDir dir;
  write_problem(dir);
  Run sim = run("simulate --operator inpaint:p=0.5 --noise gaussian:sigma=0.05 --x " + dir.file("truth.h5") + " --seed 2 -o " + dir.file("y.h5"));
  REQUIRE_MESSAGE(sim.status == 0, sim.out);
  for (const char* method : {"mmps", "dps"}) {
    CAPTURE(method);
    std::string out = dir.file(std::string(method) + ".h5"), png = dir.file(std::string(method) + "-png");
    Run r = run(std::string("solve --method ") + method + " --prior " + dir.file("prior.h5") + " --process vp --y " + dir.file("y.h5") +
                " --truth " + dir.file("truth.h5") + " --sampler ddpm --steps 40 --samples 6 --seed 1 --zeta 0.5 -o " + out + " --png " + png);
    REQUIRE_MESSAGE(r.status == 0, r.out);
    nlohmann::json m = last_json(r.out);
    CHECK(m["method"] == method);
    CHECK(m["observations"] == 2);
    CHECK(m["samples"] == 6);
    CHECK(m["psnr"].size() == 2);
    CHECK(m["ssim"].size() == 2);
    CHECK(m["network"]["forward"].get<std::int64_t>() >= 2 * 6 * 40);
    CHECK(m["seconds"].get<double>() > 0);
    CHECK(m["peak_bytes"].get<std::int64_t>() > 0);
    H5File f = H5File::open(out);
    CHECK(f.shape("samples") == Shape{2, 6, 1, 8, 8});
    CHECK(f.shape("mean") == Shape{2, 1, 8, 8});
    CHECK(f.shape("std") == Shape{2, 1, 8, 8});
    for (const char* name : {"mean.png", "std.png", "samples.png", "truth.png", "observation.png"})
      CHECK_MESSAGE(std::filesystem::exists(std::filesystem::path(png) / name), name);
    // The posterior mean explains the data: its misfit is near the noise level (|n| / |y| about 0.1 here).
    for (double c : m["data_consistency"]) CHECK(c < 0.5);
    // Mean and std are those of the samples.
    std::vector<double> s = download(f.read("samples")), mean = download(f.read("mean")), sd = download(f.read("std"));
    for (int e = 0; e < 64; ++e) {
      double mu = 0, v = 0;
      for (int k = 0; k < 6; ++k) mu += s[std::size_t(k * 64 + e)] / 6;
      for (int k = 0; k < 6; ++k) v += std::pow(s[std::size_t(k * 64 + e)] - mu, 2) / 5;
      CHECK(mean[std::size_t(e)] == doctest::Approx(mu).epsilon(1e-5));
      CHECK(sd[std::size_t(e)] == doctest::Approx(std::sqrt(v)).epsilon(1e-4));
    }
  }
  // MMPS uses the exact covariance of this Gaussian prior: its mean beats the zero-filled image by a margin.
  nlohmann::json zf = last_json(run("solve --method map-tikhonov --lambda 1e-6 --iterations 50 --y " + dir.file("y.h5") + " --truth " +
                                     dir.file("truth.h5") + " -o " + dir.file("zf.h5")).out);
  nlohmann::json mm = nlohmann::json::parse(H5File::open(dir.file("mmps.h5")).string_attribute("", "metrics"));
  CHECK(mm["psnr"][0].get<double>() > zf["psnr"][0].get<double>() + 1.0);
}

TEST_CASE("tweedie solve: every sampling method runs from the command line, explains the data and beats zero filling") {
  TempDir dir;
  write_problem(dir);
  Run sim = run("simulate --operator inpaint:p=0.5 --noise gaussian:sigma=0.05 --x " + dir.file("truth.h5") + " --seed 2 -o " + dir.file("y.h5"));
  REQUIRE_MESSAGE(sim.status == 0, sim.out);
  const std::string problem = " --prior " + dir.file("prior.h5") + " --process vp --y " + dir.file("y.h5") + " --truth " + dir.file("truth.h5");
  const std::string common = problem + " --steps 40 --samples 6 --seed 1 --sampler ddpm";
  Run zero_filled = run("solve --method map-tikhonov --lambda 1e-6 --iterations 50 --y " + dir.file("y.h5") + " --truth " + dir.file("truth.h5") +
                        " -o " + dir.file("zf.h5"));
  REQUIRE_MESSAGE(zero_filled.status == 0, zero_filled.out);
  nlohmann::json zf = last_json(zero_filled.out);
  for (const std::string method : {"mmps", "dps", "pigdm", "tmpd", "ddrm", "ddnm", "diffpir", "daps", "repaint", "tds"}) {
    CAPTURE(method);
    const std::string extra = method == "tds" ? " --particles 16 --twist-variance pigdm" : method == "daps" ? " --langevin-steps 10" : method == "dps" ? " --zeta 0.5" : "";
    Run r = run("solve --method " + method + common + extra + " -o " + dir.file(method + ".h5"));
    REQUIRE_MESSAGE(r.status == 0, r.out);
    nlohmann::json m = last_json(r.out);
    MESSAGE(method, " psnr ", m["psnr"].dump(), " zf ", zf["psnr"].dump(), " consistency ", m["data_consistency"].dump());
    CHECK(m["method"] == method);
    CHECK(H5File::open(dir.file(method + ".h5")).shape("samples") == Shape{2, 6, 1, 8, 8});
    // The posterior means explain the data (misfit |A mean - y| / |y|; the noise alone is about 0.06
    // here, MMPS 0.06, the Gaussian-likelihood guidance of DPS, Pi-GDM and TMPD 0.16-0.35). TDS's
    // twist assumes unit-variance data, far above this prior's pixel variance, so its proposals
    // under-guide and its 16 particles leave each sample 0.42-0.46 of |y| away.
    for (double c : m["data_consistency"]) CHECK(c < (method == "tds" ? 0.6 : 0.4));
    // Each beats the zero-filled image on this smooth prior.
    for (std::size_t i = 0; i < 2; ++i) CHECK(m["psnr"][i].get<double>() > zf["psnr"][i].get<double>());
    // Network calls per sample and step: tds runs K = 16 particles.
    const double per = m["network"]["forward"].get<double>() / (2 * 6 * 40);
    CHECK(per >= (method == "tds" ? 16.0 : 1.0));
  }
  auto refused = [&](const std::string& args, const std::string& expected) { check_refused(args, dir.file("out.h5"), expected); };
  refused("solve --method mmps --particles 8" + problem, "--particles: this sets --method tds");
  refused("solve --method dps --diffpir-lambda 2" + problem, "--diffpir-lambda: this sets --method diffpir");
  refused("solve --method tds --sampler ddim" + problem, "tds runs DDPM ancestral steps");
  REQUIRE(run("simulate --operator phase --noise gaussian:sigma=0.05 --x " + dir.file("truth.h5") + " -o " + dir.file("phase.h5")).status == 0);
  REQUIRE(run("simulate --operator inpaint:p=0.5 --noise poisson:scale=10 --x " + dir.file("truth.h5") + " -o " + dir.file("counts.h5")).status == 0);
  const std::string prior = " --prior " + dir.file("prior.h5") + " --process vp";
  refused("solve --method diffpir" + prior + " --y " + dir.file("phase.h5"), "is nonlinear; DiffPIR's data step");
  refused("solve --method tds" + prior + " --y " + dir.file("phase.h5"), "is nonlinear");
  refused("solve --method pigdm" + prior + " --y " + dir.file("counts.h5"), "needs Gaussian noise");
  refused("solve --method daps" + prior + " --y " + dir.file("counts.h5"), "is not Gaussian");
  refused("solve --method tds" + prior + " --y " + dir.file("counts.h5"), "not Gaussian");
  refused("solve --method ddrm" + prior + " --y " + dir.file("counts.h5"), "not Gaussian");
  refused("solve --method ddnm" + prior + " --y " + dir.file("phase.h5"), "has no SVD");
  refused("solve --method mmps --ddrm-eta 0.5" + problem, "--ddrm-eta: this sets --method ddrm or ddnm");
  refused("solve --method repaint" + prior + " --y " + dir.file("phase.h5"), "is not a 0/1 mask");
}

TEST_CASE("tweedie solve --method rmp: the posterior mean alone, the same under VP and VE and as exact MCMC's") {
  // A Gaussian prior with Gaussian noise: RMP over MMPS is exact (rmp.h), so VP with 30 steps and VE
  // with 12 steps of 3 inner iterations give the same mean, and elliptical slice sampling's exact draws
  // average to it within their Monte-Carlo error.
  TempDir dir;
  write_problem(dir);
  Run sim = run("simulate --operator inpaint:p=0.5 --noise gaussian:sigma=0.05 --x " + dir.file("truth.h5") + " --seed 2 -o " + dir.file("y.h5"));
  REQUIRE_MESSAGE(sim.status == 0, sim.out);
  const std::string common = " --prior " + dir.file("prior.h5") + " --y " + dir.file("y.h5") + " --truth " + dir.file("truth.h5") + " --cg-iterations 40";
  Run vp = run("solve --method rmp --process vp --steps 30" + common + " -o " + dir.file("vp.h5") + " --png " + dir.file("png"));
  REQUIRE_MESSAGE(vp.status == 0, vp.out);
  Run ve = run("solve --method rmp --process ve --steps 12 --inner 3" + common + " -o " + dir.file("ve.h5"));
  REQUIRE_MESSAGE(ve.status == 0, ve.out);
  nlohmann::json m = last_json(vp.out);
  CHECK(m["method"] == "rmp");
  CHECK_FALSE(m.contains("samples"));
  CHECK(m["rmp"]["guidance"] == "mmps");
  CHECK(m["rmp"]["covariance"] == "tweedie");  // an exact prior keeps its exact covariance
  CHECK(m["rmp"]["steps"] == 30);
  CHECK(m["rmp"]["inner"] == 1);
  CHECK(m["rmp"]["prior_variance"] == 0.0);
  // Two observations, 1 start + 30 steps + 1 final posterior denoise each.
  CHECK(m["network"]["forward"] == 2 * 32);
  CHECK(m["psnr"].size() == 2);
  for (double c : m["data_consistency"]) CHECK(c < 0.5);
  CHECK(last_json(ve.out)["network"]["forward"] == 2 * (1 + 12 * 3 + 1));
  H5File f = H5File::open(dir.file("vp.h5"));
  CHECK(f.shape("mean") == Shape{2, 1, 8, 8});
  CHECK_FALSE(f.has("samples"));
  CHECK_FALSE(f.has("std"));
  CHECK(std::filesystem::exists(std::filesystem::path(dir.file("png")) / "mean.png"));
  CHECK_FALSE(std::filesystem::exists(std::filesystem::path(dir.file("png")) / "samples.png"));
  const std::vector<double> a = download(f.read("mean")), b = download(H5File::open(dir.file("ve.h5")).read("mean"));
  CHECK(max_relative_error(a, b, 1e-1) < 1e-3);

  Run ess = run("solve --method ess --chains 4 --iterations 3000 --burn-in 500 --prior " + dir.file("prior.h5") + " --y " + dir.file("y.h5") +
                " --seed 5 -o " + dir.file("ess.h5"));
  REQUIRE_MESSAGE(ess.status == 0, ess.out);
  H5File e = H5File::open(dir.file("ess.h5"));
  const std::vector<double> em = download(e.read("mean")), es = download(e.read("std"));
  const double draws = 4 * 2500;
  double worst = 0;  // in Monte-Carlo standard errors, allowing autocorrelation up to 10 draws
  for (std::size_t i = 0; i < a.size(); ++i) worst = std::max(worst, std::abs(a[i] - em[i]) / (es[i] * std::sqrt(10 / draws)));
  CAPTURE(worst);
  MESSAGE("rmp vs ess mean: ", worst, " Monte-Carlo standard errors at most");
  CHECK(worst < 4);
}

TEST_CASE("tweedie solve --method rmp refuses what it cannot do, by name") {
  TempDir dir;
  write_problem(dir);
  REQUIRE(run("simulate --operator inpaint:p=0.5 --noise gaussian:sigma=0.05 --x " + dir.file("truth.h5") + " -o " + dir.file("y.h5")).status == 0);
  REQUIRE(run("simulate --operator phase --noise gaussian:sigma=0.05 --x " + dir.file("truth.h5") + " -o " + dir.file("phase.h5")).status == 0);
  auto refused = [&](const std::string& args, const std::string& expected) { check_refused(args, dir.file("out.h5"), expected); };
  const std::string prior = " --prior " + dir.file("prior.h5") + " --process vp";
  const std::string y = " --y " + dir.file("y.h5");
  refused("solve --method rmp" + prior + " --y " + dir.file("phase.h5"), "is nonlinear, and MMPS's Gaussian approximation");
  refused("solve --method rmp --samples 4" + prior + y, "rmp gives one estimate per observation");
  refused("solve --method mmps --inner 3" + prior + y, "these set --method rmp");
  refused("solve --method rmp --gamma 2" + prior + y, "--gamma weighs the plug-in likelihood");
  refused("solve --method rmp --guidance evidence" + prior + y, "is for count data");
  refused("solve --method rmp --guidance magic" + prior + y, "--guidance magic: one of");
  refused("solve --method rmp --rmp-step 3" + prior + y, "step size 3");
  refused("solve --method rmp --inner -1" + prior + y, "inner iterations -1");
  refused("solve --method rmp --sampler ddim" + prior + y, "rmp runs no sampler");
  // The plug-in likelihood takes the nonlinear operator.
  Run plugin = run("solve --method rmp --guidance plugin --gamma 0.01 --steps 20" + prior + " --y " + dir.file("phase.h5") + " -o " + dir.file("p.h5"));
  CHECK_MESSAGE(plugin.status == 0, plugin.out);
}

TEST_CASE("tweedie solve refuses what it cannot do, by name, and writes nothing") {
  TempDir dir;
  write_problem(dir);
  REQUIRE(run("simulate --operator sr:2:avg --noise poisson:scale=10 --x " + dir.file("truth.h5") + " -o " + dir.file("counts.h5")).status == 0);
  REQUIRE(run("simulate --operator identity --noise none --x " + dir.file("truth.h5") + " -o " + dir.file("clean.h5")).status == 0);
  auto refused = [&](const std::string& args, const std::string& expected) { check_refused(args, dir.file("out.h5"), expected); };
  std::string prior = " --prior " + dir.file("prior.h5") + " --process vp";
  refused("solve --method mmps" + prior + " --y " + dir.file("clean.h5"), "the noise model is none");
  refused("solve --method magic" + prior + " --y " + dir.file("clean.h5"), "--method magic: one of mmps");
  refused("solve --method dps --y " + dir.file("counts.h5"), "--method dps needs --prior");
  refused("solve --method dps" + prior + " --y " + dir.file("truth.h5"), "give --operator and --noise");
  refused("solve --method map-tv --samples 3 --y " + dir.file("counts.h5"), "gives one estimate per observation");
  // A plain y with no prior: the unknowns' shape must be given, and must agree with what else knows it.
  refused("solve --method map-tikhonov --y " + dir.file("truth.h5") + ":x --operator identity --noise gaussian:sigma=0.1", "give --x-shape C,H,W");
  refused("solve --method dps" + prior + " --x-shape 1,4,4 --y " + dir.file("clean.h5"), "--x-shape (1,4,4) differs from the prior's items (1,8,8)");
  refused("solve --method map-tv --x-shape 1,4,4 --y " + dir.file("clean.h5"), "--x-shape (1,4,4) differs from the unknowns of");
}

TEST_CASE("tweedie solve takes a raw y with --operator, --noise and --x-shape, without a prior") {
  // Tikhonov MAP from a raw k-space dataset, checked by its optimality condition computed with
  // `tweedie apply`: A^T (A x - y) / s^2 + lambda x = 0.
  TempDir dir;
  write_problem(dir);
  const std::string op = " --operator mri:R=2:centre=2:seed=4";
  const double sigma = 0.1, lambda = 1.0;
  Run sim = run("simulate" + op + " --noise none --x " + dir.file("truth.h5") + " -o " + dir.file("k.h5"));
  REQUIRE_MESSAGE(sim.status == 0, sim.out);
  Run r = run("solve --method map-tikhonov --lambda 1 --iterations 100 --y " + dir.file("k.h5") + ":y" + op +
              " --noise gaussian:sigma=0.1 --x-shape 1,8,8 -o " + dir.file("map.h5"));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  REQUIRE(run("apply" + op + " --x " + dir.file("map.h5") + ":mean -o " + dir.file("ax.h5")).status == 0);
  std::vector<std::complex<double>> ax = download_complex(H5File::open(dir.file("ax.h5")).read("y"));
  std::vector<std::complex<double>> y = download_complex(H5File::open(dir.file("k.h5")).read("y"));
  REQUIRE(ax.size() == y.size());
  std::vector<std::complex<float>> residual(y.size());
  for (std::size_t i = 0; i < y.size(); ++i) residual[i] = std::complex<float>(ax[i] - y[i]);
  H5File res = H5File::create(dir.file("r.h5"));
  res.write("y", Tensor::from_host(std::span<const std::complex<float>>(residual), H5File::open(dir.file("k.h5")).shape("y")));
  res.commit();
  REQUIRE(run("apply" + op + " --adjoint --x-shape 1,8,8 --x " + dir.file("r.h5") + " -o " + dir.file("atr.h5")).status == 0);
  REQUIRE(run("apply" + op + " --adjoint --x-shape 1,8,8 --x " + dir.file("k.h5") + ":y -o " + dir.file("aty.h5")).status == 0);
  std::vector<double> x = download(H5File::open(dir.file("map.h5")).read("mean"));
  std::vector<double> atr = download(H5File::open(dir.file("atr.h5")).read("x")), aty = download(H5File::open(dir.file("aty.h5")).read("x"));
  REQUIRE(x.size() == atr.size());
  double gradient = 0, scale = 0;
  for (std::size_t i = 0; i < x.size(); ++i) {
    gradient += std::pow(atr[i] / (sigma * sigma) + lambda * x[i], 2);
    scale += std::pow(aty[i] / (sigma * sigma), 2);
  }
  CHECK(std::sqrt(gradient / scale) < 1e-4);
}

TEST_CASE("tweedie demo: the learned prior beats zero filling and the Gaussian prior by far; tweedie phantoms refits the Gaussian") {
  TempDir dir;
  // One image (Shepp-Logan), 2 samples, 20 steps: a few seconds. With the defaults (2 images, 8 samples,
  // 50 steps) the learned prior reaches about 35 dB against 16 dB zero-filled (README.md).
  Run r = run("demo --images 1 --samples 2 --steps 20 -o " + dir.file("demo"));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  nlohmann::json j = last_json(r.out);
  // (Two samples of the Gaussian posterior are too few for its mean to beat zero filling reliably.)
  CHECK(j["psnr_learned"].get<double>() > j["psnr_zero_filled"].get<double>() + 6);
  CHECK(j["psnr_learned"].get<double>() > j["psnr_gaussian"].get<double>() + 6);
  CHECK(j["ssim_learned"].get<double>() > 0.8);
  for (const char* name : {"truth.png", "zero_filled.png", "gaussian_mean.png", "learned_mean.png", "learned_std.png", "learned_samples.png", "demo.h5"})
    CHECK_MESSAGE(std::filesystem::exists(std::filesystem::path(dir.file("demo")) / name), name);

  Run p = run("phantoms --count 20 --size 16 --seed 3 -o " + dir.file("ph.h5") + " --fit-prior " + dir.file("prior16.h5"));
  REQUIRE_MESSAGE(p.status == 0, p.out);
  std::vector<double> x = download(H5File::open(dir.file("ph.h5")).read("x"));
  REQUIRE(x.size() == 20 * 256);
  for (double v : x) CHECK((v >= -1 && v <= 1));
  // The fitted mean is the phantoms' mean.
  std::vector<double> mean = download(H5File::open(dir.file("prior16.h5")).read("mean"));
  for (int e = 0; e < 256; e += 17) {
    double mu = 0;
    for (int i = 0; i < 20; ++i) mu += x[std::size_t(i * 256 + e)] / 20;
    CHECK(mean[std::size_t(e)] == doctest::Approx(mu).epsilon(1e-5));
  }
  Run small = run("demo --prior " + dir.file("prior16.h5") + " --gaussian " + dir.file("prior16.h5") + " --samples 2 --steps 10 -o " +
                  dir.file("demo16"));
  CHECK_MESSAGE(small.status == 0, small.out);
  check_refused("demo --prior " + dir.file("prior16.h5"), dir.file("demo-mismatch"), "images (1,64,64), but --prior's are (1,16,16)");
}

TEST_CASE("tweedie simulate and solve with correlated noise: gaussian:cov=FILE and gaussian:sigma=S:factor=FILE, refusals by name") {
  TempDir dir;
  write_problem(dir);
  // sr:2:avg gives 16 outputs; Sigma_y = 1e-3 I + F^T F with two sources, written as a full matrix and as its factor.
  const std::int64_t m = 16;
  const std::vector<double> f = as_float(uniform(std::size_t(2 * m), 70, -0.1, 0.1));
  std::vector<float> cov(std::size_t(m * m)), factor(f.begin(), f.end()), indefinite;
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < m; ++j)
      cov[std::size_t(i * m + j)] = float((i == j ? 1e-3 : 0.0) + f[std::size_t(i)] * f[std::size_t(j)] + f[std::size_t(m + i)] * f[std::size_t(m + j)]);
  indefinite = cov;
  indefinite[5 * m + 5] = -1;
  {
    H5File h = H5File::create(dir.file("noise.h5"));
    h.write("cov", Tensor::from_host(std::span<const float>(cov), {m, m}));
    h.write("factor", Tensor::from_host(std::span<const float>(factor), {2, m}));
    h.write("indefinite", Tensor::from_host(std::span<const float>(indefinite), {m, m}));
    h.write("small", Tensor::from_host(std::span<const float>(cov.data(), 64), {8, 8}));
    h.commit();
  }
  const std::string op = " --operator sr:2:avg", full = " --noise gaussian:cov=" + dir.file("noise.h5") + "#cov";
  const std::string low_rank = " --noise gaussian:sigma=0.0316:factor=" + dir.file("noise.h5") + "#factor";
  for (const std::string& noise : {full, low_rank}) {
    CAPTURE(noise);
    const std::string y = dir.file("y.h5"), out = dir.file("post.h5");
    Run sim = run("simulate" + op + noise + " --x " + dir.file("truth.h5") + " --seed 3 -o " + y);
    REQUIRE_MESSAGE(sim.status == 0, sim.out);
    for (const std::string method : {"mmps", "daps", "dps"}) {
      CAPTURE(method);
      Run r = run("solve --method " + method + " --prior " + dir.file("prior.h5") + " --process vp --y " + y + " --truth " +
                  dir.file("truth.h5") + " --sampler ddpm --steps 30 --samples 4 --seed 1 -o " + out);
      REQUIRE_MESSAGE(r.status == 0, r.out);
      nlohmann::json metrics = last_json(r.out);
      // simulate copies the covariance into y's file, which solve then reads.
      CHECK(contains(metrics["noise"].get<std::string>(), noise == full ? "gaussian:cov=" + y + "#noise/cov" : ":factor=" + y + "#noise/factor"));
      CHECK(metrics["psnr"].size() == 2);
      for (double c : metrics["data_consistency"]) CHECK(std::isfinite(c));
    }
    check_refused("solve --method ddrm --prior " + dir.file("prior.h5") + " --process vp --y " + y, dir.file("out.h5"), "has correlated entries");
  }
  const std::string x = " --x " + dir.file("truth.h5");
  auto refused = [&](const std::string& args, const std::string& expected) { check_refused("simulate" + x + args, dir.file("out.h5"), expected); };
  refused(op + " --noise gaussian:cov=" + dir.file("none.h5"), "does not exist");
  refused(op + " --noise gaussian:cov=" + dir.file("noise.h5") + "#small", "must be (16, 16)");
  refused(op + " --noise gaussian:cov=" + dir.file("noise.h5") + "#indefinite", "not positive definite (its Cholesky pivot at entry 5");
  refused(op + " --noise gaussian:cov=" + dir.file("noise.h5") + "#cov:sigma=0.1", "sigma= does not go with it");
  refused(op + " --noise gaussian:sigma=0:factor=" + dir.file("noise.h5") + "#factor", "must be positive");
  refused(" --operator mri:R=2 --noise gaussian:cov=" + dir.file("noise.h5") + "#cov", "whiten complex (multi-coil) data");
}

TEST_CASE("tweedie simulate and solve on radial k-space (mri:traj=radial): MMPS with the exact prior beats CG-SENSE") {
  TempDir dir;
  write_problem(dir);
  Run sim = run("simulate --operator mri:traj=radial:R=2 --noise gaussian:sigma=0.01 --x " + dir.file("truth.h5") + " --seed 2 -o " +
                dir.file("y.h5"));
  REQUIRE_MESSAGE(sim.status == 0, sim.out);
  // pi 8 / 2 / 2 = 6.3 -> 7 spokes of 16 samples.
  CHECK(H5File::open(dir.file("y.h5")).shape("y") == Shape{2, 1, 112});
  Run mmps = run("solve --method mmps --prior " + dir.file("prior.h5") + " --process vp --y " + dir.file("y.h5") + " --truth " +
                 dir.file("truth.h5") + " --sampler ddpm --steps 40 --samples 6 --seed 1 --cg-iterations 20 -o " + dir.file("mmps.h5"));
  REQUIRE_MESSAGE(mmps.status == 0, mmps.out);
  Run cg = run("solve --method map-tikhonov --lambda 0.01 --iterations 100 --y " + dir.file("y.h5") + " --truth " + dir.file("truth.h5") +
               " -o " + dir.file("cg.h5"));
  REQUIRE_MESSAGE(cg.status == 0, cg.out);
  const nlohmann::json a = last_json(mmps.out), b = last_json(cg.out);
  MESSAGE("radial R=2, 8 x 8: MMPS psnr ", a["psnr"].dump(), ", CG-SENSE ", b["psnr"].dump());
  CHECK(H5File::open(dir.file("mmps.h5")).shape("samples") == Shape{2, 6, 1, 8, 8});
  for (int i = 0; i < 2; ++i) CHECK(a["psnr"][i].get<double>() > b["psnr"][i].get<double>());
}

TEST_CASE("tweedie simulate and solve on a 3-D volume: multi-coil Cartesian MRI over (D, H, W), CG-SENSE from the command line") {
  TempDir dir;
  const std::int64_t d = 8, h = 16, w = 12, k = 4, vol = d * h * w;
  // A smooth volume and smooth unit-norm maps, so that R = 2 with 4 coils is well posed.
  std::vector<double> x(static_cast<std::size_t>(vol));
  std::vector<std::complex<double>> s(static_cast<std::size_t>(k * vol));
  for (std::int64_t i = 0; i < vol; ++i) {
    const double z = double(i / (h * w)) / double(d) - 0.5, y = double(i / w % h) / double(h) - 0.5, c = double(i % w) / double(w) - 0.5;
    x[std::size_t(i)] = std::exp(-6 * (z * z + y * y + c * c));
    double norm = 0;
    for (std::int64_t q = 0; q < k; ++q) {
      const double a = 2 * M_PI * double(q) / double(k);
      s[std::size_t(q * vol + i)] = std::polar(std::exp(-((y - 0.4 * std::sin(a)) * (y - 0.4 * std::sin(a)) + (c - 0.4 * std::cos(a)) * (c - 0.4 * std::cos(a)))), double(q) * z);
      norm += std::norm(s[std::size_t(q * vol + i)]);
    }
    for (std::int64_t q = 0; q < k; ++q) s[std::size_t(q * vol + i)] /= std::sqrt(norm);
  }
  {
    H5File f = H5File::create(dir.file("truth.h5"));
    f.write("x", upload(x, {1, 1, d, h, w}).to_host());
    f.write("maps", upload(s, {k, d, h, w}).to_host());
    f.commit();
  }
  Run sim = run("simulate --operator mri:R=2:centre=4:coils=" + dir.file("truth.h5") + "#maps --noise gaussian:sigma=0.001 --x " +
                dir.file("truth.h5") + " --seed 3 -o " + dir.file("y.h5"));
  REQUIRE_MESSAGE(sim.status == 0, sim.out);
  CHECK(H5File::open(dir.file("y.h5")).shape("y") == Shape{1, k, d, h, w});
  Run cg = run("solve --method map-tikhonov --lambda 0.001 --iterations 60 --y " + dir.file("y.h5") + " --truth " + dir.file("truth.h5") +
               " -o " + dir.file("cg.h5"));
  REQUIRE_MESSAGE(cg.status == 0, cg.out);
  const nlohmann::json r = last_json(cg.out);
  MESSAGE("3-D CG-SENSE, 8 x 16 x 12, 4 coils, R=2: psnr ", r["psnr"].dump());
  CHECK(H5File::open(dir.file("cg.h5")).shape("mean") == Shape{1, 1, d, h, w});
  CHECK(r["psnr"][0].get<double>() > 40);
}
