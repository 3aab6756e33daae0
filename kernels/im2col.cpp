#include "kernels/im2col.h"

#include <algorithm>
#include <cstring>

#include "runtime/parallel.h"

namespace tweedie {
namespace {

// The output columns [lo, hi) of a patch row whose taps land inside the image row, for kernel column kj.
struct Span {
  std::int64_t lo, hi;
};
Span inside(const ConvGeometry& g, std::int64_t kj, std::int64_t out_w) {
  // ix = ox * sw - pw + kj must satisfy 0 <= ix < W.
  std::int64_t first = g.pad_w - kj, lo = first <= 0 ? 0 : (first + g.stride_w - 1) / g.stride_w;
  std::int64_t last = g.width - 1 + g.pad_w - kj, hi = last < 0 ? 0 : std::min(out_w, last / g.stride_w + 1);
  return {lo, std::max(lo, hi)};
}

// Host versions work on whole patch rows: a zero run, a copy (contiguous for stride 1), a zero run.
void im2col_host(Context& ctx, const ConvGeometry& g, const float* x, float* col, std::int64_t row_begin, std::int64_t rows) {
  const std::int64_t ow = g.out_w(), kk = g.kernel_h * g.kernel_w;
  parallel_for(
      ctx.threads(), g.col_rows() * rows,
      [&](std::int64_t kr) {
        std::int64_t k = kr / rows, r = kr % rows, c = k / kk, ki = (k % kk) / g.kernel_w, kj = k % g.kernel_w;
        std::int64_t iy = (row_begin + r) * g.stride_h - g.pad_h + ki;
        float* dst = col + kr * ow;
        if (iy < 0 || iy >= g.height) return (void)std::memset(dst, 0, std::size_t(ow) * sizeof(float));
        const float* src = x + (c * g.height + iy) * g.width;
        Span s = inside(g, kj, ow);
        std::memset(dst, 0, std::size_t(s.lo) * sizeof(float));
        if (g.stride_w == 1) std::memcpy(dst + s.lo, src + s.lo - g.pad_w + kj, std::size_t(s.hi - s.lo) * sizeof(float));
        else
          for (std::int64_t ox = s.lo; ox < s.hi; ++ox) dst[ox] = src[ox * g.stride_w - g.pad_w + kj];
        std::memset(dst + s.hi, 0, std::size_t(ow - s.hi) * sizeof(float));
      },
      std::max<std::int64_t>(1, kParallelGrain / std::max<std::int64_t>(ow, 1)));
}

// One task per input channel, which owns its plane: every tap of the channel is added in a fixed order.
void col2im_host(Context& ctx, const ConvGeometry& g, const float* col, float* x, std::int64_t row_begin, std::int64_t rows) {
  const std::int64_t ow = g.out_w();
  parallel_for(
      ctx.threads(), g.channels,
      [&](std::int64_t c) {
        for (std::int64_t ki = 0; ki < g.kernel_h; ++ki)
          for (std::int64_t kj = 0; kj < g.kernel_w; ++kj) {
            std::int64_t k = (c * g.kernel_h + ki) * g.kernel_w + kj;
            Span s = inside(g, kj, ow);
            for (std::int64_t r = 0; r < rows; ++r) {
              std::int64_t iy = (row_begin + r) * g.stride_h - g.pad_h + ki;
              if (iy < 0 || iy >= g.height) continue;
              float* dst = x + (c * g.height + iy) * g.width - g.pad_w + kj;
              const float* src = col + (k * rows + r) * ow;
              if (g.stride_w == 1) {
#pragma omp simd
                for (std::int64_t ox = s.lo; ox < s.hi; ++ox) dst[ox] += src[ox];
              } else {
                for (std::int64_t ox = s.lo; ox < s.hi; ++ox) dst[ox * g.stride_w] += src[ox];
              }
            }
          }
      },
      1);
}

}  // namespace

void im2col(Context& ctx, const ConvGeometry& g, const float* x, float* col, std::int64_t row_begin, std::int64_t rows) {
  if (ctx.on_cuda()) for_each_2d(ctx, g.col_rows() * rows, g.out_w(), Im2col{x, col, g, row_begin, rows, g.out_w()});
  else im2col_host(ctx, g, x, col, row_begin, rows);
}

void col2im_add(Context& ctx, const ConvGeometry& g, const float* col, float* x, std::int64_t row_begin, std::int64_t rows) {
  if (ctx.on_cuda()) {
    // Output rows [r0, r1) read input rows [r0*sh - ph, (r1-1)*sh - ph + kh - 1].
    std::int64_t first = std::max<std::int64_t>(0, row_begin * g.stride_h - g.pad_h);
    std::int64_t last = std::min<std::int64_t>(g.height - 1, (row_begin + rows - 1) * g.stride_h - g.pad_h + g.kernel_h - 1);
    if (last < first) return;
    std::int64_t count = last - first + 1;
    for_each_2d(ctx, g.channels * count, g.width, Col2imAdd{col, x, g, row_begin, rows, g.out_w(), first, count});
  } else {
    col2im_host(ctx, g, col, x, row_begin, rows);
  }
}

}  // namespace tweedie
