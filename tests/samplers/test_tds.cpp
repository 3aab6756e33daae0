// The twisted diffusion sampler on exact Gaussian problems (gaussian_problems.h). Its large-K limit is
// the law of the DDPM chain's output conditioned on y; for a Gaussian prior with its exact denoiser the
// chain is linear-Gaussian, so that law is computed here in closed form (double, dense matrices) and
// checked against sample()'s ddpm draws. Then: the weighted particle moments against it and against the
// exact posterior as K grows, the ESS and resampling record, the noise keying (K = 1 untwisted is
// sample()'s ddpm; a row does not depend on its batch), and the refusals.
// TWEEDIE_PRINT_TABLES=1 prints the convergence table.
#include <chrono>
#include <cmath>
#include <cstdio>

#include "runtime/error.h"
#include "samplers/gaussian_problems.h"
#include "samplers/noise/noise_model.h"
#include "samplers/operators/fourier_operators.h"
#include "samplers/posterior/tds.h"
#include "samplers/processes.h"
#include "samplers/sampler.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;
using namespace tweedie::test;

namespace {

Likelihood gaussian_likelihood(const Problem& pb) {
  return Likelihood(pb.op, make_gaussian_noise(std::sqrt(pb.noise_var)));
}

SamplerOptions ddpm(int steps, bool denoise_last = true) {
  SamplerOptions o;
  o.kind = "ddpm";
  o.steps = steps;
  o.denoise_last = denoise_last;
  return o;
}

// The law of sample()'s ddpm output under the exact denoiser E(x) = mu + J_t (x - alpha_t mu),
// J_t = alpha_t S (alpha_t^2 S + sigma_t^2 I)^-1: x_T ~ N(0, (alpha^2 + sigma^2) I), each step
// x_s = c_x x + c_0 E(x) + sqrt(v) z (no noise on the last), then E at t_min when denoise_last.
Gaussian chain_law(const Problem& pb, int steps, bool denoise_last) {
  const Process& p = pb.prior->process();
  const std::vector<double> grid = p.time_grid(steps);
  const std::int64_t d = pb.d;
  auto jacobian = [&](double t) {
    const double a = p.alpha(t), s = p.sigma(t);
    Matrix m = pb.s;
    for (double& v : m) v *= a * a;
    for (std::int64_t i = 0; i < d; ++i) m[i * d + i] += s * s;
    Matrix j = solve_dense(m, pb.s, d, d);  // (a^2 S + s^2 I)^-1 S = S (a^2 S + s^2 I)^-1: they commute
    for (double& v : j) v *= a;
    return j;
  };
  // x -> P x + b with noise variance v: mean P m + b, covariance P C P^T + v I.
  auto affine = [&](Gaussian& g, const Matrix& pm, const std::vector<double>& b, double v) {
    std::vector<double> mean = multiply_dense(pm, g.mean, d, d, 1);
    for (std::int64_t i = 0; i < d; ++i) mean[std::size_t(i)] += b[std::size_t(i)];
    Matrix cov = multiply_dense(multiply_dense(pm, g.cov, d, d, d), transpose_dense(pm, d, d), d, d, d);
    for (std::int64_t i = 0; i < d; ++i) cov[i * d + i] += v;
    g = {mean, cov};
  };
  auto offset = [&](const Matrix& j, double a, double c0) {  // c0 (mu - a J mu)
    const std::vector<double> jm = multiply_dense(j, pb.mu, d, d, 1);
    std::vector<double> b(std::size_t(d), 0.0);
    for (std::size_t i = 0; i < b.size(); ++i) b[i] = c0 * (pb.mu[i] - a * jm[i]);
    return b;
  };
  Gaussian g{std::vector<double>(std::size_t(d), 0.0), Matrix(std::size_t(d * d), 0.0)};
  const double v0 = std::pow(p.alpha(grid[0]), 2) + std::pow(p.sigma(grid[0]), 2);
  for (std::int64_t i = 0; i < d; ++i) g.cov[i * d + i] = v0;
  for (int n = 0; n < steps; ++n) {
    const double t = grid[std::size_t(n)], s = grid[std::size_t(n) + 1];
    const double at = p.alpha(t), st = p.sigma(t), as = p.alpha(s), ss = p.sigma(s);
    const double ats = at / as, s2ts = st * st - ats * ats * ss * ss;
    const double cx = ats * ss * ss / (st * st), c0 = as * s2ts / (st * st), v = s2ts * ss * ss / (st * st);
    const Matrix j = jacobian(t);
    Matrix pm = j;
    for (double& e : pm) e *= c0;
    for (std::int64_t i = 0; i < d; ++i) pm[i * d + i] += cx;
    affine(g, pm, offset(j, at, c0), n + 1 == steps ? 0.0 : v);
  }
  if (denoise_last) {
    const double t = grid.back();
    affine(g, jacobian(t), offset(jacobian(t), p.alpha(t), 1.0), 0.0);
  }
  return g;
}

Gaussian condition_on_y(const Problem& pb, const Gaussian& prior) {
  return condition(prior.cov, prior.mean, pb.a, pb.obs, std::vector<double>(pb.obs.size(), pb.noise_var));
}

double norm(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

std::vector<double> minus(const std::vector<double>& a, const std::vector<double>& b) {
  std::vector<double> d(a.size());
  for (std::size_t i = 0; i < a.size(); ++i) d[i] = a[i] - b[i];
  return d;
}

std::vector<double> diagonal(const Matrix& m, std::int64_t d) {
  std::vector<double> v;
  for (std::int64_t i = 0; i < d; ++i) v.push_back(m[i * d + i]);
  return v;
}

// The self-normalised weighted mean and per-coordinate variance of a run's particles.
struct Moments {
  std::vector<double> mean, var;
};
Moments weighted_moments(const TdsRun& run, std::int64_t d) {
  const std::vector<double> x = download(run.particles);
  Moments m{std::vector<double>(std::size_t(d), 0.0), std::vector<double>(std::size_t(d), 0.0)};
  double total = 0;
  for (double l : run.log_weights) total += std::exp(l);
  for (std::size_t k = 0; k < run.log_weights.size(); ++k)
    for (std::int64_t i = 0; i < d; ++i) m.mean[std::size_t(i)] += std::exp(run.log_weights[k]) / total * x[k * std::size_t(d) + std::size_t(i)];
  for (std::size_t k = 0; k < run.log_weights.size(); ++k)
    for (std::int64_t i = 0; i < d; ++i)
      m.var[std::size_t(i)] += std::exp(run.log_weights[k]) / total * std::pow(x[k * std::size_t(d) + std::size_t(i)] - m.mean[std::size_t(i)], 2);
  return m;
}

// y with `rows` copies of the problem's one observation.
Tensor repeated_y(const Problem& pb, std::int64_t rows) {
  Tensor y = pb.op->make_output(rows, device());
  for (std::int64_t i = 0; i < rows; ++i) {
    Tensor r = y.slice(i, 1);
    r.copy_from(pb.y);
  }
  return y;
}

// R runs with K particles (rows 0..R-1): the root-mean-square distance of the weighted means to
// `want`'s mean (in units of sqrt(tr Cov)), the mean over runs of the weighted means with its standard
// error (a norm, from the spread of the runs), and the run-averaged weighted variances.
struct Study {
  double mean_rms = 0, mean_se = 0, final_ess = 0, seconds = 0;
  int resamplings = 0;
  std::vector<double> average, variance;
};
Study study(const Problem& pb, const Gaussian& want, const TdsOptions& o, int runs, int steps, std::uint64_t seed) {
  Context& ctx = context();
  const Likelihood lik = gaussian_likelihood(pb);
  Study st;
  st.average.assign(std::size_t(pb.d), 0.0);
  st.variance.assign(std::size_t(pb.d), 0.0);
  std::vector<std::vector<double>> means;
  double tr = 0;
  for (double v : diagonal(want.cov, pb.d)) tr += v;
  const auto start = std::chrono::steady_clock::now();
  for (int r = 0; r < runs; ++r) {
    const TdsRun run = run_tds(ctx, *pb.prior, lik, pb.y, o, ddpm(steps), seed, r);
    const Moments m = weighted_moments(run, pb.d);
    means.push_back(m.mean);
    st.mean_rms += std::pow(norm(minus(m.mean, want.mean)), 2) / (tr * runs);
    for (std::int64_t i = 0; i < pb.d; ++i) {
      st.average[std::size_t(i)] += m.mean[std::size_t(i)] / runs;
      st.variance[std::size_t(i)] += m.var[std::size_t(i)] / runs;
    }
    st.final_ess += run.ess.back() / runs;
    st.resamplings += run.resamplings;
  }
  st.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  st.mean_rms = std::sqrt(st.mean_rms);
  for (const auto& m : means) st.mean_se += std::pow(norm(minus(m, st.average)), 2);
  st.mean_se = std::sqrt(st.mean_se / (double(runs) * (runs - 1)));
  return st;
}

// |v - diag(cov)| / |diag(cov)|
double variance_error(const std::vector<double>& v, const Gaussian& want, std::int64_t d) {
  const std::vector<double> target = diagonal(want.cov, d);
  return norm(minus(v, target)) / norm(target);
}

}  // namespace

TEST_CASE("the twist is log N(y; A E, Sigma_y + r_t^2 A A^T) on the measured entries, with its gradient J A^T M^-1 r") {
  // Against the same in double: E = mu + J (x_t - alpha mu) with J = alpha S (alpha^2 S + sigma^2 I)^-1,
  // M on the measured (real) entries, log psi up to log det M (the same for every particle), which
  // the test removes by comparing differences between particles as well as the values themselves.
  Context& ctx = context();
  double worst_psi = 0, worst_diff = 0, worst_grad = 0;
  for (const std::string kind : {"matrix", "mask-stationary", "mri"}) {
    for (const std::string variance : {"sigma_t", "pigdm"}) {
      CAPTURE(kind);
      CAPTURE(variance);
      Problem pb = make_problem(kind);
      const Likelihood lik = gaussian_likelihood(pb);
      TdsOptions o;
      o.twist_variance = variance;
      o.krylov = {.max_iterations = pb.y_dim, .tolerance = 1e-9};
      const std::int64_t n = 3, d = pb.d, k = std::int64_t(pb.obs.size());
      for (double t : {0.2, 0.6, 0.95}) {
        CAPTURE(t);
        const double a = pb.prior->process().alpha(t), s = pb.prior->process().sigma(t);
        const double q = (s / a) * (s / a), r2 = variance == "pigdm" ? q / (1 + q) : q;
        const std::vector<double> x = as_float(uniform(std::size_t(n * d), 21, -2, 2));
        const Shape shape = batched(n, pb.prior->item_shape());
        Tensor x0 = Tensor::empty(shape, device()), grad = Tensor::empty(shape, device());
        const std::vector<double> log_psi = tds_twist(ctx, *pb.prior, lik, pb.y, o, upload(x, shape), t, x0, grad);
        const std::vector<double> g = download(grad);

        Matrix m = pb.s;
        for (double& v : m) v *= a * a;
        for (std::int64_t i = 0; i < d; ++i) m[std::size_t(i * d + i)] += s * s;
        Matrix j = solve_dense(m, pb.s, d, d);
        for (double& v : j) v *= a;
        Matrix big = multiply_dense(pb.a, transpose_dense(pb.a, k, d), k, d, k);
        for (double& v : big) v *= r2;
        for (std::int64_t i = 0; i < k; ++i) big[std::size_t(i * k + i)] += pb.noise_var;
        std::vector<double> want_psi, want_grad;
        for (std::int64_t i = 0; i < n; ++i) {
          std::vector<double> xi(x.begin() + i * d, x.begin() + (i + 1) * d);
          for (std::int64_t e = 0; e < d; ++e) xi[std::size_t(e)] -= a * pb.mu[std::size_t(e)];
          std::vector<double> e = multiply_dense(j, xi, d, d, 1);
          for (std::int64_t c = 0; c < d; ++c) e[std::size_t(c)] += pb.mu[std::size_t(c)];
          const std::vector<double> r = minus(pb.obs, multiply_dense(pb.a, e, k, d, 1));
          const std::vector<double> v = solve_dense(big, r, k, 1);
          double rv = 0;
          for (std::int64_t c = 0; c < k; ++c) rv += r[std::size_t(c)] * v[std::size_t(c)];
          want_psi.push_back(-0.5 * rv);
          const std::vector<double> gi = multiply_dense(j, multiply_dense(transpose_dense(pb.a, k, d), v, d, k, 1), d, d, 1);
          want_grad.insert(want_grad.end(), gi.begin(), gi.end());
        }
        const double psi_err = max_relative_error(log_psi, want_psi);
        const double diff_err = std::max(std::abs((log_psi[1] - log_psi[0]) - (want_psi[1] - want_psi[0])),
                                         std::abs((log_psi[2] - log_psi[0]) - (want_psi[2] - want_psi[0]))) /
                                std::max({std::abs(want_psi[0]), std::abs(want_psi[1]), std::abs(want_psi[2])});
        const double grad_err = max_relative_error(g, want_grad);
        CHECK(psi_err < 2e-4);
        CHECK(diff_err < 2e-4);
        CHECK(grad_err < 2e-4);
        worst_psi = std::max(worst_psi, psi_err), worst_diff = std::max(worst_diff, diff_err);
        worst_grad = std::max(worst_grad, grad_err);
      }
    }
  }
  MESSAGE("twist against double: log psi ", worst_psi, ", differences between particles ", worst_diff, ", gradient ",
          worst_grad, " (largest relative errors)");
}

TEST_CASE("TDS costs one linearization and one VJP per particle and step, plus the final denoise; the hook sees every step") {
  Context& ctx = context();
  Problem pb = make_problem("matrix");
  const Likelihood lik = gaussian_likelihood(pb);
  for (const std::string twist : {"sigma_t", "none"}) {
    CAPTURE(twist);
    TdsOptions o;
    o.particles = 8;
    o.twist_variance = twist;
    const std::int64_t f0 = pb.prior->forward_count, v0 = pb.prior->vjp_count;
    int calls = 0;
    StepHook hook = [&](const StepInfo& info) {
      CHECK(info.step == calls % 10);  // two rows, ten steps each
      CHECK(info.steps == 10);
      CHECK(info.x->dim(0) == 8);
      CHECK(info.x0->dim(0) == 8);
      ++calls;
    };
    sample_tds(ctx, *pb.prior, lik, repeated_y(pb, 2), o, ddpm(10), 2, 1, 0, hook);
    CHECK(calls == 2 * 10);
    CHECK(pb.prior->forward_count - f0 == 2 * 8 * (10 + 1));
    CHECK(pb.prior->vjp_count - v0 == (twist == "none" ? 0 : 2 * 8 * 10));
  }
}

TEST_CASE("the closed-form law of the DDPM chain matches sample()'s ddpm draws, and is near the exact prior") {
  // 2000 draws of the 16-dimensional prior at 100 steps: the mean within 4 standard errors (norm), the
  // covariance within 4 root-mean-square Monte-Carlo errors. The chain's distance to the true prior is
  // its discretisation error, reported and bounded.
  Context& ctx = context();
  Problem pb = make_problem("matrix");
  const int steps = 100;
  const std::int64_t n = 2000;
  const Gaussian law = chain_law(pb, steps, true);
  const std::vector<double> x = download(sample(ctx, *pb.prior, ddpm(steps), n, 5));
  const std::int64_t d = pb.d;
  std::vector<double> mean(std::size_t(d), 0.0);
  for (std::int64_t k = 0; k < n; ++k)
    for (std::int64_t i = 0; i < d; ++i) mean[std::size_t(i)] += x[std::size_t(k * d + i)] / double(n);
  Matrix cov(std::size_t(d * d), 0.0);
  for (std::int64_t k = 0; k < n; ++k)
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t j = 0; j < d; ++j)
        cov[std::size_t(i * d + j)] += (x[std::size_t(k * d + i)] - mean[std::size_t(i)]) * (x[std::size_t(k * d + j)] - mean[std::size_t(j)]) / double(n - 1);
  double tr = 0, cov_mc = 0;
  for (std::int64_t i = 0; i < d; ++i) tr += law.cov[std::size_t(i * d + i)];
  // Var of a sample covariance entry: (C_ij^2 + C_ii C_jj) / n.
  for (std::int64_t i = 0; i < d; ++i)
    for (std::int64_t j = 0; j < d; ++j)
      cov_mc += (std::pow(law.cov[std::size_t(i * d + j)], 2) + law.cov[std::size_t(i * d + i)] * law.cov[std::size_t(j * d + j)]) / double(n);
  const double mean_err = norm(minus(mean, law.mean)) / std::sqrt(tr / double(n));
  const double cov_err = norm(minus(cov, law.cov)), disc = norm(minus(law.cov, pb.s)) / norm(pb.s);
  MESSAGE("ddpm draws vs chain law: mean ", mean_err, " SE, covariance ", cov_err, " (MC rms ", std::sqrt(cov_mc),
          "); chain vs exact prior: covariance ", disc, " relative, mean ", norm(minus(law.mean, pb.mu)));
  CHECK(mean_err < 4);
  CHECK(cov_err < 4 * std::sqrt(cov_mc));
  CHECK(disc < 0.05);
}

