// MMPS against exact posteriors (gaussian_problems.h). The prior's denoiser is affine with the exact
// Jacobian, so MMPS with the solve run to convergence must give E[x | x_t, y] itself at every t, and a
// sampler over it draws from p(x | y).
#include <cmath>

#include "runtime/error.h"
#include "samplers/gaussian_problems.h"
#include "samplers/noise/noise_model.h"
#include "samplers/operators/fourier_operators.h"
#include "samplers/posterior/mmps.h"
#include "samplers/sampler.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;
using namespace tweedie::test;

namespace {

// MMPS at several t on a batch of three x_t against E[x | x_t, y]; returns the largest relative error.
double denoiser_error(const Problem& pb, const MmpsOptions& o) {
  return tweedie::test::denoiser_error(pb, *make_mmps_denoiser(pb.prior, pb.op, pb.variance, pb.y, o));
}

// The moments of n samples against N(mean, cov): the largest mean error in standard errors, the
// Frobenius error of the sample covariance relative to |cov|_F, and that error's Monte-Carlo scale
// sqrt((tr(C)^2 + |C|_F^2) / (n - 1)) / |C|_F (the root mean square for Gaussian samples).
struct SampleCheck {
  double mean_in_se = 0, cov_error = 0, cov_mc = 0, mean_abs = 0;
};
SampleCheck check_samples(const std::vector<double>& x, const Gaussian& p, std::int64_t d) {
  const auto n = std::int64_t(x.size()) / d;
  std::vector<double> m(std::size_t(d), 0.0);
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t i = 0; i < d; ++i) m[std::size_t(i)] += x[std::size_t(r * d + i)] / double(n);
  Matrix c(std::size_t(d * d), 0.0);
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t j = 0; j < d; ++j)
        c[i * d + j] += (x[std::size_t(r * d + i)] - m[std::size_t(i)]) * (x[std::size_t(r * d + j)] - m[std::size_t(j)]) / double(n - 1);
  SampleCheck sc;
  double diff = 0, norm = 0, trace = 0;
  for (std::int64_t i = 0; i < d; ++i) {
    const double se = std::sqrt(p.cov[i * d + i] / double(n));
    sc.mean_in_se = std::max(sc.mean_in_se, std::abs(m[std::size_t(i)] - p.mean[std::size_t(i)]) / se);
    sc.mean_abs = std::max(sc.mean_abs, std::abs(m[std::size_t(i)] - p.mean[std::size_t(i)]));
    trace += p.cov[i * d + i];
  }
  for (std::int64_t e = 0; e < d * d; ++e) diff += std::pow(c[std::size_t(e)] - p.cov[std::size_t(e)], 2), norm += std::pow(p.cov[std::size_t(e)], 2);
  sc.cov_error = std::sqrt(diff / norm);
  sc.cov_mc = std::sqrt((trace * trace + norm) / double(n - 1) / norm);
  return sc;
}

// The first-order DDIM loses variance per step (coordinates contract by the cosine of the angle
// between successive (alpha sqrt(lambda), sigma)); its exact output moments follow per eigen-coordinate
// of the target N(m, C), as in test_sampler.cpp. Returns the relative Frobenius distance between the
// sampler's output covariance and C: the bias the sample covariance carries on top of Monte-Carlo error.
double ddim_covariance_bias(const Process& p, const Gaussian& target, std::int64_t d, int steps, double eta) {
  SymmetricEigen e = symmetric_eigen(target.cov, d);
  const std::vector<double> grid = p.time_grid(steps);
  double diff = 0, norm = 0;
  for (std::int64_t i = 0; i < d; ++i) {
    const double lam = std::max(e.values[std::size_t(i)], 0.0);
    double q = std::pow(p.alpha(grid[0]), 2) + std::pow(p.sigma(grid[0]), 2);
    for (std::size_t k = 0; k + 1 < grid.size(); ++k) {
      const double at = p.alpha(grid[k]), st = p.sigma(grid[k]), as = p.alpha(grid[k + 1]), ss = p.sigma(grid[k + 1]);
      const double s2ts = st * st - std::pow(at / as, 2) * ss * ss;
      const double c2 = eta * eta * s2ts * ss * ss / (st * st), kk = std::sqrt(ss * ss - c2) / st;
      const double g = at * lam / (at * at * lam + st * st);
      const double amp = kk + (as - kk * at) * g;
      q = amp * amp * q + c2;
    }
    diff += (q - lam) * (q - lam), norm += lam * lam;
  }
  return std::sqrt(diff / norm);
}

