#include "samplers/operators/operator.h"

#include "runtime/error.h"

namespace tweedie::samplers {

std::string Signal::str() const { return shape.str() + (dtype == DType::c64 ? " c64" : " f32"); }

Shape batched(std::int64_t batch, const Shape& item) {
  std::int64_t dims[8];
  dims[0] = batch;
  auto d = item.dims();
  for (std::size_t i = 0; i < d.size(); ++i) dims[i + 1] = d[i];
  return Shape(std::span<const std::int64_t>(dims, d.size() + 1));
}

void Operator::adjoint(Context&, const Tensor&, Tensor&) const {
  throw ArgumentError(cat("operator '", describe(), "' is nonlinear: it has no adjoint, only a VJP at a point"));
}

void Operator::normal(Context& ctx, const Tensor& x, Tensor& out) const {
  if (!is_linear()) throw ArgumentError(cat("operator '", describe(), "' is nonlinear: it has no normal operator A^T A"));
  Tensor y = make_output(batch_of_input(ctx, x), ctx.device());
  apply(ctx, x, y);
  adjoint(ctx, y, out);
}

void Operator::jvp(Context& ctx, const Tensor&, const Tensor& dx, Tensor& dy) const {
  if (!is_linear()) throw ArgumentError(cat("operator '", describe(), "' must implement its JVP"));
  apply(ctx, dx, dy);
}

void Operator::vjp(Context& ctx, const Tensor&, const Tensor& dy, Tensor& dx) const {
  if (!is_linear()) throw ArgumentError(cat("operator '", describe(), "' must implement its VJP"));
  adjoint(ctx, dy, dx);
}

static std::int64_t batch_of(const Operator& op, const Context& ctx, const Tensor& t, const Signal& s, const char* role) {
  if (!t.defined()) throw ShapeError(cat("operator '", op.describe(), "': ", role, " is undefined"));
  if (t.device() != ctx.device())
    throw ArgumentError(cat("operator '", op.describe(), "': ", role, " is on ", t.device().str(), " but the context is on ", ctx.device().str()));
  const Shape& shape = t.shape();
  bool ok = t.dtype() == s.dtype && shape.rank() == s.shape.rank() + 1;
  for (int a = 0; ok && a < s.shape.rank(); ++a) ok = shape[a + 1] == s.shape[a];
  if (!ok)
    throw ShapeError(cat("operator '", op.describe(), "': ", role, " is ", shape.str(), t.dtype() == DType::c64 ? " c64" : " f32",
                         " but must be (N, ", s.str().substr(1)));
  return shape[0];
}

std::int64_t Operator::batch_of_input(const Context& ctx, const Tensor& x, const char* role) const {
  return batch_of(*this, ctx, x, input_, role);
}
std::int64_t Operator::batch_of_output(const Context& ctx, const Tensor& y, const char* role) const {
  return batch_of(*this, ctx, y, output_, role);
}
void Operator::check_observations(const Tensor& y, const std::string& where) const {
  bool ok = y.dtype() == output_.dtype && y.rank() == output_.shape.rank() + 1;
  for (int a = 0; ok && a < output_.shape.rank(); ++a) ok = y.dim(a + 1) == output_.shape[a];
  if (!ok)
    throw ShapeError(cat(where, ": y is ", y.shape().str(), " ", dtype_name(y.dtype()), " but operator '", describe(), "' gives (N, ",
                         output_.str().substr(1)));
}

Tensor Operator::make_input(std::int64_t batch, Device device) const { return Tensor::empty(batched(batch, input_.shape), device, input_.dtype); }
Tensor Operator::make_output(std::int64_t batch, Device device) const { return Tensor::empty(batched(batch, output_.shape), device, output_.dtype); }

}  // namespace tweedie::samplers
