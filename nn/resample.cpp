#include "nn/resample.h"

#include <vector>

#include "kernels/axpby.h"
#include "kernels/resample.h"
#include "runtime/check.h"

namespace tweedie::nn {

Shape resampled_shape(Resample r, int dims, const Shape& x) {
  if (r == Resample::none) return x;
  std::vector<std::int64_t> d(x.dims().begin(), x.dims().end());
  for (int a = 0; a < dims; ++a) {
    std::int64_t& e = d[std::size_t(x.rank() - 1 - a)];
    e = r == Resample::up ? 2 * e : e / 2;
  }
  return Shape(d);
}

void resample(Context& ctx, Resample r, int dims, const Tensor& x, Tensor& y) {
  if (r == Resample::none) return y.copy_from(x);
  if (dims == 2) r == Resample::up ? upsample2x(ctx, x, y) : avgpool2x(ctx, x, y);
  else r == Resample::up ? upsample1d(ctx, x, y) : avgpool1d(ctx, x, y);
}

void resample_adjoint(Context& ctx, Resample r, int dims, const Tensor& gy, Tensor& gx, bool accumulate) {
  Tensor out = accumulate ? Tensor::empty(gx.shape(), gx.device()) : gx;
  if (r == Resample::none) out.copy_from(gy);
  else if (dims == 2) r == Resample::up ? upsample2x_adjoint(ctx, gy, out) : avgpool2x_adjoint(ctx, gy, out);
  else r == Resample::up ? upsample1d_adjoint(ctx, gy, out) : avgpool1d_adjoint(ctx, gy, out);
  if (accumulate) axpby(ctx, 1.0f, out, 1.0f, gx);
}

Resampler::Resampler(ParameterSet& params, const std::string& prefix, Resample direction, int dims,
                     std::int64_t channels, bool with_conv)
    : direction_(direction), dims_(dims), with_conv_(with_conv) {
  if (!with_conv) return;
  if (direction == Resample::up) conv_ = Conv(params, prefix + ".conv", {dims, channels, channels, 3, 1, 1, true});
  else conv_ = Conv(params, prefix + ".op", {dims, channels, channels, 3, 2, 1, true});
}

Shape Resampler::output_shape(const Shape& x) const {
  if (direction_ == Resample::down && with_conv_) return conv_.output_shape(x);
  Shape r = resampled_shape(direction_, dims_, x);
  return with_conv_ ? conv_.output_shape(r) : r;
}

void Resampler::run(Context& ctx, const Tensor& x, Tensor& y, State* state, bool jvp) const {
  expect_shape("resample", "y", y, output_shape(x.shape()));
  if (state) state->x = x.shape();
  if (!with_conv_) return resample(ctx, direction_, dims_, x, y);
  auto conv = [&](const Tensor& in) {
    if (jvp) conv_.jvp(ctx, in, y);
    else if (state) conv_.linearize(ctx, in, y, state->conv);
    else conv_.forward(ctx, in, y);
  };
  if (direction_ == Resample::down) return conv(x);  // the stride-2 convolution is the whole layer
  Tensor up = Tensor::empty(resampled_shape(direction_, dims_, x.shape()), x.device());
  resample(ctx, direction_, dims_, x, up);
  conv(up);
}

void Resampler::forward(Context& ctx, const Tensor& x, Tensor& y) const { run(ctx, x, y, nullptr, false); }
void Resampler::linearize(Context& ctx, const Tensor& x, Tensor& y, State& state) const { run(ctx, x, y, &state, false); }
void Resampler::jvp(Context& ctx, const Tensor& dx, Tensor& dy) const { run(ctx, dx, dy, nullptr, true); }

void Resampler::vjp(Context& ctx, const State& state, const Tensor& gy, Tensor& gx, bool accumulate, bool param_grads) const {
  expect_shape("resample", "gx", gx, state.x);
  if (!with_conv_) return resample_adjoint(ctx, direction_, dims_, gy, gx, accumulate);
  if (direction_ == Resample::down) return conv_.vjp(ctx, state.conv, gy, gx, accumulate, param_grads);
  Tensor gup = Tensor::empty(resampled_shape(direction_, dims_, state.x), gy.device());
  conv_.vjp(ctx, state.conv, gy, gup, false, param_grads);
  resample_adjoint(ctx, direction_, dims_, gup, gx, accumulate);
}

}  // namespace tweedie::nn
