#include "nn/attention.h"

#include <cmath>

#include "kernels/axpby.h"
#include "kernels/gemm.h"
#include "kernels/softmax.h"
#include "runtime/check.h"

namespace tweedie::nn {
namespace {

// Where the q, k and v of each head of one item sit in that item's (3C, T) block of qkv.
struct HeadLayout {
  std::int64_t heads, ch, tokens;
  bool legacy;
  std::int64_t head_stride() const { return (legacy ? 3 * ch : ch) * tokens; }  // from head h to h+1
  std::int64_t k_offset() const { return (legacy ? ch : heads * ch) * tokens; }  // from q to k
  std::int64_t v_offset() const { return 2 * k_offset(); }
  std::int64_t item() const { return 3 * heads * ch * tokens; }                  // one item's qkv
  std::int64_t out_item() const { return heads * ch * tokens; }                  // one item's (C, T)
};

// S = scale * q^T k for every head of one item: (heads, T, T).
void scores(Context& ctx, const HeadLayout& l, const float* q, const float* k, float* s, float scale, float beta) {
  gemm(ctx, {.trans_a = true, .m = l.tokens, .n = l.tokens, .k = l.ch, .alpha = scale, .a = q, .lda = l.tokens,
             .stride_a = l.head_stride(), .b = k, .ldb = l.tokens, .stride_b = l.head_stride(), .beta = beta, .c = s,
             .ldc = l.tokens, .stride_c = l.tokens * l.tokens, .batch = l.heads});
}

// out = v A^T (+ beta out) for every head of one item: out is (heads * ch, T).
void mix(Context& ctx, const HeadLayout& l, const float* v, std::int64_t v_stride, const float* a, float* out, float beta) {
  gemm(ctx, {.trans_b = true, .m = l.ch, .n = l.tokens, .k = l.tokens, .a = v, .lda = l.tokens, .stride_a = v_stride,
             .b = a, .ldb = l.tokens, .stride_b = l.tokens * l.tokens, .beta = beta, .c = out, .ldc = l.tokens,
             .stride_c = l.ch * l.tokens, .batch = l.heads});
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
  HeadLayout l{spec_.heads, C / spec_.heads, T, spec_.legacy_order};
  Device dev = x.device();
  Tensor x3 = x.reshape({n, C, T});
  Tensor h = Tensor::empty({n, C, T}, dev), qkv = Tensor::empty({n, 3 * C, T}, dev), a = Tensor::empty({n, C, T}, dev);
  Tensor weights = Tensor::empty({n, spec_.heads, T, T}, dev);
  if (state) {
    norm_.linearize(ctx, x3, Tensor(), h, state->norm);
    qkv_.linearize(ctx, h, qkv, state->qkv);
  } else {
    norm_.forward(ctx, x3, Tensor(), h);
    qkv_.forward(ctx, h, qkv);
  }
  float scale = float(1.0 / std::sqrt(double(l.ch)));
  const float* pq = qkv.data<float>();
  float* pw = weights.data<float>();
  for (std::int64_t i = 0; i < n; ++i)
    scores(ctx, l, pq + i * l.item(), pq + i * l.item() + l.k_offset(), pw + i * l.heads * T * T, scale, 0.0f);
  softmax_rows(ctx, weights, weights);
  for (std::int64_t i = 0; i < n; ++i)
    mix(ctx, l, pq + i * l.item() + l.v_offset(), l.head_stride(), pw + i * l.heads * T * T, a.data<float>() + i * l.out_item(), 0.0f);
  Tensor y3 = y.reshape({n, C, T});
  if (state) {
    proj_.linearize(ctx, a, y3, state->proj);
    state->qkv_out = qkv;
    state->weights = weights;
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
  HeadLayout l{spec_.heads, C / spec_.heads, T, spec_.legacy_order};
  Device dev = dx.device();
  Tensor dx3 = dx.reshape({b, C, T});
  Tensor dh = Tensor::empty({b, C, T}, dev), dqkv = Tensor::empty({b, 3 * C, T}, dev), da = Tensor::empty({b, C, T}, dev);
  norm_.jvp(ctx, state.norm, dx3, dh);
  qkv_.jvp(ctx, dh, dqkv);
  float scale = float(1.0 / std::sqrt(double(l.ch)));
  Tensor ds = Tensor::empty({spec_.heads, T, T}, dev);  // one tangent item at a time
  const float *q = qkv.data<float>(), *dq = dqkv.data<float>(), *w = state.weights.data<float>();
  for (std::int64_t i = 0; i < b; ++i) {
    std::int64_t s = i % items;  // the item this tangent belongs to
    const float *qi = q + s * l.item(), *dqi = dq + i * l.item(), *wi = w + s * l.heads * T * T;
    float* dai = da.data<float>() + i * l.out_item();
    // dS = scale (dq^T k + q^T dk);  dA = softmax'(dS);  da = dv A^T + v dA^T
    scores(ctx, l, dqi, qi + l.k_offset(), ds.data<float>(), scale, 0.0f);
    scores(ctx, l, qi, dqi + l.k_offset(), ds.data<float>(), scale, 1.0f);
    softmax_rows_derivative(ctx, state.weights.slice(s, 1).reshape({l.heads, T, T}), ds, ds);
    mix(ctx, l, dqi + l.v_offset(), l.head_stride(), wi, dai, 0.0f);
    mix(ctx, l, qi + l.v_offset(), l.head_stride(), ds.data<float>(), dai, 1.0f);
  }
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
  HeadLayout l{spec_.heads, C / spec_.heads, T, spec_.legacy_order};
  Device dev = gy.device();
  Tensor gy3 = gy.reshape({n, C, T}), gx3 = gx.reshape({n, C, T});
  Tensor ga = Tensor::empty({n, C, T}, dev), gqkv = Tensor::empty({n, 3 * C, T}, dev), gh = Tensor::empty({n, C, T}, dev);
  proj_.vjp(ctx, state.proj, gy3, ga, false, param_grads);
  float scale = float(1.0 / std::sqrt(double(l.ch)));
  Tensor gs = Tensor::empty({spec_.heads, T, T}, dev);
  const float *q = qkv.data<float>(), *w = state.weights.data<float>();
  float* gq = gqkv.data<float>();
  for (std::int64_t i = 0; i < n; ++i) {
    const float *qi = q + i * l.item(), *wi = w + i * l.heads * T * T, *gai = ga.data<float>() + i * l.out_item();
    float* gqi = gq + i * l.item();
    float* pgs = gs.data<float>();
    std::int64_t hs = l.head_stride(), TT = T * T;
    // gv = ga A
    gemm(ctx, {.m = l.ch, .n = T, .k = T, .a = gai, .lda = T, .stride_a = l.ch * T, .b = wi, .ldb = T, .stride_b = TT,
               .c = gqi + l.v_offset(), .ldc = T, .stride_c = hs, .batch = l.heads});
    // gA = ga^T v, then gS = softmax'(gA)
    gemm(ctx, {.trans_a = true, .m = T, .n = T, .k = l.ch, .a = gai, .lda = T, .stride_a = l.ch * T, .b = qi + l.v_offset(),
               .ldb = T, .stride_b = hs, .c = pgs, .ldc = T, .stride_c = TT, .batch = l.heads});
    softmax_rows_derivative(ctx, state.weights.slice(i, 1).reshape({l.heads, T, T}), gs, gs);
    // gq = scale k gS^T,  gk = scale q gS
    gemm(ctx, {.trans_b = true, .m = l.ch, .n = T, .k = T, .alpha = scale, .a = qi + l.k_offset(), .lda = T, .stride_a = hs,
               .b = pgs, .ldb = T, .stride_b = TT, .c = gqi, .ldc = T, .stride_c = hs, .batch = l.heads});
    gemm(ctx, {.m = l.ch, .n = T, .k = T, .alpha = scale, .a = qi, .lda = T, .stride_a = hs, .b = pgs, .ldb = T,
               .stride_b = TT, .c = gqi + l.k_offset(), .ldc = T, .stride_c = hs, .batch = l.heads});
  }
  qkv_.vjp(ctx, state.qkv, gqkv, gh, false, param_grads);
  // gx = gy (the residual) + the norm's cotangent
  if (accumulate) axpby(ctx, 1.0f, gy3, 1.0f, gx3);
  else gx3.copy_from(gy3);
  norm_.vjp(ctx, state.norm, gh, gx3, true, nullptr, param_grads);
}

}  // namespace tweedie::nn
