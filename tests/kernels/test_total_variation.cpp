#include "kernels/total_variation.h"

#include <cmath>

#include "support.h"

using namespace tweedie;

namespace {

struct Dims {
  std::int64_t n, c, h, w;
};

// Odd, flat and single-pixel planes: the boundary rows and columns are where the differences end.
const Dims kDims[] = {{1, 1, 1, 1}, {1, 1, 1, 9}, {2, 1, 7, 1}, {2, 3, 7, 5}, {1, 2, 33, 40}};

// The forward differences of a (planes, h, w) array in double, as (planes, 2, h, w).
std::vector<double> reference_gradient(const std::vector<double>& x, const Dims& d) {
  std::int64_t planes = d.n * d.c, hw = d.h * d.w;
  std::vector<double> g(2 * x.size(), 0.0);
  for (std::int64_t p = 0; p < planes; ++p)
    for (std::int64_t i = 0; i < d.h; ++i)
      for (std::int64_t j = 0; j < d.w; ++j) {
        const double* xp = x.data() + p * hw;
        double* gp = g.data() + 2 * p * hw;
        if (j + 1 < d.w) gp[i * d.w + j] = xp[i * d.w + j + 1] - xp[i * d.w + j];
        if (i + 1 < d.h) gp[hw + i * d.w + j] = xp[(i + 1) * d.w + j] - xp[i * d.w + j];
      }
  return g;
}

double inner(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

Shape image(const Dims& d) { return {d.n, d.c, d.h, d.w}; }
Shape field(const Dims& d) { return {d.n, d.c, 2, d.h, d.w}; }

}  // namespace

TEST_CASE("image_gradient takes forward differences with a zero last row and column") {
  for (const Dims& d : kDims) {
    CAPTURE(d.h);
    CAPTURE(d.w);
    std::vector<double> x = test::as_float(test::uniform(image(d).numel(), 1));
    Tensor g = Tensor::empty(field(d), test::device());
    image_gradient(test::context(), test::upload(x, image(d)), g);
    CHECK(test::max_relative_error(test::download(g), reference_gradient(x, d), 1.0) < 1e-6);
  }
}

TEST_CASE("image_divergence is the negative adjoint of image_gradient") {
  for (const Dims& d : kDims) {
    CAPTURE(d.h);
    CAPTURE(d.w);
    std::vector<double> x = test::as_float(test::uniform(image(d).numel(), 2));
    std::vector<double> p = test::as_float(test::uniform(field(d).numel(), 3));
    Tensor gx = Tensor::empty(field(d), test::device()), dp = Tensor::empty(image(d), test::device());
    image_gradient(test::context(), test::upload(x, image(d)), gx);
    image_divergence(test::context(), test::upload(p, field(d)), dp);
    double lhs = inner(test::download(gx), p), rhs = -inner(x, test::download(dp));
    // The scale of the terms summed, so that a tiny inner product is not judged relative to itself.
    double scale = std::sqrt(double(x.size())) + 1;
    CHECK(std::abs(lhs - rhs) <= 1e-6 * scale);
  }
}

TEST_CASE("image_divergence matches the transpose of the reference gradient") {
  Dims d{2, 2, 6, 5};
  std::vector<double> p = test::as_float(test::uniform(field(d).numel(), 4));
  // -grad^T p, column by column of the reference: <e_k, div p> = -<grad e_k, p>.
  std::vector<double> want(image(d).numel());
  for (std::size_t k = 0; k < want.size(); ++k) {
    std::vector<double> e(want.size(), 0.0);
    e[k] = 1;
    want[k] = -inner(reference_gradient(e, d), p);
  }
  Tensor dp = Tensor::empty(image(d), test::device());
  image_divergence(test::context(), test::upload(p, field(d)), dp);
  CHECK(test::max_relative_error(test::download(dp), want, 1.0) < 1e-6);
}

TEST_CASE("gradient_magnitude is the pixelwise length of the gradient pair") {
  for (const Dims& d : kDims) {
    std::vector<double> x = test::as_float(test::uniform(image(d).numel(), 5));
    std::vector<double> g = reference_gradient(x, d), want(x.size());
    std::int64_t hw = d.h * d.w;
    for (std::size_t k = 0; k < x.size(); ++k) {
      std::int64_t p = std::int64_t(k) / hw, s = std::int64_t(k) % hw;
      want[k] = std::hypot(g[2 * p * hw + s], g[(2 * p + 1) * hw + s]);
    }
    Tensor m = Tensor::empty(image(d), test::device());
    gradient_magnitude(test::context(), test::upload(x, image(d)), m);
    CHECK(test::max_relative_error(test::download(m), want, 1.0) < 1e-6);
  }
}

TEST_CASE("tv_dual_step adds the scaled gradient and projects each pair onto the disc") {
  for (double radius : {0.0, 0.3, 10.0}) {
    CAPTURE(radius);
    Dims d{2, 3, 7, 5};
    std::vector<double> x = test::as_float(test::uniform(image(d).numel(), 6));
    std::vector<double> p = test::as_float(test::uniform(field(d).numel(), 7, -0.5, 0.5));
    double step = 0.7;
    std::vector<double> g = reference_gradient(x, d), want = p;
    std::int64_t hw = d.h * d.w;
    for (std::int64_t q = 0; q < d.n * d.c; ++q)
      for (std::int64_t s = 0; s < hw; ++s) {
        double& a = want[2 * q * hw + s];
        double& b = want[(2 * q + 1) * hw + s];
        a += step * g[2 * q * hw + s];
        b += step * g[(2 * q + 1) * hw + s];
        double norm = std::hypot(a, b);
        if (norm > radius) a *= radius / norm, b *= radius / norm;
      }
    Tensor pt = test::upload(p, field(d));
    tv_dual_step(test::context(), test::upload(x, image(d)), float(step), float(radius), pt);
    CHECK(test::max_relative_error(test::download(pt), want, 1.0) < 1e-6);
  }
}

TEST_CASE("the total variation ops refuse mismatched shapes and bad radii") {
  Context& ctx = test::context();
  Tensor x = Tensor::zeros({1, 2, 4, 5}, test::device());
  Tensor wrong = Tensor::zeros({1, 2, 4, 5}, test::device()), g = Tensor::zeros({1, 2, 2, 4, 5}, test::device());
  CHECK_THROWS_AS(image_gradient(ctx, x, wrong), ShapeError);
  CHECK_THROWS_AS(image_divergence(ctx, wrong, x), ShapeError);
  CHECK_THROWS_AS(image_gradient(ctx, Tensor::zeros({3}, test::device()), g), ShapeError);
  CHECK_THROWS_AS(tv_dual_step(ctx, x, 1.0f, -1.0f, g), ArgumentError);
  CHECK_THROWS_AS(image_gradient(ctx, g, g), ShapeError);
}
