#include "samplers/posterior/baselines.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <numbers>
#include <random>

#include "samplers/closed_form_process.h"
#include "samplers/gaussian_denoiser.h"
#include "samplers/operators/fourier_operators.h"
#include "samplers/operators/image_operators.h"
#include "samplers/processes.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;

namespace {

using Matrix = std::vector<double>;  // row-major

std::vector<double> item(const std::vector<double>& all, std::int64_t i, std::int64_t size) {
  return {all.begin() + i * size, all.begin() + (i + 1) * size};
}

double squared_distance(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += (a[i] - b[i]) * (a[i] - b[i]);
  return s;
}

double psnr(const std::vector<double>& x, const std::vector<double>& truth) {
  return 10 * std::log10(double(x.size()) / squared_distance(x, truth));  // peak 1
}

Shape batch_of(std::int64_t n, const Shape& item_shape) { return batched(n, item_shape); }

// A dense-matrix problem y = A x + s n: A (m, d) with entries in [-1, 1], as an operator and in double.
struct MatrixProblem {
  std::int64_t m, d;
  Matrix a;
  std::shared_ptr<const Operator> op;
};

MatrixProblem matrix_problem(std::int64_t m, std::int64_t d, std::uint64_t seed) {
  MatrixProblem p{m, d, test::as_float(test::uniform(m * d, seed)), nullptr};
  p.op = make_matrix(Signal{{d}}, test::upload(p.a, {m, d}), "test-matrix", test::device());
  return p;
}

// (A^T A / s^2 + extra) x = A^T y / s^2 + shift for every item of ys (rows of m).
std::vector<double> normal_solve(const MatrixProblem& p, double s, const Matrix& extra, const std::vector<double>& shift,
                                 const std::vector<double>& ys) {
  Matrix at = test::transpose_dense(p.a, p.m, p.d), h = test::multiply_dense(at, p.a, p.d, p.m, p.d);
  for (std::int64_t i = 0; i < p.d * p.d; ++i) h[i] = h[i] / (s * s) + extra[i];
  std::vector<double> out;
  for (std::int64_t r = 0; r < std::int64_t(ys.size()) / p.m; ++r) {
    std::vector<double> rhs = test::multiply_dense(at, item(ys, r, p.m), p.d, p.m, 1);
    for (std::int64_t i = 0; i < p.d; ++i) rhs[i] = rhs[i] / (s * s) + shift[i];
    for (double e : test::solve_dense(h, rhs, p.d)) out.push_back(e);
  }
  return out;
}

Matrix scaled_identity(std::int64_t d, double c) {
  Matrix m(d * d, 0.0);
  for (std::int64_t i = 0; i < d; ++i) m[i * d + i] = c;
  return m;
}

// A piecewise-constant (C, H, W) image of values in [0, 1]: two rectangles on a background, per channel.
std::vector<double> blocks(std::int64_t c, std::int64_t h, std::int64_t w) {
  std::vector<double> x(c * h * w);
  for (std::int64_t z = 0; z < c; ++z)
    for (std::int64_t i = 0; i < h; ++i)
      for (std::int64_t j = 0; j < w; ++j) {
        double v = 0.2 + 0.1 * double(z);
        if (i >= h / 4 && i < 3 * h / 4 && j >= w / 5 && j < w / 2) v = 0.9;
        if (i >= h / 2 && j >= 2 * w / 3) v = 0.5;
        x[(z * h + i) * w + j] = v;
      }
  return x;
}

std::vector<double> add_noise(std::vector<double> x, double s, std::uint64_t seed) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal(0.0, s);
  for (double& e : x) e += normal(gen);
  return x;
}

