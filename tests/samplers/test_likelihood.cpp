// Likelihoods p(y | x) = p(y | A(x)): values against closed forms, gradients in x against finite
// differences through every kind of operator (linear, complex-valued, nonlinear) and noise model.
#include <doctest/doctest.h>

#include <cmath>

#include "io/hdf5_file.h"
#include "io/operator_spec.h"
#include "samplers/noise/likelihood.h"
#include "samplers/operator_checks.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::test;
using samplers::Likelihood;
using samplers::Signal;

namespace {

Likelihood likelihood(const std::string& op, const std::string& noise, const Signal& x) {
  BuiltOperator a = build_operator(op, x, device(), {"--operator", 3, ""});
  BuiltNoise n = build_noise(noise, a.op->output(), device());
  return Likelihood(a.op, n.noise);
}

// <grad, v> against (L(x + h v) - L(x - h v)) / 2h summed over the batch, as a relative error.
double directional_error(Likelihood& lik, const Tensor& y, const Tensor& x, double h) {
  Context& ctx = context();
  Tensor g = lik.op().make_input(x.dim(0), device());
  lik.gradient(ctx, y, x, g);
  Tensor v = random_input(lik.op(), x.dim(0), 99);
  std::vector<double> xv = download(x), vv = download(v);
  auto at = [&](double s) {
    std::vector<double> p(xv);
    for (std::size_t i = 0; i < p.size(); ++i) p[i] += s * h * vv[i];
    double total = 0;
    for (double l : lik.log_likelihood(ctx, y, upload(p, x.shape()))) total += l;
    return total;
  };
  double fd = (at(1) - at(-1)) / (2 * h), an = real_dot(g, v);
  INFO("analytic ", an, ", finite difference ", fd);
  CHECK(std::isfinite(an));
  return std::abs(an - fd) / std::max(std::abs(fd), 1e-12);
}

}  // namespace

TEST_CASE("Gaussian likelihood of a dense matrix operator: log p and its gradient in closed form") {
  Context& ctx = context();
  const std::int64_t m = 5, d = 7, n = 2;
  std::vector<double> a = uniform(std::size_t(m * d), 1), x = as_float(uniform(std::size_t(n * d), 2)), y = as_float(uniform(std::size_t(n * m), 3));
  a = as_float(a);
  TempDir dir;
  {
    H5File f = H5File::create(dir.file("a.h5"));
    f.write("A", upload(a, {m, d}));
    f.commit();
  }
  Signal xs{{d}, DType::f32};
  Likelihood lik = likelihood("matrix:a=" + dir.file("a.h5"), "gaussian:sigma=0.5", xs);
  Tensor g = Tensor::empty({n, d}, device());
  std::vector<double> logp = lik.gradient(ctx, upload(y, {n, m}), upload(x, {n, d}), g);
  std::vector<double> grad = download(g);
  for (std::int64_t b = 0; b < n; ++b) {
    std::vector<double> r(static_cast<std::size_t>(m));
    double want = 0;
    for (std::int64_t i = 0; i < m; ++i) {
      double ax = 0;
      for (std::int64_t j = 0; j < d; ++j) ax += a[std::size_t(i * d + j)] * x[std::size_t(b * d + j)];
      r[std::size_t(i)] = y[std::size_t(b * m + i)] - ax;
      want += -r[std::size_t(i)] * r[std::size_t(i)] / (2 * 0.25) - std::log(0.5) - 0.5 * std::log(2 * M_PI);
    }
    CHECK(logp[std::size_t(b)] == doctest::Approx(want).epsilon(1e-5));
    for (std::int64_t j = 0; j < d; ++j) {
      double gj = 0;
      for (std::int64_t i = 0; i < m; ++i) gj += a[std::size_t(i * d + j)] * r[std::size_t(i)] / 0.25;
      CHECK(grad[std::size_t(b * d + j)] == doctest::Approx(gj).epsilon(1e-5));
    }
  }
}

TEST_CASE("likelihood gradients match finite differences through every kind of operator and noise model") {
  Context& ctx = context();
  struct Case {
    std::string op, noise;
    Shape item;
  };
  for (Case c : {Case{"inpaint:p=0.5", "gaussian:sigma=0.3", {2, 6, 6}}, Case{"blur:gauss:3:1", "poisson:scale=5:link=softplus", {1, 8, 8}},
                 Case{"sr:2:avg", "poisson:scale=3:link=exp", {1, 8, 8}}, Case{"inpaint:p=0.7|sr:2", "binomial:n=12:scale=0.9", {1, 8, 8}},
                 Case{"mri:R=2:centre=2", "gaussian:sigma=0.2", {1, 8, 8}}, Case{"phase:pad=2", "gaussian:sigma=0.5", {1, 6, 6}},
                 Case{"phase:pad=2", "poisson:scale=4:link=softplus", {1, 6, 6}}}) {
    CAPTURE(c.op);
    CAPTURE(c.noise);
    Signal xs{c.item, DType::f32};
    Likelihood lik = likelihood(c.op, c.noise, xs);
    Tensor truth = random_input(lik.op(), 2, 10);
    Tensor y = lik.op().make_output(2, device());
    lik.simulate(ctx, truth, RandomStream{4, 0}, y);
    lik.validate(ctx, y, "simulated");
    // The gradient at a point away from the truth, where it is not small.
    Tensor x = random_input(lik.op(), 2, 20);
    // h = 1e-3: the modulus of phase retrieval curves enough that 1e-2 leaves a 2% O(h^2) error.
    CHECK(directional_error(lik, y, x, 1e-3) < 2e-3);
  }
}

TEST_CASE("simulated observations are zero where nothing is measured, and validation names shape mismatches") {
  Context& ctx = context();
  Signal xs{{1, 8, 8}, DType::f32};
  Likelihood lik = likelihood("mri:R=4:centre=2", "gaussian:sigma=1", xs);
  Tensor x = random_input(lik.op(), 3, 1), y = lik.op().make_output(3, device());
  lik.simulate(ctx, x, RandomStream{1, 0}, y);
  std::vector<std::complex<double>> yv = download_complex(y);
  std::vector<double> seen = download(lik.op().observed());
  std::size_t measured = 0;
  for (std::size_t i = 0; i < yv.size(); ++i) {
    if (seen[i % seen.size()] == 0) CHECK(yv[i] == std::complex<double>(0, 0));
    else measured += yv[i] != std::complex<double>(0, 0);
  }
  CHECK(measured > 0);
  Tensor wrong = Tensor::zeros({3, 1, 8, 8}, device());
  CHECK_THROWS_WITH_AS(lik.validate(ctx, wrong, "y.h5:y"), doctest::Contains("y.h5:y: y is (3,1,8,8) f32 but operator 'mri:R=4"), ShapeError);
}
