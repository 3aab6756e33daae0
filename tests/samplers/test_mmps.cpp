// MMPS against exact posteriors. For a Gaussian prior N(mu, S) and y = A x + n, n ~ N(0, R), every
// quantity is Gaussian: p(x | x_t, y) conditions x on the stacked observation (x_t, y) = H x + noise with
// H = [alpha I; A], and p(x | y) on y alone, both in closed form (computed here in double from the
// dense S and the operator's matrix on its measured entries). The prior's denoiser is affine with the
// exact Jacobian, so MMPS with the solve run to convergence must give E[x | x_t, y] itself at every t,
// and a sampler over it draws from p(x | y).
#include <cmath>
#include <complex>
#include <numbers>
#include <random>

#include "runtime/error.h"
#include "samplers/closed_form_process.h"
#include "samplers/gaussian_denoiser.h"
#include "samplers/noise/noise_model.h"
#include "samplers/operators/fourier_operators.h"
#include "samplers/operators/image_operators.h"
#include "samplers/posterior/mmps.h"
#include "samplers/sampler.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;
using Cov = GaussianPrior::Covariance;

namespace {

using Matrix = std::vector<double>;  // row-major

struct Gaussian {
  std::vector<double> mean;
  Matrix cov;
};

// x ~ N(mu, S) conditioned on o = H x + e, e ~ N(0, diag(noise)), H k x d:
//   mean = mu + S H^T G^{-1} (o - H mu),  cov = S - S H^T G^{-1} H S,  G = H S H^T + diag(noise).
Gaussian condition(const Matrix& s, const std::vector<double>& mu, const Matrix& h, const std::vector<double>& o,
                   const std::vector<double>& noise) {
  const auto d = std::int64_t(mu.size()), k = std::int64_t(o.size());
  const Matrix hs = test::multiply_dense(h, s, k, d, d);  // H S (k x d)
  Matrix g = test::multiply_dense(hs, test::transpose_dense(h, k, d), k, d, k);
  for (std::int64_t i = 0; i < k; ++i) g[i * k + i] += noise[std::size_t(i)];
  std::vector<double> r = o;
  const std::vector<double> hmu = test::multiply_dense(h, mu, k, d, 1);
  for (std::int64_t i = 0; i < k; ++i) r[std::size_t(i)] -= hmu[std::size_t(i)];
  const Matrix ginv_hs = test::solve_dense(g, hs, k, d);  // G^{-1} H S (k x d)
  const std::vector<double> w = test::solve_dense(g, r, k, 1);
  Gaussian p{mu, s};
  for (std::int64_t j = 0; j < d; ++j)
    for (std::int64_t i = 0; i < k; ++i) {
      p.mean[std::size_t(j)] += hs[i * d + j] * w[std::size_t(i)];
      for (std::int64_t l = 0; l < d; ++l) p.cov[j * d + l] -= hs[i * d + j] * ginv_hs[i * d + l];
    }
  return p;
}

// A posterior problem: a Gaussian prior with its dense covariance, an operator with its matrix on the
// measured entries (rows over the real and imaginary parts of complex outputs), and one observation.
struct Problem {
  std::shared_ptr<GaussianDenoiser> prior;
  std::shared_ptr<const Operator> op;
  Matrix s;
  std::vector<double> mu;
  std::int64_t d = 0;
  Matrix a;                  // k x d
  std::vector<double> obs;   // the measured entries of y (k)
  double noise_var = 0;
  Tensor y, variance;        // (1, output...) and the output item shape
  int y_dim = 0;             // real dimension of the output: the most CG iterations can need
};

// An even power spectrum on (1, h, w) and its covariance F^H diag(p) F.
GaussianPrior stationary_prior(std::int64_t h, std::int64_t w, std::uint64_t seed, Matrix& dense) {
  const std::int64_t d = h * w;
  std::vector<double> q = test::uniform(std::size_t(d), seed, 0.1, 2.0);
  GaussianPrior p;
  p.kind = Cov::stationary;
  p.item_shape = {1, h, w};
  p.mean = test::uniform(std::size_t(d), seed + 1, -1, 1);
  p.spectrum.resize(std::size_t(d));
  for (std::int64_t k = 0; k < h; ++k)
    for (std::int64_t l = 0; l < w; ++l) p.spectrum[k * w + l] = 0.5 * (q[k * w + l] + q[(h - k) % h * w + (w - l) % w]);
  dense.assign(std::size_t(d * d), 0.0);
  for (std::int64_t i = 0; i < d; ++i)
    for (std::int64_t j = 0; j < d; ++j) {
      double s = 0;
      for (std::int64_t k = 0; k < h; ++k)
        for (std::int64_t l = 0; l < w; ++l)
          s += p.spectrum[k * w + l] *
               std::cos(2 * std::numbers::pi * (double(k * (i / w - j / w)) / h + double(l * (i % w - j % w)) / w));
      dense[i * d + j] = s / double(d);
    }
  return p;
}

// kind: "matrix" (D = 16 vector, dense prior, 8 x 16 matrix), "mask-dense" / "mask-stationary" ((1, 8, 8)
// image, half the pixels kept), "mri" ((1, 8, 8) real image, stationary prior, a column mask).
Problem make_problem(const std::string& kind, std::unique_ptr<Process> process = std::make_unique<test::TrigProcess>()) {
  Context& ctx = test::context();
  const Device dev = test::device();
  Problem pb;
  GaussianPrior gp;
  Signal in{{1, 8, 8}, DType::f32};
  if (kind == "matrix" || kind == "mask-dense") {
    if (kind == "matrix") in = Signal{{16}, DType::f32};
    pb.d = in.shape.numel();
    gp.kind = Cov::dense;
    gp.item_shape = in.shape;
    gp.mean = test::uniform(std::size_t(pb.d), 11, -1, 1);
    gp.cov = test::random_covariance(pb.d, 12);
    pb.s = gp.cov;
  } else {
    pb.d = 64;
    gp = stationary_prior(8, 8, 13, pb.s);
  }
  pb.mu = gp.mean;
  pb.prior = std::make_shared<GaussianDenoiser>(gp, std::move(process), dev);
  if (kind == "matrix") {
    pb.op = make_matrix(in, test::upload(test::uniform(std::size_t(8 * pb.d), 14), {8, pb.d}), "matrix", dev);
  } else if (kind == "mri") {
    pb.op = make_mri(in, mask_random_columns(8, 8, 2.0, 2, 15), Tensor(), "mri", dev);
  } else {
    pb.op = make_mask(in, random_pixel_mask({1, 8, 8}, 0.5, false, 16), "inpaint", dev);
  }
  pb.noise_var = 0.05;
  pb.variance = make_gaussian_noise(std::sqrt(pb.noise_var))->gaussian_variance(ctx, pb.op->output().shape);

  // The operator's matrix: its outputs for the unit vectors, kept on the measured (real) entries.
  const bool complex = pb.op->output().dtype == DType::c64;
  const std::int64_t out = pb.op->output().shape.numel(), parts = complex ? 2 : 1;
  pb.y_dim = int(out * parts);
  std::vector<double> eye(std::size_t(pb.d * pb.d), 0.0);
  for (std::int64_t i = 0; i < pb.d; ++i) eye[i * pb.d + i] = 1;
  Tensor units = test::upload(eye, batched(pb.d, in.shape)), images = pb.op->make_output(pb.d, dev);
  pb.op->apply(ctx, units, images);
  std::vector<double> cols = complex ? std::vector<double>() : test::download(images);
  if (complex)
    for (auto z : test::download_complex(images)) cols.push_back(z.real()), cols.push_back(z.imag());
  std::vector<double> seen(std::size_t(out), 1.0);
  if (pb.op->observed().defined()) seen = test::download(pb.op->observed().to(dev));
  std::vector<std::int64_t> rows;  // measured real entries
  for (std::int64_t e = 0; e < out * parts; ++e)
    if (seen[std::size_t(e / parts)] != 0) rows.push_back(e);
  for (std::int64_t e : rows)
    for (std::int64_t j = 0; j < pb.d; ++j) pb.a.push_back(cols[std::size_t(j * out * parts + e)]);

  // y = A x + n for an x near the prior's mean, zero where nothing is measured.
  std::vector<double> x = pb.mu, noise = test::uniform(std::size_t(out * parts), 17);
  std::vector<double> yv = test::multiply_dense(pb.a, x, std::int64_t(rows.size()), pb.d, 1);
  std::vector<double> full(std::size_t(out * parts), 0.0);
  std::mt19937_64 gen(18);
  std::normal_distribution<double> normal;
  for (std::size_t r = 0; r < rows.size(); ++r) full[std::size_t(rows[r])] = yv[r] + std::sqrt(pb.noise_var) * normal(gen);
  Shape yshape = batched(1, pb.op->output().shape);
  if (complex) {
    std::vector<std::complex<double>> z;
    for (std::int64_t e = 0; e < out; ++e) z.emplace_back(full[std::size_t(2 * e)], full[std::size_t(2 * e + 1)]);
    pb.y = test::upload(z, yshape);
    full.clear();
    for (auto v : test::download_complex(pb.y)) full.push_back(v.real()), full.push_back(v.imag());
  } else {
    pb.y = test::upload(full, yshape);
    full = test::download(pb.y);
  }
  for (std::int64_t e : rows) pb.obs.push_back(full[std::size_t(e)]);
  (void)x;
  return pb;
}

// E[x | x_t, y] for one x_t.
std::vector<double> exact_denoiser(const Problem& pb, const std::vector<double>& xt, double alpha, double sigma) {
  const auto k = std::int64_t(pb.obs.size());
  Matrix h(std::size_t((pb.d + k) * pb.d), 0.0);
  for (std::int64_t i = 0; i < pb.d; ++i) h[i * pb.d + i] = alpha;
  std::copy(pb.a.begin(), pb.a.end(), h.begin() + pb.d * pb.d);
  std::vector<double> o = xt, noise(std::size_t(pb.d), sigma * sigma);
  o.insert(o.end(), pb.obs.begin(), pb.obs.end());
  noise.resize(std::size_t(pb.d + k), pb.noise_var);
  return condition(pb.s, pb.mu, h, o, noise).mean;
}

Gaussian exact_posterior(const Problem& pb) {
  return condition(pb.s, pb.mu, pb.a, pb.obs, std::vector<double>(pb.obs.size(), pb.noise_var));
}

MmpsOptions converged(const Problem& pb, const std::string& solver = "cg") {
  MmpsOptions o;
  o.solver = solver;
  o.krylov = {.max_iterations = pb.y_dim, .tolerance = 1e-10};
  return o;
}

// MMPS at several t on a batch of three x_t against E[x | x_t, y]; returns the largest relative error.
double denoiser_error(const Problem& pb, const MmpsOptions& o) {
  Context& ctx = test::context();
  auto mmps = make_mmps_denoiser(pb.prior, pb.op, pb.variance, pb.y, o);
  double worst = 0;
  for (double t : {0.05, 0.3, 0.6, 0.9}) {
    const double a = pb.prior->process().alpha(t), s = pb.prior->process().sigma(t);
    const std::int64_t n = 3;
    std::vector<double> xt = test::as_float(test::uniform(std::size_t(n * pb.d), 19, -2, 2));
    Shape shape = batched(n, pb.prior->item_shape());
    Tensor x0 = Tensor::empty(shape, test::device());
    mmps->denoise(ctx, test::upload(xt, shape), t, x0);
    std::vector<double> got = test::download(x0), want;
    for (std::int64_t i = 0; i < n; ++i) {
      std::vector<double> w = exact_denoiser(pb, {xt.begin() + i * pb.d, xt.begin() + (i + 1) * pb.d}, a, s);
      want.insert(want.end(), w.begin(), w.end());
    }
    worst = std::max(worst, test::max_relative_error(got, want));
  }
  return worst;
}

// The moments of n samples against N(mean, cov): the largest mean error in standard errors, the
// Frobenius error of the sample covariance relative to |cov|_F, and that error's Monte-Carlo scale
// sqrt((tr(C)^2 + |C|_F^2) / (n - 1)) / |C|_F (the root mean square for Gaussian samples).
struct SampleCheck {
  double mean_in_se = 0, cov_error = 0, cov_mc = 0, mean_abs = 0;
};
SampleCheck check_samples(const std::vector<double>& x, const Gaussian& p, std::int64_t d) {
  const auto n = std::int64_t(x.size()) / d;
  std::vector<double> m(std::size_t(d), 0.0);
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t i = 0; i < d; ++i) m[std::size_t(i)] += x[std::size_t(r * d + i)] / double(n);
  Matrix c(std::size_t(d * d), 0.0);
  for (std::int64_t r = 0; r < n; ++r)
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t j = 0; j < d; ++j)
        c[i * d + j] += (x[std::size_t(r * d + i)] - m[std::size_t(i)]) * (x[std::size_t(r * d + j)] - m[std::size_t(j)]) / double(n - 1);
  SampleCheck sc;
  double diff = 0, norm = 0, trace = 0;
  for (std::int64_t i = 0; i < d; ++i) {
    const double se = std::sqrt(p.cov[i * d + i] / double(n));
    sc.mean_in_se = std::max(sc.mean_in_se, std::abs(m[std::size_t(i)] - p.mean[std::size_t(i)]) / se);
    sc.mean_abs = std::max(sc.mean_abs, std::abs(m[std::size_t(i)] - p.mean[std::size_t(i)]));
    trace += p.cov[i * d + i];
  }
  for (std::int64_t e = 0; e < d * d; ++e) diff += std::pow(c[std::size_t(e)] - p.cov[std::size_t(e)], 2), norm += std::pow(p.cov[std::size_t(e)], 2);
  sc.cov_error = std::sqrt(diff / norm);
  sc.cov_mc = std::sqrt((trace * trace + norm) / double(n - 1) / norm);
  return sc;
}

