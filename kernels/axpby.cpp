#include "kernels/axpby.h"

#include "runtime/check.h"
#include "runtime/parallel.h"

namespace tweedie {

void axpby(Context& ctx, float a, const Tensor& x, float b, Tensor& y) {
  expect_tensor(ctx, "axpby", "x", x);
  expect_tensor(ctx, "axpby", "y", y);
  expect_same_shape("axpby", "x", x, "y", y);
  for_each(ctx, x.numel(), AxpbyMap{a, x.data<float>(), b, y.data<float>()});
}

void scale(Context& ctx, Tensor& x, float a) {
  expect_tensor(ctx, "scale", "x", x);
  for_each(ctx, x.numel(), ScaleMap{a, x.data<float>()});
}

void fill(Context& ctx, Tensor& x, float value) {
  expect_tensor(ctx, "fill", "x", x);
  for_each(ctx, x.numel(), FillMap{value, x.data<float>()});
}

}  // namespace tweedie
