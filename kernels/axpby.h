#pragma once
// Level-1 updates on f32 tensors of any shape: y = a x + b y, x *= a, x = value. The sampler loops and
// the conjugate-gradient solver are made of these.
#include <cstdint>

#include "runtime/context.h"
#include "runtime/hd.h"
#include "runtime/tensor.h"

namespace tweedie {

// y = a * x + b * y. With b == 0, y's old contents are ignored (NaNs in them do not leak through).
void axpby(Context& ctx, float a, const Tensor& x, float b, Tensor& y);
// x = a * x.
void scale(Context& ctx, Tensor& x, float a);
// Every element of x = value.
void fill(Context& ctx, Tensor& x, float value);

struct AxpbyMap {
  float a;
  const float* x;
  float b;
  float* y;
  TW_HD void operator()(std::int64_t i) const { y[i] = b == 0.0f ? a * x[i] : a * x[i] + b * y[i]; }
};

struct ScaleMap {
  float a;
  float* x;
  TW_HD void operator()(std::int64_t i) const { x[i] *= a; }
};

struct FillMap {
  float value;
  float* x;
  TW_HD void operator()(std::int64_t i) const { x[i] = value; }
};

}  // namespace tweedie
