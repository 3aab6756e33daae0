// Closed-form Gaussian EM from observations alone (samplers/training/gaussian_em.h), against maximum
// likelihood estimates that have a closed form of their own: with A = I the marginal of y is
// N(mu, S + sigma^2 I), and with masks the pixels decouple, each a 1-D Gaussian seen through the
// observations that measure it. The log evidence is checked against a direct evaluation, and never falls.
#include <doctest/doctest.h>

#include <cmath>
#include <complex>
#include <random>

#include "io/operator_spec.h"
#include "samplers/operators/stacked_operator.h"
#include "samplers/training/gaussian_em.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::test;
using samplers::GaussianEmOptions;
using samplers::GaussianEmReport;
using samplers::GaussianPrior;
using samplers::Signal;

namespace {

Context& host() {
  static Context ctx(Device::cpu(), 0);
  return ctx;
}

std::vector<double> normals(std::size_t n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> z;
  std::vector<double> v(n);
  for (double& x : v) x = z(rng);
  return v;
}

// Rows x = mu + L z with L the Cholesky factor of S (d x d), m of them.
std::vector<double> gaussian_rows(const std::vector<double>& mu, const std::vector<double>& s, std::int64_t m, std::uint64_t seed) {
  const std::int64_t d = std::int64_t(mu.size());
  std::vector<double> l(std::size_t(d * d), 0.0);
  for (std::int64_t j = 0; j < d; ++j)
    for (std::int64_t i = j; i < d; ++i) {
      double t = s[std::size_t(i * d + j)];
      for (std::int64_t p = 0; p < j; ++p) t -= l[std::size_t(i * d + p)] * l[std::size_t(j * d + p)];
      l[std::size_t(i * d + j)] = i == j ? std::sqrt(t) : t / l[std::size_t(j * d + j)];
    }
  std::vector<double> z = normals(std::size_t(m * d), seed), x(std::size_t(m * d));
  for (std::int64_t r = 0; r < m; ++r)
    for (std::int64_t i = 0; i < d; ++i) {
      double v = mu[std::size_t(i)];
      for (std::int64_t p = 0; p <= i; ++p) v += l[std::size_t(i * d + p)] * z[std::size_t(r * d + p)];
      x[std::size_t(r * d + i)] = v;
    }
  return x;
}

// y = A x + sigma z through the operator, on the host.
Tensor observe(const samplers::Operator& op, const std::vector<double>& x, std::int64_t m, double sigma, std::uint64_t seed) {
  std::vector<float> xf(x.begin(), x.end());
  Tensor xt = Tensor::from_host(std::span<const float>(xf), samplers::batched(m, op.input().shape));
  Tensor y = op.make_output(m, Device::cpu());
  op.apply(host(), xt, y);
  std::vector<float> yv = y.to_vector<float>();
  std::vector<double> z = normals(yv.size(), seed);
  for (std::size_t e = 0; e < yv.size(); ++e) yv[e] += float(sigma * z[e]);
  return Tensor::from_host(std::span<const float>(yv), y.shape());
}

Tensor constant_variance(const samplers::Operator& op, double v) {
  std::vector<float> f(std::size_t(op.output().shape.numel()), float(v));
  return Tensor::from_host(std::span<const float>(f), op.output().shape);
}

// Up to rounding: relative 1e-7 in double, 1e-5 where the E-step runs through f32 FFTs (stationary).
void check_non_decreasing(const std::vector<double>& log_evidence, double tolerance = 1e-7) {
  for (std::size_t i = 1; i < log_evidence.size(); ++i) {
    CAPTURE(i);
    CHECK(log_evidence[i] >= log_evidence[i - 1] - tolerance * std::abs(log_evidence[i - 1]));
  }
}

}  // namespace

