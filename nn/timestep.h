#pragma once
// Sinusoidal timestep embedding, as ADM defines it: for i < half = dim / 2,
//   freq_i = exp(-ln(10000) i / half),  e = [cos(t freq_0 .. t freq_{half-1}), sin(...)]  (cosine half first)
// and a zero column when dim is odd. Computed on the host in the same float32 steps as PyTorch (the
// arguments t * freq reach 1e3, where a float32 rounding of freq already moves cos by 1e-4), then copied
// to `device`.
#include <cstdint>
#include <vector>

#include "runtime/tensor.h"

namespace tweedie::nn {

Tensor timestep_embedding(const std::vector<float>& t, std::int64_t dim, Device device, double max_period = 10000.0);

}  // namespace tweedie::nn
