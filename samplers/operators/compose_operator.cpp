// outer(inner(x)): pipelines such as a blur followed by downsampling. Derivatives follow the chain
// rule; the outer operator's derivatives are taken at inner(x), which a nonlinear outer needs.
#include "samplers/operators/image_operators.h"

namespace tweedie::samplers {
namespace {

class Composition final : public Operator {
 public:
  Composition(std::shared_ptr<const Operator> outer, std::shared_ptr<const Operator> inner)
      : Operator(inner->input(), outer->output()), outer_(std::move(outer)), inner_(std::move(inner)) {
    observed_ = outer_->observed();
  }

  // The spec parser's pipeline syntax, the stage acting first on the left.
  std::string describe() const override { return inner_->describe() + "|" + outer_->describe(); }
  bool is_linear() const override { return outer_->is_linear() && inner_->is_linear(); }

  void apply(Context& ctx, const Tensor& x, Tensor& y) const override {
    Tensor middle = inner_->make_output(batch_of_input(ctx, x), ctx.device());
    inner_->apply(ctx, x, middle);
    outer_->apply(ctx, middle, y);
  }

  void adjoint(Context& ctx, const Tensor& y, Tensor& x) const override {
    if (!is_linear()) Operator::adjoint(ctx, y, x);  // throws, naming the pipeline
    Tensor middle = inner_->make_output(batch_of_output(ctx, y), ctx.device());
    outer_->adjoint(ctx, y, middle);
    inner_->adjoint(ctx, middle, x);
  }

  void jvp(Context& ctx, const Tensor& x, const Tensor& dx, Tensor& dy) const override {
    if (is_linear()) return apply(ctx, dx, dy);
    std::int64_t n = batch_of_input(ctx, x);
    Tensor at = inner_->make_output(n, ctx.device()), tangent = inner_->make_output(n, ctx.device());
    inner_->apply(ctx, x, at);
    inner_->jvp(ctx, x, dx, tangent);
    outer_->jvp(ctx, at, tangent, dy);
  }

  void vjp(Context& ctx, const Tensor& x, const Tensor& dy, Tensor& dx) const override {
    if (is_linear()) return adjoint(ctx, dy, dx);
    std::int64_t n = batch_of_input(ctx, x);
    Tensor at = inner_->make_output(n, ctx.device()), cotangent = inner_->make_output(n, ctx.device());
    inner_->apply(ctx, x, at);
    outer_->vjp(ctx, at, dy, cotangent);
    inner_->vjp(ctx, x, cotangent, dx);
  }

 private:
  std::shared_ptr<const Operator> outer_, inner_;
};

}  // namespace

std::unique_ptr<Operator> compose(std::shared_ptr<const Operator> outer, std::shared_ptr<const Operator> inner) {
  if (!outer || !inner) throw ArgumentError("compose: both operators must be given");
  const Signal &out = inner->output(), &in = outer->input();
  if (!(out.shape == in.shape) || out.dtype != in.dtype)
    throw ShapeError(cat("compose: '", inner->describe(), "' gives ", out.str(), " but '", outer->describe(), "' takes ", in.str()));
  return std::make_unique<Composition>(std::move(outer), std::move(inner));
}

}  // namespace tweedie::samplers
