// Reverse mean propagation against closed forms. On a Gaussian prior with linear Gaussian observations
// (gaussian_problems.h) the posterior is the Gaussian N(m_p, S_p), and since x_t and y are independent
// given x, the exact posterior denoiser E[x | x_t, y] is the Gaussian prior denoiser of N(m_p, S_p):
// RMP driven by it isolates RMP's own error. Every reverse conditional p(x_k | x_{k+1}, y) is then
// Gaussian in closed form (x_k | y ~ N(alpha_k m_p, alpha_k^2 S_p + sigma_k^2 I), observed through
// x_{k+1} = a_k x_k + b_k w), which checks one step's three terms, and mean propagation is exact at any
// step count (rmp.h), which checks the loop. TWEEDIE_PRINT_TABLES=1 prints the table of the README.
#include <cmath>
#include <cstdio>
#include <limits>
#include <tuple>

#include "runtime/error.h"
#include "samplers/gaussian_problems.h"
#include "samplers/noise/likelihood.h"
#include "samplers/noise/noise_model.h"
#include "samplers/operators/fourier_operators.h"
#include "samplers/posterior/guided_denoiser.h"
#include "samplers/posterior/rmp.h"
#include "samplers/processes.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;
using namespace tweedie::test;

namespace {

// The exact posterior denoiser: the Gaussian prior denoiser of p(x | y).
std::shared_ptr<GaussianDenoiser> posterior_denoiser(const Problem& pb, const Gaussian& post, const std::string& process) {
  GaussianPrior gp;
  gp.kind = GaussianPrior::Covariance::dense;
  gp.item_shape = pb.prior->item_shape();
  gp.mean = post.mean;
  gp.cov = post.cov;
  for (std::int64_t i = 0; i < pb.d; ++i)  // symmetric to rounding, as the prior checks
    for (std::int64_t j = 0; j < i; ++j) gp.cov[i * pb.d + j] = gp.cov[j * pb.d + i];
  return std::make_shared<GaussianDenoiser>(gp, process_from_spec(process, "test"), test::device());
}

// The largest error of x against the posterior mean, in posterior standard deviations.
double error_in_sd(const std::vector<double>& x, const Gaussian& post) {
  double worst = 0;
  const std::size_t d = post.mean.size();
  for (std::size_t i = 0; i < x.size(); ++i)
    worst = std::max(worst, std::abs(x[i] - post.mean[i % d]) / std::sqrt(post.cov[(i % d) * d + i % d]));
  return worst;
}

double rmp_error(const Denoiser& posterior, const Gaussian& post, const RmpOptions& o, std::int64_t count = 1) {
  Tensor m = reverse_mean_propagation(test::context(), posterior, o, count);
  return error_in_sd(test::download(m), post);
}

RmpOptions rmp(int steps, int inner, double prior_variance = 0) {
  RmpOptions o;
  o.steps = steps, o.inner = inner, o.prior_variance = prior_variance;
  return o;
}

// E[x_k | x_{k+1} = next, y] in closed form: x_k | y ~ N(alpha m_p, alpha^2 S_p + s^2 I), observed as
// x_{k+1} = a x_k + b w.
std::vector<double> reverse_conditional_mean(const Problem& pb, const Gaussian& post, double t_from, double t,
                                             const std::vector<double>& next) {
  const Process& p = pb.prior->process();
  const double alpha = p.alpha(t), s = p.sigma(t), a = p.alpha(t_from) / alpha;
  const double b2 = p.sigma(t_from) * p.sigma(t_from) - a * a * s * s;
  Gaussian marginal = post;
  for (auto& v : marginal.mean) v *= alpha;
  for (auto& v : marginal.cov) v *= alpha * alpha;
  for (std::int64_t i = 0; i < pb.d; ++i) marginal.cov[i * pb.d + i] += s * s;
  Matrix h(std::size_t(pb.d * pb.d), 0.0);
  for (std::int64_t i = 0; i < pb.d; ++i) h[i * pb.d + i] = a;
  return condition(marginal.cov, marginal.mean, h, next, std::vector<double>(std::size_t(pb.d), b2)).mean;
}

// One rmp_step from `next` at t_from to t; returns m_k.
std::vector<double> one_step(const Denoiser& posterior, const std::vector<double>& next, double t_from, double t,
                             const RmpOptions& o) {
  Shape shape = batched(1, posterior.item_shape());
  Tensor mu = Tensor::empty(shape, test::device()), x0 = Tensor::empty(shape, test::device());
  rmp_step(test::context(), posterior, test::upload(next, shape), t_from, t, o, mu, x0);
  return test::download(mu);
}

}  // namespace

