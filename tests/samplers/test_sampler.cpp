// The sampling loops against exact answers. A Gaussian prior N(mu, diag(v)) has an exact linear
// denoiser, under which every sampler is an affine map plus Gaussian noise, so the distribution of its
// output is known in closed form; DDPM ancestral steps with the exact denoiser reproduce the true
// marginals at every step. The processes and the denoiser here are written independently of
// samplers/process.cpp and the exact-prior classes.
#include <cmath>
#include <memory>

#include "runtime/error.h"
#include "samplers/sampler.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;

namespace {

// score_sde's VP SDE with beta from 0.1 to 20.
struct TestVP final : Process {
  double b0 = 0.1, b1 = 20;
  std::string name() const override { return "test-vp"; }
  double log_alpha(double t) const { return -0.25 * t * t * (b1 - b0) - 0.5 * t * b0; }
  double alpha(double t) const override { return std::exp(log_alpha(t)); }
  double sigma(double t) const override { return std::sqrt(-std::expm1(2 * log_alpha(t))); }
  double drift(double t) const override { return -0.5 * (b0 + t * (b1 - b0)); }
  double diffusion2(double t) const override { return b0 + t * (b1 - b0); }
  double t_min() const override { return 1e-3; }
  double t_max() const override { return 1; }
  std::vector<double> time_grid(int steps) const override {
    std::vector<double> g;
    for (int i = 0; i <= steps; ++i) g.push_back(t_max() + (t_min() - t_max()) * i / steps);
    return g;
  }
};

// alpha = 1, sigma = t on Karras' rho = 7 grid.
struct TestEDM final : Process {
  std::string name() const override { return "test-edm"; }
  double alpha(double) const override { return 1; }
  double sigma(double t) const override { return t; }
  double drift(double) const override { return 0; }
  double diffusion2(double t) const override { return 2 * t; }
  double t_min() const override { return 0.002; }
  double t_max() const override { return 80; }
  std::vector<double> time_grid(int steps) const override {
    std::vector<double> g;
    const double a = std::pow(t_max(), 1 / 7.0), b = std::pow(t_min(), 1 / 7.0);
    for (int i = 0; i <= steps; ++i) g.push_back(std::pow(a + (b - a) * i / steps, 7.0));
    return g;
  }
};

// guided-diffusion's linear table over 1000 steps, respaced evenly.
struct TestTable final : Process {
  std::vector<double> abar;
  TestTable() {
    double prod = 1;
    for (int i = 0; i < 1000; ++i) abar.push_back(prod *= 1 - (1e-4 + (0.02 - 1e-4) * i / 999.0));
  }
  std::string name() const override { return "test-ddpm"; }
  bool continuous() const override { return false; }
  double alpha(double t) const override { return std::sqrt(abar.at(std::size_t(t))); }
  double sigma(double t) const override { return std::sqrt(1 - abar.at(std::size_t(t))); }
  double drift(double) const override { throw ArgumentError("table"); }
  double diffusion2(double) const override { throw ArgumentError("table"); }
  double t_min() const override { return 0; }
  double t_max() const override { return 999; }
  std::vector<double> time_grid(int steps) const override {
    std::vector<double> g;
    for (int i = 0; i <= steps; ++i) g.push_back(std::round(999.0 * (steps - i) / steps));
    return g;
  }
};

// E[x | x_t] for x ~ N(mu, diag(v)): mu + alpha v / (alpha^2 v + sigma^2) (x_t - alpha mu), per element.
struct GaussianDiag final : Denoiser {
  std::unique_ptr<Process> p;
  std::vector<double> mu, v;
  GaussianDiag(std::unique_ptr<Process> process, std::vector<double> m, std::vector<double> var)
      : p(std::move(process)), mu(std::move(m)), v(std::move(var)) {}
  const Process& process() const override { return *p; }
  Shape item_shape() const override { return {std::int64_t(mu.size())}; }
  double gain(std::size_t i, double t) const {
    double a = p->alpha(t), s = p->sigma(t);
    return a * v[i] / (a * a * v[i] + s * s);
  }
  void denoise(Context&, const Tensor& xt, double t, Tensor& x0) const override {
    std::vector<double> x = test::download(xt);
    const double a = p->alpha(t);
    for (std::size_t k = 0; k < x.size(); ++k) {
      std::size_t i = k % mu.size();
      x[k] = mu[i] + gain(i, t) * (x[k] - a * mu[i]);
    }
    x0.copy_from(test::upload(x, xt.shape()));
    forward_count += xt.dim(0);
  }
  std::unique_ptr<DenoiserLinearization> linearize(Context& ctx, const Tensor& xt, double t, Tensor& x0) const override {
    denoise(ctx, xt, t, x0);
    auto lin = std::make_unique<DenoiserLinearization>();
    lin->batch = xt.dim(0), lin->t = t;
    return lin;
  }
  void jvp(Context&, const DenoiserLinearization& lin, const Tensor& in, Tensor& out) const override {
    std::vector<double> x = test::download(in);
    for (std::size_t k = 0; k < x.size(); ++k) x[k] *= gain(k % mu.size(), lin.t);
    out.copy_from(test::upload(x, in.shape()));
  }
  void vjp(Context& ctx, const DenoiserLinearization& lin, const Tensor& in, Tensor& out) const override { jvp(ctx, lin, in, out); }
};

const std::vector<double> kMu = {0.5, -1.0, 2.0, 0.0}, kVar = {0.25, 1.0, 0.04, 2.25};

struct Moments {
  std::vector<double> mean, var;
};

// Per-coordinate moments, pooling coordinates k and k + groups, k + 2 groups, ... (tiled priors).
Moments moments(const Tensor& samples, std::size_t groups = 4) {
  std::vector<double> x = test::download(samples);
  const double n = double(x.size() / groups);
  Moments m{std::vector<double>(groups, 0), std::vector<double>(groups, 0)};
  for (std::size_t k = 0; k < x.size(); ++k) m.mean[k % groups] += x[k] / n;
  for (std::size_t k = 0; k < x.size(); ++k) m.var[k % groups] += std::pow(x[k] - m.mean[k % groups], 2) / (n - 1);
  return m;
}

// Mean and variance within `z` standard errors of N(mean, var) for n draws.
void check_normal(const Moments& m, const std::vector<double>& mean, const std::vector<double>& var, double n, double z = 4.5) {
  for (std::size_t i = 0; i < mean.size(); ++i) {
    CAPTURE(i);
    CHECK(std::abs(m.mean[i] - mean[i]) < z * std::sqrt(var[i] / n));
    CHECK(std::abs(m.var[i] - var[i]) < z * var[i] * std::sqrt(2.0 / (n - 1)));
  }
}

}  // namespace

