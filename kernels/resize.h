#pragma once
// Image resizing on f32 tensors: average pooling by any integer factor, and separable linear
// resampling along one axis from a precomputed weight table (bicubic with antialiasing, as MATLAB's
// imresize computes it). Super-resolution operators are made of these.
//
//   block_pool          (P,H,W)     -> (P,H/f,W/f)  mean of each f x f block; H, W divisible by f
//   block_pool_adjoint  (P,H/f,W/f) -> (P,H,W)      every cell of a block gets 1/f^2 of its value
//   resample            (..,n_in) -> (..,n_out) along the last axis, or (..,n_in,W) -> (..,n_out,W)
//                       along the second last, out[o] = sum_k weight[o,k] in[index[o,k]]
//
// P stands for any leading dimensions (batch and channels); tensors have rank >= 2 (3 for pooling).
// The adjoint of a resampling is the resampling by the transposed table (transposed() below), which
// gathers, so every output element is written by one thread and no atomics are needed.
#include <cstdint>
#include <vector>

#include "runtime/context.h"
#include "runtime/hd.h"
#include "runtime/tensor.h"

namespace tweedie {

void block_pool(Context& ctx, const Tensor& x, Tensor& y, std::int64_t factor);
void block_pool_adjoint(Context& ctx, const Tensor& y, Tensor& x, std::int64_t factor);

// A 1-D linear map from length n_in to n_out with `taps` (index, weight) pairs per output, built on
// the host in double. Unused pairs have weight 0 and index 0.
struct HostResampleTable {
  std::int64_t n_in = 0, n_out = 0, taps = 0;
  std::vector<std::int64_t> index;  // (n_out, taps)
  std::vector<double> weight;       // (n_out, taps)
};

// The same table on a device. Tensor has no integer element type, so indices are stored as f32,
// which holds every integer below 2^24 exactly (lengths are checked against that).
struct ResampleTable {
  std::int64_t n_in = 0, n_out = 0, taps = 0;
  Tensor index;   // (n_out, taps) f32, exact integers
  Tensor weight;  // (n_out, taps) f32
};

ResampleTable upload(const HostResampleTable& table, Device device);

// The table of the adjoint map (n_out -> n_in): input i collects weight[o,k] from every (o, k) with
// index[o,k] = i, repeated indices merged.
HostResampleTable transposed(const HostResampleTable& table);

// Downscaling by an integer factor with MATLAB imresize's antialiased bicubic: the cubic kernel
// (a = -0.5) stretched by `factor` (and its height divided by it), centred at the output pixel's
// position in input coordinates (o + 0.5) factor - 0.5, over ceil(4 factor) + 2 input pixels; the
// weights of each output are normalised to sum 1, then indices outside [0, n_in) are mirrored with
// the edge repeated (-1 -> 0, n_in -> n_in - 1), as imresize's 'symmetric' boundary does.
// n_in must be divisible by factor; n_out = n_in / factor.
HostResampleTable bicubic_downscale_table(std::int64_t n_in, std::int64_t factor);

// axis is -1 (the last) or -2; y has x's shape except n_out along that axis.
void resample(Context& ctx, const ResampleTable& table, const Tensor& x, Tensor& y, int axis);

// ---- the math ------------------------------------------------------------------------------------

// for_each_2d over the rows of y (P * h rows of w, h = H / f, w = W / f).
struct BlockPool {
  const float* x;
  float* y;
  std::int64_t h, w, f;
  float scale;  // 1 / f^2
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t plane = r / h, row = r % h, W = w * f;
    const float* p = x + (plane * h * f + row * f) * W + c * f;
    float s = 0.0f;
    for (std::int64_t a = 0; a < f; ++a)
      for (std::int64_t b = 0; b < f; ++b) s += p[a * W + b];
    y[r * w + c] = scale * s;
  }
};

// for_each_2d over (row of x, column c of y): P * H rows of w = W / f. Each call writes the f pixels of
// x's row that share y's value c, so no per-pixel division by f (it cost 2.4x against PyTorch).
struct BlockUnpool {
  const float* y;
  float* x;
  std::int64_t H, W, f;
  float scale;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t plane = r / H, row = r % H, w = W / f;
    const float v = scale * y[(plane * (H / f) + row / f) * w + c];
    float* out = x + r * W + c * f;
    for (std::int64_t b = 0; b < f; ++b) out[b] = v;
  }
};

// Along the last axis: for_each_2d over (row, o) of y (rows of n_out).
struct ResampleLast {
  const float* x;
  float* y;
  const float* index;
  const float* weight;
  std::int64_t n_in, n_out, taps;
  TW_HD void operator()(std::int64_t r, std::int64_t o) const {
    const float* in = x + r * n_in;
    float s = 0.0f;
    for (std::int64_t k = 0; k < taps; ++k) s += weight[o * taps + k] * in[std::int64_t(index[o * taps + k])];
    y[r * n_out + o] = s;
  }
};

// Along the second last axis: for_each_2d over (plane * n_out + o, column) of y, so the inner loop
// walks whole rows of x with unit stride.
struct ResampleMiddle {
  const float* x;
  float* y;
  const float* index;
  const float* weight;
  std::int64_t n_in, n_out, taps, w;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t plane = r / n_out, o = r % n_out;
    const float* in = x + plane * n_in * w + c;
    float s = 0.0f;
    for (std::int64_t k = 0; k < taps; ++k) s += weight[o * taps + k] * in[std::int64_t(index[o * taps + k]) * w];
    y[r * w + c] = s;
  }
};

}  // namespace tweedie
