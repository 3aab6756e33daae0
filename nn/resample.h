#pragma once
// Up- and downsampling for the U-Net: nearest x2 and 2x average pooling over the spatial axes of
// (N, C, H, W) or (N, C, L), as plain maps (used inside ResBlocks with resblock_updown), and ADM's
// Upsample / Downsample layers, which add a 3x3 convolution when conv_resample is on.
#include <string>

#include "nn/conv.h"
#include "nn/parameter.h"

namespace tweedie::nn {

enum class Resample { none, up, down };

Shape resampled_shape(Resample r, int dims, const Shape& x);
// y = resample(x), and x_grad (=, or +=) resample^T(y_grad). Linear maps with no parameters.
void resample(Context& ctx, Resample r, int dims, const Tensor& x, Tensor& y);
void resample_adjoint(Context& ctx, Resample r, int dims, const Tensor& gy, Tensor& gx, bool accumulate);

// Upsample: nearest x2, then `prefix.conv` (3x3, padding 1) when with_conv.
// Downsample: `prefix.op`, a 3x3 convolution with stride 2 and padding 1 when with_conv, else 2x
// average pooling.
class Resampler {
 public:
  Resampler() = default;
  Resampler(ParameterSet& params, const std::string& prefix, Resample direction, int dims, std::int64_t channels,
            bool with_conv);

  Shape output_shape(const Shape& x) const;
  struct State {
    Conv::State conv;
    Shape x;
  };
  void forward(Context& ctx, const Tensor& x, Tensor& y) const;
  void linearize(Context& ctx, const Tensor& x, Tensor& y, State& state) const;
  void jvp(Context& ctx, const Tensor& dx, Tensor& dy) const;
  void vjp(Context& ctx, const State& state, const Tensor& gy, Tensor& gx, bool accumulate, bool param_grads) const;

 private:
  void run(Context& ctx, const Tensor& x, Tensor& y, State* state, bool jvp) const;
  Resample direction_ = Resample::none;
  int dims_ = 2;
  bool with_conv_ = false;
  Conv conv_;
};

}  // namespace tweedie::nn
