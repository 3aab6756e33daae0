#include "samplers/distances.h"

#include <algorithm>
#include <cmath>
#include <random>

namespace tweedie::test {
namespace {

std::vector<double> column_means(const std::vector<double>& x, std::size_t d) {
  std::vector<double> m(d, 0.0);
  const double n = double(x.size() / d);
  for (std::size_t k = 0; k < x.size(); ++k) m[k % d] += x[k] / n;
  return m;
}

std::vector<double> covariance(const std::vector<double>& x, std::size_t d) {
  std::vector<double> m = column_means(x, d), c(d * d, 0.0);
  const std::size_t n = x.size() / d;
  for (std::size_t r = 0; r < n; ++r)
    for (std::size_t i = 0; i < d; ++i)
      for (std::size_t j = 0; j < d; ++j) c[i * d + j] += (x[r * d + i] - m[i]) * (x[r * d + j] - m[j]) / double(n - 1);
  return c;
}

double max_abs_difference(const std::vector<double>& a, const std::vector<double>& b) {
  double e = 0;
  for (std::size_t i = 0; i < a.size(); ++i) e = std::max(e, std::abs(a[i] - b[i]));
  return e;
}

}  // namespace

double sliced_wasserstein(const std::vector<double>& a, const std::vector<double>& b, std::size_t d, int directions,
                          std::uint64_t seed) {
  const std::size_t n = a.size() / d;
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  std::vector<double> pa(n), pb(n), u(d);
  double total = 0;
  for (int l = 0; l < directions; ++l) {
    double norm = 0;
    for (double& x : u) x = normal(gen), norm += x * x;
    norm = std::sqrt(norm);
    for (std::size_t r = 0; r < n; ++r) {
      double sa = 0, sb = 0;
      for (std::size_t i = 0; i < d; ++i) sa += a[r * d + i] * u[i], sb += b[r * d + i] * u[i];
      pa[r] = sa / norm, pb[r] = sb / norm;
    }
    std::sort(pa.begin(), pa.end());
    std::sort(pb.begin(), pb.end());
    double w = 0;
    for (std::size_t r = 0; r < n; ++r) w += (pa[r] - pb[r]) * (pa[r] - pb[r]);
    total += w / double(n);
  }
  return std::sqrt(total / directions);
}

double mean_error(const std::vector<double>& a, const std::vector<double>& b, std::size_t d) {
  return max_abs_difference(column_means(a, d), column_means(b, d));
}

double covariance_error(const std::vector<double>& a, const std::vector<double>& b, std::size_t d) {
  return max_abs_difference(covariance(a, d), covariance(b, d));
}

}  // namespace tweedie::test
