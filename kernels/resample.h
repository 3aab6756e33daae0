#pragma once
// Nearest-neighbour upsampling x2 and 2x2 average pooling on (N, C, H, W) f32 tensors, and their
// adjoints (the maps a VJP applies).
//
//   upsample2x          (N,C,H,W)  -> (N,C,2H,2W)   y[2i+a, 2j+b] = x[i, j]
//   upsample2x_adjoint  (N,C,2H,2W) -> (N,C,H,W)    x[i, j] = sum of the 2x2 block of y
//   avgpool2x           (N,C,H,W)  -> (N,C,H/2,W/2) mean of each 2x2 block; an odd last row or
//                                                   column is dropped, as PyTorch's avg_pool2d(2) does
//   avgpool2x_adjoint   (N,C,H/2,W/2) -> (N,C,H,W)  each block gets a quarter of y; dropped cells 0
#include <cstdint>

#include "runtime/context.h"
#include "runtime/hd.h"
#include "runtime/tensor.h"

namespace tweedie {

void upsample2x(Context& ctx, const Tensor& x, Tensor& y);
// The same along the last axis only, for 1-D signals (N, C, L): upsample1d (N,C,L) -> (N,C,2L),
// avgpool1d (N,C,L) -> (N,C,L/2), and their adjoints.
void upsample1d(Context& ctx, const Tensor& x, Tensor& y);
void upsample1d_adjoint(Context& ctx, const Tensor& y, Tensor& x);
void avgpool1d(Context& ctx, const Tensor& x, Tensor& y);
void avgpool1d_adjoint(Context& ctx, const Tensor& y, Tensor& x);
void upsample2x_adjoint(Context& ctx, const Tensor& y, Tensor& x);
void avgpool2x(Context& ctx, const Tensor& x, Tensor& y);
// x's shape (the pooled tensor's input shape) decides whether odd rows/columns exist.
void avgpool2x_adjoint(Context& ctx, const Tensor& y, Tensor& x);

// Loop bodies for for_each_2d over rows of planes: a row index r counts rows of all (N, C) planes
// together. Upper-case H, W are the large side's plane size, h = H / 2 and w = W / 2 (floor) the small.

// Over the rows of y (N*C*2h rows of 2w): y row r is x row r / 2, because 2h rows of a y plane map to
// the h rows of the same x plane.
struct Upsample2x {
  const float* x;
  float* y;
  std::int64_t w;  // of x
  TW_HD void operator()(std::int64_t r, std::int64_t c) const { y[r * 2 * w + c] = x[(r / 2) * w + c / 2]; }
};

// Over the rows of the pooled tensor (N*C*h rows of w): sums (scale 1) or averages (scale 1/4) 2x2
// blocks of x.
struct Pool2x {
  const float* x;
  float* y;
  std::int64_t H, W;  // of x
  float scale;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t h = H / 2, w = W / 2, plane = r / h, row = r % h;
    const float* p = x + (plane * H + 2 * row) * W + 2 * c;
    y[r * w + c] = scale * ((p[0] + p[1]) + (p[W] + p[W + 1]));
  }
};

// Over the rows of x (N*C*H rows of W): each cell takes `scale` times the pooled value of its 2x2
// block; cells outside every block (an odd last row or column) get 0.
struct Unpool2x {
  const float* y;
  float* x;
  std::int64_t H, W;  // of x
  float scale;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t h = H / 2, w = W / 2, plane = r / H, row = r % H;
    x[r * W + c] = (row < 2 * h && c < 2 * w) ? scale * y[(plane * h + row / 2) * w + c / 2] : 0.0f;
  }
};

// 1-D: for_each_2d over (n * C + c, j) of the output; `len` is the input length.
struct Upsample1d {
  const float* x;
  float* y;
  std::int64_t len;
  TW_HD void operator()(std::int64_t r, std::int64_t j) const { y[r * 2 * len + j] = x[r * len + j / 2]; }
};
struct Pool1d {  // y (len/2) from x (len): scale (x[2j] + x[2j+1])
  const float* x;
  float* y;
  std::int64_t len;
  float scale;
  TW_HD void operator()(std::int64_t r, std::int64_t j) const {
    y[r * (len / 2) + j] = scale * (x[r * len + 2 * j] + x[r * len + 2 * j + 1]);
  }
};
struct Unpool1d {  // x (len) from y (len/2): scale y[j/2], 0 for an odd last element
  const float* y;
  float* x;
  std::int64_t len;
  float scale;
  TW_HD void operator()(std::int64_t r, std::int64_t j) const {
    x[r * len + j] = j < len / 2 * 2 ? scale * y[r * (len / 2) + j / 2] : 0.0f;
  }
};

}  // namespace tweedie