TEST_CASE("one RMP step with converged inner iterations is the closed-form mean of p(x_k | x_{k+1}, y)") {
  for (const char* kind : {"matrix", "mri"})
    for (const char* process : {"vp", "ve"}) {
      CAPTURE(kind);
      CAPTURE(process);
      Problem pb = make_problem(kind, process_from_spec(process, "test"));
      const Gaussian post = exact_posterior(pb);
      auto mmps = make_mmps_denoiser(pb.prior, pb.op, pb.variance, pb.y, converged(pb));
      // x_{k+1} off the posterior's mean path, where the three terms of the score all matter.
      const std::vector<double> next = test::as_float(test::uniform(std::size_t(pb.d), 31, -1.5, 1.5));
      for (auto [t_from, t] : {std::pair{0.5, 0.45}, std::pair{0.2, 0.1}}) {
        const double err = test::max_relative_error(one_step(*mmps, next, t_from, t, rmp(1, 200, 0.0)),
                                                    reverse_conditional_mean(pb, post, t_from, t, next), 1e-2);
        CAPTURE(t);
        CAPTURE(err);
        CHECK(err < 2e-4);
      }
    }
}

TEST_CASE("one RMP step with one inner iteration errs by O(h^2) against the closed-form conditional mean") {
  // The ancestral step (c = infinity) and the damped one (c = 0) both agree with the conditional mean to
  // first order in the step h: halving h quarters the error, so T steps of it err by O(1 / T).
  for (const char* process : {"vp", "ve"})
    for (double c : {std::numeric_limits<double>::infinity(), 0.0}) {
      CAPTURE(process);
      CAPTURE(c);
      Problem pb = make_problem("matrix", process_from_spec(process, "test"));
      const Gaussian post = exact_posterior(pb);
      auto exact = posterior_denoiser(pb, post, process);
      const std::vector<double> next = test::as_float(test::uniform(std::size_t(pb.d), 32, -1.5, 1.5));
      std::vector<double> errors;
      for (double h : {0.08, 0.04, 0.02}) {
        std::vector<double> got = one_step(*exact, next, 0.5, 0.5 - h, rmp(1, 1, c));
        std::vector<double> want = reverse_conditional_mean(pb, post, 0.5, 0.5 - h, next);
        double e = 0;
        for (std::size_t i = 0; i < got.size(); ++i) e = std::max(e, std::abs(got[i] - want[i]));
        errors.push_back(e);
      }
      CAPTURE(errors[0]);
      CAPTURE(errors[1]);
      CAPTURE(errors[2]);
      CHECK(errors[0] / errors[1] > 3.0);
      CHECK(errors[0] / errors[1] < 5.5);
      CHECK(errors[1] / errors[2] > 3.0);
      CHECK(errors[1] / errors[2] < 5.5);
    }
}

TEST_CASE("RMP with converged inner iterations is the exact posterior mean of a Gaussian problem at a few steps (VE)") {
  // VE's geometric grid keeps b_k^2 / sigma_k^2 fixed, so with c = 0 every inner iteration contracts by
  // at least a fixed factor and 40 converge at any step count; mean propagation is then exact.
  for (const char* kind : {"matrix", "mask-stationary", "mri"}) {
    CAPTURE(kind);
    Problem pb = make_problem(kind, process_from_spec("ve", "test"));
    const Gaussian post = exact_posterior(pb);
    auto exact = posterior_denoiser(pb, post, "ve");
    for (int steps : {4, 12}) {
      const double err = rmp_error(*exact, post, rmp(steps, 40, 0.0), 2);
      CAPTURE(steps);
      CAPTURE(err);
      CHECK(err < 2e-3);
    }
  }
}

