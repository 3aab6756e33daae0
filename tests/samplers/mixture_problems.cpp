#include "samplers/mixture_problems.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "samplers/metrics.h"
#include "samplers/operators/image_operators.h"
#include "samplers/processes.h"
#include "support.h"

namespace tweedie::test {

using namespace tweedie::samplers;

namespace {

using Matrix = std::vector<double>;  // row-major

// The posterior of sum_k w_k N(mu_k, C_k) given y = A x + sigma_y n, A (m x d):
//   G_k = A C_k A^T + sigma_y^2 I,  mean_k = mu_k + C_k A^T G_k^-1 (y - A mu_k),  cov_k = C_k - C_k A^T G_k^-1 A C_k,
//   w_k proportional to w_k N(y; A mu_k, G_k).
MixturePrior condition_mixture(const MixturePrior& p, const Matrix& a, std::size_t m, const std::vector<double>& y, double sigma_y) {
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
    Matrix gr = solve_dense(g, r, std::int64_t(m), 1), gac = solve_dense(g, ac, std::int64_t(m), std::int64_t(d));
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

}  // namespace

MixtureProblem make_mixture_problem(const MixturePrior& prior, std::size_t m, double sigma_y, std::uint64_t instance) {
  const std::int64_t d = prior.dim;
  MixtureProblem p;
  p.prior = prior;
  p.m = m;
  p.denoiser = std::make_shared<MixtureDenoiser>(prior, std::make_unique<VpProcess>(), device());
  std::mt19937_64 gen(1000 + instance);
  std::normal_distribution<double> normal;
  Matrix a(m * std::size_t(d));
  for (double& v : a) v = normal(gen) / std::sqrt(double(d) / 2);
  Tensor truth = Tensor::empty({1, d}, device());
  p.denoiser->sample_prior(context(), 500 + instance, truth);
  const std::vector<double> x = download(truth);
  for (std::size_t i = 0; i < m; ++i) {
    double v = sigma_y * normal(gen);
    for (std::size_t j = 0; j < std::size_t(d); ++j) v += a[i * std::size_t(d) + j] * x[j];
    p.y.push_back(v);
  }
  p.exact = condition_mixture(prior, a, m, p.y, sigma_y);
  std::vector<float> af(a.begin(), a.end());
  p.op = make_matrix(Signal{{d}, DType::f32}, Tensor::from_host(std::span<const float>(af), {std::int64_t(m), d}), "matrix",
                     device());
  p.noise = make_gaussian_noise(sigma_y);
  return p;
}

Tensor repeated_y(const MixtureProblem& p, std::int64_t n) {
  std::vector<float> rows;
  for (std::int64_t i = 0; i < n; ++i) rows.insert(rows.end(), p.y.begin(), p.y.end());
  return Tensor::from_host(std::span<const float>(rows), {n, std::int64_t(p.m)}, device());
}

MixtureReference make_mixture_reference(const MixtureProblem& p, std::int64_t n) {
  MixtureReference r;
  const std::int64_t d = p.prior.dim;
  r.posterior = std::make_unique<MixtureDenoiser>(p.exact, std::make_unique<VpProcess>(), device());
  Tensor a = Tensor::empty({n, d}, device()), b = Tensor::empty({n, d}, device()), c = Tensor::empty({n, d}, device());
  r.posterior->sample_prior(context(), 5, a);
  r.posterior->sample_prior(context(), 6, b);
  p.denoiser->sample_prior(context(), 7, c);
  r.draws = download(a);
  r.floor = sliced_wasserstein(download(b), r.draws, std::size_t(d));
  r.prior = sliced_wasserstein(download(c), r.draws, std::size_t(d));
  return r;
}

std::size_t held_out_choice(std::size_t values, int instances, int held_out, const std::function<double(std::size_t v, int j)>& score) {
  std::size_t best = 0;
  double best_score = INFINITY;
  for (std::size_t v = 0; v < values; ++v) {
    double total = 0;
    for (int j = 0; j < instances; ++j)
      if (j != held_out || instances == 1) total += score(v, j);
    if (total < best_score) best_score = total, best = v;
  }
  return best;
}

}  // namespace tweedie::test
