// The dense form of every Gaussian prior structure against the denoiser that never forms it, and the
// Laplace approximation (whitened coordinates, samplers/posterior/laplace.h) against Newton's method
// written directly in x with S^-1, in double.
#include <cmath>

#include "runtime/error.h"
#include "samplers/closed_form_process.h"
#include "samplers/gaussian_prior_matrix.h"
#include "samplers/noise/likelihood.h"
#include "samplers/operators/fourier_operators.h"
#include "samplers/operators/image_operators.h"
#include "samplers/posterior/laplace.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;

namespace {

using Matrix = std::vector<double>;

Matrix identity(std::int64_t n) {
  Matrix eye(std::size_t(n * n), 0.0);
  for (std::int64_t i = 0; i < n; ++i) eye[std::size_t(i * n + i)] = 1;
  return eye;
}

GaussianPrior prior_of(GaussianPrior::Covariance kind) {
  GaussianPrior g;
  g.kind = kind;
  if (kind == GaussianPrior::Covariance::stationary) {
    g.item_shape = Shape{2, 3, 4};
    // An even spectrum: p[c, k, l] = (q[c, k, l] + q[c, -k, -l]) / 2.
    std::vector<double> q = test::uniform(24, 11, 0.05, 2.0);
    for (std::int64_t c = 0; c < 2; ++c)
      for (std::int64_t k = 0; k < 3; ++k)
        for (std::int64_t l = 0; l < 4; ++l)
          g.spectrum.push_back(0.5 * (q[std::size_t(c * 12 + k * 4 + l)] + q[std::size_t(c * 12 + (3 - k) % 3 * 4 + (4 - l) % 4)]));
  } else {
    g.item_shape = Shape{7};
  }
  const std::int64_t d = g.item_shape.numel();
  g.mean = test::uniform(std::size_t(d), 12, -0.5, 0.5);
  if (kind == GaussianPrior::Covariance::dense) g.cov = test::random_covariance(d, 13);
  if (kind == GaussianPrior::Covariance::diagonal || kind == GaussianPrior::Covariance::low_rank) g.var = test::uniform(std::size_t(d), 14, 0.1, 1.5);
  if (kind == GaussianPrior::Covariance::low_rank) g.rank = 2, g.factor = test::uniform(std::size_t(d * 2), 15, -0.8, 0.8);
  return g;
}

}  // namespace

TEST_CASE("gaussian prior matrix: the dense covariance and its root reproduce the denoiser for every structure") {
  using Cov = GaussianPrior::Covariance;
  Context& ctx = test::context();
  for (Cov kind : {Cov::dense, Cov::diagonal, Cov::low_rank, Cov::stationary}) {
    CAPTURE(covariance_name(kind));
    const GaussianPrior g = prior_of(kind);
    const std::int64_t d = g.item_shape.numel();
    const Matrix s = dense_covariance(g), r = covariance_root(g);
    const Matrix rrt = test::multiply_dense(r, test::transpose_dense(r, d, d), d, d, d);
    for (std::size_t i = 0; i < s.size(); ++i) CHECK(rrt[i] == doctest::Approx(s[i]).epsilon(1e-10).scale(1.0));
    // E[x | x_t] = mu + alpha S (alpha^2 S + sigma^2 I)^-1 (x_t - alpha mu), against the denoiser.
    GaussianDenoiser den(g, std::make_unique<test::TrigProcess>(), test::device());
    const double t = 0.6, al = den.process().alpha(t), si = den.process().sigma(t);
    std::vector<double> xt = test::uniform(static_cast<std::size_t>(d), 16, -1.5, 1.5), r0(static_cast<std::size_t>(d));
    for (std::int64_t i = 0; i < d; ++i) r0[std::size_t(i)] = xt[std::size_t(i)] - al * g.mean[std::size_t(i)];
    Matrix a = s;
    for (double& v : a) v *= al * al;
    for (std::int64_t i = 0; i < d; ++i) a[std::size_t(i * d + i)] += si * si;
    std::vector<double> expected = test::multiply_dense(s, test::solve_dense(a, r0, d, 1), d, d, 1);
    Tensor x0 = Tensor::empty(batched(1, g.item_shape), test::device());
    Shape one_item = batched(1, g.item_shape);
    den.denoise(ctx, test::upload(xt, one_item), t, x0);
    std::vector<double> got = test::download(x0);
    for (std::int64_t i = 0; i < d; ++i)
      CHECK(got[std::size_t(i)] == doctest::Approx(g.mean[std::size_t(i)] + al * expected[std::size_t(i)]).epsilon(1e-4).scale(1.0));
  }
}

