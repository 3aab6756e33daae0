#include "kernels/rows.h"

#include "runtime/check.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

namespace tweedie {

void axpby_rows(Context& ctx, const std::vector<double>& a, const Tensor& x, const std::vector<double>& b, Tensor& y) {
  const DType type = x.defined() && x.dtype() == DType::c64 ? DType::c64 : DType::f32;
  expect_tensor(ctx, "axpby_rows", "x", x, type);
  expect_tensor(ctx, "axpby_rows", "y", y, type);
  expect_same_shape("axpby_rows", "x", x, "y", y);
  const auto rows = std::int64_t(a.size());
  if (b.size() != a.size())
    throw ArgumentError(cat("axpby_rows: ", a.size(), " coefficients a but ", b.size(), " coefficients b"));
  if (rows == 0 || x.numel() % rows != 0)
    throw ShapeError(cat("axpby_rows: x ", x.shape().str(), " cannot be split into ", rows, " equal rows"));
  // Complex values are pairs of floats scaled by the same real coefficient: a real loop over twice the
  // columns.
  const std::int64_t cols = x.numel() / rows * (type == DType::c64 ? 2 : 1);
  std::vector<float> coef(2 * a.size());
  for (std::size_t r = 0; r < a.size(); ++r) coef[r] = float(a[r]), coef[a.size() + r] = float(b[r]);
  Tensor c = Tensor::from_host(std::span<const float>(coef), {2 * rows}, ctx.device());
  const float* cp = c.data<float>();
  auto flat = [](const Tensor& t) { return static_cast<const float*>(t.raw_data()); };
  // Freeing c right after the launch is safe: device memory is freed in the stream's order.
  for_each_2d(ctx, rows, cols, AxpbyRows{cp, cp + rows, flat(x), static_cast<float*>(y.raw_data()), cols});
}

void axpy_rows(Context& ctx, const std::vector<double>& a, const Tensor& x, Tensor& y) {
  axpby_rows(ctx, a, x, std::vector<double>(a.size(), 1.0), y);
}

}  // namespace tweedie