TEST_CASE("TDS records the ESS of every step and resamples exactly when it falls below the threshold") {
  Context& ctx = context();
  Problem pb = make_problem("matrix");
  const Likelihood lik = gaussian_likelihood(pb);
  const int steps = 20;
  for (double below : {0.0, 0.5, 1.0}) {
    CAPTURE(below);
    TdsOptions o;
    o.particles = 16;
    o.resample_below = below;
    const TdsRun run = run_tds(ctx, *pb.prior, lik, pb.y, o, ddpm(steps), 3, 0);
    REQUIRE(run.ess.size() == std::size_t(steps + 1));
    REQUIRE(run.log_weights.size() == 16);
    int below_threshold = 0;
    for (int n = 0; n <= steps; ++n) {
      CHECK(run.ess[std::size_t(n)] >= 1 - 1e-12);
      CHECK(run.ess[std::size_t(n)] <= 16 + 1e-9);
      // The ESS after the last step decides nothing: no step follows it.
      if (n < steps) below_threshold += run.ess[std::size_t(n)] < below * 16;
    }
    CHECK(run.resamplings == below_threshold);
    if (below == 0.5) CHECK(run.resamplings > 0);  // this problem's weights do degenerate
    // The last ESS from the returned weights, which are normalised.
    double s = 0, s2 = 0;
    for (double l : run.log_weights) s += std::exp(l), s2 += std::exp(2 * l);
    CHECK(s == doctest::Approx(1).epsilon(1e-12));
    CHECK(run.ess.back() == doctest::Approx(s * s / s2).epsilon(1e-12));
  }
  CHECK(effective_sample_size({std::log(1.0), std::log(3.0)}) == doctest::Approx(16.0 / 10.0).epsilon(1e-14));
}

