#pragma once
// Convolution over (N, Cin, H, W) (dims = 2) or (N, Cin, L) (dims = 1), with PyTorch's parameter layout:
// weight (Cout, Cin, k, k) or (Cout, Cin, k), bias (Cout). Square kernels, equal stride and padding
// in every spatial dimension, as ADM uses them.
//
// Host: im2col over bands of output rows, then GEMM (1x1 convolutions skip im2col). GPU: cuDNN with
// f32 FMA math (no TF32). The layer is linear in x: its tangent needs nothing saved, and its state is
// just the input, which parameter gradients need.
#include <cstdint>
#include <string>

#include "nn/parameter.h"
#include "runtime/context.h"
#include "runtime/tensor.h"

namespace tweedie::nn {

struct ConvSpec {
  int dims = 2;
  std::int64_t in = 0, out = 0, kernel = 1, stride = 1, padding = 0;
  bool bias = true;
};

class Conv {
 public:
  Conv() = default;
  // Creates `prefix.weight` and, with bias, `prefix.bias` in `params`.
  Conv(ParameterSet& params, const std::string& prefix, const ConvSpec& spec);

  const ConvSpec& spec() const { return spec_; }
  Shape output_shape(const Shape& x) const;  // throws ShapeError naming the layer if x does not fit

  struct State {
    Tensor x;
  };
  // y = W * x + b.
  void forward(Context& ctx, const Tensor& x, Tensor& y) const;
  void linearize(Context& ctx, const Tensor& x, Tensor& y, State& state) const;
  // dy = W * dx; any batch size.
  void jvp(Context& ctx, const Tensor& dx, Tensor& dy) const;
  // gx (=, or += when accumulate) W^T * gy; with param_grads, W.grad += gy (*) x and b.grad += sum gy.
  void vjp(Context& ctx, const State& state, const Tensor& gy, Tensor& gx, bool accumulate, bool param_grads) const;

  const std::string& name() const { return name_; }
  Parameter* weight() const { return weight_; }
  Parameter* bias() const { return bias_; }

 private:
  void apply(Context& ctx, const Tensor& x, Tensor& y, bool with_bias) const;

  std::string name_;
  ConvSpec spec_;
  Parameter* weight_ = nullptr;
  Parameter* bias_ = nullptr;
};

namespace detail {
// cuDNN implementations (nn/conv_cudnn.cpp, CUDA builds only). x, y, w as NCHW f32 views.
void conv_forward_cudnn(Context& ctx, const ConvSpec& s, const Tensor& x, const Tensor& w, Tensor& y);
void conv_backward_data_cudnn(Context& ctx, const ConvSpec& s, const Tensor& gy, const Tensor& w, Tensor& gx, bool accumulate);
void conv_backward_filter_cudnn(Context& ctx, const ConvSpec& s, const Tensor& x, const Tensor& gy, Tensor& gw);
}  // namespace detail

}  // namespace tweedie::nn
