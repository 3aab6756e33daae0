// The operators' SVDs (operators/svd.h) and the methods built on them, DDRM and DDNM
// (posterior/ddrm.h): each SVD against its operator (V orthonormal, to_spectral = V^T, A^T A = V S^2 V^T,
// y_spectral(A x) = V^T x on the measured directions), DDNM's consistency A x = y for noise-free y,
// samples on exact Gaussian problems against their closed-form posterior, and the refusals.
// TWEEDIE_PRINT_TABLES=1 prints the posterior errors.
#include <doctest/doctest.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

#include "kernels/axpby.h"
#include "runtime/error.h"
#include "samplers/gaussian_denoiser.h"
#include "samplers/gaussian_problems.h"
#include "samplers/noise/noise_model.h"
#include "samplers/operators/image_operators.h"
#include "samplers/operators/svd.h"
#include "samplers/posterior/ddrm.h"
#include "samplers/processes.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;

namespace {

struct SvdErrors {
  double orthonormal = 0;  // max |V^T V - I|
  double transpose = 0;    // max |to_spectral - (from_spectral)^T|
  double normal = 0;       // A^T A x against V S^2 V^T x, relative
  double measured = 0;     // y_spectral(A x) against V^T x on s > 0 (and 0 elsewhere), relative
  double unobserved = 0;   // change of y_spectral when unmeasured entries of y change
};

std::vector<double> identity(std::int64_t d) {
  std::vector<double> eye(std::size_t(d * d), 0.0);
  for (std::int64_t i = 0; i < d; ++i) eye[std::size_t(i * d + i)] = 1;
  return eye;
}

SvdErrors check_svd(const Operator& op, std::uint64_t seed) {
  Context& ctx = test::context();
  const SpectralForm* svd = op.svd();
  REQUIRE(svd != nullptr);
  const Shape& item = op.input().shape;
  const std::int64_t d = item.numel(), n = 3;
  REQUIRE(svd->dim() == d);
  const std::vector<double>& s = svd->singular_values();
  SvdErrors e;

  // Row i of v: v_i = V e_i. Row j of vt: V^T e_j, whose entry i must be (v_i)_j.
  const std::vector<double> v = test::download(svd->from_spectral(ctx, test::upload(identity(d), {d, d})));
  const std::vector<double> vt = test::download(svd->to_spectral(ctx, test::upload(identity(d), batched(d, item))));
  for (std::int64_t i = 0; i < d; ++i)
    for (std::int64_t k = 0; k < d; ++k) {
      double dot = 0;
      for (std::int64_t j = 0; j < d; ++j) dot += v[std::size_t(i * d + j)] * v[std::size_t(k * d + j)];
      e.orthonormal = std::max(e.orthonormal, std::abs(dot - (i == k ? 1.0 : 0.0)));
      e.transpose = std::max(e.transpose, std::abs(vt[std::size_t(k * d + i)] - v[std::size_t(i * d + k)]));
    }

  const std::vector<double> x = test::as_float(test::uniform(std::size_t(n * d), seed));
  Tensor xt = test::upload(x, batched(n, item)), ax = op.make_output(n, test::device()), atax = op.make_input(n, test::device());
  op.apply(ctx, xt, ax);
  op.adjoint(ctx, ax, atax);
  std::vector<double> normal_ref(x.size(), 0.0), measured_ref(x.size(), 0.0);
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t i = 0; i < d; ++i) {
      double c = 0;  // v_i . x_r
      for (std::int64_t j = 0; j < d; ++j) c += v[std::size_t(i * d + j)] * x[std::size_t(r * d + j)];
      if (s[std::size_t(i)] > 0) measured_ref[std::size_t(r * d + i)] = c;
      for (std::int64_t j = 0; j < d; ++j) normal_ref[std::size_t(r * d + j)] += s[std::size_t(i)] * s[std::size_t(i)] * c * v[std::size_t(i * d + j)];
    }
  e.normal = test::max_relative_error(test::download(atax), normal_ref);
  const std::vector<double> measured = test::download(svd->y_spectral(ctx, ax));
  e.measured = test::max_relative_error(measured, measured_ref);