// ROF denoising argmin 1/2 |x - y|^2 + mu TV(x) of one (h, w) plane in double, by projected gradient on
// Chambolle's dual: p <- proj_{|p| <= mu}(p + step grad(y + div p)), x = y + div p. Written separately
// from kernels/total_variation.h, with its own differences.
std::vector<double> reference_rof(const std::vector<double>& y, std::int64_t h, std::int64_t w, double mu, int iterations) {
  std::vector<double> px(h * w, 0.0), py(h * w, 0.0), x = y;
  auto at = [w](std::int64_t i, std::int64_t j) { return i * w + j; };
  for (int k = 0; k < iterations; ++k) {
    for (std::int64_t i = 0; i < h; ++i)
      for (std::int64_t j = 0; j < w; ++j) {
        double gx = j + 1 < w ? x[at(i, j + 1)] - x[at(i, j)] : 0, gy = i + 1 < h ? x[at(i + 1, j)] - x[at(i, j)] : 0;
        double a = px[at(i, j)] + 0.24 * gx, b = py[at(i, j)] + 0.24 * gy, len = std::hypot(a, b);
        double f = len > mu ? mu / len : 1;
        px[at(i, j)] = a * f, py[at(i, j)] = b * f;
      }
    for (std::int64_t i = 0; i < h; ++i)
      for (std::int64_t j = 0; j < w; ++j) {
        // -grad^T p with the last column (row) of px (py) outside the gradient's range.
        double dx = (j + 1 < w ? px[at(i, j)] : 0) - (j > 0 ? px[at(i, j - 1)] : 0);
        double dy = (i + 1 < h ? py[at(i, j)] : 0) - (i > 0 ? py[at(i - 1, j)] : 0);
        x[at(i, j)] = y[at(i, j)] + dx + dy;
      }
  }
  return x;
}

// A stationary prior on (1, h, w): a smooth spectrum p(k, l) = c / (1 + (k'^2 + l'^2) / r), k' the
// distance of k from 0 around the circle (so p(k) = p(-k)), and its covariance as a dense matrix.
struct StationaryPrior {
  GaussianPrior prior;
  Matrix dense;
};

StationaryPrior stationary_prior(std::int64_t h, std::int64_t w) {
  StationaryPrior s;
  s.prior.kind = GaussianPrior::Covariance::stationary;
  s.prior.item_shape = {1, h, w};
  s.prior.mean.assign(h * w, 0.5);
  s.prior.spectrum.resize(h * w);
  for (std::int64_t k = 0; k < h; ++k)
    for (std::int64_t l = 0; l < w; ++l) {
      double kk = double(std::min(k, h - k)), ll = double(std::min(l, w - l));
      s.prior.spectrum[k * w + l] = 0.08 / (1 + (kk * kk + ll * ll) / 2);
    }
  std::int64_t d = h * w;
  s.dense.assign(d * d, 0.0);
  for (std::int64_t i = 0; i < d; ++i)
    for (std::int64_t j = 0; j < d; ++j) {
      double v = 0;
      for (std::int64_t k = 0; k < h; ++k)
        for (std::int64_t l = 0; l < w; ++l)
          v += s.prior.spectrum[k * w + l] *
               std::cos(2 * std::numbers::pi * (double(k * (i / w - j / w)) / double(h) + double(l * (i % w - j % w)) / double(w)));
      s.dense[i * d + j] = v / double(d);
    }
  return s;
}

std::unique_ptr<GaussianDenoiser> denoiser(const GaussianPrior& prior) {
  return std::make_unique<GaussianDenoiser>(prior, std::make_unique<test::TrigProcess>(), test::device());
}

}  // namespace

TEST_CASE("time_of_noise_level finds the time whose sigma/alpha is the noise level") {
  VpProcess vp;
  for (double level : {0.05, 0.3, 2.0}) {
    double t = time_of_noise_level(vp, level);
    CHECK(vp.sigma(t) / vp.alpha(t) == doctest::Approx(level).epsilon(1e-9));
  }
  EdmProcess edm;
  CHECK(time_of_noise_level(edm, 0.7) == doctest::Approx(0.7).epsilon(1e-9));
  // A table has integer times only: the index with the nearest ratio.
  DdpmTable table = DdpmTable::linear(1000);
  double t = time_of_noise_level(table, 0.5);
  CHECK(t == std::round(t));
  double here = table.sigma(t) / table.alpha(t);
  CHECK(std::abs(std::log(here / 0.5)) <= std::abs(std::log(table.sigma(t + 1) / table.alpha(t + 1) / 0.5)));
  CHECK(std::abs(std::log(here / 0.5)) <= std::abs(std::log(table.sigma(t - 1) / table.alpha(t - 1) / 0.5)));
  CHECK_THROWS_AS(time_of_noise_level(vp, 1e-6), ArgumentError);
  CHECK_THROWS_AS(time_of_noise_level(vp, 0.0), ArgumentError);
}