// The first-order DDIM loses variance per step (coordinates contract by the cosine of the angle
// between successive (alpha sqrt(lambda), sigma)); its exact output moments follow per eigen-coordinate
// of the target N(m, C), as in test_sampler.cpp. Returns the relative Frobenius distance between the
// sampler's output covariance and C: the bias the sample covariance carries on top of Monte-Carlo error.
double ddim_covariance_bias(const Process& p, const Gaussian& target, std::int64_t d, int steps, double eta) {
  SymmetricEigen e = symmetric_eigen(target.cov, d);
  const std::vector<double> grid = p.time_grid(steps);
  double diff = 0, norm = 0;
  for (std::int64_t i = 0; i < d; ++i) {
    const double lam = std::max(e.values[std::size_t(i)], 0.0);
    double q = std::pow(p.alpha(grid[0]), 2) + std::pow(p.sigma(grid[0]), 2);
    for (std::size_t k = 0; k + 1 < grid.size(); ++k) {
      const double at = p.alpha(grid[k]), st = p.sigma(grid[k]), as = p.alpha(grid[k + 1]), ss = p.sigma(grid[k + 1]);
      const double s2ts = st * st - std::pow(at / as, 2) * ss * ss;
      const double c2 = eta * eta * s2ts * ss * ss / (st * st), kk = std::sqrt(ss * ss - c2) / st;
      const double g = at * lam / (at * at * lam + st * st);
      const double amp = kk + (as - kk * at) * g;
      q = amp * amp * q + c2;
    }
    diff += (q - lam) * (q - lam), norm += lam * lam;
  }
  return std::sqrt(diff / norm);
}

