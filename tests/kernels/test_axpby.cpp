#include "kernels/axpby.h"

#include <cmath>

#include "support.h"

using namespace tweedie;

TEST_CASE("axpby, scale and fill match double arithmetic on odd sizes") {
  for (std::int64_t n : test::kSizes) {
    std::vector<double> x = test::as_float(test::uniform(std::size_t(n), 1)), y = test::as_float(test::uniform(std::size_t(n), 2));
    Tensor X = test::upload(x, {n}), Y = test::upload(y, {n});
    axpby(test::context(), 0.75f, X, -1.5f, Y);
    std::vector<double> got = test::download(Y);
    for (std::int64_t i = 0; i < n; ++i) CHECK(got[i] == doctest::Approx(0.75 * x[i] - 1.5 * y[i]).epsilon(1e-6).scale(1));
    scale(test::context(), X, -3.0f);
    got = test::download(X);
    for (std::int64_t i = 0; i < n; ++i) CHECK(got[i] == doctest::Approx(-3.0 * x[i]).epsilon(1e-6));
    fill(test::context(), X, 2.5f);
    for (double v : test::download(X)) CHECK(v == 2.5);
  }
}

TEST_CASE("axpby with b = 0 ignores NaNs already in y") {
  std::vector<double> x = {1, 2, 3};
  Tensor X = test::upload(x, {3}), Y = test::upload(std::vector<double>{NAN, INFINITY, -NAN}, {3});
  axpby(test::context(), 2.0f, X, 0.0f, Y);
  CHECK(test::download(Y) == std::vector<double>{2, 4, 6});
}