TEST_CASE("laplace: mode and covariance equal Fisher-scoring Newton in x with S^-1, for Poisson through a matrix and scaled Binomial through a mask") {
  Context& ctx = test::context();
  const std::int64_t d = 8;
  GaussianPrior g;
  g.kind = GaussianPrior::Covariance::dense;
  g.item_shape = Shape{d};
  g.mean = test::uniform(std::size_t(d), 21, -0.5, 0.5);
  g.cov = test::random_covariance(d, 22, 0.2);
  GaussianDenoiser prior(g, std::make_unique<test::TrigProcess>(), test::device());
  const Signal in{{d}, DType::f32};
  const Matrix precision = test::solve_dense(g.cov, identity(d), d, d);

  for (const char* family : {"poisson", "binomial"}) {
    CAPTURE(family);
    const bool poisson = std::string(family) == "poisson";
    Matrix a;  // k x d
    std::vector<double> y, trials, keep;
    std::shared_ptr<const Operator> op;
    std::shared_ptr<const NoiseModel> noise;
    std::int64_t k = 0;
    const double scale = poisson ? 3.0 : 0.9;
    if (poisson) {
      k = 5;
      a = test::uniform(std::size_t(k * d), 23, -0.6, 0.6);
      op = make_matrix(in, test::upload(a, {k, d}), "matrix", test::device());
      noise = make_poisson_noise(scale, Link::exp);
      y = {0, 4, 11, 1, 2};
      trials.assign(std::size_t(k), 0.0);
      keep.assign(std::size_t(k), 1.0);
    } else {
      k = d;
      keep = {1, 0, 1, 1, 0, 1, 1, 1};
      a = identity(d);
      op = make_mask(in, test::upload(keep, {d}), "mask", test::device());
      trials = {5, 9, 12, 1, 30, 7, 2, 50};
      noise = make_binomial_noise(test::upload(trials, {d}), scale, "binomial:n=trials.h5:scale=0.9", test::device());
      y = {2, 0, 11, 0, 9, 7, 0, 20};
    }
    Likelihood lik(op, noise);
    REQUIRE(laplace_unsupported(prior, lik).empty());
    const WhitenedProblem p = whitened_problem(ctx, prior, lik, "test");
    REQUIRE(p.outputs == k);
    const LaplaceFit fit = fit_laplace(p, y.data());
    CHECK(fit.converged);
    CHECK(fit.iterations < 30);

    // Reference: Newton in x on log p(y | A x) - (x - mu)^T S^-1 (x - mu) / 2 with the Fisher weight,
    // score and weight written out here for the two laws (m = s g(z)).
    auto terms = [&](std::int64_t e, double z, double& score, double& weight) {
      if (poisson) {
        double m = scale * std::exp(z);
        score = y[std::size_t(e)] - m, weight = m;
      } else {
        double sg = 1 / (1 + std::exp(-z)), m = scale * sg, dm = scale * sg * (1 - sg), n = trials[std::size_t(e)];
        score = (y[std::size_t(e)] - n * m) * dm / (m * (1 - m)), weight = n * dm * dm / (m * (1 - m));
      }
    };
    std::vector<double> x = g.mean;
    Matrix h;
    for (int it = 0; it < 100; ++it) {
      std::vector<double> z = test::multiply_dense(a, x, k, d, 1), score(static_cast<std::size_t>(k)), weight(static_cast<std::size_t>(k));
      for (std::int64_t e = 0; e < k; ++e) terms(e, z[std::size_t(e)], score[std::size_t(e)], weight[std::size_t(e)]);
      std::vector<double> diff(static_cast<std::size_t>(d));
      for (std::int64_t i = 0; i < d; ++i) diff[std::size_t(i)] = x[std::size_t(i)] - g.mean[std::size_t(i)];
      std::vector<double> grad = test::multiply_dense(precision, diff, d, d, 1);
      h = precision;
      for (std::int64_t i = 0; i < d; ++i) {
        grad[std::size_t(i)] = -grad[std::size_t(i)];
        for (std::int64_t e = 0; e < k; ++e) {
          if (keep[std::size_t(e)] == 0) continue;
          grad[std::size_t(i)] += a[std::size_t(e * d + i)] * score[std::size_t(e)];
          for (std::int64_t j = 0; j < d; ++j) h[std::size_t(i * d + j)] += a[std::size_t(e * d + i)] * weight[std::size_t(e)] * a[std::size_t(e * d + j)];
        }
      }
      std::vector<double> step = test::solve_dense(h, grad, d, 1);
      for (std::int64_t i = 0; i < d; ++i) x[std::size_t(i)] += step[std::size_t(i)];
    }
    const Matrix cov = test::solve_dense(h, identity(d), d, d);

    // The fit in x: mu + R m, and R P^-1 R^T with P = L L^T.
    std::vector<double> x_fit = g.mean, rm = test::multiply_dense(p.root, fit.mode, d, d, 1);
    for (std::int64_t i = 0; i < d; ++i) x_fit[std::size_t(i)] += rm[std::size_t(i)];
    const Matrix pm = test::multiply_dense(fit.cholesky, test::transpose_dense(fit.cholesky, d, d), d, d, d);
    const Matrix cov_fit = test::multiply_dense(p.root, test::solve_dense(pm, test::transpose_dense(p.root, d, d), d, d), d, d, d);
    for (std::int64_t i = 0; i < d; ++i) {
      CAPTURE(i);
      CHECK(x_fit[std::size_t(i)] == doctest::Approx(x[std::size_t(i)]).epsilon(1e-5).scale(1.0));
      for (std::int64_t j = 0; j < d; ++j) CHECK(cov_fit[std::size_t(i * d + j)] == doctest::Approx(cov[std::size_t(i * d + j)]).epsilon(1e-5).scale(1.0));
    }
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t j = i + 1; j < d; ++j) CHECK(fit.cholesky[std::size_t(i * d + j)] == 0.0);
  }
}