SampleCheck run_sampling(const Problem& pb, std::int64_t n, int steps, int iterations, double& bias) {
  Context& ctx = test::context();
  MmpsOptions o;
  o.krylov = {.max_iterations = iterations, .tolerance = 1e-7};
  auto mmps = make_mmps_denoiser(pb.prior, pb.op, pb.variance, pb.y, o);
  SamplerOptions so;
  so.kind = "ddim", so.eta = 1.0, so.steps = steps, so.denoise_last = false;
  Tensor x = sample(ctx, *mmps, so, n, 21);
  const Gaussian post = exact_posterior(pb);
  bias = ddim_covariance_bias(pb.prior->process(), post, pb.d, steps, 1.0);
  return check_samples(test::download(x), post, pb.d);
}

}  // namespace

TEST_CASE("MMPS with a converged solve is the exact E[x | x_t, y] of a Gaussian prior: matrix, mask, MRI") {
  for (const char* kind : {"matrix", "mask-dense", "mask-stationary", "mri"}) {
    const std::string name = kind;
    CAPTURE(name);
    Problem pb = make_problem(name);
    const double err = denoiser_error(pb, converged(pb));
    CAPTURE(err);
    CHECK(err < 1e-3);
    MESSAGE(name, ": max relative error of E[x | x_t, y] ", err);
  }
}

