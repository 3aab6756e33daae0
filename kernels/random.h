#pragma once
// Random fills from Philox4x32-10 (runtime/philox.h), identical on every device and for every way of
// batching the work.
//
// The tensor is seen as `items` rows of numel/items elements. Element e of row r is drawn from stream
// `stream + r` at position e. Give each sample of a batch its own row and the noise a sample receives
// no longer depends on how many samples share the batch, or on which MPI rank it runs.
#include <cstdint>

#include "runtime/context.h"
#include "runtime/hd.h"
#include "runtime/philox.h"
#include "runtime/tensor.h"

namespace tweedie {

struct RandomStream {
  std::uint64_t seed = 0;
  std::uint64_t stream = 0;  // stream of the first row; row r uses stream + r
};

// Uniform on [lo, hi).
void fill_uniform(Context& ctx, Tensor& x, RandomStream rng, float lo = 0.0f, float hi = 1.0f, std::int64_t items = 1);
// Normal with the given mean and standard deviation.
void fill_normal(Context& ctx, Tensor& x, RandomStream rng, float mean = 0.0f, float stddev = 1.0f, std::int64_t items = 1);

// Element `index` of a stream, computed alone. The fills below produce exactly these values.
TW_HD inline float uniform_at(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  return uniform_from_bits(philox_block(seed, stream, index / 4).x[index % 4]);
}
TW_HD inline float normal_at(std::uint64_t seed, std::uint64_t stream, std::uint64_t index) {
  Philox4x32 r = philox_block(seed, stream, index / 4);
  int pair = int(index % 4) / 2;
  float z0, z1;
  normal_pair_from_bits(r.x[2 * pair], r.x[2 * pair + 1], z0, z1);
  return index % 2 == 0 ? z0 : z1;
}

// The whole Philox blocks of each row: for_each_2d over (row, block) writes elements 4 block .. 4 block + 3.
// No bounds test and no run-time choice of distribution inside, so the host loop over blocks vectorizes.
template <bool normal>
struct RandomBlocks {
  float* x;
  std::uint64_t seed, stream;
  std::int64_t per_item;  // elements per row
  float a, b;             // uniform: lo + (hi - lo) u; normal: mean + stddev z

  TW_HD void operator()(std::int64_t item, std::int64_t block) const {
    Philox4x32 r = philox_block(seed, stream + std::uint64_t(item), std::uint64_t(block));
    float v[4];
    if constexpr (normal) {
      normal_pair_from_bits(r.x[0], r.x[1], v[0], v[1]);
      normal_pair_from_bits(r.x[2], r.x[3], v[2], v[3]);
    } else {
      for (int k = 0; k < 4; ++k) v[k] = uniform_from_bits(r.x[k]);
    }
    float* out = x + item * per_item + 4 * block;
    for (int k = 0; k < 4; ++k) out[k] = a + b * v[k];
  }
};

// The last per_item % 4 elements of each row, one at a time: for_each_2d over (row, k).
struct RandomTail {
  float* x;
  std::uint64_t seed, stream;
  std::int64_t per_item;
  float a, b;
  bool normal;

  TW_HD void operator()(std::int64_t item, std::int64_t k) const {
    std::int64_t e = per_item / 4 * 4 + k;
    std::uint64_t s = stream + std::uint64_t(item);
    x[item * per_item + e] = a + b * (normal ? normal_at(seed, s, std::uint64_t(e)) : uniform_at(seed, s, std::uint64_t(e)));
  }
};

}  // namespace tweedie