TEST_CASE("TDS with one particle and no twist is sample()'s ddpm, bit for bit, and keys each row's noise alone") {
  Context& ctx = context();
  Problem pb = make_problem("matrix");
  const Likelihood lik = gaussian_likelihood(pb);
  TdsOptions o;
  o.particles = 1;
  o.twist_variance = "none";
  const std::int64_t rows = 3;
  const Tensor plain = sample(ctx, *pb.prior, ddpm(12), rows, 9, 4);
  const Tensor tds = sample_tds(ctx, *pb.prior, lik, repeated_y(pb, rows), o, ddpm(12), rows, 9, 4);
  CHECK(download(tds) == download(plain));

  // Twisted, K = 8: row 5 alone equals row 5 of rows 4..6; the rows differ from each other.
  o = {};
  o.particles = 8;
  const std::vector<double> three = download(sample_tds(ctx, *pb.prior, lik, repeated_y(pb, rows), o, ddpm(12), rows, 9, 4));
  const std::vector<double> one = download(sample_tds(ctx, *pb.prior, lik, pb.y, o, ddpm(12), 1, 9, 5));
  const std::vector<double> middle(three.begin() + pb.d, three.begin() + 2 * pb.d);
  CHECK(one == middle);
  CHECK(std::vector<double>(three.begin(), three.begin() + pb.d) != middle);
}

