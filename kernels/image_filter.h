#pragma once
// Filtering of image planes by a small 2-D kernel, on f32 tensors (..., H, W) whose leading
// dimensions (batch, channels) are a stack of independent planes:
//
//   reflect_pad         (..,H,W) -> (..,H+2ph,W+2pw)  numpy's 'reflect' (the edge is not repeated:
//                                                     x[-1] = x[1]); ph <= H-1, pw <= W-1
//   reflect_pad_adjoint (..,H+2ph,W+2pw) -> (..,H,W)  the fold: each padded cell adds back into the
//                                                     cell it copied
//   convolve_valid      (..,Hp,Wp) -> (..,Hp-kh+1,Wp-kw+1)  'valid' 2-D convolution (flipped kernel):
//                        y[i,j] = sum_{a,b} k[a,b] x[i + kh-1-a, j + kw-1-b]
//   convolve_valid_adjoint  the transpose: x[m,n] = sum_{a,b} k[a,b] y[m - (kh-1) + a, n - (kw-1) + b]
//
// Convolution, not correlation, so that a kernel is the blur's point-spread function: an image of a
// single bright pixel comes out as the kernel itself, centred on that pixel.
//
// Every op gathers: each output element is computed by one thread, so the adjoints need no atomics.
#include <cstdint>

#include "runtime/context.h"
#include "runtime/dtype.h"
#include "runtime/hd.h"
#include "runtime/tensor.h"

namespace tweedie {

void reflect_pad(Context& ctx, const Tensor& x, Tensor& y, std::int64_t pad_h, std::int64_t pad_w);
void reflect_pad_adjoint(Context& ctx, const Tensor& y, Tensor& x, std::int64_t pad_h, std::int64_t pad_w);
// kernel: f32 (kh, kw) on ctx's device.
void convolve_valid(Context& ctx, const Tensor& x, const Tensor& kernel, Tensor& y);
void convolve_valid_adjoint(Context& ctx, const Tensor& y, const Tensor& kernel, Tensor& x);

// ---- the math ------------------------------------------------------------------------------------

// numpy 'reflect' for one reflection (|overhang| <= n - 1): -1 -> 1, n -> n - 2.
TW_HD inline std::int64_t reflect_index(std::int64_t i, std::int64_t n) {
  if (i < 0) return -i;
  if (i >= n) return 2 * (n - 1) - i;
  return i;
}

// The padded positions (along one axis, of length n + 2 pad) whose reflected source is i: i itself,
// its mirror across the start (when 1 <= i <= pad) and across the end (when n-1-pad <= i <= n-2).
// Returns how many of `out` it filled (1 to 3).
TW_HD inline int reflect_sources(std::int64_t i, std::int64_t n, std::int64_t pad, std::int64_t out[3]) {
  int count = 0;
  out[count++] = i + pad;
  if (i >= 1 && i <= pad) out[count++] = pad - i;
  if (i <= n - 2 && i >= n - 1 - pad) out[count++] = pad + 2 * (n - 1) - i;
  return count;
}

// for_each_2d over the rows of y (planes * Hp rows of Wp).
struct ReflectPad {
  const float* x;
  float* y;
  std::int64_t h, w, ph, pw;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t hp = h + 2 * ph, wp = w + 2 * pw, plane = r / hp, row = r % hp;
    y[r * wp + c] = x[(plane * h + reflect_index(row - ph, h)) * w + reflect_index(c - pw, w)];
  }
};

// for_each_2d over the rows of x (planes * h rows of w).
struct ReflectFold {
  const float* y;
  float* x;
  std::int64_t h, w, ph, pw;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t hp = h + 2 * ph, wp = w + 2 * pw, plane = r / h, row = r % h;
    std::int64_t rows[3], cols[3];
    int nr = reflect_sources(row, h, ph, rows), nc = reflect_sources(c, w, pw, cols);
    const float* p = y + plane * hp * wp;
    float s = 0.0f;
    for (int a = 0; a < nr; ++a)
      for (int b = 0; b < nc; ++b) s += p[rows[a] * wp + cols[b]];
    x[r * w + c] = s;
  }
};

// for_each_2d over the rows of y (planes * ho rows of wo); x is (planes, ho + kh - 1, wo + kw - 1).
struct ConvolveValid {
  const float* x;
  const float* k;
  float* y;
  std::int64_t ho, wo, kh, kw;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t hi = ho + kh - 1, wi = wo + kw - 1, plane = r / ho, row = r % ho;
    const float* p = x + (plane * hi + row + kh - 1) * wi + c + kw - 1;  // the pixel k[0, 0] meets
    float s = 0.0f;
    for (std::int64_t a = 0; a < kh; ++a)
      for (std::int64_t b = 0; b < kw; ++b) s += k[a * kw + b] * p[-a * wi - b];
    y[r * wo + c] = s;
  }
};

// for_each_2d over the rows of x (planes * hi rows of wi); y is (planes, hi - kh + 1, wi - kw + 1).
struct ConvolveValidAdjoint {
  const float* y;
  const float* k;
  float* x;
  std::int64_t hi, wi, kh, kw;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t ho = hi - kh + 1, wo = wi - kw + 1, plane = r / hi, row = r % hi;
    // y[i0 + a, j0 + b] uses x[row, c] with weight k[a, b]; only a, b that land inside y count.
    std::int64_t i0 = row - (kh - 1), j0 = c - (kw - 1);
    std::int64_t a0 = i0 < 0 ? -i0 : 0, a1 = ho - 1 - i0 < kh - 1 ? ho - 1 - i0 : kh - 1;
    std::int64_t b0 = j0 < 0 ? -j0 : 0, b1 = wo - 1 - j0 < kw - 1 ? wo - 1 - j0 : kw - 1;
    std::int64_t base = (plane * ho + i0) * wo + j0;
    float s = 0.0f;
    for (std::int64_t a = a0; a <= a1; ++a)
      for (std::int64_t b = b0; b <= b1; ++b) s += k[a * kw + b] * y[base + a * wo + b];
    x[r * wi + c] = s;
  }
};

}  // namespace tweedie