TEST_CASE("DDPM and DDIM(eta) on a respaced table follow their closed-form Gaussian marginals") {
  // With the exact denoiser x0 = mu + g (x_t - alpha_t mu), a DDIM(eta) step (DDPM is eta = 1 without
  // noise in the last step) is x_s = A x_t + B + c z per coordinate, with
  //   c^2 = eta^2 sigma_ts^2 sigma_s^2 / sigma_t^2,  k = sqrt(sigma_s^2 - c^2) / sigma_t,
  //   A = k + (alpha_s - k alpha_t) g,  B = (alpha_s - k alpha_t) mu (1 - g alpha_t),
  // so mean and variance follow m <- A m + B, q <- A^2 q + c^2 from the initial N(0, alpha^2 + sigma^2).
  const std::int64_t n = 20000;
  struct Case {
    const char* kind;
    double eta;
  } cases[] = {{"ddpm", 1.0}, {"ddim", 1.0}, {"ddim", 0.5}, {"ddim", 0.0}};
  for (const Case& c : cases) {
    const std::string kind = c.kind;
    CAPTURE(kind);
    CAPTURE(c.eta);
    GaussianDiag d(std::make_unique<TestTable>(), kMu, kVar);
    SamplerOptions o;
    o.kind = kind, o.steps = 10, o.eta = c.eta, o.denoise_last = false;
    Tensor x = sample(test::context(), d, o, n, 7);
    CHECK(d.forward_count == 10 * n);
    const std::vector<double> grid = d.p->time_grid(10);
    std::vector<double> mean, var;
    for (std::size_t i = 0; i < kMu.size(); ++i) {
      double m = 0, q = std::pow(d.p->alpha(999), 2) + std::pow(d.p->sigma(999), 2);
      for (std::size_t k = 0; k + 1 < grid.size(); ++k) {
        const double at = d.p->alpha(grid[k]), st = d.p->sigma(grid[k]), as = d.p->alpha(grid[k + 1]), ss = d.p->sigma(grid[k + 1]);
        const double s2ts = st * st - std::pow(at / as, 2) * ss * ss;
        const bool last = k + 2 == grid.size();
        const double noise2 = (kind == "ddpm" && last) ? 0.0 : c.eta * c.eta * s2ts * ss * ss / (st * st);
        const double kk = std::sqrt(ss * ss - c.eta * c.eta * s2ts * ss * ss / (st * st)) / st;
        const double g = at * kVar[i] / (at * at * kVar[i] + st * st);
        const double A = kk + (as - kk * at) * g, B = (as - kk * at) * kMu[i] * (1 - g * at);
        m = A * m + B, q = A * A * q + noise2;
      }
      mean.push_back(m), var.push_back(q);
    }
    check_normal(moments(x), mean, var, double(n));
  }
}

