#include "kernels/resample.h"

#include "support.h"

using namespace tweedie;

namespace {
double inner(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}
struct Dims {
  std::int64_t n, c, h, w;
};
}  // namespace

TEST_CASE("upsample2x repeats each pixel into a 2x2 block") {
  for (Dims d : {Dims{1, 1, 1, 1}, Dims{2, 3, 7, 5}, Dims{1, 2, 33, 16}, Dims{1, 2, 3, 1031}}) {
    std::vector<double> x = test::uniform(d.n * d.c * d.h * d.w, 1);
    Tensor X = test::upload(x, {d.n, d.c, d.h, d.w}), Y = Tensor::empty({d.n, d.c, 2 * d.h, 2 * d.w}, test::device());
    upsample2x(test::context(), X, Y);
    std::vector<double> y = test::download(Y), xf = test::as_float(x);
    for (std::int64_t p = 0; p < d.n * d.c; ++p)
      for (std::int64_t r = 0; r < 2 * d.h; ++r)
        for (std::int64_t c = 0; c < 2 * d.w; ++c)
          CHECK(y[(p * 2 * d.h + r) * 2 * d.w + c] == xf[(p * d.h + r / 2) * d.w + c / 2]);
  }
}

TEST_CASE("avgpool2x averages 2x2 blocks and drops an odd last row or column") {
  for (Dims d : {Dims{1, 1, 2, 2}, Dims{2, 3, 7, 5}, Dims{1, 2, 34, 17}, Dims{1, 1, 5, 1031}}) {
    std::vector<double> x = test::as_float(test::uniform(d.n * d.c * d.h * d.w, 2));
    Tensor X = test::upload(x, {d.n, d.c, d.h, d.w}), Y = Tensor::empty({d.n, d.c, d.h / 2, d.w / 2}, test::device());
    avgpool2x(test::context(), X, Y);
    std::vector<double> y = test::download(Y);
    std::int64_t h = d.h / 2, w = d.w / 2;
    for (std::int64_t p = 0; p < d.n * d.c; ++p)
      for (std::int64_t r = 0; r < h; ++r)
        for (std::int64_t c = 0; c < w; ++c) {
          const double* q = x.data() + (p * d.h + 2 * r) * d.w + 2 * c;
          CHECK(y[(p * h + r) * w + c] == doctest::Approx((q[0] + q[1] + q[d.w] + q[d.w + 1]) / 4).epsilon(1e-6));
        }
  }
}

TEST_CASE("the adjoints satisfy <A x, y> = <x, A^T y>") {
  for (Dims d : {Dims{1, 1, 1, 1}, Dims{2, 3, 7, 5}, Dims{1, 4, 33, 10}, Dims{1, 1, 2, 1031}}) {
    CAPTURE(d.h);
    CAPTURE(d.w);
    Shape small{d.n, d.c, d.h, d.w}, big{d.n, d.c, 2 * d.h, 2 * d.w};
    std::vector<double> x = test::as_float(test::uniform(small.numel(), 3)), y = test::as_float(test::uniform(big.numel(), 4));
    Tensor X = test::upload(x, small), Y = test::upload(y, big);
    Tensor AX = Tensor::empty(big, test::device()), ATY = Tensor::empty(small, test::device());
    upsample2x(test::context(), X, AX);
    upsample2x_adjoint(test::context(), Y, ATY);
    CHECK(inner(test::download(AX), y) == doctest::Approx(inner(x, test::download(ATY))).epsilon(1e-6));
  }
  for (Dims d : {Dims{1, 1, 2, 2}, Dims{2, 3, 7, 5}, Dims{1, 4, 33, 10}, Dims{1, 1, 3, 1031}}) {
    CAPTURE(d.h);
    CAPTURE(d.w);
    Shape big{d.n, d.c, d.h, d.w}, small{d.n, d.c, d.h / 2, d.w / 2};
    std::vector<double> x = test::as_float(test::uniform(big.numel(), 5)), y = test::as_float(test::uniform(small.numel(), 6));
    Tensor X = test::upload(x, big), Y = test::upload(y, small);
    Tensor AX = Tensor::empty(small, test::device()), ATY = Tensor::empty(big, test::device());
    avgpool2x(test::context(), X, AX);
    avgpool2x_adjoint(test::context(), Y, ATY);
    CHECK(inner(test::download(AX), y) == doctest::Approx(inner(x, test::download(ATY))).epsilon(1e-6));
  }
}

TEST_CASE("resample shape errors name the expected shape") {
  Tensor x = Tensor::zeros({1, 2, 3, 4}, test::device()), y = Tensor::zeros({1, 2, 6, 6}, test::device());
  CHECK_THROWS_WITH_AS(upsample2x(test::context(), x, y), doctest::Contains("expected shape (1,2,6,8)"), ShapeError);
  Tensor odd = Tensor::zeros({1, 2, 5, 4}, test::device()), half = Tensor::zeros({1, 2, 2, 2}, test::device());
  CHECK_THROWS_WITH_AS(upsample2x_adjoint(test::context(), odd, half), doctest::Contains("expected even height and width"), ShapeError);
}

TEST_CASE("1-D upsample and pool along the last axis, with their adjoints") {
  for (std::int64_t len : {1, 2, 7, 1031}) {
    CAPTURE(len);
    const std::int64_t n = 2, c = 3;
    std::vector<double> x = test::as_float(test::uniform(n * c * len, 7));
    Tensor X = test::upload(x, {n, c, len});
    Tensor up = Tensor::empty({n, c, 2 * len}, test::device()), down = Tensor::empty({n, c, len / 2}, test::device());
    upsample1d(test::context(), X, up);
    avgpool1d(test::context(), X, down);
    std::vector<double> u = test::download(up), d = test::download(down);
    for (std::int64_t r = 0; r < n * c; ++r) {
      for (std::int64_t j = 0; j < 2 * len; ++j) CHECK(u[r * 2 * len + j] == x[r * len + j / 2]);
      for (std::int64_t j = 0; j < len / 2; ++j)
        CHECK(d[r * (len / 2) + j] == doctest::Approx((x[r * len + 2 * j] + x[r * len + 2 * j + 1]) / 2).epsilon(1e-6));
    }
    // <A x, y> = <x, A^T y> for both maps.
    std::vector<double> yu = test::as_float(test::uniform(n * c * 2 * len, 8)), yd = test::as_float(test::uniform(n * c * (len / 2), 9));
    Tensor YU = test::upload(yu, {n, c, 2 * len}), YD = test::upload(yd, {n, c, len / 2});
    Tensor AU = Tensor::empty({n, c, len}, test::device()), AD = Tensor::empty({n, c, len}, test::device());
    upsample1d_adjoint(test::context(), YU, AU);
    avgpool1d_adjoint(test::context(), YD, AD);
    CHECK(inner(u, yu) == doctest::Approx(inner(x, test::download(AU))).epsilon(1e-6));
    CHECK(inner(d, yd) == doctest::Approx(inner(x, test::download(AD))).epsilon(1e-6).scale(1e-9));
  }
}