TEST_CASE("Tikhonov MAP with Gaussian noise and a dense matrix equals the closed form") {
  const std::int64_t m = 7, d = 10, n = 3;
  const double s = 0.2, lambda = 0.5;
  MatrixProblem p = matrix_problem(m, d, 11);
  Likelihood lik(p.op, make_gaussian_noise(s));
  std::vector<double> ys = test::as_float(test::uniform(n * m, 12, -2, 2));
  std::vector<double> want = normal_solve(p, s, scaled_identity(d, lambda), std::vector<double>(d, 0.0), ys);
  BaselineOptions options;
  options.lambda = lambda;
  options.iterations = 100;
  options.tolerance = 1e-7;
  BaselineReport report;
  Tensor x = map_tikhonov(test::context(), lik, test::upload(ys, {n, m}), options, &report);
  CHECK(test::max_relative_error(test::download(x), want) < 1e-4);
  CHECK(report.iterations <= d + 2);  // conjugate gradients: at most d steps in exact arithmetic
  // The fixed-step gradient path reaches the same point, more slowly.
  Matrix at = test::transpose_dense(p.a, m, d), h = test::multiply_dense(at, p.a, d, m, d);
  double trace = 0;
  for (std::int64_t i = 0; i < d; ++i) trace += h[i * d + i];
  options.step = 1 / (trace / (s * s) + lambda);  // 1 / L with L >= |H| + lambda
  options.iterations = 1500;
  options.tolerance = 0;
  Tensor xg = map_tikhonov(test::context(), lik, test::upload(ys, {n, m}), options, &report);
  CHECK(test::max_relative_error(test::download(xg), want) < 1e-4);
}

TEST_CASE("Tikhonov MAP with Poisson noise stops where the gradient of the objective vanishes") {
  const std::int64_t m = 12, d = 6, n = 2;
  const double lambda = 20;
  MatrixProblem p = matrix_problem(m, d, 21);
  Likelihood lik(p.op, make_poisson_noise(20, Link::softplus));
  Tensor truth = test::upload(test::uniform(n * d, 22, -1, 1), {n, d}), y = Tensor::empty({n, m}, test::device());
  lik.simulate(test::context(), truth, RandomStream{5, 0}, y);
  BaselineOptions options;
  options.lambda = lambda;
  options.iterations = 150;
  BaselineReport report;
  Tensor x = map_tikhonov(test::context(), lik, y, options, &report);
  Tensor g = Tensor::empty({n, d}, test::device());
  lik.gradient(test::context(), y, x, g);
  std::vector<double> xs = test::download(x), gs = test::download(g), stationarity(xs.size()), regulariser(xs.size());
  for (std::size_t i = 0; i < xs.size(); ++i) stationarity[i] = gs[i] - lambda * xs[i], regulariser[i] = lambda * xs[i];
  CHECK(test::max_relative_error(stationarity, std::vector<double>(xs.size(), 0.0), 1.0) /
            test::max_relative_error(regulariser, std::vector<double>(xs.size(), 0.0), 1.0) <
        1e-5);
  // Backtracking only accepts decreases, up to the objective's rounding.
  std::size_t rises = 0;
  for (std::size_t k = 1; k < report.objective.size(); ++k) rises += report.objective[k] > report.objective[k - 1] * (1 + 1e-6);
  CHECK(rises == 0);
}