TEST_CASE("RMP drives any posterior denoiser: through MMPS it gives the exact denoiser's answer and counts its calls") {
  Problem pb = make_problem("mri", process_from_spec("vp", "test"));
  const Gaussian post = exact_posterior(pb);
  auto exact = posterior_denoiser(pb, post, "vp");
  auto mmps = make_mmps_denoiser(pb.prior, pb.op, pb.variance, pb.y, converged(pb));
  const RmpOptions o = rmp(25, 2);
  const std::int64_t before = pb.prior->forward_count;
  std::vector<double> via_mmps = test::download(reverse_mean_propagation(test::context(), *mmps, o, 3));
  std::vector<double> via_exact = test::download(reverse_mean_propagation(test::context(), *exact, o, 3));
  CHECK(test::max_relative_error(via_mmps, via_exact, 1e-2) < 1e-3);
  // 1 start + 25 x 2 inner + 1 final denoise, each a linearization of the prior per item.
  CHECK(pb.prior->forward_count - before == 3 * (1 + 25 * 2 + 1));
  CHECK(mmps->forward_count == pb.prior->forward_count);
}

TEST_CASE("on a Gaussian problem RMP stays on the posterior's mean path at any T and T_in (VP and VE)") {
  // E[x_k | y] = alpha_k m_p, and the score of p_k(x | y) vanishes there, so from the start
  // alpha_T D(0, t_T), which is alpha_T m_p up to O(alpha_T^2 / sigma_T^2), no step leaves the path.
  // Staying needs each step to contract what it is off by: the ancestral step (c = infinity) amplifies
  // it by |1 - (b^2 / a^2) lambda| > 1 where b^2 / a^2 > 2 sigma^2 (5 VP steps: 1.75 sd off); at 400
  // steps only the last step amplifies, once.
  for (const char* process : {"vp", "ve"}) {
    Problem pb = make_problem("mask-stationary", process_from_spec(process, "test"));
    const Gaussian post = exact_posterior(pb);
    auto exact = posterior_denoiser(pb, post, process);
    for (auto [steps, inner, c] : {std::tuple{5, 1, 0.0}, std::tuple{30, 20, 0.0}, std::tuple{400, 1, std::numeric_limits<double>::infinity()}}) {
      const double err = rmp_error(*exact, post, rmp(steps, inner, c));
      CAPTURE(process);
      CAPTURE(steps);
      CAPTURE(err);
      CHECK(err < 1e-4);
    }
  }
}