TEST_CASE("MMPS by GMRES, by VJP and with the 'gaussian' covariance give the same exact E[x | x_t, y]") {
  Problem pb = make_problem("mri");
  MmpsOptions o = converged(pb, "gmres");
  CHECK(denoiser_error(pb, o) < 1e-3);
  o = converged(pb);
  o.by_vjp = true;
  CHECK(denoiser_error(pb, o) < 1e-3);
  o = converged(pb);
  o.covariance = "gaussian";
  CHECK(denoiser_error(pb, o) < 1e-3);
  Problem pm = make_problem("matrix");
  CHECK(denoiser_error(pm, converged(pm, "gmres")) < 1e-3);
}

TEST_CASE("MMPS with the sigma_t covariance uses V = (sigma / alpha)^2 I") {
  Context& ctx = test::context();
  Problem pb = make_problem("matrix");
  MmpsOptions o = converged(pb);
  o.covariance = "sigma_t";
  auto mmps = make_mmps_denoiser(pb.prior, pb.op, pb.variance, pb.y, o);
  const double t = 0.4, a = pb.prior->process().alpha(t), s = pb.prior->process().sigma(t);
  std::vector<double> xt = test::as_float(test::uniform(std::size_t(pb.d), 23, -2, 2));
  Tensor x0 = Tensor::empty({1, pb.d}, test::device()), e = Tensor::empty({1, pb.d}, test::device());
  mmps->denoise(ctx, test::upload(xt, {1, pb.d}), t, x0);
  const std::int64_t before = pb.prior->jvp_count;
  pb.prior->denoise(ctx, test::upload(xt, {1, pb.d}), t, e);
  // E + V A^T (R + A V A^T)^{-1} (y - A E) with V = (s / a)^2 I is E conditioned on y under N(E, V).
  Matrix v(std::size_t(pb.d * pb.d), 0.0);
  for (std::int64_t i = 0; i < pb.d; ++i) v[i * pb.d + i] = s * s / (a * a);
  std::vector<double> want =
      condition(v, test::download(e), pb.a, pb.obs, std::vector<double>(pb.obs.size(), pb.noise_var)).mean;
  CHECK(test::max_relative_error(test::download(x0), want) < 1e-4);
  CHECK(pb.prior->jvp_count == before);  // no covariance products
}

