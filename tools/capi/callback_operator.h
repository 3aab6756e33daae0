#pragma once
// A forward operator whose apply, adjoint and derivatives are the C API caller's callbacks
// (tweedie_operator_callbacks in tweedie.h): every posterior method that takes a samplers::Operator runs
// on it unchanged.
#include "tools/capi/tweedie.h"
#include "runtime/error.h"
#include "samplers/operators/operator.h"

namespace tweedie::capi {

// A callback returned non-zero; the C API reports TWEEDIE_ERROR_CALLBACK.
class CallbackError : public Error {
  using Error::Error;
};

// Checks the callbacks' shapes and pointers (ArgumentError / ShapeError naming the field).
samplers::Signal callback_input(const tweedie_operator_callbacks& c);
samplers::Signal callback_output(const tweedie_operator_callbacks& c);

class CallbackOperator final : public samplers::Operator {
 public:
  explicit CallbackOperator(const tweedie_operator_callbacks& callbacks);
  std::string describe() const override { return name_; }
  bool is_linear() const override { return c_.adjoint != nullptr; }
  void apply(Context& ctx, const Tensor& x, Tensor& y) const override;
  void adjoint(Context& ctx, const Tensor& y, Tensor& x) const override;
  void jvp(Context& ctx, const Tensor& x, const Tensor& dx, Tensor& dy) const override;
  void vjp(Context& ctx, const Tensor& x, const Tensor& dy, Tensor& dx) const override;

 private:
  tweedie_operator_callbacks c_;
  std::string name_;
};

}  // namespace tweedie::capi