TEST_CASE("Gaussian EM with A = I converges to the closed-form MLE: mean(y), Cov(y) - sigma^2 I") {
  const std::int64_t d = 3, m = 400;
  const double sigma = 0.3;
  std::vector<double> mu{0.5, -0.2, 0.1}, s = random_covariance(d, 5, 0.5);
  std::vector<double> x = gaussian_rows(mu, s, m, 1);
  BuiltOperator op = build_operator("identity", Signal{{d}, DType::f32}, Device::cpu());
  Tensor y = observe(*op.op, x, m, sigma, 2);
  GaussianEmOptions options;
  options.structure = GaussianPrior::Covariance::dense;
  options.iterations = 300;
  GaussianEmReport report;
  GaussianPrior fit = samplers::fit_gaussian_em(host(), op.op, y, constant_variance(*op.op, sigma * sigma), options, &report);
  CHECK(report.log_evidence.size() == 301);
  check_non_decreasing(report.log_evidence);

  std::vector<float> yv = y.to_vector<float>();
  std::vector<double> ybar(std::size_t(d), 0.0), cov(std::size_t(d * d), 0.0);
  for (std::int64_t r = 0; r < m; ++r)
    for (std::int64_t i = 0; i < d; ++i) ybar[std::size_t(i)] += yv[std::size_t(r * d + i)] / double(m);
  for (std::int64_t r = 0; r < m; ++r)
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t j = 0; j < d; ++j)
        cov[std::size_t(i * d + j)] += (yv[std::size_t(r * d + i)] - ybar[std::size_t(i)]) * (yv[std::size_t(r * d + j)] - ybar[std::size_t(j)]) / double(m);
  for (std::int64_t i = 0; i < d; ++i) cov[std::size_t(i * d + i)] -= sigma * sigma;
  CHECK(max_relative_error(fit.mean, ybar, 1.0) < 1e-6);
  CHECK(max_relative_error(fit.cov, cov, 1.0) < 1e-6);
}

TEST_CASE("diagonal Gaussian EM through per-observation masks converges to each pixel's own MLE") {
  const Signal x{{1, 6, 6}, DType::f32};
  const std::int64_t d = 36, m = 1500;
  const double sigma = 0.1;
  std::vector<double> mu = uniform(std::size_t(d), 3, -0.5, 0.5), var = uniform(std::size_t(d), 4, 0.05, 0.5), s(std::size_t(d * d), 0.0);
  for (std::int64_t j = 0; j < d; ++j) s[std::size_t(j * d + j)] = var[std::size_t(j)];
  std::vector<double> truth = gaussian_rows(mu, s, m, 5);
  SpecOptions so;
  so.items = m;
  so.seed = 9;
  BuiltOperator op = build_operator("each:inpaint:p=0.5", x, Device::cpu(), so);
  Tensor y = observe(*op.op, truth, m, sigma, 6);
  GaussianEmOptions options;
  options.iterations = 200;
  GaussianEmReport report;
  GaussianPrior fit = samplers::fit_gaussian_em(host(), op.op, y, constant_variance(*op.op, sigma * sigma), options, &report);
  check_non_decreasing(report.log_evidence);

  // Pixel j: the observations that see it are iid N(mu_j, var_j + sigma^2).
  auto& stacked = dynamic_cast<const samplers::StackedOperator&>(*op.op);
  std::vector<float> yv = y.to_vector<float>();
  std::vector<double> sum(std::size_t(d), 0.0), sum2(std::size_t(d), 0.0), count(std::size_t(d), 0.0);
  for (std::int64_t i = 0; i < m; ++i) {
    std::vector<float> seen = stacked.item(i).observed().to_vector<float>();
    for (std::int64_t j = 0; j < d; ++j)
      if (seen[std::size_t(j)] != 0) {
        double v = yv[std::size_t(i * d + j)];
        sum[std::size_t(j)] += v, sum2[std::size_t(j)] += v * v, count[std::size_t(j)] += 1;
      }
  }
  std::vector<double> want_mean(static_cast<std::size_t>(d)), want_var(static_cast<std::size_t>(d));
  for (std::int64_t j = 0; j < d; ++j) {
    double mean = sum[std::size_t(j)] / count[std::size_t(j)];
    want_mean[std::size_t(j)] = mean;
    want_var[std::size_t(j)] = sum2[std::size_t(j)] / count[std::size_t(j)] - mean * mean - sigma * sigma;
    REQUIRE(want_var[std::size_t(j)] > 0);  // so the MLE is interior
  }
  CHECK(max_relative_error(fit.mean, want_mean, 1.0) < 1e-5);
  CHECK(max_relative_error(fit.var, want_var, 1.0) < 1e-5);
  // And the estimate is near the truth: 750 observations per pixel.
  CHECK(max_relative_error(fit.var, var, 0.5) < 0.15);
}

