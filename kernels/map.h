#pragma once
// Elementwise maps over f32 tensors of any shape: y = f(x) and y = f(a, b). Outputs may be inputs
// (in place). The per-element math below is the single definition both the host loop and the CUDA
// kernel run.
#include <cmath>
#include <cstdint>

#include "runtime/context.h"
#include "runtime/elementary.h"
#include "runtime/hd.h"
#include "runtime/tensor.h"

namespace tweedie {

enum class UnaryOp { neg, abs, square, sqrt, exp, log, sigmoid, tanh, relu, silu, silu_grad, softplus };
enum class BinaryOp { add, sub, mul, div, maximum, minimum };

void unary(Context& ctx, UnaryOp op, const Tensor& x, Tensor& y);
void binary(Context& ctx, BinaryOp op, const Tensor& a, const Tensor& b, Tensor& y);

inline void silu(Context& ctx, const Tensor& x, Tensor& y) { unary(ctx, UnaryOp::silu, x, y); }
// y = silu'(x), the factor a tangent or cotangent of SiLU is multiplied by.
inline void silu_grad(Context& ctx, const Tensor& x, Tensor& y) { unary(ctx, UnaryOp::silu_grad, x, y); }
inline void add(Context& ctx, const Tensor& a, const Tensor& b, Tensor& y) { binary(ctx, BinaryOp::add, a, b, y); }
inline void sub(Context& ctx, const Tensor& a, const Tensor& b, Tensor& y) { binary(ctx, BinaryOp::sub, a, b, y); }
inline void mul(Context& ctx, const Tensor& a, const Tensor& b, Tensor& y) { binary(ctx, BinaryOp::mul, a, b, y); }
inline void div(Context& ctx, const Tensor& a, const Tensor& b, Tensor& y) { binary(ctx, BinaryOp::div, a, b, y); }

// ---- the math ------------------------------------------------------------------------------------

// exp is runtime/elementary.h's exp_f32: it vectorizes on the host and rounds alike on both devices.
TW_HD inline float sigmoidf(float x) { return 1.0f / (1.0f + exp_f32(-x)); }
// silu(x) = x * sigmoid(x); for x << 0, e^-x overflows to inf and the quotient is a clean -0.
TW_HD inline float siluf(float x) { return x / (1.0f + exp_f32(-x)); }
// silu'(x) = s (1 + x (1 - s)) with s = sigmoid(x). With e = exp(-x), s = 1 / (1 + e) and 1 - s = e s:
// one exponential, and no 1 - s cancellation (which x would amplify for large x). Below x = -80 the
// exponent is held at 80 so that e stays finite; there |silu'(x)| < 1e-32 and the result is ~1e-33.
TW_HD inline float silu_gradf(float x) {
  float e = exp_f32(x < -80.0f ? 80.0f : -x);
  float s = 1.0f / (1.0f + e);
  return s * (1.0f + x * (e * s));
}
// log(1 + e^x) without overflow: max(x, 0) + log1p(e^-|x|).
TW_HD inline float softplusf(float x) { return fmaxf(x, 0.0f) + log1pf(exp_f32(-fabsf(x))); }

template <UnaryOp op>
TW_HD inline float unary_math(float x) {
  if constexpr (op == UnaryOp::neg) return -x;
  else if constexpr (op == UnaryOp::abs) return fabsf(x);
  else if constexpr (op == UnaryOp::square) return x * x;
  else if constexpr (op == UnaryOp::sqrt) return sqrtf(x);
  else if constexpr (op == UnaryOp::exp) return exp_f32(x);
  else if constexpr (op == UnaryOp::log) return logf(x);
  else if constexpr (op == UnaryOp::sigmoid) return sigmoidf(x);
  else if constexpr (op == UnaryOp::tanh) return tanhf(x);
  else if constexpr (op == UnaryOp::relu) return fmaxf(x, 0.0f);
  else if constexpr (op == UnaryOp::silu) return siluf(x);
  else if constexpr (op == UnaryOp::silu_grad) return silu_gradf(x);
  else return softplusf(x);
}

template <BinaryOp op>
TW_HD inline float binary_math(float a, float b) {
  if constexpr (op == BinaryOp::add) return a + b;
  else if constexpr (op == BinaryOp::sub) return a - b;
  else if constexpr (op == BinaryOp::mul) return a * b;
  else if constexpr (op == BinaryOp::div) return a / b;
  else if constexpr (op == BinaryOp::maximum) return fmaxf(a, b);
  else return fminf(a, b);
}

template <UnaryOp op>
struct UnaryMap {
  const float* x;
  float* y;
  TW_HD void operator()(std::int64_t i) const { y[i] = unary_math<op>(x[i]); }
};

template <BinaryOp op>
struct BinaryMap {
  const float* a;
  const float* b;
  float* y;
  TW_HD void operator()(std::int64_t i) const { y[i] = binary_math<op>(a[i], b[i]); }
};

}  // namespace tweedie
