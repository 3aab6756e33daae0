#include "demo/curve.h"

#include <cmath>

#include "kernels/random.h"

namespace tweedie::demo {

std::vector<double> curve_points(std::int64_t count, std::int64_t dim, std::uint64_t seed) {
  constexpr std::uint64_t kCurveKey = 0xc0ffee5eedULL;
  constexpr int kHarmonics = 3;
  std::vector<double> out(std::size_t(count * dim));
  for (std::int64_t i = 0; i < count; ++i) {
    const double s = uniform_at(seed, 0, std::uint64_t(i));
    for (std::int64_t d = 0; d < dim; ++d) {
      double v = 0;
      for (int k = 1; k <= kHarmonics; ++k) {
        const std::uint64_t at = std::uint64_t(((k - 1) * dim + d) * 2);
        const double a = 0.6 * normal_at(kCurveKey, 0, at), b = 0.6 * normal_at(kCurveKey, 0, at + 1);
        v += (a * std::cos(2 * M_PI * k * s) + b * std::sin(2 * M_PI * k * s)) / k;
      }
      out[std::size_t(i * dim + d)] = v;
    }
  }
  return out;
}

}  // namespace tweedie::demo