TEST_CASE("laplace: refusals name the reason") {
  Context& ctx = test::context();
  GaussianPrior g = prior_of(GaussianPrior::Covariance::diagonal);
  GaussianDenoiser prior(g, std::make_unique<test::TrigProcess>(), test::device());
  const Signal in{{7}, DType::f32};
  Likelihood fine(std::shared_ptr<const Operator>(make_identity(in)), make_poisson_noise(2.0, Link::softplus));
  CHECK(laplace_unsupported(prior, fine).empty());

  GaussianPrior image;
  image.kind = GaussianPrior::Covariance::diagonal;
  image.item_shape = Shape{1, 4, 4};
  image.mean.assign(16, 0.0);
  image.var.assign(16, 1.0);
  GaussianDenoiser image_prior(image, std::make_unique<test::TrigProcess>(), test::device());
  Likelihood phase(std::shared_ptr<const Operator>(make_phase_retrieval(Signal{{1, 4, 4}, DType::f32}, 2, test::device())), make_gaussian_noise(0.1));
  CHECK(laplace_unsupported(image_prior, phase).find("is not linear") != std::string::npos);
  CHECK_THROWS_WITH_AS(whitened_problem(ctx, image_prior, phase, "here"), doctest::Contains("here: no Laplace approximation"), ArgumentError);

  GaussianPrior big;
  big.kind = GaussianPrior::Covariance::diagonal;
  big.item_shape = Shape{kMaxLaplaceDim + 1};
  big.mean.assign(std::size_t(kMaxLaplaceDim + 1), 0.0);
  big.var.assign(std::size_t(kMaxLaplaceDim + 1), 1.0);
  GaussianDenoiser big_prior(big, std::make_unique<test::TrigProcess>(), test::device());
  Likelihood big_lik(std::shared_ptr<const Operator>(make_identity(Signal{{kMaxLaplaceDim + 1}, DType::f32})), make_poisson_noise(1.0, Link::exp));
  CHECK(laplace_unsupported(big_prior, big_lik).find("above the dense limit of 4096") != std::string::npos);
}
