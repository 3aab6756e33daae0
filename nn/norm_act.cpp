#include "nn/norm_act.h"

#include <cmath>

#include "kernels/axpby.h"
#include "kernels/channel_ops.h"
#include "kernels/reduce.h"
#include "runtime/check.h"
#include "runtime/parallel.h"

namespace tweedie::nn {
namespace {

// Host loops: one task per (item, group). A group's channels are contiguous in (N, C, S) memory.

template <bool silu>
void forward_host(Context& ctx, const NormActGeometry& g, float eps, const float* x, const float* w, const float* b,
                  const float* mod, float* y, float* mean_out, float* rstd_out) {
  const std::int64_t cg = g.channels / g.groups, S = g.spatial, M = g.per_group();
  parallel_for(
      ctx.threads(), g.batch * g.groups,
      [&](std::int64_t task) {
        std::int64_t n = task / g.groups, c0 = task % g.groups * cg, base = (n * g.channels + c0) * S;
        Moments m = block_moments(x + base, M);
        float mean = float(m.mean), rstd = float(1.0 / std::sqrt(m.m2 / double(M) + double(eps)));
        if (mean_out) mean_out[task] = mean, rstd_out[task] = rstd;
        for (std::int64_t c = 0; c < cg; ++c) {
          ChannelAffine k = channel_affine(w, b, mod, g.channels, n, c0 + c);
          const float* xr = x + base + c * S;
          float* yr = y + base + c * S;
#pragma omp simd
          for (std::int64_t s = 0; s < S; ++s) yr[s] = norm_act_value((xr[s] - mean) * rstd * k.a + k.b, silu);
        }
      },
      1);
}

template <bool silu>
void jvp_host(Context& ctx, const NormActGeometry& g, const float* x, const float* mean, const float* rstd,
              const float* w, const float* b, const float* mod, const float* dx, float* dy) {
  const std::int64_t cg = g.channels / g.groups, S = g.spatial, M = g.per_group();
  parallel_for(
      ctx.threads(), g.batch * g.groups,
      [&](std::int64_t task) {
        std::int64_t bt = task / g.groups, grp = task % g.groups, n = bt % g.items, c0 = grp * cg;
        std::int64_t stat = n * g.groups + grp;
        const float* xs = x + (n * g.channels + c0) * S;
        const float* ds = dx + (bt * g.channels + c0) * S;
        float mu = mean[stat], r = rstd[stat];
        double s1 = 0, s2 = 0;
#pragma omp simd reduction(+ : s1, s2)
        for (std::int64_t i = 0; i < M; ++i) {
          s1 += ds[i];
          s2 += double(ds[i]) * ((xs[i] - mu) * r);
        }
        float m1 = float(s1 / double(M)), m2 = float(s2 / double(M));
        for (std::int64_t c = 0; c < cg; ++c) {
          ChannelAffine k = channel_affine(w, b, mod, g.channels, n, c0 + c);
          const float* xr = xs + c * S;
          const float* dr = ds + c * S;
          float* out = dy + (bt * g.channels + c0 + c) * S;
#pragma omp simd
          for (std::int64_t s = 0; s < S; ++s) {
            float xh = (xr[s] - mu) * r;
            float dxh = r * (dr[s] - m1 - xh * m2);
            out[s] = norm_act_slope(xh * k.a + k.b, silu) * k.a * dxh;
          }
        }
      },
      1);
}

// Two passes per group: the first forms the cotangent of u (kept in `scratch`, laid out like gy) and
// the group sums the normalisation's adjoint needs; the second applies that adjoint.
template <bool silu>
void vjp_host(Context& ctx, const NormActGeometry& g, const float* x, const float* mean, const float* rstd,
              const float* w, const float* b, const float* mod, const float* gy, float* gx, bool accumulate,
              float* g_mod, double* gw_nc, double* gb_nc, float* scratch) {
  const std::int64_t cg = g.channels / g.groups, S = g.spatial, M = g.per_group(), C = g.channels;
  parallel_for(
      ctx.threads(), g.items * g.groups,
      [&](std::int64_t task) {
        std::int64_t n = task / g.groups, c0 = task % g.groups * cg, base = (n * C + c0) * S;
        float mu = mean[task], r = rstd[task];
        double s1 = 0, s2 = 0;
        for (std::int64_t c = 0; c < cg; ++c) {
          ChannelAffine k = channel_affine(w, b, mod, C, n, c0 + c);
          const float* xr = x + base + c * S;
          const float* gr = gy + base + c * S;
          float* gu = scratch + base + c * S;
          double p = 0, q = 0;  // sums of gu * x_hat and of gu over the channel
#pragma omp simd reduction(+ : p, q)
          for (std::int64_t s = 0; s < S; ++s) {
            float xh = (xr[s] - mu) * r;
            gu[s] = gr[s] * norm_act_slope(xh * k.a + k.b, silu);
            p += double(gu[s]) * xh;
            q += gu[s];
          }
          // gx_hat = gu * a, so its group sums follow from p and q.
          s1 += k.a * q;
          s2 += k.a * p;
          std::int64_t nc = n * C + c0 + c;
          if (gw_nc) gw_nc[nc] = k.one_plus_scale * p, gb_nc[nc] = k.one_plus_scale * q;
          if (g_mod) {
            g_mod[n * 2 * C + c0 + c] = float(w[c0 + c] * p + b[c0 + c] * q);
            g_mod[n * 2 * C + C + c0 + c] = float(q);
          }
        }
        float m1 = float(s1 / double(M)), m2 = float(s2 / double(M));
        for (std::int64_t c = 0; c < cg; ++c) {
          float a = channel_affine(w, b, mod, C, n, c0 + c).a;
          const float* xr = x + base + c * S;
          const float* gu = scratch + base + c * S;
          float* out = gx + base + c * S;
#pragma omp simd
          for (std::int64_t s = 0; s < S; ++s) {
            float v = r * (gu[s] * a - m1 - (xr[s] - mu) * r * m2);
            out[s] = accumulate ? out[s] + v : v;
          }
        }
      },
      1);
}

NormActGeometry geometry_of(const Tensor& t, std::int64_t items, std::int64_t groups) {
  return {t.dim(0), items, t.dim(1), t.shape().stride(1), groups};
}

const float* optional(const Tensor& t) { return t.defined() ? t.data<float>() : nullptr; }

}  // namespace

NormAct::NormAct(ParameterSet& params, const std::string& prefix, const NormActSpec& spec) : name_(prefix), spec_(spec) {
  if (spec.channels < 1 || spec.groups < 1 || spec.channels % spec.groups)
    throw ArgumentError(cat(prefix, ": GroupNorm needs channels divisible by groups, got ", spec.channels, " channels in ",
                            spec.groups, " groups"));
  weight_ = params.add(prefix + ".weight", {spec.channels});
  bias_ = params.add(prefix + ".bias", {spec.channels});
}

void NormAct::check(Context& ctx, const Tensor& x, const Tensor& modulation) const {
  expect_tensor(ctx, name_.c_str(), "x", x);
  if (x.rank() < 2 || x.dim(1) != spec_.channels)
    throw ShapeError(cat(name_, ": input ", x.str(), " does not have ", spec_.channels, " channels"));
  if (modulation.defined()) {
    expect_tensor(ctx, name_.c_str(), "modulation", modulation);
    expect_shape(name_.c_str(), "modulation", modulation, {x.dim(0), 2 * spec_.channels});
  }
}

void NormAct::run_forward(Context& ctx, const Tensor& x, const Tensor& modulation, Tensor& y, Tensor* mean, Tensor* rstd) const {
  check(ctx, x, modulation);
  expect_tensor(ctx, name_.c_str(), "y", y);
  expect_same_shape(name_.c_str(), "x", x, "y", y);
  NormActGeometry g = geometry_of(x, x.dim(0), spec_.groups);
  Workspace::Scope scratch(ctx.workspace());
  float* pm = mean ? mean->data<float>() : scratch.take<float>(g.batch * g.groups);
  float* pr = rstd ? rstd->data<float>() : scratch.take<float>(g.batch * g.groups);
  const float *px = x.data<float>(), *pw = weight_->value.data<float>(), *pb = bias_->value.data<float>();
  const float* pmod = optional(modulation);
  if (ctx.on_cuda()) {
#if TWEEDIE_HAS_CUDA
    detail::norm_act_forward_cuda(ctx, g, spec_, px, pw, pb, pmod, y.data<float>(), pm, pr);
#endif
  } else if (spec_.silu) {
    forward_host<true>(ctx, g, spec_.eps, px, pw, pb, pmod, y.data<float>(), pm, pr);
  } else {
    forward_host<false>(ctx, g, spec_.eps, px, pw, pb, pmod, y.data<float>(), pm, pr);
  }
}

void NormAct::forward(Context& ctx, const Tensor& x, const Tensor& modulation, Tensor& y) const {
  run_forward(ctx, x, modulation, y, nullptr, nullptr);
}

void NormAct::linearize(Context& ctx, const Tensor& x, const Tensor& modulation, Tensor& y, State& state) const {
  state.x = x;
  state.modulation = modulation;
  state.mean = Tensor::empty({x.dim(0) * spec_.groups}, x.device());
  state.rstd = Tensor::empty({x.dim(0) * spec_.groups}, x.device());
  run_forward(ctx, x, modulation, y, &state.mean, &state.rstd);
}

void NormAct::jvp(Context& ctx, const State& state, const Tensor& dx, Tensor& dy) const {
  expect_tensor(ctx, name_.c_str(), "dx", dx);
  expect_tensor(ctx, name_.c_str(), "dy", dy);
  expect_same_shape(name_.c_str(), "dx", dx, "dy", dy);
  std::int64_t items = state.x.dim(0);
  bool fits = dx.rank() == state.x.rank() && dx.numel() % state.x.numel() == 0 && dx.dim(0) % items == 0;
  for (int d = 1; fits && d < dx.rank(); ++d) fits = dx.dim(d) == state.x.dim(d);
  if (!fits) throw ShapeError(cat(name_, ": tangent ", dx.str(), " is not a whole number of copies of the input ", state.x.str()));
  NormActGeometry g = geometry_of(dx, items, spec_.groups);
  const float *px = state.x.data<float>(), *pm = state.mean.data<float>(), *pr = state.rstd.data<float>();
  const float *pw = weight_->value.data<float>(), *pb = bias_->value.data<float>(), *pmod = optional(state.modulation);
  if (ctx.on_cuda()) {
#if TWEEDIE_HAS_CUDA
    detail::norm_act_jvp_cuda(ctx, g, spec_, px, pm, pr, pw, pb, pmod, dx.data<float>(), dy.data<float>());
#endif
  } else if (spec_.silu) jvp_host<true>(ctx, g, px, pm, pr, pw, pb, pmod, dx.data<float>(), dy.data<float>());
  else jvp_host<false>(ctx, g, px, pm, pr, pw, pb, pmod, dx.data<float>(), dy.data<float>());
}

void NormAct::vjp(Context& ctx, const State& state, const Tensor& gy, Tensor& gx, bool accumulate, Tensor* g_modulation,
                  bool param_grads) const {
  expect_tensor(ctx, name_.c_str(), "gy", gy);
  expect_tensor(ctx, name_.c_str(), "gx", gx);
  expect_same_shape(name_.c_str(), "x", state.x, "gy", gy);
  expect_same_shape(name_.c_str(), "x", state.x, "gx", gx);
  float* pgm = nullptr;
  if (g_modulation && state.modulation.defined()) {
    expect_tensor(ctx, name_.c_str(), "g_modulation", *g_modulation);
    expect_same_shape(name_.c_str(), "modulation", state.modulation, "g_modulation", *g_modulation);
    pgm = g_modulation->data<float>();
  }
  NormActGeometry g = geometry_of(gy, gy.dim(0), spec_.groups);
  Workspace::Scope scratch(ctx.workspace());
  double* gw_nc = param_grads ? scratch.take<double>(g.items * g.channels) : nullptr;
  double* gb_nc = param_grads ? scratch.take<double>(g.items * g.channels) : nullptr;
  float* gu = ctx.on_cuda() ? nullptr : scratch.take<float>(gy.numel());
  const float *px = state.x.data<float>(), *pm = state.mean.data<float>(), *pr = state.rstd.data<float>();
  const float *pw = weight_->value.data<float>(), *pb = bias_->value.data<float>(), *pmod = optional(state.modulation);
  if (ctx.on_cuda()) {
#if TWEEDIE_HAS_CUDA
    detail::norm_act_vjp_cuda(ctx, g, spec_, px, pm, pr, pw, pb, pmod, gy.data<float>(), gx.data<float>(), accumulate, pgm, gw_nc, gb_nc);
#endif
  } else if (spec_.silu)
    vjp_host<true>(ctx, g, px, pm, pr, pw, pb, pmod, gy.data<float>(), gx.data<float>(), accumulate, pgm, gw_nc, gb_nc, gu);
  else
    vjp_host<false>(ctx, g, px, pm, pr, pw, pb, pmod, gy.data<float>(), gx.data<float>(), accumulate, pgm, gw_nc, gb_nc, gu);
  if (param_grads) {
    for_each(ctx, g.channels, AddChannelSums{gw_nc, weight_->gradient().data<float>(), g.items, g.channels, false});
    for_each(ctx, g.channels, AddChannelSums{gb_nc, bias_->gradient().data<float>(), g.items, g.channels, false});
  }
}

}  // namespace tweedie::nn
