#include "nn/resblock.h"

#include "kernels/axpby.h"
#include "kernels/channel_ops.h"

namespace tweedie::nn {

ResBlock::ResBlock(ParameterSet& params, const std::string& prefix, const ResBlockSpec& spec)
    : spec_(spec),
      in_norm_(params, prefix + ".in_layers.0", {spec.in, 32, 1e-5f, true}),
      out_norm_(),
      in_conv_(params, prefix + ".in_layers.2", {spec.dims, spec.in, spec.out, 3, 1, 1, true}),
      emb_(params, prefix + ".emb_layers.1", spec.emb, spec.scale_shift ? 2 * spec.out : spec.out) {
  // Creation order follows the PyTorch module order, so parameter listings read the same.
  out_norm_ = NormAct(params, prefix + ".out_layers.0", {spec.out, 32, 1e-5f, true});
  out_conv_ = Conv(params, prefix + ".out_layers.3", {spec.dims, spec.out, spec.out, 3, 1, 1, true});
  has_skip_conv_ = spec.in != spec.out;
  if (has_skip_conv_) skip_ = Conv(params, prefix + ".skip_connection", {spec.dims, spec.in, spec.out, 1, 1, 0, true});
}

Shape ResBlock::output_shape(const Shape& x) const {
  return in_conv_.output_shape(resampled_shape(spec_.resample, spec_.dims, x));
}

void ResBlock::run(Context& ctx, const Tensor& x, const Tensor& emb_act, Tensor& y, State* state) const {
  Device dev = x.device();
  Shape xr_shape = resampled_shape(spec_.resample, spec_.dims, x.shape());
  Shape h_shape = output_shape(x.shape());
  Tensor h0 = Tensor::empty(x.shape(), dev), h1 = Tensor::empty(h_shape, dev), h2 = Tensor::empty(h_shape, dev);
  Tensor e = Tensor::empty({x.dim(0), emb_.out()}, dev);
  Tensor h0r = h0, xr = x;
  if (spec_.resample != Resample::none) {
    h0r = Tensor::empty(xr_shape, dev);
    xr = Tensor::empty(xr_shape, dev);
  }
  if (state) {
    state->x = x.shape();
    in_norm_.linearize(ctx, x, Tensor(), h0, state->in_norm);
  } else {
    in_norm_.forward(ctx, x, Tensor(), h0);
  }
  if (spec_.resample != Resample::none) {
    resample(ctx, spec_.resample, spec_.dims, h0, h0r);
    resample(ctx, spec_.resample, spec_.dims, x, xr);
  }
  if (state) {
    in_conv_.linearize(ctx, h0r, h1, state->in_conv);
    emb_.linearize(ctx, emb_act, e, state->emb);
  } else {
    in_conv_.forward(ctx, h0r, h1);
    emb_.forward(ctx, emb_act, e);
  }
  Tensor modulation;
  if (spec_.scale_shift) modulation = e;
  else add_channel_vector(ctx, h1, e);
  if (state) {
    out_norm_.linearize(ctx, h1, modulation, h2, state->out_norm);
    out_conv_.linearize(ctx, h2, y, state->out_conv);
    state->skip.x = xr;
  } else {
    out_norm_.forward(ctx, h1, modulation, h2);
    out_conv_.forward(ctx, h2, y);
  }
  if (has_skip_conv_) {  // y += skip(x')
    Tensor s = Tensor::empty(y.shape(), dev);
    skip_.forward(ctx, xr, s);
    axpby(ctx, 1.0f, s, 1.0f, y);
  } else {
    axpby(ctx, 1.0f, xr, 1.0f, y);
  }
}

void ResBlock::forward(Context& ctx, const Tensor& x, const Tensor& emb_act, Tensor& y) const { run(ctx, x, emb_act, y, nullptr); }
void ResBlock::linearize(Context& ctx, const Tensor& x, const Tensor& emb_act, Tensor& y, State& state) const {
  run(ctx, x, emb_act, y, &state);
}

void ResBlock::jvp(Context& ctx, const State& state, const Tensor& dx, Tensor& dy) const {
  Device dev = dx.device();
  std::int64_t b = dx.dim(0);
  auto batch = [&](const Shape& s) {  // a state shape with the tangent's batch
    std::vector<std::int64_t> d(s.dims().begin(), s.dims().end());
    d[0] = b;
    return Shape(d);
  };
  Shape xr_shape = batch(state.skip.x.shape()), h_shape = batch(state.out_conv.x.shape());
  Tensor dh0 = Tensor::empty(dx.shape(), dev), dh1 = Tensor::empty(h_shape, dev), dh2 = Tensor::empty(h_shape, dev);
  in_norm_.jvp(ctx, state.in_norm, dx, dh0);
  Tensor dh0r = dh0, dxr = dx;
  if (spec_.resample != Resample::none) {
    dh0r = Tensor::empty(xr_shape, dev);
    dxr = Tensor::empty(xr_shape, dev);
    resample(ctx, spec_.resample, spec_.dims, dh0, dh0r);
    resample(ctx, spec_.resample, spec_.dims, dx, dxr);
  }
  in_conv_.jvp(ctx, dh0r, dh1);
  out_norm_.jvp(ctx, state.out_norm, dh1, dh2);
  out_conv_.jvp(ctx, dh2, dy);
  if (has_skip_conv_) {
    Tensor s = Tensor::empty(dy.shape(), dev);
    skip_.jvp(ctx, dxr, s);
    axpby(ctx, 1.0f, s, 1.0f, dy);
  } else {
    axpby(ctx, 1.0f, dxr, 1.0f, dy);
  }
}

void ResBlock::vjp(Context& ctx, const State& state, const Tensor& gy, Tensor& gx, bool accumulate, Tensor* g_emb_act,
                   bool param_grads) const {
  Device dev = gy.device();
  const Tensor& xr = state.skip.x;
  Tensor gh2 = Tensor::empty(gy.shape(), dev), gh1 = Tensor::empty(gy.shape(), dev);
  out_conv_.vjp(ctx, state.out_conv, gy, gh2, false, param_grads);
  Tensor ge = param_grads ? Tensor::zeros({gy.dim(0), emb_.out()}, dev) : Tensor();
  out_norm_.vjp(ctx, state.out_norm, gh2, gh1, false, spec_.scale_shift && param_grads ? &ge : nullptr, param_grads);
  if (param_grads) {
    if (!spec_.scale_shift) accumulate_channel_sums(ctx, gh1, ge);  // h1 + e: e's cotangent sums gh1 over space
    emb_.vjp(ctx, state.emb, ge, g_emb_act, true, true);
  }
  // Cotangent of x' from the skip path, and of the resampled h0 from in_conv.
  Tensor gxr = Tensor::empty(xr.shape(), dev), gh0r = Tensor::empty(xr.shape(), dev);
  if (has_skip_conv_) skip_.vjp(ctx, state.skip, gy, gxr, false, param_grads);
  else gxr.copy_from(gy);
  in_conv_.vjp(ctx, state.in_conv, gh1, gh0r, false, param_grads);
  Tensor gh0 = gh0r, gxs = gxr;
  if (spec_.resample != Resample::none) {
    gh0 = Tensor::empty(state.x, dev);
    gxs = Tensor::empty(state.x, dev);
    resample_adjoint(ctx, spec_.resample, spec_.dims, gh0r, gh0, false);
    resample_adjoint(ctx, spec_.resample, spec_.dims, gxr, gxs, false);
  }
  if (accumulate) axpby(ctx, 1.0f, gxs, 1.0f, gx);
  else gx.copy_from(gxs);
  in_norm_.vjp(ctx, state.in_norm, gh0, gx, true, nullptr, param_grads);
}

}  // namespace tweedie::nn
