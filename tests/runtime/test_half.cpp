#include "runtime/half.h"

#include <cmath>
#include <limits>

#include "support.h"

using namespace tweedie;

TEST_CASE("f16 round trip is exact for every one of the 65536 half values") {
  for (std::uint32_t h = 0; h < 65536; ++h) {
    float f = f16_to_f32(std::uint16_t(h));
    if (std::isnan(f)) {
      CHECK(std::isnan(f16_to_f32(f32_to_f16(f))));
      continue;
    }
    CAPTURE(h);
    CHECK(f32_to_f16(f) == h);
  }
}

TEST_CASE("f16 widening matches the definition, narrowing rounds to nearest even") {
  CHECK(f16_to_f32(0x3c00) == 1.0f);
  CHECK(f16_to_f32(0xc000) == -2.0f);
  CHECK(f16_to_f32(0x7bff) == 65504.0f);
  CHECK(f16_to_f32(0x0001) == std::ldexp(1.0f, -24));
  CHECK(f16_to_f32(0x0400) == std::ldexp(1.0f, -14));
  CHECK(std::isinf(f16_to_f32(0x7c00)));
  // 1 + 2^-11 lies halfway between 1 and 1 + 2^-10: ties to the even mantissa (1).
  CHECK(f32_to_f16(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);
  CHECK(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3c02);
  CHECK(f32_to_f16(65519.0f) == 0x7bff);
  CHECK(f32_to_f16(65520.0f) == 0x7c00);
  CHECK(f32_to_f16(std::ldexp(1.0f, -25)) == 0x0000);                 // halfway to the smallest subnormal: even (0)
  CHECK(f32_to_f16(std::ldexp(1.5f, -25)) == 0x0001);
  CHECK(f32_to_f16(-0.0f) == 0x8000);
  // Nearest rounding over random floats: the error is at most half a step of the result.
  std::vector<double> v = test::uniform(100000, 1, -70000, 70000);
  for (double d : v) {
    float f = float(d), back = f16_to_f32(f32_to_f16(f));
    if (std::abs(f) > 65504.0f) continue;
    float step = std::abs(back) < std::ldexp(1.0f, -14) ? std::ldexp(1.0f, -24) : std::ldexp(1.0f, std::ilogb(back) - 10);
    CHECK(std::abs(back - f) <= 0.5f * step);
  }
}

TEST_CASE("bf16 keeps the top 16 bits, rounded to nearest even") {
  CHECK(bf16_to_f32(0x3f80) == 1.0f);
  CHECK(f32_to_bf16(1.0f) == 0x3f80);
  CHECK(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)) == 0x3f80);      // tie: even
  CHECK(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)) == 0x3f82);  // tie: even, upwards
  CHECK(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
  for (std::uint32_t h = 0; h < 65536; h += 7) {
    float f = bf16_to_f32(std::uint16_t(h));
    if (!std::isnan(f)) CHECK(f32_to_bf16(f) == h);
  }
}
