#pragma once
// Fully connected layer on (N, in) -> (N, out): y = x W^T + b, PyTorch's layout (weight (out, in)).
#include <cstdint>
#include <string>

#include "nn/parameter.h"
#include "runtime/context.h"
#include "runtime/tensor.h"

namespace tweedie::nn {

class Linear {
 public:
  Linear() = default;
  // Creates `prefix.weight` (out, in) and `prefix.bias` (out).
  Linear(ParameterSet& params, const std::string& prefix, std::int64_t in, std::int64_t out);

  std::int64_t in() const { return in_; }
  std::int64_t out() const { return out_; }

  struct State {
    Tensor x;
  };
  void forward(Context& ctx, const Tensor& x, Tensor& y) const;
  void linearize(Context& ctx, const Tensor& x, Tensor& y, State& state) const;
  // dy = dx W^T; any batch size.
  void jvp(Context& ctx, const Tensor& dx, Tensor& dy) const;
  // gx (=, or += when accumulate) gy W, when gx is given; with param_grads, W.grad += gy^T x, b.grad += sum gy.
  void vjp(Context& ctx, const State& state, const Tensor& gy, Tensor* gx, bool accumulate, bool param_grads) const;

 private:
  void apply(Context& ctx, const Tensor& x, Tensor& y, bool with_bias) const;
  std::string name_;
  std::int64_t in_ = 0, out_ = 0;
  Parameter* weight_ = nullptr;
  Parameter* bias_ = nullptr;
};

}  // namespace tweedie::nn