  // Values where nothing is measured must not count.
  if (op.observed().defined()) {
    std::vector<double> y = test::download(ax), seen = test::download(op.observed().to(test::device()));
    const std::vector<double> junk = test::uniform(y.size(), seed + 1, 5, 9);
    for (std::size_t k = 0; k < y.size(); ++k)
      if (seen[k % seen.size()] == 0) y[k] = junk[k];
    e.unobserved = test::max_relative_error(test::download(svd->y_spectral(ctx, test::upload(y, ax.shape()))), measured);
  }
  return e;
}

void require_exact_svd(const SvdErrors& e) {
  if (test::print_tables())
    std::printf("svd: |V^T V - I| %.2e  transpose %.2e  A^T A %.2e  y_spectral %.2e  unobserved %.2e\n", e.orthonormal, e.transpose,
                e.normal, e.measured, e.unobserved);
  CHECK(e.orthonormal < 1e-5);
  CHECK(e.transpose < 1e-6);
  CHECK(e.normal < 1e-5);
  CHECK(e.measured < 1e-5);
  CHECK(e.unobserved == 0);
}

Tensor host_f32(const std::vector<double>& v, const Shape& shape) {
  std::vector<float> f(v.begin(), v.end());
  return Tensor::from_host(std::span<const float>(f), shape);
}

// N(mu, S) on `item` with a dense random S.
GaussianPrior dense_prior(const Shape& item, std::uint64_t seed) {
  GaussianPrior p;
  p.kind = GaussianPrior::Covariance::dense;
  p.item_shape = item;
  p.mean = test::uniform(std::size_t(item.numel()), seed, -0.5, 0.5);
  p.cov = test::random_covariance(item.numel(), seed + 1);
  return p;
}

int count_positive(const std::vector<double>& s) {
  int k = 0;
  for (double v : s) k += v > 0;
  return k;
}

}  // namespace

TEST_CASE("the SVD of a mask (shared across channels, or real weights) is V = I, s = |m|, and ignores unmeasured y") {
  const Signal in{{2, 5, 7}, DType::f32};
  auto op = make_mask(in, random_pixel_mask({1, 5, 7}, 0.6, false, 3), "inpaint", test::device());
  require_exact_svd(check_svd(*op, 10));
  const std::vector<double> seen = test::download(op->observed().to(test::device()));
  const std::vector<double>& s = op->svd()->singular_values();
  for (std::size_t i = 0; i < s.size(); ++i) CHECK(s[i] == seen[i]);
  // Weights of either sign: s = |m| with the sign in U.
  auto weights = make_mask(in, host_f32(test::uniform(70, 12), in.shape), "weights", test::device());
  require_exact_svd(check_svd(*weights, 13));
  CHECK(make_identity(in)->svd() != nullptr);
  require_exact_svd(check_svd(*make_identity(in), 11));
}

TEST_CASE("the SVD of average-pool super-resolution: Helmert blocks with s = 1/f, at factors 2 and 3") {
  for (auto [item, f] : {std::pair{Shape{2, 6, 10}, std::int64_t(2)}, std::pair{Shape{1, 9, 15}, std::int64_t(3)}}) {
    CAPTURE(f);
    auto op = make_downsample({item, DType::f32}, f, DownsampleKind::average, test::device());
    require_exact_svd(check_svd(*op, 20 + std::uint64_t(f)));
    const std::vector<double>& s = op->svd()->singular_values();
    CHECK(count_positive(s) == op->output().shape.numel());
    for (double v : s)
      if (v > 0) CHECK(v == doctest::Approx(1.0 / double(f)).epsilon(1e-15));
  }
}

