#include "nn/linear.h"

#include "kernels/channel_ops.h"
#include "kernels/gemm.h"
#include "runtime/check.h"

namespace tweedie::nn {

Linear::Linear(ParameterSet& params, const std::string& prefix, std::int64_t in, std::int64_t out)
    : name_(prefix), in_(in), out_(out) {
  weight_ = params.add(prefix + ".weight", {out, in});
  bias_ = params.add(prefix + ".bias", {out});
}

void Linear::apply(Context& ctx, const Tensor& x, Tensor& y, bool with_bias) const {
  expect_tensor(ctx, name_.c_str(), "x", x);
  expect_tensor(ctx, name_.c_str(), "y", y);
  if (x.rank() != 2 || x.dim(1) != in_) throw ShapeError(cat(name_, ": input ", x.str(), " is not (N, ", in_, ")"));
  expect_shape(name_.c_str(), "y", y, {x.dim(0), out_});
  matmul(ctx, x, weight_->value, y, {.trans_b = true});
  if (with_bias) add_channel_vector(ctx, y, bias_->value);
}

void Linear::forward(Context& ctx, const Tensor& x, Tensor& y) const { apply(ctx, x, y, true); }

void Linear::linearize(Context& ctx, const Tensor& x, Tensor& y, State& state) const {
  apply(ctx, x, y, true);
  state.x = x;
}

void Linear::jvp(Context& ctx, const Tensor& dx, Tensor& dy) const { apply(ctx, dx, dy, false); }

void Linear::vjp(Context& ctx, const State& state, const Tensor& gy, Tensor* gx, bool accumulate, bool param_grads) const {
  expect_tensor(ctx, name_.c_str(), "gy", gy);
  expect_shape(name_.c_str(), "gy", gy, {state.x.dim(0), out_});
  if (gx) {
    expect_shape(name_.c_str(), "gx", *gx, state.x.shape());
    matmul(ctx, gy, weight_->value, *gx, {.beta = accumulate ? 1.0f : 0.0f});
  }
  if (param_grads) {
    matmul(ctx, gy, state.x, weight_->gradient(), {.trans_a = true, .beta = 1.0f});
    accumulate_channel_sums(ctx, gy, bias_->gradient());
  }
}

}  // namespace tweedie::nn