TEST_CASE("TDS refuses what it cannot do, by name") {
  Context& ctx = context();
  Problem pb = make_problem("matrix");
  Problem im = make_problem("mask-stationary");
  auto pr = std::shared_ptr<const Operator>(make_phase_retrieval(Signal{{1, 8, 8}, DType::f32}, 1, device()));
  const Likelihood phase(pr, make_gaussian_noise(0.1));
  CHECK(tds_unsupported(ctx, phase).find("is nonlinear") != std::string::npos);
  CHECK_THROWS_WITH_AS(run_tds(ctx, *im.prior, phase, Tensor::zeros(batched(1, pr->output().shape), device()), {}, ddpm(4), 1, 0),
                       doctest::Contains("operator 'phase"), ArgumentError);
  const Likelihood poisson(pb.op, make_poisson_noise(5.0, Link::exp));
  CHECK(tds_unsupported(ctx, poisson).find("not Gaussian") != std::string::npos);
  CHECK_THROWS_WITH_AS(sample_tds(ctx, *pb.prior, poisson, Tensor::zeros({1, 8}, device()), {}, ddpm(4), 1, 1),
                       doctest::Contains("noise 'poisson"), ArgumentError);
  const Likelihood lik = gaussian_likelihood(pb);
  CHECK(tds_unsupported(ctx, lik).empty());
  // The operator must take the prior's items; options in range; the sampler is DDPM.
  CHECK_THROWS_WITH_AS(run_tds(ctx, *pb.prior, gaussian_likelihood(im), im.y, {}, ddpm(4), 1, 0),
                       doctest::Contains("operator 'inpaint"), ShapeError);
  TdsOptions o;
  o.particles = 0;
  CHECK_THROWS_WITH_AS(run_tds(ctx, *pb.prior, lik, pb.y, o, ddpm(4), 1, 0), doctest::Contains("particles must be at least 1, not 0"),
                       ArgumentError);
  o = {};
  o.resample_below = 1.5;
  CHECK_THROWS_WITH_AS(run_tds(ctx, *pb.prior, lik, pb.y, o, ddpm(4), 1, 0), doctest::Contains("not 1.5"), ArgumentError);
  o = {};
  o.twist_variance = "tweedie";
  CHECK_THROWS_WITH_AS(run_tds(ctx, *pb.prior, lik, pb.y, o, ddpm(4), 1, 0), doctest::Contains("twist variance 'tweedie'"),
                       ArgumentError);
  SamplerOptions ddim = ddpm(4);
  ddim.kind = "ddim";
  CHECK_THROWS_WITH_AS(run_tds(ctx, *pb.prior, lik, pb.y, {}, ddim, 1, 0), doctest::Contains("kind 'ddim'"), ArgumentError);
  CHECK_THROWS_WITH_AS(sample_tds(ctx, *pb.prior, lik, pb.y, {}, ddpm(4), 2, 1), doctest::Contains("y has 1 observations"),
                       ShapeError);
}