TEST_CASE("MMPS costs one linearization and k covariance products per denoise, counted on the prior") {
  Context& ctx = test::context();
  Problem pb = make_problem("matrix");
  for (bool by_vjp : {false, true}) {
    CAPTURE(by_vjp);
    MmpsOptions o;
    o.krylov = {.max_iterations = 3, .tolerance = 0};
    o.by_vjp = by_vjp;
    auto mmps = make_mmps_denoiser(pb.prior, pb.op, pb.variance, pb.y, o);
    const std::int64_t f0 = pb.prior->forward_count, j0 = pb.prior->jvp_count, v0 = pb.prior->vjp_count;
    Tensor xt = test::upload(test::uniform(std::size_t(5 * pb.d), 24), {5, pb.d}), x0 = Tensor::empty({5, pb.d}, test::device());
    mmps->denoise(ctx, xt, 0.5, x0);
    CHECK(pb.prior->forward_count - f0 == 5);
    CHECK((by_vjp ? pb.prior->vjp_count - v0 : pb.prior->jvp_count - j0) == 5 * 3);
    CHECK((by_vjp ? pb.prior->jvp_count - j0 : pb.prior->vjp_count - v0) == 0);
    CHECK(mmps->forward_count == pb.prior->forward_count);
    CHECK(mmps->jvp_count == pb.prior->jvp_count);
    CHECK(mmps->vjp_count == pb.prior->vjp_count);
    CHECK(mmps->item_shape() == pb.prior->item_shape());
    CHECK(&mmps->process() == &pb.prior->process());
    CHECK_FALSE(mmps->has_learned_variance());
    CHECK_THROWS_WITH_AS(mmps->linearize(ctx, xt, 0.5, x0), doctest::Contains("no JVP or VJP"), ArgumentError);
  }
}

