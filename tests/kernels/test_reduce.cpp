#include "kernels/reduce.h"

#include <cmath>

#include "support.h"

using namespace tweedie;

namespace {
// Mean and population variance of x[begin, begin + n), two passes in double.
std::pair<double, double> two_pass_moments(const std::vector<double>& x, std::int64_t begin, std::int64_t n) {
  double mu = 0, s2 = 0;
  for (std::int64_t i = 0; i < n; ++i) mu += x[begin + i];
  mu /= double(n);
  for (std::int64_t i = 0; i < n; ++i) s2 += (x[begin + i] - mu) * (x[begin + i] - mu);
  return {mu, s2 / double(n)};
}
}  // namespace

TEST_CASE("sum, dot and norm2 match double loops on odd and large sizes") {
  std::vector<std::int64_t> sizes = test::kSizes;
  sizes.push_back(100003);  // many chunks
  for (std::int64_t n : sizes) {
    CAPTURE(n);
    std::vector<double> x = test::as_float(test::uniform(std::size_t(n), 1)), y = test::as_float(test::uniform(std::size_t(n), 2));
    Tensor X = test::upload(x, {n}), Y = test::upload(y, {n});
    double s = 0, d = 0, q = 0;
    for (std::int64_t i = 0; i < n; ++i) s += x[i], d += x[i] * y[i], q += x[i] * x[i];
    // Accumulated in double from exact float inputs: agreement to double rounding, not float.
    CHECK(sum(test::context(), X) == doctest::Approx(s).epsilon(1e-12).scale(1e-9));
    CHECK(dot(test::context(), X, Y) == doctest::Approx(d).epsilon(1e-12).scale(1e-9));
    CHECK(norm2(test::context(), X) == doctest::Approx(std::sqrt(q)).epsilon(1e-12));
  }
}

TEST_CASE("per-row reductions give one value per row") {
  const std::int64_t rows = 7, cols = 5003;
  std::vector<double> x = test::as_float(test::uniform(rows * cols, 3)), y = test::as_float(test::uniform(rows * cols, 4));
  Tensor X = test::upload(x, {rows, cols}), Y = test::upload(y, {rows, cols});
  std::vector<double> s = sum_rows(test::context(), X, rows), d = dot_rows(test::context(), X, Y, rows),
                      q = norm2_rows(test::context(), X, rows);
  REQUIRE(s.size() == std::size_t(rows));
  for (std::int64_t r = 0; r < rows; ++r) {
    double ws = 0, wd = 0, wq = 0;
    for (std::int64_t c = 0; c < cols; ++c) {
      double a = x[r * cols + c], b = y[r * cols + c];
      ws += a, wd += a * b, wq += a * a;
    }
    CHECK(s[r] == doctest::Approx(ws).epsilon(1e-12).scale(1e-9));
    CHECK(d[r] == doctest::Approx(wd).epsilon(1e-12).scale(1e-9));
    CHECK(q[r] == doctest::Approx(std::sqrt(wq)).epsilon(1e-12));
  }
  std::string message = "sum: cannot split f32 (7,5003) on " + test::device().str() + " into 4 equal rows";
  CHECK_THROWS_WITH_AS(sum_rows(test::context(), X, 4), message.c_str(), ShapeError);
}

TEST_CASE("group moments match two-pass double statistics, also far from zero") {
  // GroupNorm layout: (N, C, H, W) = (2, 64, 9, 7) with 32 groups, so groups of 2*9*7 = 126 values.
  const std::int64_t n = 2, c = 64, h = 9, w = 7, groups = n * 32, per = c / 32 * h * w;
  for (double offset : {0.0, 1e4}) {
    CAPTURE(offset);
    std::vector<double> x = test::uniform(n * c * h * w, 5, offset - 1, offset + 1);
    x = test::as_float(x);
    Tensor X = test::upload(x, {n, c, h, w});
    Tensor mean = Tensor::empty({groups}, test::device()), var = Tensor::empty({groups}, test::device());
    group_moments(test::context(), X, groups, mean, var);
    std::vector<double> m = test::download(mean), v = test::download(var);
    for (std::int64_t g = 0; g < groups; ++g) {
      auto [mu, s2] = two_pass_moments(x, g * per, per);
      CHECK(m[g] == doctest::Approx(mu).epsilon(1e-7));
      // The variance (about 1/3) must survive a mean of 1e4: a one-pass E[x^2] - mean^2 in float would not.
      CHECK(v[g] == doctest::Approx(s2).epsilon(1e-6));
    }
  }
}

TEST_CASE("group moments of large groups span many chunks") {
  const std::int64_t groups = 3, per = 3 * 4096 + 17;
  std::vector<double> x = test::as_float(test::uniform(groups * per, 6, -3, 5));
  Tensor X = test::upload(x, {groups * per});
  Tensor mean = Tensor::empty({groups}, test::device()), var = Tensor::empty({groups}, test::device());
  group_moments(test::context(), X, groups, mean, var);
  std::vector<double> m = test::download(mean), v = test::download(var);
  for (std::int64_t g = 0; g < groups; ++g) {
    auto [mu, s2] = two_pass_moments(x, g * per, per);
    CHECK(m[g] == doctest::Approx(mu).epsilon(1e-6));
    CHECK(v[g] == doctest::Approx(s2).epsilon(1e-6));
  }
}

TEST_CASE("reductions do not depend on the thread count") {
  if (test::device().is_cuda()) return;  // host threads only
  std::vector<double> x = test::uniform(300007, 7);
  Tensor X = test::upload(x, {300007});
  Context one(Device::cpu(), 1), two(Device::cpu(), 2);
  CHECK(sum(one, X) == sum(two, X));
  CHECK(dot(one, X, X) == dot(two, X, X));
}
