#pragma once
// Convolution over (N, Cin, H, W) (dims = 2) or (N, Cin, L) (dims = 1), with PyTorch's parameter layout:
// weight (Cout, Cin, k, k) or (Cout, Cin, k), bias (Cout). Square kernels, equal stride and padding
// in every spatial dimension, as ADM uses them.
//
// Host: oneDNN's direct kernels for spatial kernels (k > 1) when the build has oneDNN, else im2col over
// bands of output rows then GEMM; 1x1 convolutions are one GEMM either way. GPU: cuDNN with f32 FMA
// math (no TF32). The layer is linear in x: its tangent needs nothing saved, and its state is
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

// The route host convolutions with k > 1 take. `gemm` (im2col + OpenBLAS) is in every build; `onednn`
// is the default where the build has oneDNN (TWEEDIE_ONEDNN). The environment variable
// TWEEDIE_HOST_CONV=gemm|onednn sets a new context's route, for comparing the two.
enum class HostConv { gemm, onednn };
bool onednn_available();
HostConv default_host_conv();  // what a new context takes: TWEEDIE_HOST_CONV, else onednn where available
HostConv host_conv(Context& ctx);
void set_host_conv(Context& ctx, HostConv route);  // ArgumentError when asking for onednn without it
const char* host_conv_name(HostConv route);
// "oneDNN 2.6.3 (avx512_core)" when built with it, else why not; for `tweedie info`.
std::string onednn_info();

namespace detail {
// oneDNN implementations (nn/conv_onednn.cpp, builds with TWEEDIE_ONEDNN only). NCHW f32 tensors.
void conv_forward_onednn(Context& ctx, const ConvSpec& s, const Tensor& x, const Tensor& w, Tensor& y);
void conv_backward_data_onednn(Context& ctx, const ConvSpec& s, const Tensor& gy, const Tensor& w, Tensor& gx, bool accumulate);
void conv_backward_weights_onednn(Context& ctx, const ConvSpec& s, const Tensor& x, const Tensor& gy, Tensor& gw);
// cuDNN implementations (nn/conv_cudnn.cpp, CUDA builds only). x, y, w as NCHW f32 views.
void conv_forward_cudnn(Context& ctx, const ConvSpec& s, const Tensor& x, const Tensor& w, Tensor& y);
void conv_backward_data_cudnn(Context& ctx, const ConvSpec& s, const Tensor& gy, const Tensor& w, Tensor& gx, bool accumulate);
void conv_backward_filter_cudnn(Context& ctx, const ConvSpec& s, const Tensor& x, const Tensor& gy, Tensor& gw);
}  // namespace detail

}  // namespace tweedie::nn