TEST_CASE("the SVD of dense 8 x 16 and 16 x 8 matrices, computed in double") {
  for (auto [m, d] : {std::pair{std::int64_t(8), std::int64_t(16)}, std::pair{std::int64_t(16), std::int64_t(8)}}) {
    CAPTURE(m);
    auto op = make_matrix({{d}, DType::f32}, host_f32(test::uniform(std::size_t(m * d), 30 + std::uint64_t(m)), {m, d}), "matrix",
                          test::device());
    const SvdErrors e = check_svd(*op, 40);
    require_exact_svd(e);
    CHECK(count_positive(op->svd()->singular_values()) == std::min(m, d));
  }
}

TEST_CASE("DDNM and DDRM with nearly noise-free y return samples with A x = y: mask, SR, matrix; VP and VE") {
  Context& ctx = test::context();
  struct Case {
    std::shared_ptr<const Operator> op;
    bool ve;
  };
  const Shape image{1, 6, 6};
  std::vector<Case> cases{
      {make_mask({image, DType::f32}, random_pixel_mask(image, 0.5, true, 5), "inpaint", test::device()), false},
      {make_downsample({image, DType::f32}, 3, DownsampleKind::average, test::device()), true},
      {make_matrix({{12}, DType::f32}, host_f32(test::uniform(std::size_t(5 * 12), 6), {5, 12}), "matrix", test::device()), false}};
  const std::int64_t count = 4;
  for (const Case& c : cases) {
    const Shape item = c.op->input().shape;
    CAPTURE(c.op->describe());
    std::unique_ptr<Process> process = c.ve ? std::unique_ptr<Process>(std::make_unique<VeProcess>())
                                            : std::unique_ptr<Process>(std::make_unique<VpProcess>());
    GaussianDenoiser prior(dense_prior(item, 50), std::move(process), test::device());
    Likelihood lik(c.op, make_gaussian_noise(1e-6));
    // y = A x for x from the prior's range of values, without noise.
    Tensor x = test::upload(test::uniform(std::size_t(count * item.numel()), 51), batched(count, item));
    Tensor y = c.op->make_output(count, test::device());
    c.op->apply(ctx, x, y);
    const std::vector<double> want = test::download(y);
    std::vector<double> seen(want.size(), 1.0);
    if (c.op->observed().defined()) {
      const std::vector<double> o = test::download(c.op->observed().to(test::device()));
      for (std::size_t k = 0; k < seen.size(); ++k) seen[k] = o[k % o.size()];
    }
    for (const char* variant : {"ddnm", "ddrm"}) {
      CAPTURE(variant);
      DdrmOptions o;
      o.variant = variant;
      SamplerOptions so;
      so.steps = 20;
      Tensor sample = sample_ddrm(ctx, prior, lik, y, o, so, count, 7);
      Tensor got = c.op->make_output(count, test::device());
      c.op->apply(ctx, sample, got);
      std::vector<double> g = test::download(got), w = want;
      for (std::size_t k = 0; k < g.size(); ++k) g[k] *= seen[k], w[k] *= seen[k];
      const double err = test::max_relative_error(g, w);
      if (test::print_tables()) std::printf("%s on %s: |A x - y| / |y| = %.2e\n", variant, c.op->describe().c_str(), err);
      CHECK(err < 1e-5);
      // The null space is the prior's: the samples are not y's least-squares solution repeated.
      const std::vector<double> xs = test::download(sample);
      double spread = 0;
      for (std::size_t k = 0; k < std::size_t(item.numel()); ++k) spread = std::max(spread, std::abs(xs[k] - xs[k + std::size_t(item.numel())]));
      CHECK(spread > 1e-2);
    }
  }
}

