#pragma once
// Conversions between f32 and the 16-bit formats weights are stored in: IEEE binary16 (f16) and
// bfloat16 (bf16, the top half of an f32). Narrowing rounds to nearest, ties to even; widening is exact.
#include <cstdint>

#include "runtime/elementary.h"
#include "runtime/hd.h"

namespace tweedie {

TW_HD inline float bf16_to_f32(std::uint16_t h) { return float_from_bits(std::uint32_t(h) << 16); }

TW_HD inline std::uint16_t f32_to_bf16(float f) {
  std::uint32_t b = bits_from_float(f);
  if ((b & 0x7fffffffu) > 0x7f800000u) return std::uint16_t((b >> 16) | 0x40);  // NaN stays NaN (quiet)
  b += 0x7fffu + ((b >> 16) & 1u);                                             // round to nearest even
  return std::uint16_t(b >> 16);
}

TW_HD inline float f16_to_f32(std::uint16_t h) {
  std::uint32_t sign = std::uint32_t(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu;
  if (exp == 0x1f) return float_from_bits(sign | 0x7f800000u | (man << 13));  // inf, NaN
  if (exp == 0) {                                                                 // zero, subnormal: man * 2^-24
    float v = float(man) * 5.9604644775390625e-8f;
    return sign ? -v : v;
  }
  return float_from_bits(sign | ((exp + 112) << 23) | (man << 13));
}

TW_HD inline std::uint16_t f32_to_f16(float f) {
  std::uint32_t b = bits_from_float(f), sign = (b >> 16) & 0x8000u, abs = b & 0x7fffffffu;
  if (abs > 0x7f800000u) return std::uint16_t(sign | 0x7e00u);  // NaN
  if (abs >= 0x477ff000u) return std::uint16_t(sign | 0x7c00u);  // rounds to >= 65520: infinity
  if (abs < 0x38800000u) {                                        // below 2^-14: subnormal or zero
    // Scaling by 2^24 makes the subnormal step 1; the float addition rounds to nearest even.
    float v = float_from_bits(abs) * 16777216.0f;
    return std::uint16_t(sign | std::uint32_t(rintf(v)));
  }
  std::uint32_t rounded = abs + 0xfffu + ((abs >> 13) & 1u);  // round the 13 dropped bits, ties to even
  return std::uint16_t(sign | ((rounded - 0x38000000u) >> 13));
}

}  // namespace tweedie
