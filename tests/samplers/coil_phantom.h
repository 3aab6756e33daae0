#pragma once
// A simulated multi-coil MRI scene for the coil-estimation tests: a phantom of ellipses, smooth coil
// maps with known values, and the distance of estimated maps to them up to each pixel's phase.
#include <algorithm>
#include <cmath>
#include <complex>
#include <numbers>
#include <vector>

#include "runtime/tensor.h"
#include "samplers/operators/coil_sensitivities.h"
#include "support.h"

namespace tweedie::test {

using cd = std::complex<double>;

// A phantom of nested ellipses (values 0.3 to 1) filling about 70% of the field of view.
inline std::vector<double> phantom(std::int64_t n) {
  struct Ellipse { double cy, cx, ry, rx, value; };
  const Ellipse parts[] = {{0, 0, 0.42, 0.34, 0.6}, {-0.12, -0.1, 0.12, 0.08, 0.4}, {0.1, 0.12, 0.1, 0.14, 0.4}, {0.22, -0.08, 0.06, 0.05, -0.3}};
  std::vector<double> x(static_cast<std::size_t>(n * n));
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t c = 0; c < n; ++c) {
      const double y = double(r) / double(n) - 0.5, z = double(c) / double(n) - 0.5;
      for (const Ellipse& e : parts)
        if ((y - e.cy) * (y - e.cy) / (e.ry * e.ry) + (z - e.cx) * (z - e.cx) / (e.rx * e.rx) <= 1) x[std::size_t(r * n + c)] += e.value;
    }
  return x;
}

// The library's synthetic maps (K, n, n) as complex doubles (samplers/operators/coil_sensitivities.h).
inline std::vector<cd> smooth_maps(std::int64_t k, std::int64_t n) { return download_complex(samplers::synthetic_coil_maps(k, n, n)); }

// Distance between unit coil vectors up to a common phase, per pixel: min_phi |a e^(i phi) - b|.
inline double phase_free_distance(const std::vector<cd>& a, const std::vector<cd>& b, std::int64_t k, std::int64_t plane, std::int64_t p) {
  cd inner = 0;
  double na = 0, nb = 0;
  for (std::int64_t c = 0; c < k; ++c) {
    inner += std::conj(a[std::size_t(c * plane + p)]) * b[std::size_t(c * plane + p)];
    na += std::norm(a[std::size_t(c * plane + p)]);
    nb += std::norm(b[std::size_t(c * plane + p)]);
  }
  return std::sqrt(std::max(0.0, na + nb - 2 * std::abs(inner)));
}

struct MapError {
  double rms = 0, worst = 0;
};
// Over the pixels where the phantom is nonzero.
inline MapError map_error(const Tensor& estimated, const std::vector<cd>& truth, const std::vector<double>& object, std::int64_t coils) {
  const std::vector<cd> e = download_complex(estimated);
  const std::int64_t plane = std::int64_t(object.size());
  MapError m;
  double count = 0;
  for (std::int64_t p = 0; p < plane; ++p) {
    if (object[std::size_t(p)] == 0) continue;
    const double d = phase_free_distance(e, truth, coils, plane, p);
    m.rms += d * d;
    m.worst = std::max(m.worst, d);
    count += 1;
  }
  m.rms = std::sqrt(m.rms / count);
  return m;
}

}  // namespace tweedie::test
