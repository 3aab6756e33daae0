#pragma once
// exp, log and sin/cos in f32, written out in FMA arithmetic (polynomials with Cephes' coefficients
// after exact range reduction).
//
// Why not the C library: glibc's expf and logf are scalar calls that stop GCC from vectorizing a
// loop, and the GPU's math library rounds differently from the host's. These use only IEEE operations
// that both devices round identically (+, *, explicit fmaf, sqrtf, int conversion, bit reinterpretation),
// so a loop over them vectorizes on the host (given -fno-math-errno -fno-trapping-math, which
// TweedieFlags.cmake sets) and produces the same bits on the GPU. Accuracy: within 2 ulp of the
// correctly rounded result over the whole float range (checked in tests/runtime/test_elementary.cpp).
#include <cmath>
#include <cstdint>
#include <cstring>

#include "runtime/hd.h"

namespace tweedie {

TW_HD inline float float_from_bits(std::uint32_t bits) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(bits);
#else
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
#endif
}

TW_HD inline std::uint32_t bits_from_float(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  std::uint32_t bits;
  std::memcpy(&bits, &f, sizeof bits);
  return bits;
#endif
}

// 2^k for k in [-126, 127], built from the exponent bits.
TW_HD inline float exp2_int(int k) { return float_from_bits(std::uint32_t(k + 127) << 23); }

// Nearest integer (ties to even) of |v| < 2^22, by adding and removing 1.5 * 2^23: two plain additions
// where rintf would stop GCC vectorizing.
TW_HD inline float round_small(float v) { return (v + 12582912.0f) - 12582912.0f; }

// e^x. Reduction x = n ln2 + r with |r| <= ln2/2 (ln2 split in two so n ln2 is exact), a degree-6
// polynomial for e^r, then 2^n applied in two halves so that results near overflow and in the
// subnormal range come out right without special cases. NaN propagates. (Clamps are written as
// comparisons: GCC does not vectorize fminf/fmaxf, whose NaN rules differ from the vector min/max.)
TW_HD inline float exp_f32(float x) {
  float xc = x < -104.0f ? -104.0f : x > 89.0f ? 89.0f : x;  // beyond: exactly 0 or inf after scaling
  float n = fmaf(xc, 1.44269504088896341f, 12582912.0f) - 12582912.0f;  // round(x / ln2), one rounding
  float r = fmaf(n, -0.693359375f, xc);
  r = fmaf(n, 2.12194440e-4f, r);
  float p = 1.9875691500e-4f;
  p = fmaf(p, r, 1.3981999507e-3f);
  p = fmaf(p, r, 8.3334519073e-3f);
  p = fmaf(p, r, 4.1665795894e-2f);
  p = fmaf(p, r, 1.6666665459e-1f);
  p = fmaf(p, r, 5.0000001201e-1f);
  float e = fmaf(p, r * r, r) + 1.0f;
  int k = int(n), k1 = k >> 1;  // floor(k / 2): both halves lie in [-75, 65]
  float result = (e * exp2_int(k1)) * exp2_int(k - k1);
  return x != x ? x : result;
}

// Natural log of a positive normal float: x = m 2^e with m in [sqrt(1/2), sqrt(2)), a degree-9
// polynomial for log(m). (Only the random-number maps call it, on values in (0, 1].)
TW_HD inline float log_f32(float x) {
  std::uint32_t bits = bits_from_float(x);
  int e = int((bits >> 23) & 0xff) - 126;
  float m = float_from_bits((bits & 0x007fffffu) | 0x3f000000u);  // [0.5, 1)
  bool low = m < 0.707106781186547524f;                            // then use 2m in [sqrt(1/2), 1)
  e -= low ? 1 : 0;
  m = (low ? m + m : m) - 1.0f;
  float z = m * m;
  float y = 7.0376836292e-2f;
  y = fmaf(y, m, -1.1514610310e-1f);
  y = fmaf(y, m, 1.1676998740e-1f);
  y = fmaf(y, m, -1.2420140846e-1f);
  y = fmaf(y, m, 1.4249322787e-1f);
  y = fmaf(y, m, -1.6668057665e-1f);
  y = fmaf(y, m, 2.0000714765e-1f);
  y = fmaf(y, m, -2.4999993993e-1f);
  y = fmaf(y, m, 3.3333331174e-1f);
  y = y * m * z;
  float fe = float(e);
  y = fmaf(fe, -2.12194440e-4f, y);
  y = fmaf(-0.5f, z, y);
  return fmaf(fe, 0.693359375f, m + y);
}

// sin and cos of 2 pi t for t = turns in [0, 1) with at most 24 significant bits (as random bits
// give). 4t = k + f exactly, with k the nearest integer and |f| <= 1/2; the angle f pi/2 lies in
// [-pi/4, pi/4] where short polynomials suffice; the quadrant k then swaps and negates.
TW_HD inline void sincos_turns(float turns, float& s, float& c) {
  float v = 4.0f * turns;
  float k = round_small(v);
  float a = (v - k) * 1.57079632679489662f;
  float a2 = a * a;
  float ps = fmaf(fmaf(-1.9515295891e-4f, a2, 8.3321608736e-3f), a2, -1.6666654611e-1f);
  float sa = fmaf(ps * a2, a, a);
  float pc = fmaf(fmaf(2.443315711809948e-5f, a2, -1.388731625493765e-3f), a2, 4.166664568298827e-2f);
  float ca = fmaf(pc * a2, a2, fmaf(-0.5f, a2, 1.0f));
  int q = int(k) & 3;
  s = q == 0 ? sa : q == 1 ? ca : q == 2 ? -sa : -ca;
  c = q == 0 ? ca : q == 1 ? -sa : q == 2 ? -ca : sa;
}

}  // namespace tweedie