TEST_CASE("TV denoising of a piecewise-constant image lowers the objective and gains PSNR") {
  const std::int64_t n = 2, c = 2, h = 16, w = 20;
  const double s = 0.1;
  Signal image{{c, h, w}};
  Likelihood lik(make_identity(image), make_gaussian_noise(s));
  std::vector<double> truth, noisy;
  for (std::int64_t i = 0; i < n; ++i) {
    std::vector<double> x = blocks(c, h, w), yi = add_noise(x, s, 30 + i);
    truth.insert(truth.end(), x.begin(), x.end());
    noisy.insert(noisy.end(), yi.begin(), yi.end());
  }
  BaselineOptions options;
  options.lambda = 0.08 / (s * s);  // ROF weight 0.08 in units of the image
  options.iterations = 300;
  BaselineReport report;
  Tensor x = map_tv(test::context(), lik, test::upload(noisy, batch_of(n, image.shape)), options, &report);
  std::vector<double> got = test::download(x);
  for (std::int64_t i = 0; i < n; ++i) {
    double before = psnr(item(noisy, i, c * h * w), item(truth, i, c * h * w));
    double after = psnr(item(got, i, c * h * w), item(truth, i, c * h * w));
    CAPTURE(before);
    CAPTURE(after);
    CHECK(after >= before + 5);
  }
  REQUIRE(report.objective.size() == 300);
  // Primal-dual iterates need not decrease at every step; over windows of 20 they do, and the last
  // value is within a hair of the best.
  std::size_t rises = 0;
  for (std::size_t k = 20; k < report.objective.size(); k += 20)
    rises += report.objective[k] > report.objective[k - 20] + 1e-6 * std::abs(report.objective[k - 20]);
  CHECK(rises == 0);
  double best = *std::min_element(report.objective.begin(), report.objective.end());
  CHECK(report.objective.back() <= best + 1e-5 * std::abs(best));
}

TEST_CASE("TV denoising matches a double-precision dual solver on a tiny image") {
  const std::int64_t h = 6, w = 6;
  const double s = 0.1, mu = 0.05;
  std::vector<double> y = test::as_float(add_noise(blocks(1, h, w), s, 41));
  std::vector<double> want = reference_rof(y, h, w, mu, 20000);
  Signal image{{1, h, w}};
  Likelihood lik(make_identity(image), make_gaussian_noise(s));
  BaselineOptions options;
  options.lambda = mu / (s * s);
  options.iterations = 1000;
  Tensor x = map_tv(test::context(), lik, test::upload(y, {1, 1, h, w}), options);
  CHECK(test::max_relative_error(test::download(x), want, 1.0) < 1e-4);
}

TEST_CASE("TV with a mask and Gaussian noise fills the hole from its surroundings") {
  const std::int64_t h = 12, w = 12;
  Signal image{{1, h, w}};
  std::shared_ptr<const Operator> mask = make_mask(image, box_mask(image.shape, 4, 4, 4, 4), "box", test::device());
  Likelihood lik(mask, make_gaussian_noise(0.02));
  std::vector<double> flat(h * w, 0.7);
  Tensor y = Tensor::empty({1, 1, h, w}, test::device());
  lik.simulate(test::context(), test::upload(flat, {1, 1, h, w}), RandomStream{9, 0}, y);
  BaselineOptions options;
  options.lambda = 0.01 / (0.02 * 0.02);
  options.iterations = 1000;
  std::vector<double> got = test::download(map_tv(test::context(), lik, y, options));
  // A constant image has no variation: the hole takes the surrounding value.
  for (std::int64_t i = 5; i < 7; ++i)
    for (std::int64_t j = 5; j < 7; ++j) CHECK(got[i * w + j] == doctest::Approx(0.7).epsilon(0.03));
}

TEST_CASE("RED with a Gaussian prior converges to its closed-form fixed point") {
  const std::int64_t m = 6, d = 8, n = 2;
  const double s = 1.0, level = 0.5, lambda = 5;
  MatrixProblem p = matrix_problem(m, d, 51);
  Likelihood lik(p.op, make_gaussian_noise(s));
  GaussianPrior prior;
  prior.kind = GaussianPrior::Covariance::dense;
  prior.item_shape = {d};
  prior.mean = test::uniform(d, 52, -0.5, 0.5);
  prior.cov = test::random_covariance(d, 53, 0.1);
  auto den = denoiser(prior);
  // D(x) = mu + W (x - mu) with W = S (S + level^2 I)^{-1}; the fixed point of RED solves
  // (A^T A / s^2 + lambda (I - W)) x = A^T y / s^2 + lambda (I - W) mu.
  Matrix shifted = prior.cov;
  for (std::int64_t i = 0; i < d; ++i) shifted[i * d + i] += level * level;
  // (S + c I)^{-1} S = I - c (S + c I)^{-1}: I - W = c (S + c I)^{-1}, column by column.
  Matrix i_minus_w(d * d);
  for (std::int64_t j = 0; j < d; ++j) {
    std::vector<double> e(d, 0.0);
    e[j] = 1;
    std::vector<double> col = test::solve_dense(shifted, e, d);
    for (std::int64_t i = 0; i < d; ++i) i_minus_w[i * d + j] = lambda * level * level * col[i];
  }
  std::vector<double> shift = test::multiply_dense(i_minus_w, prior.mean, d, d, 1);
  std::vector<double> ys = test::as_float(test::uniform(n * m, 54, -2, 2));
  std::vector<double> want = normal_solve(p, s, i_minus_w, shift, ys);
  BaselineOptions options;
  options.lambda = lambda;
  options.noise_level = level;
  options.iterations = 500;
  BaselineReport report;
  Tensor x = red(test::context(), *den, lik, test::upload(ys, {n, m}), options, &report);
  CHECK(test::max_relative_error(test::download(x), want) < 1e-4);
}