SampleCheck run_sampling(const Problem& pb, std::int64_t n, int steps, int iterations, double& bias) {
  Context& ctx = test::context();
  MmpsOptions o;
  o.krylov = {.max_iterations = iterations, .tolerance = 1e-7};
  auto mmps = make_mmps_denoiser(pb.prior, pb.op, pb.variance, pb.y, o);
  SamplerOptions so;
  so.kind = "ddim", so.eta = 1.0, so.steps = steps, so.denoise_last = false;
  Tensor x = sample(ctx, *mmps, so, n, 21);
  const Gaussian post = exact_posterior(pb);
  bias = ddim_covariance_bias(pb.prior->process(), post, pb.d, steps, 1.0);
  return check_samples(test::download(x), post, pb.d);
}

}  // namespace

TEST_CASE("MMPS with a converged solve is the exact E[x | x_t, y] of a Gaussian prior: matrix, mask, MRI") {
  for (const char* kind : {"matrix", "mask-dense", "mask-stationary", "mri"}) {
    const std::string name = kind;
    CAPTURE(name);
    Problem pb = make_problem(name);
    const double err = denoiser_error(pb, converged(pb));
    CAPTURE(err);
    CHECK(err < 1e-3);
    MESSAGE(name, ": max relative error of E[x | x_t, y] ", err);
  }
}

TEST_CASE("MMPS by GMRES, by VJP and with the 'gaussian' covariance give the same exact E[x | x_t, y]") {
  Problem pb = make_problem("mri");
  MmpsOptions o = converged(pb, "gmres");
  CHECK(denoiser_error(pb, o) < 1e-3);
  o = converged(pb);
  o.by_vjp = true;
  CHECK(denoiser_error(pb, o) < 1e-3);
  o = converged(pb);
  o.covariance = "gaussian";
  CHECK(denoiser_error(pb, o) < 1e-3);
  Problem pm = make_problem("matrix");
  CHECK(denoiser_error(pm, converged(pm, "gmres")) < 1e-3);
}

TEST_CASE("MMPS with the sigma_t covariance uses V = (sigma / alpha)^2 I") {
  Context& ctx = test::context();
  Problem pb = make_problem("matrix");
  MmpsOptions o = converged(pb);
  o.covariance = "sigma_t";
  auto mmps = make_mmps_denoiser(pb.prior, pb.op, pb.variance, pb.y, o);
  const double t = 0.4, a = pb.prior->process().alpha(t), s = pb.prior->process().sigma(t);
  std::vector<double> xt = test::as_float(test::uniform(std::size_t(pb.d), 23, -2, 2));
  Tensor x0 = Tensor::empty({1, pb.d}, test::device()), e = Tensor::empty({1, pb.d}, test::device());
  mmps->denoise(ctx, test::upload(xt, {1, pb.d}), t, x0);
  const std::int64_t before = pb.prior->jvp_count;
  pb.prior->denoise(ctx, test::upload(xt, {1, pb.d}), t, e);
  // E + V A^T (R + A V A^T)^{-1} (y - A E) with V = (s / a)^2 I is E conditioned on y under N(E, V).
  Matrix v(std::size_t(pb.d * pb.d), 0.0);
  for (std::int64_t i = 0; i < pb.d; ++i) v[i * pb.d + i] = s * s / (a * a);
  std::vector<double> want =
      condition(v, test::download(e), pb.a, pb.obs, std::vector<double>(pb.obs.size(), pb.noise_var)).mean;
  CHECK(test::max_relative_error(test::download(x0), want) < 1e-4);
  CHECK(pb.prior->jvp_count == before);  // no covariance products
}

TEST_CASE("MMPS costs one linearization and k covariance products per denoise, counted on the prior") {
  Context& ctx = test::context();
  Problem pb = make_problem("matrix");
  for (bool by_vjp : {false, true}) {
    CAPTURE(by_vjp);
    MmpsOptions o;
    o.krylov = {.max_iterations = 3, .tolerance = 0};
    o.by_vjp = by_vjp;
    auto mmps = make_mmps_denoiser(pb.prior, pb.op, pb.variance, pb.y, o);
    const std::int64_t f0 = pb.prior->forward_count, j0 = pb.prior->jvp_count, v0 = pb.prior->vjp_count;
    Tensor xt = test::upload(test::uniform(std::size_t(5 * pb.d), 24), {5, pb.d}), x0 = Tensor::empty({5, pb.d}, test::device());
    mmps->denoise(ctx, xt, 0.5, x0);
    CHECK(pb.prior->forward_count - f0 == 5);
    CHECK((by_vjp ? pb.prior->vjp_count - v0 : pb.prior->jvp_count - j0) == 5 * 3);
    CHECK((by_vjp ? pb.prior->jvp_count - j0 : pb.prior->vjp_count - v0) == 0);
    CHECK(mmps->forward_count == pb.prior->forward_count);
    CHECK(mmps->jvp_count == pb.prior->jvp_count);
    CHECK(mmps->vjp_count == pb.prior->vjp_count);
    CHECK(mmps->item_shape() == pb.prior->item_shape());
    CHECK(&mmps->process() == &pb.prior->process());
    CHECK_FALSE(mmps->has_learned_variance());
    CHECK_THROWS_WITH_AS(mmps->linearize(ctx, xt, 0.5, x0), doctest::Contains("no JVP or VJP"), ArgumentError);
  }
}

