#include "tools/capi/callback_operator.h"

#include <span>

namespace tweedie::capi {
namespace {

Shape callback_shape(const int64_t* dims, int rank, const char* field) {
  if (rank < 1 || rank > 4) throw ArgumentError(cat("tweedie_operator_callbacks.", field, "_rank is ", rank, ": need 1 to 4"));
  for (int a = 0; a < rank; ++a)
    if (dims[a] < 1) throw ShapeError(cat("tweedie_operator_callbacks.", field, "_dims[", a, "] is ", dims[a], ": need >= 1"));
  return Shape(std::span<const std::int64_t>(reinterpret_cast<const std::int64_t*>(dims), static_cast<std::size_t>(rank)));
}

const char* name_of(const tweedie_operator_callbacks& c) { return c.name ? c.name : "callback"; }

// The callbacks see f32 values; a complex tensor is its interleaved pairs.
const float* floats(const Tensor& t) { return static_cast<const float*>(t.raw_data()); }
float* floats(Tensor& t) { return static_cast<float*>(t.raw_data()); }

// The status of one callback. Before each call the context's queued work is finished: the caller's
// code may use any stream and its own threads.
void check_rc(const std::string& name, const char* which, int rc) {
  if (rc != 0) throw CallbackError(cat("operator callback '", name, "': ", which, " returned ", rc));
}

}  // namespace

samplers::Signal callback_input(const tweedie_operator_callbacks& c) { return {callback_shape(c.x_dims, c.x_rank, "x"), DType::f32}; }
samplers::Signal callback_output(const tweedie_operator_callbacks& c) {
  return {callback_shape(c.y_dims, c.y_rank, "y"), c.y_complex ? DType::c64 : DType::f32};
}

CallbackOperator::CallbackOperator(const tweedie_operator_callbacks& c)
    : Operator(callback_input(c), callback_output(c)), c_(c), name_(cat("callback:", name_of(c))) {
  if (!c.apply) throw ArgumentError(cat("operator callbacks '", name_of(c), "': apply is NULL"));
  if (!c.adjoint && (!c.jvp || !c.vjp))
    throw ArgumentError(cat("operator callbacks '", name_of(c), "': a linear operator needs adjoint; a nonlinear one (adjoint NULL) needs jvp and vjp"));
  c_.name = nullptr;  // the caller's string need not outlive this call; name_ keeps it
}

void CallbackOperator::apply(Context& ctx, const Tensor& x, Tensor& y) const {
  const std::int64_t n = batch_of_input(ctx, x);
  batch_of_output(ctx, y);
  ctx.synchronize();
  check_rc(name_, "apply", c_.apply(c_.user, floats(x), floats(y), n));
}

void CallbackOperator::adjoint(Context& ctx, const Tensor& y, Tensor& x) const {
  if (!c_.adjoint) Operator::adjoint(ctx, y, x);  // throws: nonlinear
  const std::int64_t n = batch_of_output(ctx, y);
  batch_of_input(ctx, x);
  ctx.synchronize();
  check_rc(name_, "adjoint", c_.adjoint(c_.user, floats(y), floats(x), n));
}

void CallbackOperator::jvp(Context& ctx, const Tensor& x, const Tensor& dx, Tensor& dy) const {
  if (is_linear()) return apply(ctx, dx, dy);
  const std::int64_t n = batch_of_input(ctx, x);
  batch_of_input(ctx, dx, "dx");
  batch_of_output(ctx, dy, "dy");
  ctx.synchronize();
  check_rc(name_, "jvp", c_.jvp(c_.user, floats(x), floats(dx), floats(dy), n));
}

void CallbackOperator::vjp(Context& ctx, const Tensor& x, const Tensor& dy, Tensor& dx) const {
  if (is_linear()) return adjoint(ctx, dy, dx);
  const std::int64_t n = batch_of_input(ctx, x);
  batch_of_output(ctx, dy, "dy");
  batch_of_input(ctx, dx, "dx");
  ctx.synchronize();
  check_rc(name_, "vjp", c_.vjp(c_.user, floats(x), floats(dy), floats(dx), n));
}

}  // namespace tweedie::capi
