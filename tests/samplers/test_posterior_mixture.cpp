// MMPS and DPS against the exact posterior of a Gaussian mixture prior under linear Gaussian
// observations, which is again a mixture (each component conditioned on y, reweighted by its
// evidence), so exact posterior draws are available. TWEEDIE_PRINT_TABLES=1 prints the table
// (method x steps x k, sliced Wasserstein distance, component weights, network calls) of the note.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>

#include "samplers/distances.h"
#include "samplers/mixture_fixtures.h"
#include "samplers/noise/likelihood.h"
#include "samplers/operators/image_operators.h"
#include "samplers/posterior/dps.h"
#include "samplers/posterior/mmps.h"
#include "samplers/processes.h"
#include "samplers/sampler.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;

namespace {

using Matrix = std::vector<double>;  // row-major

// The posterior of sum_k w_k N(mu_k, C_k) given y = A x + sigma_y n, A (m x d):
//   G_k = A C_k A^T + sigma_y^2 I,  mean_k = mu_k + C_k A^T G_k^-1 (y - A mu_k),  cov_k = C_k - C_k A^T G_k^-1 A C_k,
//   w_k proportional to w_k N(y; A mu_k, G_k).
MixturePrior posterior(const MixturePrior& p, const Matrix& a, std::size_t m, const std::vector<double>& y, double sigma_y) {
  const std::size_t d = std::size_t(p.dim), kk = p.weights.size();
  MixturePrior q;
  q.dim = p.dim;
  std::vector<double> logw;
  for (std::size_t k = 0; k < kk; ++k) {
    const double* mu = &p.means[k * d];
    const double* c = &p.covs[k * d * d];
    Matrix ac(m * d, 0.0), g(m * m, 0.0), r(m, 0.0);  // A C, G, y - A mu
    for (std::size_t i = 0; i < m; ++i) {
      r[i] = y[i];
      for (std::size_t j = 0; j < d; ++j) {
        r[i] -= a[i * d + j] * mu[j];
        for (std::size_t l = 0; l < d; ++l) ac[i * d + l] += a[i * d + j] * c[j * d + l];
      }
    }
    for (std::size_t i = 0; i < m; ++i)
      for (std::size_t j = 0; j < m; ++j) {
        for (std::size_t l = 0; l < d; ++l) g[i * m + j] += ac[i * d + l] * a[j * d + l];
        if (i == j) g[i * m + j] += sigma_y * sigma_y;
      }
    Matrix gr = test::solve_dense(g, r, std::int64_t(m), 1), gac = test::solve_dense(g, ac, std::int64_t(m), std::int64_t(d));
    for (std::size_t l = 0; l < d; ++l) {
      double v = mu[l];
      for (std::size_t i = 0; i < m; ++i) v += ac[i * d + l] * gr[i];
      q.means.push_back(v);
    }
    for (std::size_t i = 0; i < d; ++i)
      for (std::size_t j = 0; j < d; ++j) {
        double v = c[i * d + j];
        for (std::size_t s = 0; s < m; ++s) v -= ac[s * d + i] * gac[s * d + j];
        q.covs.push_back(v);
      }
    // log N(y; A mu, G) up to the constant shared by all components: -(r^T G^-1 r + log det G) / 2.
    double quad = 0, logdet = 0;
    for (std::size_t i = 0; i < m; ++i) quad += r[i] * gr[i];
    Matrix chol = g;  // log det from the Cholesky diagonal
    for (std::size_t j = 0; j < m; ++j) {
      for (std::size_t t = 0; t < j; ++t) chol[j * m + j] -= chol[j * m + t] * chol[j * m + t];
      chol[j * m + j] = std::sqrt(chol[j * m + j]);
      for (std::size_t i = j + 1; i < m; ++i) {
        for (std::size_t t = 0; t < j; ++t) chol[i * m + j] -= chol[i * m + t] * chol[j * m + t];
        chol[i * m + j] /= chol[j * m + j];
      }
      logdet += 2 * std::log(chol[j * m + j]);
    }
    logw.push_back(std::log(p.weights[k]) - 0.5 * (quad + logdet));
  }
  double top = *std::max_element(logw.begin(), logw.end()), total = 0;
  for (double& l : logw) total += l = std::exp(l - top);
  for (double l : logw) q.weights.push_back(l / total);
  return q;
}

bool print_tables() { return std::getenv("TWEEDIE_PRINT_TABLES") != nullptr; }

struct Problem {
  MixturePrior prior, exact;
  std::shared_ptr<MixtureDenoiser> denoiser;
  std::shared_ptr<Operator> op;
  std::shared_ptr<NoiseModel> noise;
  std::vector<double> y;
  Matrix a;
  std::size_t m;
  double sigma_y;
};

// y observed of a point between the ring's components, so that the posterior keeps several modes.
Problem make_problem(std::int64_t d, std::vector<double> weights, std::size_t m, double sigma_y) {
  Problem p;
  p.prior = test::ring_mixture(d, weights);
  p.m = m;
  p.sigma_y = sigma_y;
  std::mt19937_64 gen(11);
  std::normal_distribution<double> normal;
  Matrix a(m * std::size_t(d));
  for (double& v : a) v = normal(gen) / std::sqrt(double(d) / 2);
  if (d == 2 && m == 1) a = {1.0, 0.3};  // one projection of the plane: a two-mode posterior
  std::vector<double> x0(std::size_t(d), 0.0);
  x0[0] = 0.5, x0[1] = 1.0;
  for (std::size_t i = 0; i < m; ++i) {
    double v = 0;
    for (std::size_t j = 0; j < std::size_t(d); ++j) v += a[i * std::size_t(d) + j] * x0[j];
    p.y.push_back(v);
  }
  p.exact = posterior(p.prior, a, m, p.y, sigma_y);
  p.a = a;
  p.denoiser = std::make_shared<MixtureDenoiser>(p.prior, std::make_unique<VpProcess>(), test::device());
  Signal xs{{d}, DType::f32};
  std::vector<float> af(a.begin(), a.end());
  p.op = make_matrix(xs, Tensor::from_host(std::span<const float>(af), {std::int64_t(m), d}), "matrix", test::device());
  p.noise = make_gaussian_noise(sigma_y);
  return p;
}

Tensor repeated_y(const Problem& p, std::int64_t n) {
  std::vector<float> rows;
  for (std::int64_t i = 0; i < n; ++i) rows.insert(rows.end(), p.y.begin(), p.y.end());
  return Tensor::from_host(std::span<const float>(rows), {n, std::int64_t(p.m)}, test::device());
}

struct Result {
  double sw;
  double calls;  // network evaluations per sample (forward + JVP + VJP)
  Tensor x;
};

void print_weights(const std::vector<double>& w) {
  for (double v : w) std::printf(" %.3f", v);
  std::printf("\n");
}

Result run_mmps(const Problem& p, int steps, int k, std::int64_t n, const std::vector<double>& ref) {
  MmpsOptions o;
  o.krylov.max_iterations = k;
  Context& ctx = test::context();
  auto mmps = make_mmps_denoiser(p.denoiser, p.op, p.noise->gaussian_variance(ctx, p.op->output().shape), repeated_y(p, n), o);
  SamplerOptions so;
  so.kind = "ddpm", so.steps = steps;
  std::int64_t before = p.denoiser->forward_count + p.denoiser->jvp_count + p.denoiser->vjp_count;
  Tensor x = sample(ctx, *mmps, so, n, 21);
  double calls = double(p.denoiser->forward_count + p.denoiser->jvp_count + p.denoiser->vjp_count - before) / double(n);
  return {test::sliced_wasserstein(test::download(x), ref, std::size_t(p.prior.dim)), calls, x};
}

Result run_dps(const Problem& p, int steps, double zeta, std::int64_t n, const std::vector<double>& ref) {
  Context& ctx = test::context();
  Likelihood lik(p.op, p.noise);
  SamplerOptions so;
  so.kind = "ddpm", so.steps = steps;
  DpsOptions o;
  o.zeta = zeta;
  std::int64_t before = p.denoiser->forward_count + p.denoiser->jvp_count + p.denoiser->vjp_count;
  Tensor x = sample_dps(ctx, *p.denoiser, lik, repeated_y(p, n), o, so, n, 21);
  double calls = double(p.denoiser->forward_count + p.denoiser->jvp_count + p.denoiser->vjp_count - before) / double(n);
  return {test::sliced_wasserstein(test::download(x), ref, std::size_t(p.prior.dim)), calls, x};
}

// DPS at its best step size on this problem: the smallest distance over a grid of zeta.
Result best_dps(const Problem& p, int steps, std::int64_t n, const std::vector<double>& ref, double* zeta_used) {
  Result best{1e300, 0, {}};
  for (double zeta : {0.1, 0.3, 1.0, 3.0}) {
    Result r = run_dps(p, steps, zeta, n, ref);
    if (r.sw < best.sw) best = r, *zeta_used = zeta;
  }
  return best;
}

}  // namespace

