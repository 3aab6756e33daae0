#include "kernels/image_filter.h"

#include <complex>

#include "support.h"

using namespace tweedie;

namespace {

double inner(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// numpy.pad(mode='reflect') along one axis, as a source index: mirror about the first and last
// elements without repeating them, e.g. for n = 4: ... 2 1 | 0 1 2 3 | 2 1 ...
std::int64_t numpy_reflect(std::int64_t i, std::int64_t n) {
  if (n == 1) return 0;
  std::int64_t period = 2 * (n - 1), m = ((i % period) + period) % period;
  return m < n ? m : period - m;
}

struct Case {
  std::int64_t p, h, w, ph, pw;
};

}  // namespace

TEST_CASE("reflect_pad mirrors without repeating the edge, and its adjoint folds the margins back") {
  for (Case c : {Case{1, 1, 1, 0, 0}, Case{2, 5, 7, 2, 3}, Case{3, 4, 9, 3, 1}, Case{1, 33, 6, 15, 5}}) {
    CAPTURE(c.h);
    CAPTURE(c.w);
    std::int64_t hp = c.h + 2 * c.ph, wp = c.w + 2 * c.pw;
    std::vector<double> x = test::as_float(test::uniform(c.p * c.h * c.w, 1));
    Tensor X = test::upload(x, {c.p, c.h, c.w}), Y = Tensor::empty({c.p, hp, wp}, test::device());
    reflect_pad(test::context(), X, Y, c.ph, c.pw);
    std::vector<double> y = test::download(Y);
    bool same = true;
    for (std::int64_t p = 0; p < c.p; ++p)
      for (std::int64_t i = 0; i < hp; ++i)
        for (std::int64_t j = 0; j < wp; ++j)
          same = same && y[std::size_t((p * hp + i) * wp + j)] ==
                             x[std::size_t((p * c.h + numpy_reflect(i - c.ph, c.h)) * c.w + numpy_reflect(j - c.pw, c.w))];
    CHECK(same);

    // The fold, against a scatter of every padded cell onto its source.
    std::vector<double> v = test::as_float(test::uniform(y.size(), 2)), want(x.size(), 0.0);
    for (std::int64_t p = 0; p < c.p; ++p)
      for (std::int64_t i = 0; i < hp; ++i)
        for (std::int64_t j = 0; j < wp; ++j)
          want[std::size_t((p * c.h + numpy_reflect(i - c.ph, c.h)) * c.w + numpy_reflect(j - c.pw, c.w))] += v[std::size_t((p * hp + i) * wp + j)];
    Tensor V = test::upload(v, {c.p, hp, wp}), F = Tensor::empty({c.p, c.h, c.w}, test::device());
    reflect_pad_adjoint(test::context(), V, F, c.ph, c.pw);
    std::vector<double> folded = test::download(F);
    CHECK(test::max_relative_error(folded, want) < 1e-6);
    CHECK(inner(y, v) == doctest::Approx(inner(x, folded)).epsilon(1e-6));
  }
}

TEST_CASE("reflect_pad refuses a pad as large as the image") {
  Tensor x = Tensor::zeros({1, 3, 4}, test::device()), y = Tensor::zeros({1, 9, 4}, test::device());
  CHECK_THROWS_WITH_AS(reflect_pad(test::context(), x, y, 3, 0), doctest::Contains("at most the height and width less one"),
                       ArgumentError);
}

TEST_CASE("convolve_valid is a 2-D convolution with the flipped kernel, and has an exact adjoint") {
  struct Conv {
    std::int64_t p, h, w, kh, kw;
  };
  for (Conv c : {Conv{1, 1, 1, 1, 1}, Conv{2, 7, 9, 3, 5}, Conv{3, 10, 6, 5, 1}, Conv{1, 20, 17, 7, 7}}) {
    CAPTURE(c.kh);
    CAPTURE(c.kw);
    std::int64_t ho = c.h - c.kh + 1, wo = c.w - c.kw + 1;
    std::vector<double> x = test::as_float(test::uniform(c.p * c.h * c.w, 3)), k = test::as_float(test::uniform(c.kh * c.kw, 4));
    Tensor X = test::upload(x, {c.p, c.h, c.w}), K = test::upload(k, {c.kh, c.kw}), Y = Tensor::empty({c.p, ho, wo}, test::device());
    convolve_valid(test::context(), X, K, Y);
    std::vector<double> y = test::download(Y), want(y.size(), 0.0);
    // y[i, j] = sum over input pixels (m, n) of x[m, n] k[i + kh - 1 - m, j + kw - 1 - n].
    for (std::int64_t p = 0; p < c.p; ++p)
      for (std::int64_t i = 0; i < ho; ++i)
        for (std::int64_t j = 0; j < wo; ++j)
          for (std::int64_t m = i; m < i + c.kh; ++m)
            for (std::int64_t n = j; n < j + c.kw; ++n)
              want[std::size_t((p * ho + i) * wo + j)] +=
                  x[std::size_t((p * c.h + m) * c.w + n)] * k[std::size_t((i + c.kh - 1 - m) * c.kw + (j + c.kw - 1 - n))];
    CHECK(test::max_relative_error(y, want) < 1e-5);

    std::vector<double> v = test::as_float(test::uniform(y.size(), 5));
    Tensor V = test::upload(v, {c.p, ho, wo}), AV = Tensor::empty({c.p, c.h, c.w}, test::device());
    convolve_valid_adjoint(test::context(), V, K, AV);
    CHECK(inner(y, v) == doctest::Approx(inner(x, test::download(AV))).epsilon(1e-5));
  }
}

TEST_CASE("convolve_valid checks the kernel against the image") {
  Tensor x = Tensor::zeros({2, 4, 4}, test::device()), k = Tensor::zeros({5, 3}, test::device()), y = Tensor::zeros({2, 1, 2}, test::device());
  CHECK_THROWS_WITH_AS(convolve_valid(test::context(), x, k, y), doctest::Contains("larger than the planes of x"), ShapeError);
  Tensor k3 = Tensor::zeros({3, 3}, test::device());
  CHECK_THROWS_WITH_AS(convolve_valid(test::context(), x, k3, y), doctest::Contains("expected shape (2,2,2)"), ShapeError);
}
