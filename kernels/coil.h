#pragma once
// Per-element complex maps of the Fourier operators (samplers/operators/fourier_operators.h):
// coil sensitivity expansion and combination for multi-coil MRI, real <-> complex conversion, the
// modulus |z| with its derivatives for phase retrieval, and zero padding / cropping of image planes.
// Where an output may be real, the real-part step is fused into the op instead of taking a copy.
#include <cmath>
#include <cstdint>

#include "runtime/context.h"
#include "runtime/dtype.h"
#include "runtime/hd.h"
#include "runtime/tensor.h"

namespace tweedie {

// Planes below are the last two axes (H, W); leading axes count planes.

// y[n, k] = s[k] . x[n]. s (K, H, W) c64; x holds N planes (H, W), f32 or c64; y c64 holds N K planes,
// coil k of item n at plane n K + k (so x (N, 1, H, W) gives y (N, K, H, W)).
void coil_expand(Context& ctx, const Tensor& x, const Tensor& s, Tensor& y);
// x[n] = sum_k conj(s[k]) . y[n, k], the adjoint of coil_expand. y c64 (N K planes), s (K, H, W) c64,
// x (N planes) c64, or f32 to keep only the real part (the adjoint for a real x).
void coil_combine(Context& ctx, const Tensor& y, const Tensor& s, Tensor& x);

// y = x + 0i (x f32, y c64) and y = Re(x) (x c64, y f32); same shapes.
void to_complex(Context& ctx, const Tensor& x, Tensor& y);
void real_part(Context& ctx, const Tensor& x, Tensor& y);

// m = |z|, z c64, m f32 of z's shape.
void complex_modulus(Context& ctx, const Tensor& z, Tensor& m);
// The derivatives of |z| at z: the tangent dm = Re(conj(z) dz) / |z| (dz c64, dm f32) and the
// cotangent dz = (z / |z|) dm (dm f32, dz c64). Both are 0 where z = 0, where |z| has no derivative.
void modulus_jvp(Context& ctx, const Tensor& z, const Tensor& dz, Tensor& dm);
void modulus_vjp(Context& ctx, const Tensor& z, const Tensor& dm, Tensor& dz);

// Zero padding by `pad` on every side of each plane: x (..., H, W) f32 or c64 -> y (..., H + 2 pad,
// W + 2 pad) c64. crop_planes is its adjoint: x (..., H + 2 pad, W + 2 pad) c64 -> y (..., H, W), c64
// or f32 (real part). Leading axes of x and y must agree.
void pad_planes(Context& ctx, const Tensor& x, std::int64_t pad, Tensor& y);
void crop_planes(Context& ctx, const Tensor& x, std::int64_t pad, Tensor& y);
// The same with the small plane anywhere inside the big one: pad_planes puts each x plane (h, w) into a
// zero y plane (Hy, Wy) with its corner at (top, left); crop_planes takes the window of y's plane size
// whose corner is at (top, left) out of each x plane. The window must fit: top + h <= Hy, left + w <= Wy.
void pad_planes(Context& ctx, const Tensor& x, std::int64_t top, std::int64_t left, Tensor& y);
void crop_planes(Context& ctx, const Tensor& x, std::int64_t top, std::int64_t left, Tensor& y);

// ---- the math ------------------------------------------------------------------------------------

// Small complex helpers, in their own namespace so that they cannot collide with other ops' headers.
namespace cplx {
TW_HD inline complex64 from(float v) { return complex64{v, 0.0f}; }
TW_HD inline complex64 from(complex64 v) { return v; }
// Writes a complex value into a complex element, or its real part into a real one.
TW_HD inline void store(complex64* p, complex64 v) { *p = v; }
TW_HD inline void store(float* p, complex64 v) { *p = v.re; }
TW_HD inline complex64 mul(complex64 a, complex64 b) { return complex64{a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re}; }
// conj(a) b
TW_HD inline complex64 mul_conj(complex64 a, complex64 b) { return complex64{a.re * b.re + a.im * b.im, a.re * b.im - a.im * b.re}; }
TW_HD inline float abs(complex64 z) { return sqrtf(z.re * z.re + z.im * z.im); }
}  // namespace cplx

// for_each_2d over (n K + k, pixel) with `plane` = H W pixels.
template <class T>
struct CoilExpand {
  const T* x;
  const complex64* s;
  complex64* y;
  std::int64_t coils, plane;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t n = r / coils, k = r % coils;
    y[r * plane + c] = cplx::mul(s[k * plane + c], cplx::from(x[n * plane + c]));
  }
};

// for_each_2d over (item n, pixel); the coil sum runs inside, so each output is written once.
template <class T>
struct CoilCombine {
  const complex64* y;
  const complex64* s;
  T* x;
  std::int64_t coils, plane;
  TW_HD void operator()(std::int64_t n, std::int64_t c) const {
    complex64 acc{0.0f, 0.0f};
    for (std::int64_t k = 0; k < coils; ++k) {
      complex64 v = cplx::mul_conj(s[k * plane + c], y[(n * coils + k) * plane + c]);
      acc.re += v.re;
      acc.im += v.im;
    }
    cplx::store(&x[n * plane + c], acc);
  }
};

struct ToComplex {
  const float* x;
  complex64* y;
  TW_HD void operator()(std::int64_t i) const { y[i] = complex64{x[i], 0.0f}; }
};

struct RealPart {
  const complex64* x;
  float* y;
  TW_HD void operator()(std::int64_t i) const { y[i] = x[i].re; }
};

struct ComplexModulus {
  const complex64* z;
  float* m;
  TW_HD void operator()(std::int64_t i) const { m[i] = cplx::abs(z[i]); }
};

struct ModulusJvp {
  const complex64* z;
  const complex64* dz;
  float* dm;
  TW_HD void operator()(std::int64_t i) const {
    float a = cplx::abs(z[i]);
    dm[i] = a > 0.0f ? cplx::mul_conj(z[i], dz[i]).re / a : 0.0f;
  }
};

struct ModulusVjp {
  const complex64* z;
  const float* dm;
  complex64* dz;
  TW_HD void operator()(std::int64_t i) const {
    float a = cplx::abs(z[i]);
    float g = a > 0.0f ? dm[i] / a : 0.0f;
    dz[i] = complex64{z[i].re * g, z[i].im * g};
  }
};

// for_each_2d over the padded rows (planes * hp rows of wp); x's (h, w) plane sits at (top, left).
template <class T>
struct PadPlanes {
  const T* x;
  complex64* y;
  std::int64_t h, w, hp, wp, top, left;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t plane = r / hp, row = r % hp - top, col = c - left;
    bool inside = row >= 0 && row < h && col >= 0 && col < w;
    y[r * wp + c] = inside ? cplx::from(x[(plane * h + row) * w + col]) : complex64{0.0f, 0.0f};
  }
};

// for_each_2d over the cropped rows (planes * h rows of w), read from (hp, wp) planes at (top, left).
template <class T>
struct CropPlanes {
  const complex64* x;
  T* y;
  std::int64_t h, w, hp, wp, top, left;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t plane = r / h, row = r % h;
    cplx::store(&y[r * w + c], x[(plane * hp + row + top) * wp + c + left]);
  }
};

}  // namespace tweedie
