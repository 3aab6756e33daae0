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

double mean_error(const std::vector<double>& a, const std::vector<double>& b, std::size_t d) {
  return max_abs_difference(column_means(a, d), column_means(b, d));
}

double covariance_error(const std::vector<double>& a, const std::vector<double>& b, std::size_t d) {
  return max_abs_difference(covariance(a, d), covariance(b, d));
}

}  // namespace tweedie::test
