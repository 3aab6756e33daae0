#pragma once
// The elementwise updates of training: one AdamW step of a parameter tensor from its gradient, and the
// exponential moving average of the weights. nn/train/ builds the optimizer and the EMA on these.
//
// AdamW as PyTorch's torch.optim.AdamW computes it (so that the same run in both gives the same
// weights up to rounding), with the gradient g first multiplied by `grad_scale` (global-norm clipping):
//
//   p <- p (1 - lr wd)                                   decoupled weight decay
//   m <- b1 m + (1 - b1) g,   v <- b2 v + (1 - b2) g^2
//   p <- p - (lr / c1) m / (sqrt(v) / sqrt(c2) + eps),    c1 = 1 - b1^step, c2 = 1 - b2^step
//
// The per-step scalars (lr, the bias corrections) are formed in double by the caller; m and v are f32.
#include <cstdint>

#include "runtime/context.h"
#include "runtime/hd.h"
#include "runtime/tensor.h"

namespace tweedie {

// The scalars of one step; step counts from 1.
struct AdamWStep {
  float lr = 1e-3f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.0f;
  float bias1 = 1.0f;       // 1 - beta1^step
  float sqrt_bias2 = 1.0f;  // sqrt(1 - beta2^step)
  float grad_scale = 1.0f;  // clipping factor applied to g
  static AdamWStep at(double lr, double beta1, double beta2, double eps, double weight_decay, std::int64_t step,
                      double grad_scale);
};

// Updates param, m and v (f32 tensors of one shape, on ctx's device) in place from grad.
void adamw_update(Context& ctx, const AdamWStep& s, const Tensor& grad, Tensor& param, Tensor& m, Tensor& v);

// ema <- decay ema + (1 - decay) param.
void ema_update(Context& ctx, float decay, const Tensor& param, Tensor& ema);

TW_HD inline void adamw_element(const AdamWStep& s, float g, float& p, float& m, float& v) {
  g *= s.grad_scale;
  p *= 1.0f - s.lr * s.weight_decay;
  m = s.beta1 * m + (1.0f - s.beta1) * g;
  v = s.beta2 * v + (1.0f - s.beta2) * g * g;
  p -= (s.lr / s.bias1) * m / (sqrtf(v) / s.sqrt_bias2 + s.eps);
}

struct AdamWMap {
  AdamWStep s;
  const float* grad;
  float *param, *m, *v;
  TW_HD void operator()(std::int64_t i) const { adamw_element(s, grad[i], param[i], m[i], v[i]); }
};

struct EmaMap {
  float decay;
  const float* param;
  float* ema;
  // ema + (1 - decay)(param - ema): the form that leaves ema exactly unchanged when param == ema.
  TW_HD void operator()(std::int64_t i) const { ema[i] += (1.0f - decay) * (param[i] - ema[i]); }
};

}  // namespace tweedie
