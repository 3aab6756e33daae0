#include "nn/timestep.h"

#include <cmath>

namespace tweedie::nn {

Tensor timestep_embedding(const std::vector<float>& t, std::int64_t dim, Device device, double max_period) {
  std::int64_t n = std::int64_t(t.size()), half = dim / 2;
  std::vector<float> e(std::size_t(n * dim), 0.0f);
  const float scale = float(-std::log(max_period));
  for (std::int64_t i = 0; i < half; ++i) {
    // PyTorch: exp((-ln(period) * arange(half, float32)) / half), every step in float32.
    float exponent = (scale * float(i)) / float(half);
    float freq = float(std::exp(double(exponent)));
    for (std::int64_t b = 0; b < n; ++b) {
      float arg = t[std::size_t(b)] * freq;
      e[std::size_t(b * dim + i)] = float(std::cos(double(arg)));
      e[std::size_t(b * dim + half + i)] = float(std::sin(double(arg)));
    }
  }
  return Tensor::from_host<float>(e, {n, dim}, device);
}

}  // namespace tweedie::nn