TEST_CASE("a sample of DDRM and DDNM does not depend on its batch, and the hook sees every step") {
  Context& ctx = test::context();
  test::Problem pb = test::make_problem("matrix");
  Likelihood lik(pb.op, make_gaussian_noise(0.1));
  const std::int64_t count = 3;
  std::vector<double> yv;
  for (std::int64_t r = 0; r < count; ++r) yv.insert(yv.end(), pb.obs.begin(), pb.obs.end());
  Tensor y = test::upload(yv, batched(count, pb.op->output().shape));
  for (const char* variant : {"ddrm", "ddnm"}) {
    CAPTURE(variant);
    DdrmOptions o;
    o.variant = variant;
    SamplerOptions so;
    so.steps = 10;
    int seen = 0;
    const std::vector<double> all = test::download(sample_ddrm(ctx, *pb.prior, lik, y, o, so, count, 9, 0, [&](const StepInfo& s) {
      CHECK(s.step == seen);
      CHECK(s.steps == 10);
      ++seen;
    }));
    CHECK(seen == 10);
    const std::vector<double> last = test::download(sample_ddrm(ctx, *pb.prior, lik, y.slice(2, 1), o, so, 1, 9, 2));
    CHECK(test::max_relative_error(last, std::vector<double>(all.end() - pb.d, all.end())) < 1e-6);
  }
}

TEST_CASE("DDRM and DDNM refuse operators without an SVD and noise that is not one Gaussian sigma, by name") {
  Context& ctx = test::context();
  const Signal in{{1, 6, 6}, DType::f32};
  GaussianDenoiser prior(dense_prior(in.shape, 60), std::make_unique<VpProcess>(), test::device());
  auto mask = std::shared_ptr<const Operator>(make_mask(in, random_pixel_mask(in.shape, 0.5, true, 8), "inpaint:p=0.5", test::device()));
  auto blur = std::shared_ptr<const Operator>(make_blur(in, gaussian_kernel(3, 1.0), BlurBoundary::circular, "blur:gauss", test::device()));
  auto bicubic = std::shared_ptr<const Operator>(make_downsample(in, 2, DownsampleKind::bicubic, test::device()));
  std::vector<double> sigmas = test::uniform(36, 61, 0.05, 0.2);
  const std::vector<double> constant(36, 0.1);

  struct Refusal {
    Likelihood lik;
    const char* reason;
  };
  std::vector<Refusal> refusals{
      {Likelihood(blur, make_gaussian_noise(0.1)), "operator 'blur:gauss' has no SVD"},
      {Likelihood(bicubic, make_gaussian_noise(0.1)), "operator 'sr:2:bicubic' has no SVD"},
      {Likelihood(mask, make_poisson_noise(20.0, Link::exp)), "noise 'poisson:scale=20:link=exp' is not Gaussian"},
      {Likelihood(mask, make_binomial_noise(10, 0.9)), "is not Gaussian"},
      {Likelihood(mask, make_gaussian_noise(host_f32(sigmas, in.shape), "gaussian:sigma=varying", test::device())),
       "noise 'gaussian:sigma=varying' has standard deviations from"}};
  for (const Refusal& r : refusals) {
    CAPTURE(r.reason);
    CHECK(ddrm_unsupported(r.lik).find(r.reason) != std::string::npos);
    Tensor y = r.lik.op().make_output(1, test::device());
    fill(ctx, y, 1.0f);
    for (const char* variant : {"ddrm", "ddnm"}) {
      DdrmOptions o;
      o.variant = variant;
      CHECK_THROWS_WITH_AS(sample_ddrm(ctx, prior, r.lik, y, o, {}, 1, 1), doctest::Contains(r.reason), ArgumentError);
    }
  }
  // One sigma given per entry is one sigma.
  CHECK(ddrm_unsupported(Likelihood(mask, make_gaussian_noise(host_f32(constant, in.shape), "gaussian:sigma=map", test::device()))) ==
        "");
  Likelihood ok(mask, make_gaussian_noise(0.1));
  Tensor y = mask->make_output(1, test::device());
  fill(ctx, y, 0.0f);
  DdrmOptions bad;
  bad.variant = "ddpm";
  CHECK_THROWS_WITH_AS(sample_ddrm(ctx, prior, ok, y, bad, {}, 1, 1), doctest::Contains("unknown variant 'ddpm'"), ArgumentError);
  bad.variant = "ddrm";
  bad.eta = 1.5;
  CHECK_THROWS_WITH_AS(sample_ddrm(ctx, prior, ok, y, bad, {}, 1, 1), doctest::Contains("eta must lie in [0, 1], not 1.5"), ArgumentError);
  CHECK_THROWS_WITH_AS(sample_ddrm(ctx, prior, ok, mask->make_output(2, test::device()), {}, {}, 1, 1), doctest::Contains("y has 2"),
                       ShapeError);
}