TEST_CASE("dense Gaussian EM from random rank-2 projections recovers a 5-D Gaussian; its log evidence is the direct one") {
  const Signal x{{5}, DType::f32};
  const std::int64_t d = 5, m = 3000;
  const double sigma = 0.05;
  std::vector<double> mu{0.3, -0.4, 0.0, 0.2, 0.5}, s = random_covariance(d, 8, 0.2);
  std::vector<double> truth = gaussian_rows(mu, s, m, 7);
  SpecOptions so;
  so.items = m;
  BuiltOperator op = build_operator("each:matrix:random=2", x, Device::cpu(), so);
  Tensor y = observe(*op.op, truth, m, sigma, 8);
  GaussianEmOptions options;
  options.structure = GaussianPrior::Covariance::dense;
  options.iterations = 100;
  GaussianEmReport report;
  GaussianPrior fit = samplers::fit_gaussian_em(host(), op.op, y, constant_variance(*op.op, sigma * sigma), options, &report);
  check_non_decreasing(report.log_evidence);
  CHECK(max_relative_error(fit.mean, mu, 1.0) < 0.1);
  CHECK(max_relative_error(fit.cov, s, 1.0) < 0.15);

  // log N(y_i; A_i mu, sigma^2 I + A_i S A_i^T) from the 2 x 2 matrix itself, for a few observations.
  std::vector<double> evidence = samplers::gaussian_log_evidence(host(), fit, op.op, y, constant_variance(*op.op, sigma * sigma));
  auto& stacked = dynamic_cast<const samplers::StackedOperator&>(*op.op);
  std::vector<float> yv = y.to_vector<float>();
  for (std::int64_t i = 0; i < 3; ++i) {
    Tensor unit = Tensor::from_host(std::span<const float>(std::vector<float>{1, 0, 0, 1}), {2, 2});
    Tensor rows = stacked.item(i).make_input(2, Device::cpu());
    stacked.item(i).adjoint(host(), unit, rows);
    std::vector<float> a = rows.to_vector<float>();  // A (2 x 5)
    std::vector<double> ad(a.begin(), a.end());
    std::vector<double> c = multiply_dense(multiply_dense(ad, fit.cov, 2, d, d), transpose_dense(ad, 2, d), 2, d, 2);
    c[0] += sigma * sigma, c[3] += sigma * sigma;
    std::vector<double> am = multiply_dense(ad, fit.mean, 2, d, 1);
    double r0 = yv[std::size_t(2 * i)] - am[0], r1 = yv[std::size_t(2 * i + 1)] - am[1];
    double det = c[0] * c[3] - c[1] * c[2];
    double quad = (c[3] * r0 * r0 - (c[1] + c[2]) * r0 * r1 + c[0] * r1 * r1) / det;
    double want = -0.5 * (quad + std::log(det) + 2 * std::log(2 * M_PI));
    CHECK(evidence[std::size_t(i)] == doctest::Approx(want).epsilon(1e-6));
  }
  CHECK(report.log_evidence.back() == doctest::Approx([&] {
    double s2 = 0;
    for (double e : evidence) s2 += e;
    return s2 / double(evidence.size());
  }()).epsilon(1e-9));
}

TEST_CASE("diagonal Gaussian EM refuses an operator that mixes entries, and nonlinear ones") {
  const Signal x{{1, 8, 8}, DType::f32};
  BuiltOperator blur = build_operator("blur:gauss:3:1", x, Device::cpu());
  Tensor y = Tensor::zeros({4, 1, 8, 8});
  CHECK_THROWS_WITH_AS(samplers::fit_gaussian_em(host(), blur.op, y, constant_variance(*blur.op, 0.01), {}), doctest::Contains("mixes entries"),
                       ArgumentError);
  BuiltOperator phase = build_operator("phase:pad=2", x, Device::cpu());
  Tensor yp = Tensor::zeros(samplers::batched(4, phase.op->output().shape));
  CHECK_THROWS_WITH_AS(samplers::fit_gaussian_em(host(), phase.op, yp, constant_variance(*phase.op, 0.01), {}), doctest::Contains("nonlinear"),
                       ArgumentError);
}

namespace {

// F S F^H for the unitary 2-D DFT of an h x w plane (one channel), by the naive double sum: the
// stationary M-step must give its diagonal from the same posteriors.
std::vector<double> fourier_diagonal(const std::vector<double>& s, std::int64_t h, std::int64_t w) {
  const std::int64_t d = h * w;
  auto f = [&](std::int64_t k, std::int64_t j) {  // F[k, j]
    const double angle = -2 * M_PI * (double((k / w) * (j / w)) / double(h) + double((k % w) * (j % w)) / double(w));
    return std::polar(1.0 / std::sqrt(double(d)), angle);
  };
  std::vector<double> out(static_cast<std::size_t>(d));
  for (std::int64_t k = 0; k < d; ++k) {
    std::complex<double> sum = 0;
    for (std::int64_t a = 0; a < d; ++a)
      for (std::int64_t b = 0; b < d; ++b) sum += f(k, a) * s[std::size_t(a * d + b)] * std::conj(f(k, b));
    out[std::size_t(k)] = sum.real();
  }
  return out;
}

// The stationary prior as a dense one: S = F^H diag(p) F.
GaussianPrior as_dense(const GaussianPrior& g) {
  const std::int64_t h = g.item_shape[1], w = g.item_shape[2], d = h * w;
  GaussianPrior dense;
  dense.kind = GaussianPrior::Covariance::dense;
  dense.item_shape = g.item_shape;
  dense.mean = g.mean;
  dense.cov.assign(std::size_t(d * d), 0.0);
  for (std::int64_t a = 0; a < d; ++a)
    for (std::int64_t b = 0; b < d; ++b) {
      std::complex<double> sum = 0;
      for (std::int64_t k = 0; k < d; ++k) {
        const double angle = 2 * M_PI * (double((k / w) * ((a / w) - (b / w))) / double(h) + double((k % w) * ((a % w) - (b % w))) / double(w));
        sum += g.spectrum[std::size_t(k)] * std::polar(1.0 / double(d), angle);
      }
      dense.cov[std::size_t(a * d + b)] = sum.real();
    }
  return dense;
}

}  // namespace

