#include "nn/attention.h"

#include <cmath>

#include "kernels/attention.h"
#include "kernels/axpby.h"
#include "runtime/check.h"

namespace tweedie::nn {
namespace {

// Where the q, k and v of each head sit in an item's (3C, T) block of qkv, in guided-diffusion's
// legacy order (per head: q, k, v) or its new one (all q, then all k, then all v).
AttentionLayout layout_of(const AttentionSpec& spec, std::int64_t items, std::int64_t tokens) {
  std::int64_t ch = spec.channels / spec.heads, block = ch * tokens;
  bool legacy = spec.legacy_order;
  return {.items = items, .heads = spec.heads, .ch = ch, .tokens = tokens,
          .head_stride = legacy ? 3 * block : block, .k_offset = legacy ? block : spec.heads * block,
          .v_offset = legacy ? 2 * block : 2 * spec.heads * block, .scale = float(1.0 / std::sqrt(double(ch)))};
}

}  // namespace

Attention::Attention(ParameterSet& params, const std::string& prefix, const AttentionSpec& spec)
    : name_(prefix), spec_(spec),
      norm_(params, prefix + ".norm", {spec.channels, 32, 1e-5f, false}),
      qkv_(params, prefix + ".qkv", {1, spec.channels, 3 * spec.channels, 1, 1, 0, true}),
      proj_(params, prefix + ".proj_out", {1, spec.channels, spec.channels, 1, 1, 0, true}) {
  if (spec.heads < 1 || spec.channels % spec.heads)
    throw ArgumentError(cat(prefix, ": ", spec.channels, " channels do not split into ", spec.heads, " heads"));
}

void Attention::run(Context& ctx, const Tensor& x, Tensor& y, State* state) const {
  expect_tensor(ctx, name_.c_str(), "x", x);
  expect_same_shape(name_.c_str(), "x", x, "y", y);
  if (x.rank() < 3 || x.dim(1) != spec_.channels)
    throw ShapeError(cat(name_, ": input ", x.str(), " is not (N, ", spec_.channels, ", ...)"));
  std::int64_t n = x.dim(0), C = spec_.channels, T = x.numel() / (n * C);
  Device dev = x.device();
  Tensor x3 = x.reshape({n, C, T});
  Tensor h = Tensor::empty({n, C, T}, dev), qkv = Tensor::empty({n, 3 * C, T}, dev), a = Tensor::empty({n, C, T}, dev);
  if (state) {
    norm_.linearize(ctx, x3, Tensor(), h, state->norm);
    qkv_.linearize(ctx, h, qkv, state->qkv);
    state->row_stats = Tensor::empty({n, spec_.heads, T, 2}, dev);
  } else {
    norm_.forward(ctx, x3, Tensor(), h);
    qkv_.forward(ctx, h, qkv);
  }
  attend(ctx, layout_of(spec_, n, T), qkv.data<float>(), a.data<float>(), state ? state->row_stats.data<float>() : nullptr);
  Tensor y3 = y.reshape({n, C, T});
  if (state) {
    proj_.linearize(ctx, a, y3, state->proj);
    state->qkv_out = qkv;
  } else {
    proj_.forward(ctx, a, y3);
  }
  axpby(ctx, 1.0f, x3, 1.0f, y3);
}

void Attention::forward(Context& ctx, const Tensor& x, Tensor& y) const { run(ctx, x, y, nullptr); }
void Attention::linearize(Context& ctx, const Tensor& x, Tensor& y, State& state) const { run(ctx, x, y, &state); }

void Attention::jvp(Context& ctx, const State& state, const Tensor& dx, Tensor& dy) const {
  expect_tensor(ctx, name_.c_str(), "dx", dx);
  expect_same_shape(name_.c_str(), "dx", dx, "dy", dy);
  const Tensor& qkv = state.qkv_out;
  std::int64_t items = qkv.dim(0), C = spec_.channels, T = qkv.dim(2), b = dx.dim(0);
  Device dev = dx.device();
  Tensor dx3 = dx.reshape({b, C, T});
  Tensor dh = Tensor::empty({b, C, T}, dev), dqkv = Tensor::empty({b, 3 * C, T}, dev), da = Tensor::empty({b, C, T}, dev);
  norm_.jvp(ctx, state.norm, dx3, dh);
  qkv_.jvp(ctx, dh, dqkv);
  attend_jvp(ctx, layout_of(spec_, items, T), qkv.data<float>(), state.row_stats.data<float>(), dqkv.data<float>(), b,
             da.data<float>());
  Tensor dy3 = dy.reshape({b, C, T});
  proj_.jvp(ctx, da, dy3);
  axpby(ctx, 1.0f, dx3, 1.0f, dy3);
}

void Attention::vjp(Context& ctx, const State& state, const Tensor& gy, Tensor& gx, bool accumulate, bool param_grads) const {
  expect_tensor(ctx, name_.c_str(), "gy", gy);
  expect_same_shape(name_.c_str(), "gy", gy, "gx", gx);
  const Tensor& qkv = state.qkv_out;
  std::int64_t n = qkv.dim(0), C = spec_.channels, T = qkv.dim(2);
  if (gy.dim(0) != n) throw ShapeError(cat(name_, ": cotangent ", gy.str(), " does not match the linearized batch ", n));
  Device dev = gy.device();
  Tensor gy3 = gy.reshape({n, C, T}), gx3 = gx.reshape({n, C, T});
  Tensor ga = Tensor::empty({n, C, T}, dev), gqkv = Tensor::empty({n, 3 * C, T}, dev), gh = Tensor::empty({n, C, T}, dev);
  proj_.vjp(ctx, state.proj, gy3, ga, false, param_grads);
  attend_vjp(ctx, layout_of(spec_, n, T), qkv.data<float>(), state.row_stats.data<float>(), ga.data<float>(), gqkv.data<float>());
  qkv_.vjp(ctx, state.qkv, gqkv, gh, false, param_grads);
  // gx = gy (the residual) + the norm's cotangent
  if (accumulate) axpby(ctx, 1.0f, gy3, 1.0f, gx3);
  else gx3.copy_from(gy3);
  norm_.vjp(ctx, state.norm, gh, gx3, true, nullptr, param_grads);
}

}  // namespace tweedie::nn
