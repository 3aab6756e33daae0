#include "kernels/softmax.h"

#include <cmath>

#include "support.h"

using namespace tweedie;

namespace {
std::vector<double> softmax_reference(const std::vector<double>& x, std::int64_t rows, std::int64_t cols) {
  std::vector<double> y(x.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    double m = -INFINITY, s = 0;
    for (std::int64_t c = 0; c < cols; ++c) m = std::max(m, x[r * cols + c]);
    for (std::int64_t c = 0; c < cols; ++c) s += std::exp(x[r * cols + c] - m);
    for (std::int64_t c = 0; c < cols; ++c) y[r * cols + c] = std::exp(x[r * cols + c] - m) / s;
  }
  return y;
}
}  // namespace

TEST_CASE("softmax over rows matches double precision for odd row lengths") {
  for (std::int64_t cols : test::kSizes)
    for (std::int64_t rows : {1, 7, 33}) {
      CAPTURE(cols);
      CAPTURE(rows);
      std::vector<double> x = test::as_float(test::uniform(std::size_t(rows * cols), 8, -20, 20));
      Tensor X = test::upload(x, {rows, cols}), Y = Tensor::empty({rows, cols}, test::device());
      softmax_rows(test::context(), X, Y);
      std::vector<double> y = test::download(Y), want = softmax_reference(x, rows, cols);
      for (std::size_t i = 0; i < y.size(); ++i) CHECK(std::abs(y[i] - want[i]) <= 1e-6 * want[i] + 1e-12);
    }
}

TEST_CASE("softmax is stable for huge logits and works in place on 3-D tensors") {
  std::vector<double> x = {1e4, 1e4 - 1, -1e4, 0, 0, 0, 88, 89, 90, -100, -101, -102};
  Tensor X = test::upload(x, {2, 2, 3});
  softmax_rows(test::context(), X, X);
  std::vector<double> y = test::download(X), want = softmax_reference(x, 4, 3);
  for (std::size_t i = 0; i < y.size(); ++i) CHECK(y[i] == doctest::Approx(want[i]).epsilon(1e-6));
}

TEST_CASE("softmax_rows_derivative is the JVP of softmax (central differences in double) and symmetric") {
  for (std::int64_t cols : {1, 7, 33, 1031}) {
    CAPTURE(cols);
    const std::int64_t rows = 3;
    std::vector<double> x = test::as_float(test::uniform(std::size_t(rows * cols), 21, -3, 3));
    std::vector<double> v = test::as_float(test::uniform(std::size_t(rows * cols), 22)), u = test::as_float(test::uniform(std::size_t(rows * cols), 23));
    Tensor X = test::upload(x, {rows, cols}), P = Tensor::empty({rows, cols}, test::device());
    softmax_rows(test::context(), X, P);
    Tensor V = test::upload(v, {rows, cols}), JV = Tensor::empty({rows, cols}, test::device());
    softmax_rows_derivative(test::context(), P, V, JV);
    std::vector<double> jv = test::download(JV);
    double h = 1e-6;
    std::vector<double> xp(x), xm(x);
    for (std::size_t i = 0; i < x.size(); ++i) xp[i] += h * v[i], xm[i] -= h * v[i];
    std::vector<double> fd = softmax_reference(xp, rows, cols), sm = softmax_reference(xm, rows, cols);
    for (std::size_t i = 0; i < fd.size(); ++i) fd[i] = (fd[i] - sm[i]) / (2 * h);
    CHECK(test::max_relative_error(jv, fd, 1e-3) < 1e-4);
    // <u, J v> = <J u, v>: the same map serves the VJP.
    Tensor U = test::upload(u, {rows, cols}), JU = Tensor::empty({rows, cols}, test::device());
    softmax_rows_derivative(test::context(), P, U, JU);
    double a = 0, b = 0, uu = 0, vv = 0;
    std::vector<double> ju = test::download(JU);
    for (std::size_t i = 0; i < u.size(); ++i) a += u[i] * jv[i], b += ju[i] * v[i], uu += u[i] * u[i], vv += v[i] * v[i];
    CHECK(std::abs(a - b) <= 1e-6 * std::sqrt(uu * vv));  // relative to the scale of the terms, not their sum
  }
}
