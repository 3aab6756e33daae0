// Per-row updates against a naive double loop.
#include <doctest/doctest.h>

#include <cmath>

#include "kernels/rows.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::test;

TEST_CASE("axpby_rows scales each row by its own coefficients, real and complex, in place too") {
  Context& ctx = context();
  for (std::int64_t cols : {1, 7, 1031})
    for (std::int64_t rows : {1, 3}) {
      CAPTURE(cols);
      CAPTURE(rows);
      std::size_t n = std::size_t(rows * cols);
      std::vector<double> a = as_float(uniform(std::size_t(rows), 1)), b = as_float(uniform(std::size_t(rows), 2));
      b[0] = 0;  // a zero b ignores y
      std::vector<double> x = as_float(uniform(n, 3)), y = as_float(uniform(n, 4));
      Tensor xt = upload(x, {rows, cols}), yt = upload(y, {rows, cols});
      axpby_rows(ctx, a, xt, b, yt);
      std::vector<double> want(n);
      for (std::size_t i = 0; i < n; ++i) want[i] = a[i / cols] * x[i] + b[i / cols] * y[i];
      CHECK(max_relative_error(download(yt), want) < 1e-6);
      axpy_rows(ctx, a, xt, xt);  // in place: x[r] = (1 + a[r]) x[r]
      for (std::size_t i = 0; i < n; ++i) want[i] = (1 + a[i / cols]) * x[i];
      CHECK(max_relative_error(download(xt), want) < 1e-6);

      std::vector<std::complex<double>> z = complex_uniform(n, 5), w = complex_uniform(n, 6);
      Tensor zt = upload(z, {rows, cols}), wt = upload(w, {rows, cols});
      axpby_rows(ctx, a, zt, b, wt);
      std::vector<std::complex<double>> want_c(n);
      for (std::size_t i = 0; i < n; ++i) want_c[i] = a[i / cols] * z[i] + b[i / cols] * w[i];
      CHECK(max_relative_error(download_complex(wt), want_c) < 1e-6);
    }
}

TEST_CASE("axpby_rows with b = 0 ignores NaNs already in y") {
  Tensor x = upload(std::vector<double>{1, 2, 3, 4}, {2, 2}), y = upload(std::vector<double>{NAN, INFINITY, 5, 6}, {2, 2});
  axpby_rows(context(), {2.0, 1.0}, x, {0.0, 1.0}, y);
  CHECK(download(y) == std::vector<double>{2, 4, 8, 10});
}

TEST_CASE("axpby_rows rejects coefficients that do not split the tensor into rows") {
  Context& ctx = context();
  Tensor x = Tensor::zeros({10}, device()), y = Tensor::zeros({10}, device());
  CHECK_THROWS_WITH_AS(axpby_rows(ctx, {1.0, 1.0, 1.0}, x, {0.0, 0.0, 0.0}, y),
                       doctest::Contains("cannot be split into 3 equal rows"), ShapeError);
  CHECK_THROWS_WITH_AS(axpby_rows(ctx, {1.0, 1.0}, x, {0.0}, y), doctest::Contains("2 coefficients a but 1"), ArgumentError);
  Tensor z = Tensor::zeros({10}, device(), DType::c64);
  CHECK_THROWS_AS(axpby_rows(ctx, {1.0}, z, {1.0}, y), DTypeError);
}