TEST_CASE("the guided denoiser adds gamma (sigma^2 / alpha) J^T grad log p(y | E) to the prior's E") {
  Context& ctx = test::context();
  Problem pb = make_problem("matrix", process_from_spec("vp", "test"));
  auto lik = std::make_shared<Likelihood>(pb.op, make_gaussian_noise(std::sqrt(pb.noise_var)));
  const double gamma = 0.7, t = 0.3, a = pb.prior->process().alpha(t), s = pb.prior->process().sigma(t);
  auto guided = make_guided_denoiser(ctx, pb.prior, lik, pb.y, gamma);
  const std::vector<double> xt = test::as_float(test::uniform(std::size_t(2 * pb.d), 41, -1, 1));
  Tensor x0 = Tensor::empty({2, pb.d}, test::device());
  guided->denoise(ctx, test::upload(xt, {2, pb.d}), t, x0);
  // The Gaussian prior's E = m + J (x_t - a m) with J = a S (a^2 S + s^2 I)^-1 (symmetric); grad log p(y | x) = A^T (y - A x) / noise_var on the measured rows.
  const std::int64_t d = pb.d, k = std::int64_t(pb.obs.size());
  Matrix g = pb.s;
  for (auto& v : g) v *= a * a;
  for (std::int64_t i = 0; i < d; ++i) g[i * d + i] += s * s;
  Matrix eye(std::size_t(d * d), 0.0);
  for (std::int64_t i = 0; i < d; ++i) eye[i * d + i] = 1;
  const Matrix ginv = solve_dense(g, eye, d, d);
  Matrix j = multiply_dense(pb.s, ginv, d, d, d);
  for (auto& v : j) v *= a;
  std::vector<double> want;
  for (int item = 0; item < 2; ++item) {
    std::vector<double> dev(static_cast<std::size_t>(d));
    for (std::int64_t i = 0; i < d; ++i) dev[std::size_t(i)] = xt[std::size_t(item * d + i)] - a * pb.mu[std::size_t(i)];
    std::vector<double> e = multiply_dense(j, dev, d, d, 1);
    for (std::int64_t i = 0; i < d; ++i) e[std::size_t(i)] += pb.mu[std::size_t(i)];
    std::vector<double> r = multiply_dense(pb.a, e, k, d, 1);
    for (std::int64_t i = 0; i < k; ++i) r[std::size_t(i)] = (pb.obs[std::size_t(i)] - r[std::size_t(i)]) / pb.noise_var;
    const std::vector<double> grad = multiply_dense(transpose_dense(pb.a, k, d), r, d, k, 1);
    const std::vector<double> jg = multiply_dense(transpose_dense(j, d, d), grad, d, d, 1);
    for (std::int64_t i = 0; i < d; ++i) want.push_back(e[std::size_t(i)] + gamma * s * s / a * jg[std::size_t(i)]);
  }
  CHECK(test::max_relative_error(test::download(x0), want, 1e-2) < 1e-4);
  CHECK(guided->vjp_count == 2);
  CHECK(guided->forward_count == 2);
}

TEST_CASE("RMP and the guided denoiser refuse bad options and inputs by name") {
  Context& ctx = test::context();
  Problem pb = make_problem("matrix", process_from_spec("vp", "test"));
  auto lik = std::make_shared<Likelihood>(pb.op, make_gaussian_noise(std::sqrt(pb.noise_var)));
  const Process& vp = pb.prior->process();
  CHECK(resolve_rmp_options({}, vp).steps == 400);
  CHECK(resolve_rmp_options({}, vp).inner == 1);
  CHECK(resolve_rmp_options({}, vp).prior_variance == 0.0);
  auto ve = process_from_spec("ve", "test");
  CHECK(resolve_rmp_options({}, *ve).steps == 30);
  CHECK(resolve_rmp_options({}, *ve).inner == 20);
  CHECK(resolve_rmp_options({}, *ve).prior_variance == 0.0);
  RmpOptions o;
  o.steps = -1;
  CHECK_THROWS_WITH_AS(resolve_rmp_options(o, vp), doctest::Contains("rmp: steps -1"), ArgumentError);
  o = {}, o.inner = -2;
  CHECK_THROWS_WITH_AS(resolve_rmp_options(o, vp), doctest::Contains("rmp: inner iterations -2"), ArgumentError);
  o = {}, o.step_size = 2;
  CHECK_THROWS_WITH_AS(resolve_rmp_options(o, vp), doctest::Contains("rmp: step size 2"), ArgumentError);
  o = {}, o.prior_variance = -1;
  CHECK_THROWS_WITH_AS(resolve_rmp_options(o, vp), doctest::Contains("rmp: prior variance -1"), ArgumentError);
  CHECK_THROWS_WITH_AS(reverse_mean_propagation(ctx, *pb.prior, {}, 0), doctest::Contains("at least 1"), ArgumentError);
  CHECK_THROWS_WITH_AS(make_guided_denoiser(ctx, pb.prior, lik, pb.y, -1), doctest::Contains("gamma -1"), ArgumentError);
  CHECK_THROWS_WITH_AS(make_guided_denoiser(ctx, pb.prior, lik, Tensor::zeros({1, 9}, test::device()), 1),
                       doctest::Contains("guided denoiser: y is (1,9)"), ShapeError);
  Problem im = make_problem("mri", process_from_spec("vp", "test"));
  auto im_lik = std::make_shared<Likelihood>(im.op, make_gaussian_noise(0.1));
  CHECK_THROWS_WITH_AS(make_guided_denoiser(ctx, pb.prior, im_lik, im.y, 1), doctest::Contains("operator 'mri"), ShapeError);
  auto guided = make_guided_denoiser(ctx, pb.prior, lik, pb.y, 1);
  Tensor x = Tensor::zeros({1, pb.d}, test::device()), x0 = Tensor::empty({1, pb.d}, test::device());
  CHECK_THROWS_WITH_AS(guided->linearize(ctx, x, 0.5, x0), doctest::Contains("no JVP or VJP"), ArgumentError);
}

