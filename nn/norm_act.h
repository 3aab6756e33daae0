#pragma once
// GroupNorm, optional scale-shift modulation and optional SiLU, fused:
//
//   x_hat = (x - mean_g) * rstd_g                 per item and group of channels (stats in double)
//   u     = x_hat * weight_c * (1 + scale_nc) + bias_c * (1 + scale_nc) + shift_nc
//   y     = silu(u)  (or u)
//
// ADM's normalization(ch) is GroupNorm(32, ch, eps 1e-5); its ResBlocks apply GN -> (scale-shift) ->
// SiLU. One pass over memory instead of three, for the forward, the tangent and the cotangent. The
// modulation (N, 2C) holds scale in its first C columns and shift in the last C (torch.chunk order);
// it comes from the time embedding, so tangents (which are taken in x) do not move it.
#include <cstdint>
#include <string>

#include "kernels/map.h"
#include "nn/parameter.h"
#include "runtime/context.h"
#include "runtime/hd.h"
#include "runtime/tensor.h"

namespace tweedie::nn {

struct NormActSpec {
  std::int64_t channels = 0;
  std::int64_t groups = 32;
  float eps = 1e-5f;
  bool silu = true;
};

class NormAct {
 public:
  NormAct() = default;
  // Creates `prefix.weight` and `prefix.bias` (C).
  NormAct(ParameterSet& params, const std::string& prefix, const NormActSpec& spec);

  struct State {
    Tensor x;           // the input
    Tensor mean, rstd;  // (N * groups)
    Tensor modulation;  // (N, 2C) or undefined
  };
  // x is (N, C, ...). modulation is (N, 2C) or an undefined tensor for none.
  void forward(Context& ctx, const Tensor& x, const Tensor& modulation, Tensor& y) const;
  void linearize(Context& ctx, const Tensor& x, const Tensor& modulation, Tensor& y, State& state) const;
  // dy from dx; dx may hold several tangents per item: batch k*N, tangent b belonging to item b % N.
  void jvp(Context& ctx, const State& state, const Tensor& dx, Tensor& dy) const;
  // gx (=, or += when accumulate) from gy. With a modulation, g_modulation (N, 2C) receives (=) its
  // cotangent when given. With param_grads, weight.grad and bias.grad accumulate.
  void vjp(Context& ctx, const State& state, const Tensor& gy, Tensor& gx, bool accumulate, Tensor* g_modulation,
           bool param_grads) const;

  const std::string& name() const { return name_; }
  const NormActSpec& spec() const { return spec_; }

 private:
  void run_forward(Context& ctx, const Tensor& x, const Tensor& modulation, Tensor& y, Tensor* mean, Tensor* rstd) const;
  void check(Context& ctx, const Tensor& x, const Tensor& modulation) const;

  std::string name_;
  NormActSpec spec_;
  Parameter* weight_ = nullptr;
  Parameter* bias_ = nullptr;
};

// ---- the per-element math, shared by the host loops and the CUDA kernels ---------------------------

// u = a x_hat + b for one (item, channel); `one_plus_scale` is kept for the weight gradients.
struct ChannelAffine {
  float a, b, one_plus_scale;
};

TW_HD inline ChannelAffine channel_affine(const float* weight, const float* bias, const float* modulation,
                                          std::int64_t channels, std::int64_t n, std::int64_t c) {
  float s = modulation ? modulation[n * 2 * channels + c] : 0.0f;
  float h = modulation ? modulation[n * 2 * channels + channels + c] : 0.0f;
  float g = 1.0f + s;
  return {weight[c] * g, bias[c] * g + h, g};
}

TW_HD inline float norm_act_value(float u, bool silu) { return silu ? siluf(u) : u; }
TW_HD inline float norm_act_slope(float u, bool silu) { return silu ? silu_gradf(u) : 1.0f; }

// Shape of the work: the tensor seen as (batch, channels, spatial), groups of channels per item.
struct NormActGeometry {
  std::int64_t batch, items, channels, spatial, groups;
  TW_HD std::int64_t per_group() const { return channels / groups * spatial; }
};

namespace detail {
// CUDA implementations (nn/norm_act_cuda.cu), same arguments as the host loops in norm_act.cpp.
void norm_act_forward_cuda(Context& ctx, const NormActGeometry& g, const NormActSpec& s, const float* x,
                           const float* weight, const float* bias, const float* modulation, float* y, float* mean,
                           float* rstd);
void norm_act_jvp_cuda(Context& ctx, const NormActGeometry& g, const NormActSpec& s, const float* x, const float* mean,
                       const float* rstd, const float* weight, const float* bias, const float* modulation,
                       const float* dx, float* dy);
void norm_act_vjp_cuda(Context& ctx, const NormActGeometry& g, const NormActSpec& s, const float* x, const float* mean,
                       const float* rstd, const float* weight, const float* bias, const float* modulation,
                       const float* gy, float* gx, bool accumulate, float* g_modulation, double* g_weight_nc,
                       double* g_bias_nc);
}  // namespace detail

}  // namespace tweedie::nn