TEST_CASE("RED with Poisson noise stops where the RED gradient vanishes") {
  const std::int64_t m = 12, d = 6, n = 2;
  const double lambda = 20, level = 0.3;
  MatrixProblem p = matrix_problem(m, d, 61);
  Likelihood lik(p.op, make_poisson_noise(20, Link::softplus));
  GaussianPrior prior;
  prior.kind = GaussianPrior::Covariance::dense;
  prior.item_shape = {d};
  prior.mean.assign(d, 0.0);
  prior.cov = test::random_covariance(d, 62, 0.2);
  auto den = denoiser(prior);
  Tensor truth = test::upload(test::uniform(n * d, 63, -1, 1), {n, d}), y = Tensor::empty({n, m}, test::device());
  lik.simulate(test::context(), truth, RandomStream{6, 0}, y);
  BaselineOptions options;
  options.lambda = lambda;
  options.noise_level = level;
  options.iterations = 150;
  Tensor x = red(test::context(), *den, lik, y, options);
  // -grad log p + lambda (x - D(x)) at the result.
  Context& ctx = test::context();
  double t = time_of_noise_level(den->process(), level);
  Tensor g = Tensor::empty({n, d}, test::device());
  Tensor dx = Tensor::empty({n, d}, test::device());
  lik.gradient(ctx, y, x, g);
  std::vector<double> xs = test::download(x);
  for (double& e : xs) e *= den->process().alpha(t);
  den->denoise(ctx, test::upload(xs, {n, d}), t, dx);
  std::vector<double> gs = test::download(g), xv = test::download(x), ds = test::download(dx), r(gs.size()), prior_term(gs.size());
  for (std::size_t i = 0; i < gs.size(); ++i) prior_term[i] = lambda * (xv[i] - ds[i]), r[i] = prior_term[i] - gs[i];
  std::vector<double> zero(gs.size(), 0.0);
  CHECK(test::max_relative_error(r, zero, 1.0) / test::max_relative_error(prior_term, zero, 1.0) < 1e-5);
}

