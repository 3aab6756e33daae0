#include "runtime/philox.h"

#include <cmath>

#include "support.h"

using namespace tweedie;

TEST_CASE("philox4x32-10 reproduces Random123's known answers") {
  for (const PhiloxKnownAnswer& v : kPhiloxKnownAnswers) {
    Philox4x32 got = philox4x32_10(v.counter, v.key);
    for (int i = 0; i < 4; ++i) CHECK(got.x[i] == v.output.x[i]);
  }
  // Spot-check the table itself against the published text for the third vector.
  CHECK(kPhiloxKnownAnswers[2].output.x[0] == 0xd16cfe09u);
  CHECK(kPhiloxKnownAnswers[2].output.x[3] == 0x24126ea1u);
}

TEST_CASE("philox_block places seed in the key and (block, stream) in the counter") {
  Philox4x32 a = philox_block(0xa4093822299f31d0ull, 0, 0);
  Philox4x32 b = philox4x32_10({{0, 0, 0, 0}}, {{0x299f31d0, 0xa4093822}});
  for (int i = 0; i < 4; ++i) CHECK(a.x[i] == b.x[i]);
  Philox4x32 c = philox_block(5, 0x0000000700000003ull, 0x0000000200000001ull);
  Philox4x32 d = philox4x32_10({{1, 2, 3, 7}}, {{5, 0}});
  for (int i = 0; i < 4; ++i) CHECK(c.x[i] == d.x[i]);
}

TEST_CASE("bits map to uniforms on [0,1) and to Box-Muller normals") {
  CHECK(uniform_from_bits(0) == 0.0f);
  CHECK(uniform_from_bits(0xffffffffu) == doctest::Approx(1.0 - std::ldexp(1.0, -24)).epsilon(1e-12));
  CHECK(uniform_from_bits(0xffffffffu) < 1.0f);
  CHECK(uniform_from_bits(0x80000000u) == 0.5f);
  // a = 2^31 gives u1 just above 1/2, b = 2^30 an angle of pi/2.
  float z0, z1;
  normal_pair_from_bits(0x80000000u, 0x40000000u, z0, z1);
  double r = std::sqrt(-2.0 * std::log((2147483648.0 + 0.5) / 4294967296.0));
  CHECK(std::abs(z0) < 1e-6);
  CHECK(z1 == doctest::Approx(r).epsilon(1e-7));
  // The extreme of the map: a = 0 gives the largest radius, sqrt(-2 log 2^-33).
  normal_pair_from_bits(0u, 0u, z0, z1);
  CHECK(z0 == doctest::Approx(std::sqrt(66 * std::log(2.0))).epsilon(1e-6));
}