TEST_CASE("every sampler approaches the Gaussian prior as the steps grow") {
  // Worst error over the four coordinates: of the mean in prior standard deviations, and of the
  // variance relative to the prior's. 4000 draws put the Monte-Carlo floor near 0.05.
  struct Case {
    const char* kind;
    int coarse, fine;
    double tolerance;
  } cases[] = {{"em", 20, 160, 0.1},   {"ode-euler", 20, 160, 0.1}, {"ode-heun", 10, 40, 0.1}, {"pc", 20, 160, 0.1},
               {"ddpm", 20, 160, 0.25}, {"ddim", 20, 160, 0.1},     {"edm-heun", 10, 40, 0.1}};
  for (const Case& c : cases) {
    const std::string kind = c.kind;
    CAPTURE(kind);
    // The Langevin step size follows score_sde's signal-to-noise rule, which needs many coordinates
    // per sample: the pc case tiles the prior 64 times.
    const int tiles = kind == "pc" ? 64 : 1;
    const std::int64_t n = 4000 / tiles;
    std::vector<double> mu, var;
    for (int r = 0; r < tiles; ++r) mu.insert(mu.end(), kMu.begin(), kMu.end()), var.insert(var.end(), kVar.begin(), kVar.end());
    auto errors = [&](int steps) {
      std::unique_ptr<Process> p;
      if (kind == "edm-heun") p = std::make_unique<TestEDM>();
      else p = std::make_unique<TestVP>();
      GaussianDiag d(std::move(p), mu, var);
      SamplerOptions o;
      o.kind = kind, o.steps = steps, o.snr = 0.01;
      Moments m = moments(sample(test::context(), d, o, n, 3));
      double mean_error = 0, var_error = 0;
      for (std::size_t i = 0; i < kMu.size(); ++i) {
        mean_error = std::max(mean_error, std::abs(m.mean[i] - kMu[i]) / std::sqrt(kVar[i]));
        var_error = std::max(var_error, std::abs(m.var[i] / kVar[i] - 1));
      }
      return std::pair{mean_error, var_error};
    };
    auto [coarse_mean, coarse_var] = errors(c.coarse);
    auto [fine_mean, fine_var] = errors(c.fine);
    CAPTURE(coarse_var);
    CAPTURE(fine_var);
    CHECK(fine_var < 0.5 * coarse_var);
    CHECK(fine_var < c.tolerance);
    CHECK(fine_mean < 0.1);
    (void)coarse_mean;
  }
}

TEST_CASE("a sample depends on its seed and index, not on the batch it was drawn in") {
  GaussianDiag d(std::make_unique<TestVP>(), kMu, kVar);
  for (const char* kind : {"em", "pc", "ddim"}) {
    CAPTURE(kind);
    SamplerOptions o;
    o.kind = kind, o.steps = 8, o.eta = 0.5;
    std::vector<double> all = test::download(sample(test::context(), d, o, 6, 42));
    std::vector<double> part = test::download(sample(test::context(), d, o, 2, 42, 3));
    CHECK(std::vector<double>(all.begin() + 3 * 4, all.begin() + 5 * 4) == part);
    std::vector<double> other = test::download(sample(test::context(), d, o, 6, 43));
    CHECK(other != all);
  }
}

TEST_CASE("samplers refuse what they cannot do, by name") {
  Context& ctx = test::context();
  GaussianDiag table(std::make_unique<TestTable>(), kMu, kVar), vp(std::make_unique<TestVP>(), kMu, kVar);
  SamplerOptions o;
  o.kind = "heun";
  CHECK_THROWS_WITH_AS(sample(ctx, vp, o, 2, 0), doctest::Contains("unknown sampler 'heun'"), ArgumentError);
  o.kind = "em";
  CHECK_THROWS_WITH_AS(sample(ctx, table, o, 2, 0), doctest::Contains("test-ddpm is a discrete table: use ddpm or ddim"), ArgumentError);
  o.kind = "edm-heun";
  CHECK_THROWS_WITH_AS(sample(ctx, vp, o, 2, 0), doctest::Contains("needs a process with alpha = 1"), ArgumentError);
  o.kind = "ddim", o.eta = 2;
  CHECK_THROWS_WITH_AS(sample(ctx, vp, o, 2, 0), doctest::Contains("eta must lie in [0, 1]"), ArgumentError);
  o.eta = 0, o.steps = 0;
  CHECK_THROWS_WITH_AS(sample(ctx, vp, o, 2, 0), doctest::Contains("steps must be at least 1"), ArgumentError);
}

TEST_CASE("Tweedie's covariance product is the posterior covariance of a Gaussian, by JVP and by VJP") {
  // For x ~ N(mu, diag(v)): Cov[x | x_t] = diag(v sigma^2 / (alpha^2 v + sigma^2)).
  GaussianDiag d(std::make_unique<TestVP>(), kMu, kVar);
  Context& ctx = test::context();
  const double t = 0.3, a = d.p->alpha(t), s = d.p->sigma(t);
  Tensor xt = test::upload(std::vector<double>{0.1, 0.2, 0.3, 0.4}, {1, 4});
  Tensor x0 = Tensor::empty({1, 4}, test::device());
  auto lin = d.linearize(ctx, xt, t, x0);
  Tensor v = test::upload(std::vector<double>{1.0, -2.0, 0.5, 3.0}, {1, 4});
  for (bool by_vjp : {false, true}) {
    Tensor out = Tensor::empty({1, 4}, test::device());
    tweedie_covariance(ctx, d, *lin, v, out, by_vjp);
    std::vector<double> got = test::download(out), want;
    for (std::size_t i = 0; i < 4; ++i) want.push_back(kVar[i] * s * s / (a * a * kVar[i] + s * s) * test::download(v)[i]);
    CHECK(test::max_relative_error(got, want) < 1e-6);
  }
}