TEST_CASE("PnP-ADMM with a Gaussian prior and rho = 1/noise_level^2 converges to the posterior mean on inpainting") {
  const std::int64_t h = 8, w = 8, d = h * w, n = 2;
  const double s = 0.05, level = 0.2;
  StationaryPrior sp = stationary_prior(h, w);
  auto den = denoiser(sp.prior);
  Signal image{{1, h, w}};
  Tensor mask = random_pixel_mask(image.shape, 0.5, false, 3);
  std::vector<float> mask_values = mask.to_vector<float>();
  std::vector<double> keep(mask_values.begin(), mask_values.end());
  std::shared_ptr<const Operator> op = make_mask(image, mask, "inpaint", test::device());
  Likelihood lik(op, make_gaussian_noise(s));
  Context& ctx = test::context();
  Tensor truth = Tensor::empty(batch_of(n, image.shape), test::device()), y = Tensor::empty(batch_of(n, image.shape), test::device());
  den->sample_prior(ctx, 71, truth);
  lik.simulate(ctx, truth, RandomStream{72, 0}, y);
  BaselineOptions options;
  options.noise_level = level;
  options.rho = 1 / (level * level);
  options.iterations = 100;
  BaselineReport report;
  Tensor x = pnp_admm(ctx, *den, lik, y, options, &report);
  // The posterior mean solves (S H + I) x = S b + mu with H = diag(keep) / s^2 and b = keep . y / s^2.
  std::vector<double> ys = test::download(y), ts = test::download(truth), got = test::download(x), want;
  Matrix sh(d * d);
  for (std::int64_t i = 0; i < d; ++i)
    for (std::int64_t j = 0; j < d; ++j) sh[i * d + j] = sp.dense[i * d + j] * keep[j] / (s * s) + (i == j ? 1 : 0);
  for (std::int64_t r = 0; r < n; ++r) {
    std::vector<double> b(d);
    for (std::int64_t j = 0; j < d; ++j) b[j] = keep[j] * ys[r * d + j] / (s * s);
    std::vector<double> rhs = test::multiply_dense(sp.dense, b, d, d, 1);
    for (std::int64_t i = 0; i < d; ++i) rhs[i] += sp.prior.mean[i];
    for (double e : test::solve_dense(sh, rhs, d)) want.push_back(e);
  }
  CHECK(test::max_relative_error(got, want) < 1e-4);
  for (double r : report.residual) CHECK(r < 1e-4);
  // Better than the zero-filled observation A^T y.
  for (std::int64_t r = 0; r < n; ++r) {
    double pnp = squared_distance(item(got, r, d), item(ts, r, d)), zero_filled = squared_distance(item(ys, r, d), item(ts, r, d));
    CAPTURE(pnp);
    CAPTURE(zero_filled);
    CHECK(pnp < 0.5 * zero_filled);
  }
}

TEST_CASE("the baselines refuse bad options, non-images for TV and what they cannot solve") {
  Context& ctx = test::context();
  MatrixProblem p = matrix_problem(4, 5, 81);
  Likelihood vectors(p.op, make_gaussian_noise(0.1));
  Tensor y = Tensor::zeros({1, 4}, test::device());
  BaselineOptions bad;
  bad.lambda = -1;
  CHECK_THROWS_AS(map_tikhonov(ctx, vectors, y, bad), ArgumentError);
  CHECK_THROWS_AS(map_tv(ctx, vectors, y, bad), ArgumentError);
  BaselineOptions options;
  options.iterations = 0;
  CHECK_THROWS_AS(map_tikhonov(ctx, vectors, y, options), ArgumentError);
  options = {};
  CHECK_THROWS_AS(map_tv(ctx, vectors, y, options), ShapeError);  // vectors, not (C, H, W)
  Signal image{{1, 8, 8}};
  Likelihood phase(make_phase_retrieval(image, 2, test::device()), make_gaussian_noise(0.1));
  Tensor yp = Tensor::zeros(batch_of(1, phase.op().output().shape), test::device(), phase.op().output().dtype);
  CHECK_THROWS_AS(map_tv(ctx, phase, yp, options), ArgumentError);  // nonlinear
  Likelihood counts(make_identity(image), make_poisson_noise(10, Link::softplus));
  CHECK_THROWS_AS(map_tv(ctx, counts, Tensor::zeros({1, 1, 8, 8}, test::device()), options), ArgumentError);
  // A prior whose items are not the operator's input, and a noise level the process does not reach.
  StationaryPrior sp = stationary_prior(4, 4);
  auto den = denoiser(sp.prior);
  Likelihood denoising(make_identity(image), make_gaussian_noise(0.1));
  CHECK_THROWS_AS(pnp_admm(ctx, *den, denoising, Tensor::zeros({1, 1, 8, 8}, test::device()), options), ShapeError);
  Likelihood small(make_identity(Signal{{1, 4, 4}}), make_gaussian_noise(0.1));
  options.noise_level = 1e9;
  CHECK_THROWS_AS(red(ctx, *den, small, Tensor::zeros({1, 1, 4, 4}, test::device()), options), ArgumentError);
  // Wrong batch shapes name the operator.
  CHECK_THROWS_AS(map_tikhonov(ctx, vectors, Tensor::zeros({1, 5}, test::device()), BaselineOptions{}), ShapeError);
}