namespace {

struct MomentErrors {
  double mean = 0;  // |mean - exact mean| / sqrt(tr exact cov)
  double cov = 0;   // |cov - exact cov|_F / |exact cov|_F
};

// Sample moments of rows x (n x d) in double against a Gaussian.
MomentErrors moment_errors(const std::vector<double>& x, std::int64_t n, const test::Gaussian& exact) {
  const std::int64_t d = std::int64_t(exact.mean.size());
  std::vector<double> mean(std::size_t(d), 0.0), cov(std::size_t(d * d), 0.0);
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t i = 0; i < d; ++i) mean[std::size_t(i)] += x[std::size_t(r * d + i)] / double(n);
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t j = 0; j < d; ++j)
        cov[std::size_t(i * d + j)] += (x[std::size_t(r * d + i)] - mean[std::size_t(i)]) * (x[std::size_t(r * d + j)] - mean[std::size_t(j)]) /
                                       double(n - 1);
  double dm = 0, trace = 0, dc = 0, norm = 0;
  for (std::int64_t i = 0; i < d; ++i) {
    dm += std::pow(mean[std::size_t(i)] - exact.mean[std::size_t(i)], 2);
    trace += exact.cov[std::size_t(i * d + i)];
  }
  for (std::size_t k = 0; k < cov.size(); ++k) dc += std::pow(cov[k] - exact.cov[k], 2), norm += exact.cov[k] * exact.cov[k];
  return {std::sqrt(dm / trace), std::sqrt(dc / norm)};
}

// n exact draws from N(mean, cov) by a Cholesky factor and std::mt19937_64: the Monte Carlo floor of
// the moment errors at this sample size.
std::vector<double> exact_draws(const test::Gaussian& g, std::int64_t n, std::uint64_t seed) {
  const std::int64_t d = std::int64_t(g.mean.size());
  std::vector<double> l(std::size_t(d * d), 0.0);
  for (std::int64_t j = 0; j < d; ++j) {
    double diag = g.cov[std::size_t(j * d + j)];
    for (std::int64_t k = 0; k < j; ++k) diag -= l[std::size_t(j * d + k)] * l[std::size_t(j * d + k)];
    l[std::size_t(j * d + j)] = std::sqrt(std::max(diag, 0.0));
    for (std::int64_t i = j + 1; i < d; ++i) {
      double v = g.cov[std::size_t(i * d + j)];
      for (std::int64_t k = 0; k < j; ++k) v -= l[std::size_t(i * d + k)] * l[std::size_t(j * d + k)];
      l[std::size_t(i * d + j)] = l[std::size_t(j * d + j)] > 0 ? v / l[std::size_t(j * d + j)] : 0.0;
    }
  }
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  std::vector<double> x(static_cast<std::size_t>(n * d)), z(static_cast<std::size_t>(d));
  for (std::int64_t r = 0; r < n; ++r) {
    for (double& v : z) v = normal(gen);
    for (std::int64_t i = 0; i < d; ++i) {
      double v = g.mean[std::size_t(i)];
      for (std::int64_t k = 0; k <= i; ++k) v += l[std::size_t(i * d + k)] * z[std::size_t(k)];
      x[std::size_t(r * d + i)] = v;
    }
  }
  return x;
}

