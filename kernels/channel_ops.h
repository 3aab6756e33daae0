#pragma once
// Per-channel operations on (N, C, S...) f32 tensors, where S is everything after the channel axis:
// broadcasting a per-channel (C) or per-item-and-channel (N, C) vector over S, and summing over S (the
// matching adjoint, used for bias gradients).
#include <cstdint>

#include "runtime/context.h"
#include "runtime/hd.h"
#include "runtime/tensor.h"

namespace tweedie {

// y[n, c, s] += alpha * v[c] (v of shape (C)) or alpha * v[n, c] (v of shape (N, C)).
void add_channel_vector(Context& ctx, Tensor& y, const Tensor& v, float alpha = 1.0f);
// out[c] += sum over n and s of g[n, c, s] (out of shape (C)), or out[n, c] += sum over s (out (N, C)).
void accumulate_channel_sums(Context& ctx, const Tensor& g, Tensor& out);

// for_each_2d over (n * C + c, s).
struct AddChannelVector {
  float* y;
  const float* v;
  std::int64_t channels, spatial;
  bool per_item;
  float alpha;
  TW_HD void operator()(std::int64_t nc, std::int64_t s) const {
    y[nc * spatial + s] += alpha * v[per_item ? nc : nc % channels];
  }
};

// for_each over c (or n * C + c): adds the double row sums of each (n, c) into out.
struct AddChannelSums {
  const double* sums;  // (N, C)
  float* out;
  std::int64_t items, channels;
  bool per_item;
  TW_HD void operator()(std::int64_t i) const {
    if (per_item) {
      out[i] += float(sums[i]);
    } else {
      double s = 0;
      for (std::int64_t n = 0; n < items; ++n) s += sums[n * channels + i];
      out[i] += float(s);
    }
  }
};

}  // namespace tweedie
