#include "runtime/elementary.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "support.h"

using namespace tweedie;

namespace {

// Distance in units of the last place of the float nearest to `want` (subnormal spacing below FLT_MIN).
double ulps(float got, double want) {
  float nearest = float(want);
  float spacing = std::nextafter(std::abs(nearest), std::numeric_limits<float>::infinity()) - std::abs(nearest);
  return std::abs(double(got) - want) / double(spacing);
}

}  // namespace

TEST_CASE("exp_f32 is within 2 ulp of exp over the whole float range") {
  std::mt19937_64 gen(1);
  std::uniform_real_distribution<float> x_in(-103.9f, 88.72f);
  double worst = 0;
  for (int i = 0; i < 2000000; ++i) {
    float x = x_in(gen);
    double want = std::exp(double(x));
    CAPTURE(x);
    double u = ulps(exp_f32(x), want);
    worst = std::max(worst, u);
    if (u > 2) REQUIRE(u <= 2);
  }
  MESSAGE("exp_f32: worst error ", worst, " ulp over 2e6 points");
  CHECK(exp_f32(0.0f) == 1.0f);
  CHECK(exp_f32(1.0f) == doctest::Approx(2.718281828).epsilon(1e-7));
  CHECK(exp_f32(88.72283f) == doctest::Approx(3.4028e38).epsilon(1e-4));  // just below overflow
  CHECK(std::isinf(exp_f32(88.73f)));
  CHECK(std::isinf(exp_f32(1000.0f)));
  CHECK(exp_f32(-std::numeric_limits<float>::infinity()) == 0.0f);
  CHECK(exp_f32(-200.0f) == 0.0f);
  CHECK(exp_f32(-100.0f) == doctest::Approx(3.720076e-44).epsilon(0.05));  // subnormal result
  CHECK(std::isnan(exp_f32(std::numeric_limits<float>::quiet_NaN())));
}

TEST_CASE("log_f32 is within 2 ulp of log on (0, 1] and beyond") {
  std::mt19937_64 gen(2);
  double worst = 0;
  for (int i = 0; i < 2000000; ++i) {
    // log-uniform over [2^-100, 2^20] so that every exponent is visited
    float x = std::ldexp(std::uniform_real_distribution<float>(1.0f, 2.0f)(gen), int(gen() % 120) - 100);
    CAPTURE(x);
    double want = std::log(double(x));
    double u = want == 0 ? std::abs(log_f32(x)) : ulps(log_f32(x), want);
    worst = std::max(worst, u);
    if (u > 2) REQUIRE(u <= 2);
  }
  MESSAGE("log_f32: worst error ", worst, " ulp over 2e6 points");
  CHECK(log_f32(1.0f) == 0.0f);
  CHECK(log_f32(0.5f) == doctest::Approx(-0.693147181).epsilon(1e-7));
}

TEST_CASE("sincos_turns matches sin and cos of 2 pi t to 2e-7") {
  double worst = 0;
  for (std::uint32_t k = 0; k < (1u << 24); k += 7) {  // every 7th of the 2^24 angles the maps use
    float t = float(k) * 5.9604644775390625e-8f;
    float s, c;
    sincos_turns(t, s, c);
    double a = 2 * M_PI * double(t);
    worst = std::max({worst, std::abs(double(s) - std::sin(a)), std::abs(double(c) - std::cos(a))});
  }
  MESSAGE("sincos_turns: worst absolute error ", worst);
  CHECK(worst < 2e-7);
  float s, c;
  sincos_turns(0.25f, s, c);
  CHECK(s == 1.0f);
  CHECK(c == 0.0f);
  sincos_turns(0.5f, s, c);
  CHECK(s == 0.0f);
  CHECK(c == -1.0f);
}