// One row of the posterior studies: a method, its eta and step count, and bounds on its errors, set
// from the measured errors (TWEEDIE_PRINT_TABLES=1) with a margin.
struct Study {
  const char* variant;
  double eta;
  int steps;
  double mean, cov;
};

// Draws `count` samples for each study row and checks their moments against `exact`; the first line
// printed is the Monte Carlo floor, the errors of exact draws.
void run_studies(const char* name, const Denoiser& prior, const Likelihood& lik, const Tensor& y, std::int64_t count,
                 const test::Gaussian& exact, const std::vector<Study>& studies) {
  Context& ctx = test::context();
  if (test::print_tables()) {
    const MomentErrors floor = moment_errors(exact_draws(exact, count, 70), count, exact);
    std::printf("%-10s exact draws                mean %.3f  cov %.3f\n", name, floor.mean, floor.cov);
  }
  for (const Study& b : studies) {
    CAPTURE(name);
    CAPTURE(b.variant);
    CAPTURE(b.eta);
    CAPTURE(b.steps);
    DdrmOptions o;
    o.variant = b.variant;
    o.eta = b.eta;
    SamplerOptions so;
    so.steps = b.steps;
    const auto start = std::chrono::steady_clock::now();
    const std::vector<double> x = test::download(sample_ddrm(ctx, prior, lik, y, o, so, count, 71));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const MomentErrors e = moment_errors(x, count, exact);
    if (test::print_tables())
      std::printf("%-10s %s eta %.2f %4d steps  mean %.3f  cov %.3f  (%.2f s)\n", name, b.variant, b.eta, b.steps, e.mean, e.cov, seconds);
    CHECK(e.mean < b.mean);
    CHECK(e.cov < b.cov);
  }
}

}  // namespace

