#include "kernels/random.h"

#include <algorithm>
#include <cmath>

#include "support.h"

using namespace tweedie;

namespace {
struct Stats {
  double mean, var, skew, kurt;
};
Stats stats(const std::vector<double>& v) {
  double n = double(v.size()), m = 0, m2 = 0, m3 = 0, m4 = 0;
  for (double x : v) m += x;
  m /= n;
  for (double x : v) {
    double d = x - m;
    m2 += d * d, m3 += d * d * d, m4 += d * d * d * d;
  }
  m2 /= n, m3 /= n, m4 /= n;
  return {m, m2, m3 / std::pow(m2, 1.5), m4 / (m2 * m2)};
}
}  // namespace

TEST_CASE("normal fill: moments of 10^6 draws within 5 standard errors") {
  const std::int64_t n = 1000000;
  Tensor z = Tensor::empty({n}, test::device());
  fill_normal(test::context(), z, {12345, 0});
  Stats s = stats(test::download(z));
  // Standard errors for n normals: mean 1/sqrt(n), variance sqrt(2/n), skewness sqrt(6/n), kurtosis sqrt(24/n).
  double rn = std::sqrt(double(n));
  CHECK(std::abs(s.mean) < 5 / rn);
  CHECK(std::abs(s.var - 1) < 5 * std::sqrt(2.0) / rn);
  CHECK(std::abs(s.skew) < 5 * std::sqrt(6.0) / rn);
  CHECK(std::abs(s.kurt - 3) < 5 * std::sqrt(24.0) / rn);
}

TEST_CASE("normal fill: tail frequency matches the normal distribution") {
  const std::int64_t n = 1000000;
  Tensor z = Tensor::empty({n}, test::device());
  fill_normal(test::context(), z, {7, 3});
  std::vector<double> v = test::download(z);
  double beyond2 = double(std::count_if(v.begin(), v.end(), [](double x) { return std::abs(x) > 2; }));
  double p = std::erfc(2 / std::sqrt(2.0));  // P(|Z| > 2) = 0.0455
  CHECK(std::abs(beyond2 - n * p) < 5 * std::sqrt(n * p * (1 - p)));
}

TEST_CASE("uniform fill: range and moments, shifted and scaled") {
  const std::int64_t n = 1000000;
  Tensor u = Tensor::empty({n}, test::device());
  fill_uniform(test::context(), u, {99, 1}, -2.0f, 6.0f);
  std::vector<double> v = test::download(u);
  CHECK(*std::min_element(v.begin(), v.end()) >= -2.0);
  CHECK(*std::max_element(v.begin(), v.end()) < 6.0);
  Stats s = stats(v);
  double var = 64.0 / 12;  // (b - a)^2 / 12
  CHECK(std::abs(s.mean - 2) < 5 * std::sqrt(var / n));
  CHECK(std::abs(s.var - var) < 5 * std::sqrt((64.0 * 64 / 80 - var * var) / n));  // Var of (U - mean)^2
}

TEST_CASE("fills equal the element-wise definition, on every device and for every batching") {
  const std::int64_t items = 5, per = 1031;
  Tensor batch = Tensor::empty({items, per}, test::device());
  fill_normal(test::context(), batch, {42, 100}, 0.5f, 2.0f, items);
  std::vector<float> got = batch.to_vector();
  for (std::int64_t b = 0; b < items; ++b)
    for (std::int64_t e = 0; e < per; ++e)
      CHECK(got[b * per + e] == 0.5f + 2.0f * normal_at(42, 100 + b, e));
  // Item 3 alone, filled as a batch of one starting at its stream, is the same noise.
  Tensor one = Tensor::empty({1, per}, test::device());
  fill_normal(test::context(), one, {42, 103}, 0.5f, 2.0f, 1);
  std::vector<float> alone = one.to_vector();
  CHECK(std::equal(alone.begin(), alone.end(), got.begin() + 3 * per));
  Tensor u = Tensor::empty({7}, test::device());
  fill_uniform(test::context(), u, {3, 4});
  std::vector<float> uv = u.to_vector();
  for (int e = 0; e < 7; ++e) CHECK(uv[e] == uniform_at(3, 4, e));
}

TEST_CASE("different streams and seeds give unrelated noise") {
  const std::int64_t n = 100000;
  Tensor a = Tensor::empty({n}, test::device()), b = Tensor::empty({n}, test::device()), c = Tensor::empty({n}, test::device());
  fill_normal(test::context(), a, {1, 0});
  fill_normal(test::context(), b, {1, 1});
  fill_normal(test::context(), c, {2, 0});
  std::vector<double> va = test::download(a), vb = test::download(b), vc = test::download(c);
  double ab = 0, ac = 0;
  for (std::int64_t i = 0; i < n; ++i) ab += va[i] * vb[i], ac += va[i] * vc[i];
  CHECK(std::abs(ab / n) < 5 / std::sqrt(double(n)));
  CHECK(std::abs(ac / n) < 5 / std::sqrt(double(n)));
}

TEST_SUITE("slow") {
  TEST_CASE("normal fill: 10^7 draws in 1000 streams, moments and the 4-sigma tail") {
    const std::int64_t items = 1000, per = 10000, n = items * per;
    Tensor z = Tensor::empty({items, per}, test::device());
    fill_normal(test::context(), z, {31337, 0}, 0.0f, 1.0f, items);
    std::vector<double> v = test::download(z);
    Stats s = stats(v);
    double rn = std::sqrt(double(n));
    CHECK(std::abs(s.mean) < 5 / rn);
    CHECK(std::abs(s.var - 1) < 5 * std::sqrt(2.0) / rn);
    CHECK(std::abs(s.kurt - 3) < 5 * std::sqrt(24.0) / rn);
    double beyond4 = double(std::count_if(v.begin(), v.end(), [](double x) { return std::abs(x) > 4; }));
    double p = std::erfc(4 / std::sqrt(2.0));  // 6.3e-5
    CHECK(std::abs(beyond4 - n * p) < 5 * std::sqrt(n * p));
  }
}