TEST_CASE("MMPS refuses what it cannot do, by name") {
  Context& ctx = test::context();
  Problem pb = make_problem("matrix");
  Problem im = make_problem("mask-stationary");
  // The operator's input must be the prior's item.
  CHECK_THROWS_WITH_AS(make_mmps_denoiser(pb.prior, im.op, im.variance, im.y, {}), doctest::Contains("operator 'inpaint"), ShapeError);
  // y and the variance must fit the operator's output.
  CHECK_THROWS_WITH_AS(make_mmps_denoiser(pb.prior, pb.op, pb.variance, Tensor::zeros({1, 9}, test::device()), {}),
                       doctest::Contains("mmps: y is (1,9)"), ShapeError);
  CHECK_THROWS_WITH_AS(make_mmps_denoiser(pb.prior, pb.op, Tensor::zeros({9}, test::device()), pb.y, {}),
                       doctest::Contains("noise variance is f32 (9)"), ShapeError);
  CHECK_THROWS_WITH_AS(make_mmps_denoiser(pb.prior, pb.op, Tensor::zeros({8}, test::device()), pb.y, {}),
                       doctest::Contains("positive variances"), ArgumentError);
  MmpsOptions o;
  o.solver = "bicg";
  CHECK_THROWS_WITH_AS(make_mmps_denoiser(pb.prior, pb.op, pb.variance, pb.y, o), doctest::Contains("solver 'bicg'"), ArgumentError);
  o = {};
  o.covariance = "diag";
  CHECK_THROWS_WITH_AS(make_mmps_denoiser(pb.prior, pb.op, pb.variance, pb.y, o), doctest::Contains("covariance 'diag'"), ArgumentError);
  // A batch that is neither y's nor 1.
  Tensor y2 = Tensor::zeros({2, 8}, test::device());
  auto mmps = make_mmps_denoiser(pb.prior, pb.op, pb.variance, y2, {});
  Tensor xt = Tensor::zeros({3, pb.d}, test::device()), x0 = Tensor::empty({3, pb.d}, test::device());
  CHECK_THROWS_WITH_AS(mmps->denoise(ctx, xt, 0.5, x0), doctest::Contains("y holds 2 observations but the batch has 3"), ShapeError);
}

TEST_CASE("sampling over MMPS with a Gaussian prior draws from the exact posterior (small)") {
  // 600 draws: means within 5 standard errors, the covariance within 3 root-mean-square Monte-Carlo
  // errors plus the sampler's own discretization bias (computed in closed form).
  Problem pb = make_problem("matrix");
  double bias = 0;
  SampleCheck sc = run_sampling(pb, 600, 100, pb.y_dim, bias);
  MESSAGE("matrix, 600 draws: mean error ", sc.mean_in_se, " SE (", sc.mean_abs, "), covariance error ", sc.cov_error,
          " (Monte-Carlo rms ", sc.cov_mc, ", DDIM bias ", bias, ")");
  CHECK(sc.mean_in_se < 5);
  CHECK(sc.cov_error < 3 * sc.cov_mc + bias);
}

TEST_SUITE("slow") {
TEST_CASE("sampling over MMPS with a Gaussian prior draws from the exact posterior: matrix, mask, MRI") {
  for (const char* kind : {"matrix", "mask-stationary", "mri"}) {
    const std::string name = kind;
    CAPTURE(name);
    Problem pb = make_problem(name);
    double bias = 0;
    const std::int64_t n = 2000;
    SampleCheck sc = run_sampling(pb, n, 100, pb.y_dim, bias);
    MESSAGE(name, ", ", n, " draws: mean error ", sc.mean_in_se, " SE (", sc.mean_abs, "), covariance error ", sc.cov_error,
            " (Monte-Carlo rms ", sc.cov_mc, ", DDIM bias ", bias, ")");
    CHECK(sc.mean_in_se < 5);
    CHECK(sc.cov_error < 3 * sc.cov_mc + bias);
  }
}
}
