#pragma once
// Element-wise products with a tensor repeated along the batch: y = x . m, where m holds one item (or
// a trailing block of it) and x is a batch of such blocks. Masks, sampling patterns and per-entry
// weights of operators and noise models are stored once and applied to every item this way.
#include <cstdint>

#include "runtime/context.h"
#include "runtime/dtype.h"
#include "runtime/hd.h"
#include "runtime/tensor.h"

namespace tweedie {

// x f32 or c64; m f32 whose numel divides x's (x is numel(x) / numel(m) consecutive copies of m's
// layout); y has x's shape and type and may be x.
void multiply_repeated(Context& ctx, const Tensor& x, const Tensor& m, Tensor& y);

// The same with a complex m (c64), optionally conjugated: y = x . m or y = x . conj(m); x and y c64.
void multiply_repeated_complex(Context& ctx, const Tensor& x, const Tensor& m, Tensor& y, bool conjugate = false);

template <class T>
struct MultiplyRepeated {
  const T* x;
  const float* m;
  T* y;
  std::int64_t block;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t i = r * block + c;
    if constexpr (sizeof(T) == sizeof(float)) {
      y[i] = x[i] * m[c];
    } else {
      y[i] = T{x[i].re * m[c], x[i].im * m[c]};
    }
  }
};

struct MultiplyRepeatedComplex {
  const complex64* x;
  const complex64* m;
  complex64* y;
  std::int64_t block;
  float sign;  // +1, or -1 to conjugate m
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t i = r * block + c;
    complex64 a = x[i], b = m[c];
    b.im *= sign;
    y[i] = complex64{a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};
  }
};

}  // namespace tweedie