TEST_SUITE("slow") {
// Where the prior is independent across V's directions, the paper's updates at eta = 0 sample the
// exact posterior as the steps grow: a measured direction reaches noise level r_i = sigma_y / s_i at
// exactly ybar, which is distributed as x + r_i n, and the rest is the prior's reverse process. At eta
// > 0 both methods renoise around E[x | x_t] and lose variance on unmeasured pixels, whatever the steps.
TEST_CASE("DDRM and DDNM at eta = 0 converge to the exact posterior of a prior diagonal in V (mask, independent pixels)") {
  const std::int64_t count = 2000, d = 64;
  const double sy = 0.1;
  const Signal in{{1, 8, 8}, DType::f32};
  GaussianPrior gp;
  gp.kind = GaussianPrior::Covariance::diagonal;
  gp.item_shape = in.shape;
  gp.mean = test::uniform(std::size_t(d), 80, -1, 1);
  gp.var = test::uniform(std::size_t(d), 81, 0.005, 2.0);  // some pixels known better than y measures them
  GaussianDenoiser prior(gp, std::make_unique<VpProcess>(), test::device());
  auto op = std::shared_ptr<const Operator>(make_mask(in, random_pixel_mask(in.shape, 0.5, true, 82), "inpaint", test::device()));
  Likelihood lik(op, make_gaussian_noise(sy));
  const std::vector<double> seen = test::download(op->observed().to(test::device()));
  const std::vector<double> noise = test::uniform(std::size_t(d), 83, -sy, sy);
  std::vector<double> y1(std::size_t(d), 0.0);
  // Per pixel: a measured one combines prior and y by their precisions, the others keep the prior.
  test::Gaussian exact{gp.mean, std::vector<double>(std::size_t(d * d), 0.0)};
  for (std::int64_t i = 0; i < d; ++i) {
    const std::size_t k = std::size_t(i);
    double var = gp.var[k];
    if (seen[k] != 0) {
      y1[k] = double(float(gp.mean[k] + 0.5 + noise[k]));
      var = 1.0 / (1.0 / gp.var[k] + 1.0 / (sy * sy));
      exact.mean[k] = var * (gp.mean[k] / gp.var[k] + y1[k] / (sy * sy));
    }
    exact.cov[std::size_t(i * d + i)] = var;
  }
  std::vector<double> all;
  for (std::int64_t r = 0; r < count; ++r) all.insert(all.end(), y1.begin(), y1.end());
  Tensor y = test::upload(all, batched(count, in.shape));
  run_studies("diagonal", prior, lik, y, count, exact,
              {{"ddrm", 0.0, 25, 0.03, 0.22},    {"ddrm", 0.0, 100, 0.03, 0.16},    {"ddrm", 0.0, 1000, 0.03, 0.15},
               {"ddnm", 0.0, 25, 0.03, 0.22},    {"ddnm", 0.0, 100, 0.03, 0.16},    {"ddnm", 0.0, 1000, 0.03, 0.15},
               {"ddrm", 0.85, 1000, 0.03, 0.3},  {"ddnm", 0.85, 1000, 0.03, 0.3}});
}

// Correlated priors (gaussian_problems.h: a dense prior with an 8 x 16 matrix, or with half the pixels
// of an 8 x 8 image). Neither method is exact here: DDRM sets each measured direction from ybar alone,
// ignoring what the prior's correlations say about it; DDNM's rectification keeps the denoiser's
// estimate and comes close at eta = 0.
TEST_CASE("DDRM and DDNM on correlated Gaussian problems (sigma_y = 0.1) against the exact posterior's mean and covariance") {
  const std::int64_t count = 2000;
  struct Problem {
    const char* kind;
    std::vector<Study> studies;
  };
  const std::vector<Problem> problems{
      {"matrix",
       {{"ddrm", 0.85, 25, 0.04, 0.30}, {"ddrm", 0.85, 100, 0.04, 0.28}, {"ddrm", 0.85, 1000, 0.04, 0.30},
        {"ddrm", 0.0, 25, 0.06, 0.20},  {"ddrm", 0.0, 100, 0.06, 0.26},  {"ddrm", 0.0, 1000, 0.06, 0.28},
        {"ddnm", 0.85, 25, 0.04, 0.32}, {"ddnm", 0.85, 100, 0.04, 0.29}, {"ddnm", 0.85, 1000, 0.04, 0.31},
        {"ddnm", 0.0, 25, 0.04, 0.10},  {"ddnm", 0.0, 100, 0.04, 0.08},  {"ddnm", 0.0, 1000, 0.04, 0.08}}},
      {"mask-dense",
       {{"ddrm", 0.85, 25, 0.12, 0.33}, {"ddrm", 0.85, 100, 0.07, 0.32}, {"ddrm", 0.85, 1000, 0.04, 0.30},
        {"ddrm", 0.0, 25, 0.18, 0.22},  {"ddrm", 0.0, 100, 0.18, 0.26},  {"ddrm", 0.0, 1000, 0.18, 0.28},
        {"ddnm", 0.85, 25, 0.09, 0.34}, {"ddnm", 0.85, 100, 0.05, 0.33}, {"ddnm", 0.85, 1000, 0.04, 0.31},
        {"ddnm", 0.0, 25, 0.10, 0.17},  {"ddnm", 0.0, 100, 0.07, 0.16},  {"ddnm", 0.0, 1000, 0.05, 0.16}}}};
  for (const Problem& p : problems) {
    test::Problem pb = test::make_problem(p.kind);
    pb.noise_var = 0.01;  // the exact posterior conditions on y with sigma_y = 0.1
    const test::Gaussian exact = test::exact_posterior(pb);
    Likelihood lik(pb.op, make_gaussian_noise(0.1));
    const std::vector<double> one = test::download(pb.y);
    std::vector<double> all;
    for (std::int64_t r = 0; r < count; ++r) all.insert(all.end(), one.begin(), one.end());
    Tensor y = test::upload(all, batched(count, pb.op->output().shape));
    run_studies(p.kind, *pb.prior, lik, y, count, exact, p.studies);
  }
}
}