TEST_CASE("MMPS refuses what it cannot do, by name") {
  Context& ctx = test::context();
  Problem pb = make_problem("matrix");
  Problem im = make_problem("mask-stationary");
  std::shared_ptr<const Operator> pr = make_phase_retrieval(Signal{{1, 8, 8}, DType::f32}, 1, test::device());
  CHECK_THROWS_WITH_AS(make_mmps_denoiser(im.prior, pr, Tensor::zeros(pr->output().shape, test::device()),
                                          Tensor::zeros(batched(1, pr->output().shape), test::device()), {}),
                       doctest::Contains("is nonlinear"), ArgumentError);
  // The operator's input must be the prior's item.
  CHECK_THROWS_WITH_AS(make_mmps_denoiser(pb.prior, im.op, im.variance, im.y, {}), doctest::Contains("operator 'inpaint"), ShapeError);
  // y and the variance must fit the operator's output.
  CHECK_THROWS_WITH_AS(make_mmps_denoiser(pb.prior, pb.op, pb.variance, Tensor::zeros({1, 9}, test::device()), {}),
                       doctest::Contains("mmps: y is (1,9)"), ShapeError);
  CHECK_THROWS_WITH_AS(make_mmps_denoiser(pb.prior, pb.op, Tensor::zeros({9}, test::device()), pb.y, {}),
                       doctest::Contains("noise variance is f32 (9)"), ShapeError);
  CHECK_THROWS_WITH_AS(make_mmps_denoiser(pb.prior, pb.op, Tensor::zeros({8}, test::device()), pb.y, {}),
                       doctest::Contains("positive variances"), ArgumentError);
  MmpsOptions o;
  o.solver = "bicg";
  CHECK_THROWS_WITH_AS(make_mmps_denoiser(pb.prior, pb.op, pb.variance, pb.y, o), doctest::Contains("solver 'bicg'"), ArgumentError);
  o = {};
  o.covariance = "diag";
  CHECK_THROWS_WITH_AS(make_mmps_denoiser(pb.prior, pb.op, pb.variance, pb.y, o), doctest::Contains("covariance 'diag'"), ArgumentError);
  // A batch that is neither y's nor 1.
  Tensor y2 = Tensor::zeros({2, 8}, test::device());
  auto mmps = make_mmps_denoiser(pb.prior, pb.op, pb.variance, y2, {});
  Tensor xt = Tensor::zeros({3, pb.d}, test::device()), x0 = Tensor::empty({3, pb.d}, test::device());
  CHECK_THROWS_WITH_AS(mmps->denoise(ctx, xt, 0.5, x0), doctest::Contains("y holds 2 observations but the batch has 3"), ShapeError);
}

TEST_CASE("sampling over MMPS with a Gaussian prior draws from the exact posterior (small)") {
  // 600 draws: means within 5 standard errors, the covariance within 3 root-mean-square Monte-Carlo
  // errors plus the sampler's own discretization bias (computed in closed form).
  Problem pb = make_problem("matrix");
  double bias = 0;
  SampleCheck sc = run_sampling(pb, 600, 100, pb.y_dim, bias);
  MESSAGE("matrix, 600 draws: mean error ", sc.mean_in_se, " SE (", sc.mean_abs, "), covariance error ", sc.cov_error,
          " (Monte-Carlo rms ", sc.cov_mc, ", DDIM bias ", bias, ")");
  CHECK(sc.mean_in_se < 5);
  CHECK(sc.cov_error < 3 * sc.cov_mc + bias);
}

TEST_SUITE("slow") {
TEST_CASE("sampling over MMPS with a Gaussian prior draws from the exact posterior: matrix, mask, MRI") {
  for (const char* kind : {"matrix", "mask-stationary", "mri"}) {
    const std::string name = kind;
    CAPTURE(name);
    Problem pb = make_problem(name);
    double bias = 0;
    const std::int64_t n = 2000;
    SampleCheck sc = run_sampling(pb, n, 100, pb.y_dim, bias);
    MESSAGE(name, ", ", n, " draws: mean error ", sc.mean_in_se, " SE (", sc.mean_abs, "), covariance error ", sc.cov_error,
            " (Monte-Carlo rms ", sc.cov_mc, ", DDIM bias ", bias, ")");
    CHECK(sc.mean_in_se < 5);
    CHECK(sc.cov_error < 3 * sc.cov_mc + bias);
  }
}
}