TEST_CASE("stationary Gaussian EM through single-coil MRI: the dense EM step projected on stationary covariances, the same evidence") {
  const Signal x{{1, 8, 8}, DType::f32};
  const std::int64_t d = 64, m = 60;
  const double sigma = 0.05;
  std::vector<double> mu = uniform(std::size_t(d), 12, -0.3, 0.3), s = random_covariance(d, 13, 0.05);
  std::vector<double> truth = gaussian_rows(mu, s, m, 14);
  BuiltOperator op = build_operator("mri:R=2:centre=2:seed=3", x, Device::cpu());
  Tensor clean = op.op->make_output(m, Device::cpu());
  {
    std::vector<float> xf(truth.begin(), truth.end());
    op.op->apply(host(), Tensor::from_host(std::span<const float>(xf), samplers::batched(m, x.shape)), clean);
  }
  std::vector<float> yv = clean.view_as_real().to_vector<float>();
  std::vector<double> z = normals(yv.size(), 15);
  for (std::size_t e = 0; e < yv.size(); ++e) yv[e] += float(sigma * z[e]);
  Tensor y = Tensor::from_host(std::span<const float>(yv), clean.view_as_real().shape()).view_as_complex();
  Tensor variance = constant_variance(*op.op, sigma * sigma);

  GaussianEmOptions one;
  one.iterations = 1;
  one.structure = GaussianPrior::Covariance::stationary;
  GaussianEmReport stationary_report, dense_report;
  GaussianPrior stationary = samplers::fit_gaussian_em(host(), op.op, y, variance, one, &stationary_report);
  one.structure = GaussianPrior::Covariance::dense;
  GaussianPrior dense = samplers::fit_gaussian_em(host(), op.op, y, variance, one, &dense_report);
  // From the same start (mu = 0, S = I) the posteriors are the same: so are the evidence and the mean.
  // (The stationary E-step's FFTs run in f32: agreement to about 1e-6.)
  CHECK(stationary_report.log_evidence[0] == doctest::Approx(dense_report.log_evidence[0]).epsilon(1e-5));
  CHECK(max_relative_error(stationary.mean, dense.mean, 1.0) < 1e-5);
  // The stationary spectrum is the Fourier diagonal of the dense update.
  CHECK(max_relative_error(stationary.spectrum, fourier_diagonal(dense.cov, 8, 8), 1.0) < 1e-4);
  // The evidence of a stationary prior is that of the same covariance written densely.
  std::vector<double> e_stationary = samplers::gaussian_log_evidence(host(), stationary, op.op, y, variance);
  std::vector<double> e_dense = samplers::gaussian_log_evidence(host(), as_dense(stationary), op.op, y, variance);
  CHECK(max_relative_error(e_stationary, e_dense, 1.0) < 1e-4);

  // More iterations never lower it.
  GaussianEmOptions many;
  many.structure = GaussianPrior::Covariance::stationary;
  many.iterations = 30;
  GaussianEmReport report;
  samplers::fit_gaussian_em(host(), op.op, y, variance, many, &report);
  check_non_decreasing(report.log_evidence, 1e-5);
  CHECK(report.log_evidence.back() > report.log_evidence.front());

  // Masks are not circulant.
  BuiltOperator mask = build_operator("inpaint:p=0.5", x, Device::cpu());
  CHECK_THROWS_WITH_AS(samplers::fit_gaussian_em(host(), mask.op, Tensor::zeros({4, 1, 8, 8}), constant_variance(*mask.op, 0.01), many),
                       doctest::Contains("not a circular convolution"), ArgumentError);
}
