#include "kernels/broadcast.h"

#include "runtime/check.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

namespace tweedie {

void multiply_repeated(Context& ctx, const Tensor& x, const Tensor& m, Tensor& y) {
  expect_tensor(ctx, "multiply_repeated", "x", x, x.dtype() == DType::c64 ? DType::c64 : DType::f32);
  expect_tensor(ctx, "multiply_repeated", "y", y, x.dtype());
  expect_tensor(ctx, "multiply_repeated", "m", m);
  expect_same_shape("multiply_repeated", "x", x, "y", y);
  std::int64_t block = m.numel();
  if (block == 0 || x.numel() % block != 0)
    throw ShapeError(cat("multiply_repeated: m ", m.shape().str(), " does not tile x ", x.shape().str()));
  std::int64_t rows = x.numel() / block;
  if (x.dtype() == DType::c64)
    for_each_2d(ctx, rows, block, MultiplyRepeated<complex64>{x.data<complex64>(), m.data<float>(), y.data<complex64>(), block});
  else
    for_each_2d(ctx, rows, block, MultiplyRepeated<float>{x.data<float>(), m.data<float>(), y.data<float>(), block});
}

void multiply_repeated_complex(Context& ctx, const Tensor& x, const Tensor& m, Tensor& y, bool conjugate) {
  expect_tensor(ctx, "multiply_repeated_complex", "x", x, DType::c64);
  expect_tensor(ctx, "multiply_repeated_complex", "y", y, DType::c64);
  expect_tensor(ctx, "multiply_repeated_complex", "m", m, DType::c64);
  expect_same_shape("multiply_repeated_complex", "x", x, "y", y);
  std::int64_t block = m.numel();
  if (block == 0 || x.numel() % block != 0)
    throw ShapeError(cat("multiply_repeated_complex: m ", m.shape().str(), " does not tile x ", x.shape().str()));
  for_each_2d(ctx, x.numel() / block, block,
              MultiplyRepeatedComplex{x.data<complex64>(), m.data<complex64>(), y.data<complex64>(), block, conjugate ? -1.0f : 1.0f});
}

}  // namespace tweedie