TEST_SUITE("nightly") {
TEST_CASE("table: RMP's mean on Gaussian problems against the closed form, by driver, T and T_in") {
  // Root-mean-square error over the coordinates, in posterior standard deviations, for one observation.
  // Drivers: the exact posterior denoiser; MMPS with a converged solve (exact here) and with k = 2 CG
  // iterations; the plug-in likelihood (guided denoiser, gamma = 1), which ignores Cov[x | x_t].
  // c = 0.
  const std::vector<std::pair<int, int>> settings{{10, 1}, {10, 5}, {10, 20}, {30, 1}, {30, 20}, {100, 1}, {100, 5}, {400, 1}};
  if (print_tables()) {
    std::printf("| problem | process | driver |");
    for (auto [t, i] : settings) std::printf(" T=%d, T_in=%d |", t, i);
    std::printf("\n|---|---|---|");
    for (std::size_t i = 0; i < settings.size(); ++i) std::printf("---|");
    std::printf("\n");
  }
  for (const char* kind : {"matrix", "mask-stationary", "mri"})
    for (const char* process : {"vp", "ve"}) {
      Problem pb = make_problem(kind, process_from_spec(process, "test"));
      const Gaussian post = exact_posterior(pb);
      auto lik = std::make_shared<Likelihood>(pb.op, make_gaussian_noise(std::sqrt(pb.noise_var)));
      MmpsOptions k2;
      k2.krylov = {.max_iterations = 2, .tolerance = 0};
      std::vector<std::pair<std::string, std::shared_ptr<const Denoiser>>> drivers{
          {"exact posterior denoiser", posterior_denoiser(pb, post, process)},
          {"MMPS, converged CG", make_mmps_denoiser(pb.prior, pb.op, pb.variance, pb.y, converged(pb))},
          {"MMPS, k = 2", make_mmps_denoiser(pb.prior, pb.op, pb.variance, pb.y, k2)},
          {"plug-in, gamma = 1", make_guided_denoiser(test::context(), pb.prior, lik, pb.y, 1.0)}};
      for (auto& [name, driver] : drivers) {
        if (print_tables()) std::printf("| %s | %s | %s |", kind, process, name.c_str());
        for (auto [steps, inner] : settings) {
          double rms = std::nan("");
          try {
            std::vector<double> m = test::download(reverse_mean_propagation(test::context(), *driver, rmp(steps, inner), 1));
            rms = 0;
            for (std::size_t i = 0; i < m.size(); ++i)
              rms += std::pow(m[i] - post.mean[i], 2) / post.cov[i * m.size() + i] / double(m.size());
            rms = std::sqrt(rms);
          } catch (const NumericError&) {
          }
          if (print_tables()) std::isnan(rms) ? (void)std::printf(" diverged |") : (void)std::printf(" %.2g |", rms);
          // Exact drivers stay on the mean path, since with c = 0 every step contracts (rmp.h).
          if (name.find("exact") != std::string::npos) CHECK(rms < 1e-3);
        }
        if (print_tables()) std::printf("\n");
      }
    }
}
}