TEST_CASE("TDS at K = 64 is near the chain's posterior on a masked image and on complex MRI data (small)") {
  // 8 runs of 30 steps each: the run-averaged weighted mean within 4 standard errors of the chain's
  // posterior mean (the standard error from the spread of the runs).
  for (const std::string kind : {"mask-stationary", "mri"}) {
    CAPTURE(kind);
    Problem pb = make_problem(kind);
    const int steps = 30;
    const Gaussian want = condition_on_y(pb, chain_law(pb, steps, true));
    TdsOptions o;
    o.particles = 64;
    const Study st = study(pb, want, o, 8, steps, 7);
    const double err = norm(minus(st.average, want.mean)) / st.mean_se;
    MESSAGE(kind, ": averaged weighted mean ", err, " SE from the chain's posterior, final ESS ", st.final_ess, ", ",
            st.resamplings, " resamplings in 8 runs, ", st.seconds, " s");
    CHECK(err < 4);
  }
}

TEST_CASE("the twist earns its cost: at equal K, TDS is closer to the posterior than the untwisted particle filter") {
  // 16 runs of K = 64 at 50 steps, twisted (sigma_t) against twist_variance "none" (the bootstrap
  // filter: the plain DDPM chain weighted by the likelihood at the end): the rms error of the weighted
  // mean to the chain's posterior, and the mean final ESS.
  Problem pb = make_problem("matrix");
  const int steps = 50;
  const Gaussian chain = condition_on_y(pb, chain_law(pb, steps, true));
  TdsOptions twisted, bootstrap;
  twisted.particles = bootstrap.particles = 64;
  bootstrap.twist_variance = "none";
  const Study a = study(pb, chain, twisted, 16, steps, 17), b = study(pb, chain, bootstrap, 16, steps, 17);
  MESSAGE("K = 64: twisted rms error ", a.mean_rms, " (final ESS ", a.final_ess, "), untwisted ", b.mean_rms, " (final ESS ",
          b.final_ess, ")");
  CHECK(a.mean_rms < b.mean_rms / 2);
  CHECK(a.final_ess > 10 * b.final_ess);
}

