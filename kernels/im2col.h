#pragma once
// Unfolding an image into the columns of a convolution-as-GEMM, and folding columns back.
//
// For one image x (C, H, W) and a kernel (kh, kw) with stride and padding, the column matrix has
// K = C*kh*kw rows and one column per output pixel; the convolution is then W (Cout x K) @ col. To keep
// memory bounded, columns are made for a band of output rows [row_begin, row_begin + rows) at a time:
// col is (K, rows*Wo), row-major. A 1-D convolution is the case H = kh = 1.
//
// The functors below define the maps element by element and run on the GPU; the host runs the same
// maps a patch row at a time (zero runs and contiguous copies), which is what makes them fast there.
#include <cstdint>

#include "runtime/context.h"
#include "runtime/hd.h"

namespace tweedie {

struct ConvGeometry {
  std::int64_t channels, height, width;  // input
  std::int64_t kernel_h, kernel_w, stride_h, stride_w, pad_h, pad_w;
  TW_HD std::int64_t out_h() const { return (height + 2 * pad_h - kernel_h) / stride_h + 1; }
  TW_HD std::int64_t out_w() const { return (width + 2 * pad_w - kernel_w) / stride_w + 1; }
  TW_HD std::int64_t col_rows() const { return channels * kernel_h * kernel_w; }
};

// col (K, rows*Wo) = the patches of x (C, H, W) for output rows [row_begin, row_begin + rows).
void im2col(Context& ctx, const ConvGeometry& g, const float* x, float* col, std::int64_t row_begin, std::int64_t rows);
// x (C, H, W) += the patches in col folded back (the adjoint of im2col over the same band).
void col2im_add(Context& ctx, const ConvGeometry& g, const float* col, float* x, std::int64_t row_begin, std::int64_t rows);

// for_each_2d over (k * rows + r, ox): one output pixel of one patch row.
struct Im2col {
  const float* x;
  float* col;
  ConvGeometry g;
  std::int64_t row_begin, rows, out_w;
  TW_HD void operator()(std::int64_t kr, std::int64_t ox) const {
    std::int64_t k = kr / rows, r = kr % rows, kk = g.kernel_h * g.kernel_w;
    std::int64_t c = k / kk, ki = (k % kk) / g.kernel_w, kj = k % g.kernel_w;
    std::int64_t iy = (row_begin + r) * g.stride_h - g.pad_h + ki, ix = ox * g.stride_w - g.pad_w + kj;
    bool inside = iy >= 0 && iy < g.height && ix >= 0 && ix < g.width;
    col[kr * out_w + ox] = inside ? x[(c * g.height + iy) * g.width + ix] : 0.0f;
  }
};

// for_each_2d over (c * H + iy, ix) for input rows the band touches: gathers every patch entry that
// came from x[c, iy, ix] (no two threads write the same element, so no atomics and a fixed order).
struct Col2imAdd {
  const float* col;
  float* x;
  ConvGeometry g;
  std::int64_t row_begin, rows, out_w;
  std::int64_t iy_begin, iy_count;  // the input rows touched by the band
  TW_HD void operator()(std::int64_t crow, std::int64_t ix) const {
    std::int64_t c = crow / iy_count, iy = iy_begin + crow % iy_count;
    std::int64_t band_cols = rows * out_w;
    float sum = 0.0f;
    for (std::int64_t ki = 0; ki < g.kernel_h; ++ki) {
      std::int64_t ty = iy + g.pad_h - ki;  // = oy * stride_h
      if (ty < 0 || ty % g.stride_h) continue;
      std::int64_t r = ty / g.stride_h - row_begin;
      if (r < 0 || r >= rows) continue;
      for (std::int64_t kj = 0; kj < g.kernel_w; ++kj) {
        std::int64_t tx = ix + g.pad_w - kj;  // = ox * stride_w
        if (tx < 0 || tx % g.stride_w) continue;
        std::int64_t ox = tx / g.stride_w;
        if (ox >= out_w) continue;
        std::int64_t k = (c * g.kernel_h + ki) * g.kernel_w + kj;
        sum += col[k * band_cols + r * out_w + ox];
      }
    }
    x[(c * g.height + iy) * g.width + ix] += sum;
  }
};

}  // namespace tweedie