// Equal budgets: MMPS with k = 1 costs a forward and a JVP per step, DPS a forward and a VJP. DPS gets its
// best step size from a grid (tuned against the exact answer, which favours it).
TEST_CASE("MMPS beats DPS at an equal number of network evaluations on a 16-D mixture posterior") {
  Problem p = make_problem(16, {0.2, 0.4, 0.1, 0.3}, 4, 0.5);
  const std::int64_t n = 1000;
  Tensor exact = Tensor::empty({n, 16}, test::device());
  MixtureDenoiser(p.exact, std::make_unique<VpProcess>(), test::device()).sample_prior(test::context(), 5, exact);
  std::vector<double> ref = test::download(exact);
  Result mmps = run_mmps(p, 50, 1, n, ref);
  double zeta = 0;
  Result dps = best_dps(p, 50, n, ref, &zeta);
  CAPTURE(mmps.sw);
  CAPTURE(dps.sw);
  CAPTURE(zeta);
  CHECK(std::abs(mmps.calls - dps.calls) <= 1);  // the final denoising step differs by one evaluation
  CHECK(mmps.sw < dps.sw);
}

TEST_SUITE("slow") {
// The note's table. The 2-D problems are hard for both methods on purpose: one projection of the plane
// leaves two far-apart modes whose posterior weights differ from the prior's, and neither
// approximation reweights modes well; the 16-D ones have a nearly unimodal posterior.
TEST_CASE("MMPS and DPS against exact 2-D and 16-D mixture posteriors: the note's table") {
  struct Setup {
    std::int64_t d;
    std::vector<double> weights;
    std::size_t m;
    double sigma_y;
  } setups[] = {{2, {0.5, 0.3, 0.2}, 1, 0.5}, {2, {0.5, 0.3, 0.2}, 1, 0.2}, {16, {0.2, 0.4, 0.1, 0.3}, 4, 0.5},
                {16, {0.2, 0.4, 0.1, 0.3}, 8, 0.2}};
  for (const Setup& s : setups) {
    CAPTURE(s.d);
    CAPTURE(s.m);
    CAPTURE(s.sigma_y);
    Problem p = make_problem(s.d, s.weights, s.m, s.sigma_y);
    const std::int64_t n = 2000;
    Tensor exact = Tensor::empty({n, s.d}, test::device()), exact2 = Tensor::empty({n, s.d}, test::device());
    MixtureDenoiser post(p.exact, std::make_unique<VpProcess>(), test::device());
    post.sample_prior(test::context(), 5, exact);
    post.sample_prior(test::context(), 6, exact2);
    std::vector<double> ref = test::download(exact);
    double floor = test::sliced_wasserstein(test::download(exact2), ref, std::size_t(s.d));
    Tensor prior_draws = Tensor::empty({n, s.d}, test::device());
    p.denoiser->sample_prior(test::context(), 7, prior_draws);
    const double prior_sw = test::sliced_wasserstein(test::download(prior_draws), ref, std::size_t(s.d));
    if (print_tables()) {
      std::printf("\n%lld-D mixture, %zu observations, sigma_y %.2f, %lld samples; exact-vs-exact SW2 %.4f, prior-vs-exact %.4f; exact weights",
                  (long long)s.d, s.m, s.sigma_y, (long long)n, floor, prior_sw);
      print_weights(p.exact.weights);
      std::printf("  %-6s %5s %3s %6s %12s %8s  %s\n", "method", "steps", "k", "zeta", "calls/sample", "SW2", "weights");
    }
    for (int steps : {25, 100}) {
      double zeta = 0;
      Result dps = best_dps(p, steps, n, ref, &zeta);
      if (print_tables()) {
        std::printf("  %-6s %5d %3s %6.1f %12.0f %8.4f ", "dps", steps, "-", zeta, dps.calls, dps.sw);
        print_weights(test::component_fractions(post, dps.x));
      }
      for (int k : {1, 3}) {
        Result mmps = run_mmps(p, steps, k, n, ref);
        if (print_tables()) {
          std::printf("  %-6s %5d %3d %6s %12.0f %8.4f ", "mmps", steps, k, "-", mmps.calls, mmps.sw);
          print_weights(test::component_fractions(post, mmps.x));
        }
        CAPTURE(steps);
        CHECK(mmps.sw < prior_sw);  // both use the observation; which is closer depends on the problem (see the note)
        CHECK(dps.sw < prior_sw);
      }
    }
  }
}
}  // TEST_SUITE slow