TEST_SUITE("slow") {
TEST_CASE("TDS is asymptotically exact: the weighted moments converge to the chain's posterior as K grows") {
  // 16-dimensional dense prior, 8 x 16 matrix, 100 steps; 32 runs per K. The errors to the exact
  // posterior must fall with K; at K = 256 the run-averaged mean must lie within 4 standard errors of
  // the chain's posterior, and within that plus the chain's discretisation error of the exact one.
  Problem pb = make_problem("matrix");
  const int steps = 100, runs = 32;
  const Gaussian exact = exact_posterior(pb), chain = condition_on_y(pb, chain_law(pb, steps, true));
  double tr = 0;
  for (double v : diagonal(exact.cov, pb.d)) tr += v;
  const double disc = norm(minus(chain.mean, exact.mean));
  MESSAGE("discretisation of 100 ddpm steps: the chain's posterior mean is off the exact one by ", disc / std::sqrt(tr),
          " sqrt(tr Cov), its variances by ", variance_error(diagonal(chain.cov, pb.d), exact, pb.d), " (relative)");
  std::vector<double> errors, variances;
  for (int k : {4, 16, 64, 256}) {
    TdsOptions o;
    o.particles = k;
    const Study st = study(pb, exact, o, runs, steps, 11);
    errors.push_back(st.mean_rms);
    variances.push_back(variance_error(st.variance, chain, pb.d));
    const double to_chain = norm(minus(st.average, chain.mean)), to_exact = norm(minus(st.average, exact.mean));
    MESSAGE("K = ", k, ": mean error ", st.mean_rms, " sqrt(tr Cov) (rms over runs); variance error ",
            variance_error(st.variance, exact, pb.d), " to exact, ", variances.back(), " to chain; final ESS ", st.final_ess,
            "; averaged mean ", to_chain / st.mean_se, " SE from the chain's posterior, ", to_exact / st.mean_se,
            " SE from the exact one; ", st.seconds, " s");
    if (k == 256) {
      CHECK(to_chain < 4 * st.mean_se);
      CHECK(to_exact < 4 * st.mean_se + disc);
    }
  }
  for (std::size_t i = 1; i < errors.size(); ++i) {
    CHECK(errors[i] < errors[i - 1]);
    CHECK(variances[i] < variances[i - 1]);
  }
  CHECK(errors.back() < errors.front() / 3);
  CHECK(variances.back() < variances.front() / 4);
}

TEST_CASE("TDS is exact in the limit for VE and discrete DDPM processes and with Pi-GDM's twist variance") {
  // K = 256, 16 runs of 100 steps: the run-averaged weighted mean within 4 standard errors of the
  // chain's posterior.
  struct Case {
    std::string name, twist;
    std::unique_ptr<Process> process;
  };
  std::vector<Case> cases;
  cases.push_back({"ve", "sigma_t", std::make_unique<VeProcess>(0.01, 20.0)});
  cases.push_back({"ddpm-linear:1000", "sigma_t", std::make_unique<DdpmTable>(DdpmTable::linear(1000))});
  cases.push_back({"trig, pigdm", "pigdm", std::make_unique<TrigProcess>()});
  for (Case& c : cases) {
    CAPTURE(c.name);
    Problem pb = make_problem("matrix", std::move(c.process));
    const int steps = 100;
    const Gaussian chain = condition_on_y(pb, chain_law(pb, steps, true));
    TdsOptions o;
    o.particles = 256;
    o.twist_variance = c.twist;
    const Study st = study(pb, chain, o, 16, steps, 13);
    const double err = norm(minus(st.average, chain.mean)) / st.mean_se;
    MESSAGE(c.name, ": averaged weighted mean ", err, " SE from the chain's posterior; rms error ", st.mean_rms,
            " sqrt(tr Cov), variance error ", variance_error(st.variance, chain, pb.d), ", final ESS ", st.final_ess, "; ",
            st.seconds, " s");
    CHECK(err < 4);
  }
}
}
