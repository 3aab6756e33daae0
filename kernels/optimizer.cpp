#include "kernels/optimizer.h"

#include <cmath>

#include "runtime/check.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

namespace tweedie {

AdamWStep AdamWStep::at(double lr, double beta1, double beta2, double eps, double weight_decay, std::int64_t step,
                        double grad_scale) {
  if (step < 1) throw ArgumentError(cat("AdamW: step ", step, "; steps count from 1"));
  AdamWStep s;
  s.lr = float(lr);
  s.beta1 = float(beta1);
  s.beta2 = float(beta2);
  s.eps = float(eps);
  s.weight_decay = float(weight_decay);
  s.bias1 = float(1.0 - std::pow(beta1, double(step)));
  s.sqrt_bias2 = float(std::sqrt(1.0 - std::pow(beta2, double(step))));
  s.grad_scale = float(grad_scale);
  return s;
}

void adamw_update(Context& ctx, const AdamWStep& s, const Tensor& grad, Tensor& param, Tensor& m, Tensor& v) {
  const char* op = "adamw_update";
  expect_tensor(ctx, op, "param", param);
  for (auto [name, t] : {std::pair<const char*, const Tensor*>{"grad", &grad}, {"m", &m}, {"v", &v}}) {
    expect_tensor(ctx, op, name, *t);
    expect_same_shape(op, "param", param, name, *t);
  }
  for_each(ctx, param.numel(), AdamWMap{s, grad.data<float>(), param.data<float>(), m.data<float>(), v.data<float>()});
}

void ema_update(Context& ctx, float decay, const Tensor& param, Tensor& ema) {
  expect_tensor(ctx, "ema_update", "param", param);
  expect_tensor(ctx, "ema_update", "ema", ema);
  expect_same_shape("ema_update", "param", param, "ema", ema);
  for_each(ctx, param.numel(), EmaMap{decay, param.data<float>(), ema.data<float>()});
}

}  // namespace tweedie
