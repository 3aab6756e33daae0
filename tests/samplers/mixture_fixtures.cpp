#include "samplers/mixture_fixtures.h"

#include <cmath>
#include <random>

#include "support.h"

namespace tweedie::test {

samplers::MixturePrior ring_mixture(std::int64_t d, std::vector<double> weights) {
  const std::size_t k = weights.size();
  samplers::MixturePrior p;
  p.dim = d;
  p.weights = weights;
  std::mt19937_64 gen(5);
  std::normal_distribution<double> normal;
  for (std::size_t c = 0; c < k; ++c) {
    const double angle = 2 * M_PI * double(c) / double(k);
    for (std::int64_t i = 0; i < d; ++i)
      p.means.push_back(i == 0 ? 2 * std::cos(angle) : i == 1 ? 2 * std::sin(angle) : 0.3 * std::sin(double(c + 1) * double(i)));
    // S = Q diag(l) Q^T with Q from Gram-Schmidt of a Gaussian matrix.
    std::vector<double> q(std::size_t(d * d));
    for (double& x : q) x = normal(gen);
    for (std::int64_t i = 0; i < d; ++i) {
      for (std::int64_t j = 0; j < i; ++j) {
        double dot = 0;
        for (std::int64_t m = 0; m < d; ++m) dot += q[i * d + m] * q[j * d + m];
        for (std::int64_t m = 0; m < d; ++m) q[i * d + m] -= dot * q[j * d + m];
      }
      double norm = 0;
      for (std::int64_t m = 0; m < d; ++m) norm += q[i * d + m] * q[i * d + m];
      for (std::int64_t m = 0; m < d; ++m) q[i * d + m] /= std::sqrt(norm);
    }
    for (std::int64_t a = 0; a < d; ++a)
      for (std::int64_t b = 0; b < d; ++b) {
        double s = 0;
        for (std::int64_t m = 0; m < d; ++m) s += q[m * d + a] * (0.05 + 0.35 * double(m) / double(std::max<std::int64_t>(d - 1, 1))) * q[m * d + b];
        p.covs.push_back(s);
      }
  }
  return p;
}

samplers::MixturePrior grid_mixture(std::int64_t d) {
  samplers::MixturePrior p;
  p.dim = d;
  std::mt19937_64 gen(77);
  std::uniform_real_distribution<double> uniform(0.2, 1.0);
  double total = 0;
  for (int i = -2; i <= 2; ++i)
    for (int j = -2; j <= 2; ++j) {
      total += p.weights.emplace_back(uniform(gen));
      for (std::int64_t l = 0; l < d; ++l) p.means.push_back(0.5 * (l % 2 == 0 ? i : j));
      for (std::int64_t a = 0; a < d; ++a)
        for (std::int64_t b = 0; b < d; ++b) p.covs.push_back(a == b ? 1.0 / 256 : 0.0);
    }
  for (double& w : p.weights) w /= total;
  return p;
}

std::vector<double> component_fractions(const samplers::MixtureDenoiser& m, const Tensor& x) {
  std::vector<double> r = m.responsibilities(test::context(), x, m.process().t_min());
  const std::size_t k = m.prior().weights.size(), n = r.size() / k;
  std::vector<double> f(k, 0);
  for (std::size_t i = 0; i < n; ++i) {
    std::size_t best = 0;
    for (std::size_t c = 1; c < k; ++c) best = r[i * k + c] > r[i * k + best] ? c : best;
    f[best] += 1.0 / double(n);
  }
  return f;
}

}  // namespace tweedie::test
