#include "kernels/softmax.h"

#include <algorithm>
#include <limits>

#include "runtime/check.h"
#include "runtime/parallel.h"

namespace tweedie {

void softmax_rows(Context& ctx, const Tensor& x, Tensor& y) {
  expect_tensor(ctx, "softmax_rows", "x", x);
  expect_tensor(ctx, "softmax_rows", "y", y);
  expect_same_shape("softmax_rows", "x", x, "y", y);
  if (x.rank() < 1) throw ShapeError(cat("softmax_rows: x is ", x.str(), ", expected at least one dimension"));
  std::int64_t cols = x.dim(-1), rows = cols ? x.numel() / cols : 0;
  if (rows == 0 || cols == 0) return;
  const float* px = x.data<float>();
  float* py = y.data<float>();
#if TWEEDIE_HAS_CUDA
  if (ctx.on_cuda()) return detail::softmax_rows_cuda(ctx, px, py, rows, cols);
#endif
  std::int64_t grain = std::max<std::int64_t>(1, kParallelGrain / cols);
  parallel_for(
      ctx.threads(), rows,
      [=](std::int64_t r) { softmax_row(px + r * cols, py + r * cols, cols); },
      grain);
}

void softmax_rows_derivative(Context& ctx, const Tensor& p, const Tensor& dx, Tensor& dy) {
  expect_tensor(ctx, "softmax_rows_derivative", "p", p);
  expect_tensor(ctx, "softmax_rows_derivative", "dx", dx);
  expect_tensor(ctx, "softmax_rows_derivative", "dy", dy);
  expect_same_shape("softmax_rows_derivative", "p", p, "dx", dx);
  expect_same_shape("softmax_rows_derivative", "p", p, "dy", dy);
  if (p.rank() < 1) throw ShapeError(cat("softmax_rows_derivative: p is ", p.str(), ", expected at least one dimension"));
  std::int64_t cols = p.dim(-1), rows = cols ? p.numel() / cols : 0;
  if (rows == 0 || cols == 0) return;
  const float *pp = p.data<float>(), *pd = dx.data<float>();
  float* po = dy.data<float>();
#if TWEEDIE_HAS_CUDA
  if (ctx.on_cuda()) return detail::softmax_rows_derivative_cuda(ctx, pp, pd, po, rows, cols);
#endif
  parallel_for(
      ctx.threads(), rows,
      [=](std::int64_t r) { softmax_row_derivative(pp + r * cols, pd + r * cols, po + r * cols, cols); },
      std::max<std::int64_t>(1, kParallelGrain / cols));
}

}  // namespace tweedie
