#include "kernels/resize.h"

#include <cmath>

#include "support.h"

using namespace tweedie;

namespace {

double inner(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Keys' cubic with a = -0.5, written out from its definition.
double keys(double t) {
  t = std::abs(t);
  if (t <= 1) return (1.5 * t - 2.5) * t * t + 1;
  if (t < 2) return ((-0.5 * t + 2.5) * t - 4) * t + 2;
  return 0;
}

// The imresize downscaling matrix (n/f, n), built differently from the kernel's table: each output
// sums the stretched kernel over every integer position (not a window), and positions outside the
// signal are folded back by walking the sequence 0..n-1, n-1..0, 0..n-1, ... .
std::vector<double> imresize_matrix(std::int64_t n, std::int64_t f) {
  std::int64_t m = n / f;
  std::vector<double> a(std::size_t(m * n), 0.0);
  for (std::int64_t o = 0; o < m; ++o) {
    double centre = (o + 0.5) * f - 0.5, total = 0;
    for (std::int64_t j = -8 * f; j < n + 8 * f; ++j) total += keys((centre - j) / f);
    for (std::int64_t j = -8 * f; j < n + 8 * f; ++j) {
      std::int64_t i = j;
      while (i < 0 || i >= n) i = i < 0 ? -1 - i : 2 * n - 1 - i;
      a[std::size_t(o * n + i)] += keys((centre - j) / f) / total;
    }
  }
  return a;
}

std::vector<double> dense(const HostResampleTable& t) {
  std::vector<double> a(std::size_t(t.n_out * t.n_in), 0.0);
  for (std::int64_t o = 0; o < t.n_out; ++o)
    for (std::int64_t k = 0; k < t.taps; ++k) a[std::size_t(o * t.n_in + t.index[std::size_t(o * t.taps + k)])] += t.weight[std::size_t(o * t.taps + k)];
  return a;
}

}  // namespace

TEST_CASE("block_pool averages f x f blocks for any factor") {
  struct Case {
    std::int64_t p, h, w, f;
  };
  for (Case c : {Case{1, 3, 3, 3}, Case{6, 9, 6, 3}, Case{2, 12, 33, 3}, Case{3, 8, 4, 4}, Case{2, 5, 7, 1}}) {
    CAPTURE(c.f);
    std::vector<double> x = test::as_float(test::uniform(c.p * c.h * c.w, 1));
    std::int64_t h = c.h / c.f, w = c.w / c.f;
    Tensor X = test::upload(x, {c.p, c.h, c.w}), Y = Tensor::empty({c.p, h, w}, test::device());
    block_pool(test::context(), X, Y, c.f);
    std::vector<double> y = test::download(Y), want(y.size(), 0.0);
    for (std::int64_t p = 0; p < c.p; ++p)
      for (std::int64_t i = 0; i < c.h; ++i)
        for (std::int64_t j = 0; j < c.w; ++j) want[std::size_t((p * h + i / c.f) * w + j / c.f)] += x[std::size_t((p * c.h + i) * c.w + j)] / double(c.f * c.f);
    CHECK(test::max_relative_error(y, want) < 1e-6);

    // The adjoint: <pool x, v> = <x, pool^T v>, and pool^T spreads v evenly over each block.
    std::vector<double> v = test::as_float(test::uniform(y.size(), 2));
    Tensor V = test::upload(v, {c.p, h, w}), AV = Tensor::empty({c.p, c.h, c.w}, test::device());
    block_pool_adjoint(test::context(), V, AV, c.f);
    std::vector<double> av = test::download(AV);
    CHECK(inner(y, v) == doctest::Approx(inner(x, av)).epsilon(1e-6));
    std::vector<double> spread(av.size());
    for (std::int64_t p = 0; p < c.p; ++p)
      for (std::int64_t i = 0; i < c.h; ++i)
        for (std::int64_t j = 0; j < c.w; ++j) spread[std::size_t((p * c.h + i) * c.w + j)] = v[std::size_t((p * h + i / c.f) * w + j / c.f)] / double(c.f * c.f);
    CHECK(test::max_relative_error(av, spread) < 1e-6);
  }
}

TEST_CASE("block_pool refuses sizes the factor does not divide") {
  Tensor x = Tensor::zeros({1, 2, 9, 10}, test::device()), y = Tensor::zeros({1, 2, 3, 3}, test::device());
  CHECK_THROWS_WITH_AS(block_pool(test::context(), x, y, 3), doctest::Contains("not divisible by the factor 3"), ShapeError);
  Tensor wrong = Tensor::zeros({1, 2, 3, 3}, test::device()), fine = Tensor::zeros({1, 2, 9, 6}, test::device());
  CHECK_THROWS_WITH_AS(block_pool(test::context(), fine, wrong, 3), doctest::Contains("expected shape (1,2,3,2)"), ShapeError);
}

TEST_CASE("the bicubic table is imresize's antialiased cubic with symmetric boundaries") {
  for (std::int64_t f : {1, 2, 3, 4}) {
    for (std::int64_t n : {f, 2 * f, 5 * f, 16 * f}) {
      CAPTURE(f);
      CAPTURE(n);
      HostResampleTable t = bicubic_downscale_table(n, f);
      CHECK(t.n_out == n / f);
      CHECK(test::max_relative_error(dense(t), imresize_matrix(n, f)) < 1e-12);
      // Rows sum to 1, so constants stay constant.
      for (std::int64_t o = 0; o < t.n_out; ++o) {
        double s = 0;
        for (std::int64_t k = 0; k < t.taps; ++k) s += t.weight[std::size_t(o * t.taps + k)];
        CHECK(s == doctest::Approx(1.0).epsilon(1e-12));
      }
    }
  }
  // Known values: halving with a = -0.5 puts weights (-3, -9, 29, 111, 111, 29, -9, -3) / 256 on the
  // eight pixels around an interior output.
  HostResampleTable t = bicubic_downscale_table(32, 2);
  std::vector<double> a = dense(t);
  const double expect[8] = {-3, -9, 29, 111, 111, 29, -9, -3};
  for (int k = 0; k < 8; ++k) CHECK(a[std::size_t(8 * 32 + 13 + k)] == doctest::Approx(expect[k] / 256).epsilon(1e-12));
  CHECK_THROWS_WITH_AS(bicubic_downscale_table(10, 3), doctest::Contains("not divisible by the factor 3"), ShapeError);
}

TEST_CASE("resample along either axis applies the table, and the transposed table is its adjoint") {
  struct Case {
    std::int64_t p, h, w, f;
  };
  for (Case c : {Case{1, 4, 4, 2}, Case{3, 6, 9, 3}, Case{2, 8, 12, 4}, Case{2, 3, 5, 1}}) {
    CAPTURE(c.f);
    for (int axis : {-1, -2}) {
      CAPTURE(axis);
      std::int64_t n = axis == -1 ? c.w : c.h;
      HostResampleTable host = bicubic_downscale_table(n, c.f);
      std::vector<double> a = imresize_matrix(n, c.f);
      std::int64_t ho = axis == -1 ? c.h : c.h / c.f, wo = axis == -1 ? c.w / c.f : c.w;
      std::vector<double> x = test::as_float(test::uniform(c.p * c.h * c.w, 3));
      Tensor X = test::upload(x, {c.p, c.h, c.w}), Y = Tensor::empty({c.p, ho, wo}, test::device());
      resample(test::context(), upload(host, test::device()), X, Y, axis);
      std::vector<double> y = test::download(Y), want(y.size(), 0.0);
      for (std::int64_t p = 0; p < c.p; ++p)
        for (std::int64_t i = 0; i < ho; ++i)
          for (std::int64_t j = 0; j < wo; ++j) {
            double s = 0;
            for (std::int64_t k = 0; k < n; ++k)
              s += axis == -1 ? a[std::size_t(j * n + k)] * x[std::size_t((p * c.h + i) * c.w + k)]
                              : a[std::size_t(i * n + k)] * x[std::size_t((p * c.h + k) * c.w + j)];
            want[std::size_t((p * ho + i) * wo + j)] = s;
          }
      CHECK(test::max_relative_error(y, want) < 1e-5);

      std::vector<double> v = test::as_float(test::uniform(y.size(), 4));
      Tensor V = test::upload(v, {c.p, ho, wo}), AV = Tensor::empty({c.p, c.h, c.w}, test::device());
      resample(test::context(), upload(transposed(host), test::device()), V, AV, axis);
      CHECK(inner(y, v) == doctest::Approx(inner(x, test::download(AV))).epsilon(1e-5));
    }
  }
}

TEST_CASE("resample checks the axis length against the table") {
  ResampleTable t = upload(bicubic_downscale_table(8, 2), test::device());
  Tensor x = Tensor::zeros({2, 8, 6}, test::device()), y = Tensor::zeros({2, 8, 3}, test::device());
  CHECK_THROWS_WITH_AS(resample(test::context(), t, x, y, -1), doctest::Contains("maps length 8 along axis -1"), ShapeError);
  Tensor y2 = Tensor::zeros({2, 4, 5}, test::device());
  CHECK_THROWS_WITH_AS(resample(test::context(), t, x, y2, -2), doctest::Contains("expected shape (2,4,6)"), ShapeError);
}
