#include "samplers/gaussian_denoiser.h"

#include <cmath>
#include <numbers>

#include "samplers/closed_form_process.h"
#include "support.h"

using namespace tweedie;
using samplers::GaussianDenoiser;
using samplers::GaussianPrior;
using Cov = GaussianPrior::Covariance;

namespace {

using Matrix = std::vector<double>;  // row-major n x n

std::vector<double> multiply(const Matrix& a, const std::vector<double>& x, std::int64_t n) {
  std::vector<double> y(n, 0.0);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) y[i] += a[i * n + j] * x[j];
  return y;
}

// alpha S (alpha^2 S + sigma^2 I)^{-1} v for every row of vs (rows of n).
std::vector<double> reference_jacobian(const Matrix& s, double a, double sg, const std::vector<double>& vs, std::int64_t n) {
  Matrix m = s;
  for (double& e : m) e *= a * a;
  for (std::int64_t i = 0; i < n; ++i) m[i * n + i] += sg * sg;
  std::vector<double> out;
  for (std::size_t r = 0; r < vs.size() / n; ++r) {
    std::vector<double> v(vs.begin() + r * n, vs.begin() + (r + 1) * n);
    std::vector<double> y = multiply(s, test::solve_dense(m, v, n), n);
    for (double e : y) out.push_back(a * e);
  }
  return out;
}

// mu + alpha S (alpha^2 S + sigma^2 I)^{-1} (x_t - alpha mu) for every row of xt.
std::vector<double> reference_mean(const Matrix& s, const std::vector<double>& mu, double a, double sg,
                                   const std::vector<double>& xt) {
  std::int64_t n = std::int64_t(mu.size());
  std::vector<double> r = xt;
  for (std::size_t i = 0; i < r.size(); ++i) r[i] -= a * mu[i % n];
  std::vector<double> out = reference_jacobian(s, a, sg, r, n);
  for (std::size_t i = 0; i < out.size(); ++i) out[i] += mu[i % n];
  return out;
}

// A prior of each structure, with its covariance as a dense matrix for the references.
struct Case {
  GaussianPrior prior;
  Matrix dense;
};

Case dense_case(std::int64_t d, std::uint64_t seed) {
  std::vector<double> b = test::uniform(d * d, seed);
  Case c;
  c.prior.kind = Cov::dense;
  c.prior.item_shape = {d};
  c.prior.mean = test::uniform(d, seed + 1, -2, 2);
  c.prior.cov.assign(d * d, 0.0);
  for (std::int64_t i = 0; i < d; ++i)
    for (std::int64_t j = 0; j < d; ++j) {
      for (std::int64_t k = 0; k < d; ++k) c.prior.cov[i * d + j] += b[i * d + k] * b[j * d + k] / double(d);
      if (i == j) c.prior.cov[i * d + j] += 0.1;
    }
  c.dense = c.prior.cov;
  return c;
}

Case diagonal_case(std::int64_t d, std::uint64_t seed, std::int64_t rank = 0) {
  Case c;
  c.prior.kind = rank ? Cov::low_rank : Cov::diagonal;
  c.prior.item_shape = {d};
  c.prior.mean = test::uniform(d, seed + 1, -2, 2);
  c.prior.var = test::uniform(d, seed + 2, 0.05, 2.0);
  c.dense.assign(d * d, 0.0);
  for (std::int64_t i = 0; i < d; ++i) c.dense[i * d + i] = c.prior.var[i];
  if (rank) {
    c.prior.rank = rank;
    c.prior.factor = test::uniform(d * rank, seed + 3, -1, 1);
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t j = 0; j < d; ++j)
        for (std::int64_t k = 0; k < rank; ++k) c.dense[i * d + j] += c.prior.factor[i * rank + k] * c.prior.factor[j * rank + k];
  }
  return c;
}

// An even spectrum (p(k) = p(-k)) and S = F^H diag(p) F per channel, built from the DFT directly.
Case stationary_case(std::int64_t ch, std::int64_t h, std::int64_t w, std::uint64_t seed) {
  std::int64_t d = ch * h * w;
  std::vector<double> q = test::uniform(d, seed, 0.0, 2.0);
  Case c;
  c.prior.kind = Cov::stationary;
  c.prior.item_shape = {ch, h, w};
  c.prior.mean = test::uniform(d, seed + 1, -2, 2);
  c.prior.spectrum.resize(d);
  for (std::int64_t z = 0; z < ch; ++z)
    for (std::int64_t k = 0; k < h; ++k)
      for (std::int64_t l = 0; l < w; ++l)
        c.prior.spectrum[(z * h + k) * w + l] = 0.5 * (q[(z * h + k) * w + l] + q[(z * h + (h - k) % h) * w + (w - l) % w]);
  c.dense.assign(d * d, 0.0);
  for (std::int64_t z = 0; z < ch; ++z)
    for (std::int64_t i = 0; i < h * w; ++i)
      for (std::int64_t j = 0; j < h * w; ++j) {
        double s = 0;
        for (std::int64_t k = 0; k < h; ++k)
          for (std::int64_t l = 0; l < w; ++l) {
            double phase = 2 * std::numbers::pi * (double(k * (i / w - j / w)) / h + double(l * (i % w - j % w)) / w);
            s += c.prior.spectrum[(z * h + k) * w + l] * std::cos(phase);
          }
        c.dense[(z * h * w + i) * d + z * h * w + j] = s / double(h * w);
      }
  return c;
}

std::unique_ptr<GaussianDenoiser> make(const GaussianPrior& prior) {
  return std::make_unique<GaussianDenoiser>(prior, std::make_unique<test::TrigProcess>(), test::device());
}

Shape batch_shape(std::int64_t n, const Shape& item) {
  std::vector<std::int64_t> dims = {n};
  for (std::int64_t e : item.dims()) dims.push_back(e);
  return Shape(std::span<const std::int64_t>(dims));
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

double norm(const std::vector<double>& a) { return std::sqrt(dot(a, a)); }

// Denoise and JVP (and VJP) of `c` against the double references, over t and batch sizes.
void check_against_reference(const Case& c, std::uint64_t seed) {
  auto den = make(c.prior);
  Context& ctx = test::context();
  std::int64_t d = c.prior.item_shape.numel();
  for (double t : {0.1, 0.5, 0.9}) {
    for (std::int64_t n : {1, 5}) {
      CAPTURE(t);
      CAPTURE(n);
      Shape shape = batch_shape(n, c.prior.item_shape);
      std::vector<double> xt = test::as_float(test::uniform(n * d, seed + 10, -3, 3));
      std::vector<double> v = test::as_float(test::uniform(n * d, seed + 11));
      Tensor x0 = Tensor::empty(shape, test::device()), jv = Tensor::empty(shape, test::device());
      Tensor ju = Tensor::empty(shape, test::device());
      auto lin = den->linearize(ctx, test::upload(xt, shape), t, x0);
      den->jvp(ctx, *lin, test::upload(v, shape), jv);
      den->vjp(ctx, *lin, test::upload(v, shape), ju);
      double a = std::cos(0.5 * std::numbers::pi * t), s = std::sin(0.5 * std::numbers::pi * t);
      CHECK(test::max_relative_error(test::download(x0), reference_mean(c.dense, c.prior.mean, a, s, xt)) < 2e-5);
      std::vector<double> want = reference_jacobian(c.dense, a, s, v, d);
      CHECK(test::max_relative_error(test::download(jv), want) < 2e-5);
      CHECK(test::max_relative_error(test::download(ju), want) < 2e-5);
      Tensor plain = Tensor::empty(shape, test::device());
      den->denoise(ctx, test::upload(xt, shape), t, plain);
      CHECK(test::max_relative_error(test::download(plain), test::download(x0)) == 0.0);
    }
  }
}

}  // namespace

TEST_CASE("A Gaussian denoiser with a dense covariance gives the closed-form posterior mean and Jacobian") {
  for (std::int64_t d : {1, 2, 7, 16}) {
    CAPTURE(d);
    check_against_reference(dense_case(d, 100 + d), 7 * d);
  }
}

TEST_CASE("A Gaussian denoiser with a diagonal covariance gives the closed-form posterior mean and Jacobian") {
  for (std::int64_t d : {1, 2, 7, 16}) {
    CAPTURE(d);
    check_against_reference(diagonal_case(d, 200 + d), 5 * d);
  }
}

TEST_CASE("A Gaussian denoiser with a diagonal plus low-rank covariance gives the closed-form posterior mean") {
  for (std::int64_t d : {1, 2, 7, 16}) {
    for (std::int64_t r : {1, 3}) {
      CAPTURE(d);
      CAPTURE(r);
      check_against_reference(diagonal_case(d, 300 + d, r), 3 * d + r);
    }
  }
}

TEST_CASE("A stationary Gaussian denoiser equals the dense one with the covariance built from the DFT basis") {
  check_against_reference(stationary_case(1, 4, 6, 400), 41);
  check_against_reference(stationary_case(2, 5, 3, 500), 51);
}

TEST_CASE("Gaussian JVPs agree with central finite differences, the dot-product identity and one-at-a-time tangents") {
  Context& ctx = test::context();
  for (const Case& c : {dense_case(7, 600), diagonal_case(7, 610, 2), stationary_case(2, 5, 3, 620)}) {
    CAPTURE(samplers::covariance_name(c.prior.kind));
    auto den = make(c.prior);
    std::int64_t d = c.prior.item_shape.numel(), n = 5, k = 3;
    Shape shape = batch_shape(n, c.prior.item_shape), tangents = batch_shape(k * n, c.prior.item_shape);
    std::vector<double> xt = test::uniform(n * d, 630, -2, 2), v = test::uniform(k * n * d, 631), u = test::uniform(k * n * d, 632);
    double t = 0.4, h = 1e-2;
    Tensor x0 = Tensor::empty(shape, test::device());
    auto lin = den->linearize(ctx, test::upload(xt, shape), t, x0);
    Tensor jv = Tensor::empty(tangents, test::device()), ju = Tensor::empty(tangents, test::device());
    den->jvp(ctx, *lin, test::upload(v, tangents), jv);
    den->vjp(ctx, *lin, test::upload(u, tangents), ju);
    std::vector<double> jvs = test::download(jv), jus = test::download(ju);

    // Central differences of denoise along the first block of tangents.
    std::vector<double> plus = xt, minus = xt;
    for (std::int64_t i = 0; i < n * d; ++i) plus[i] += h * v[i], minus[i] -= h * v[i];
    Tensor fp = Tensor::empty(shape, test::device()), fm = Tensor::empty(shape, test::device());
    den->denoise(ctx, test::upload(plus, shape), t, fp);
    den->denoise(ctx, test::upload(minus, shape), t, fm);
    std::vector<double> dp = test::download(fp), dm = test::download(fm), fd(n * d), first(jvs.begin(), jvs.begin() + n * d);
    for (std::int64_t i = 0; i < n * d; ++i) fd[i] = (dp[i] - dm[i]) / (2 * h);
    CHECK(test::max_relative_error(fd, first) < 1e-3);

    CHECK(std::abs(dot(u, jvs) - dot(jus, v)) < 1e-4 * norm(u) * norm(jvs));

    // Each block alone gives the same as the batch of k blocks.
    for (std::int64_t b = 0; b < k; ++b) {
      std::vector<double> vb(v.begin() + b * n * d, v.begin() + (b + 1) * n * d);
      Tensor one = Tensor::empty(shape, test::device());
      den->jvp(ctx, *lin, test::upload(vb, shape), one);
      std::vector<double> want(jvs.begin() + b * n * d, jvs.begin() + (b + 1) * n * d);
      CHECK(test::max_relative_error(test::download(one), want) < 1e-6);
    }
    CHECK(den->forward_count == 3 * n);
    CHECK(den->jvp_count == k * n + k * n);
    CHECK(den->vjp_count == k * n);
  }
}

TEST_CASE("Gaussian prior samples have the prior's mean and covariance within five standard errors") {
  Context& ctx = test::context();
  const std::int64_t n = 20000;
  for (const Case& c : {dense_case(3, 700), diagonal_case(3, 710, 2), stationary_case(1, 2, 3, 720)}) {
    CAPTURE(samplers::covariance_name(c.prior.kind));
    auto den = make(c.prior);
    std::int64_t d = c.prior.item_shape.numel();
    Tensor x = Tensor::empty(batch_shape(n, c.prior.item_shape), test::device());
    den->sample_prior(ctx, 42, x);
    std::vector<double> s = test::download(x), mean(d, 0.0), cov(d * d, 0.0);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t j = 0; j < d; ++j) mean[j] += s[i * d + j] / double(n);
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t a = 0; a < d; ++a)
        for (std::int64_t b = 0; b < d; ++b)
          cov[a * d + b] += (s[i * d + a] - c.prior.mean[a]) * (s[i * d + b] - c.prior.mean[b]) / double(n);
    for (std::int64_t a = 0; a < d; ++a) {
      CHECK(std::abs(mean[a] - c.prior.mean[a]) < 5 * std::sqrt(c.dense[a * d + a] / double(n)));
      for (std::int64_t b = 0; b < d; ++b) {
        double se = std::sqrt((c.dense[a * d + a] * c.dense[b * d + b] + c.dense[a * d + b] * c.dense[a * d + b]) / double(n));
        CHECK(std::abs(cov[a * d + b] - c.dense[a * d + b]) < 5 * se);
      }
    }
    // Item i's draw does not depend on the batch around it.
    Tensor few = Tensor::empty(batch_shape(3, c.prior.item_shape), test::device());
    den->sample_prior(ctx, 42, few);
    std::vector<double> f = test::download(few), head(s.begin(), s.begin() + 3 * d);
    CHECK(test::max_relative_error(f, head) < 1e-6);
  }
}

TEST_CASE("A Gaussian denoiser refuses invalid priors and inputs, naming the field") {
  auto refuses = [](GaussianPrior p, const char* field) {
    CAPTURE(field);
    CHECK_THROWS_WITH_AS(make(p), doctest::Contains(field), ArgumentError);
  };
  GaussianPrior p = dense_case(3, 800).prior;
  p.cov[1] += 0.5;
  refuses(p, "'cov' is not symmetric");
  p = dense_case(3, 800).prior;
  p.cov = {1, 0, 0, 0, -1, 0, 0, 0, 1};
  refuses(p, "'cov' is not positive semi-definite");
  p = diagonal_case(3, 810).prior;
  p.var[2] = -1;
  refuses(p, "'var' has the negative value");
  p = diagonal_case(3, 810, 2).prior;
  p.factor.pop_back();
  refuses(p, "'factor' has 5 values");
  p = diagonal_case(3, 810).prior;
  p.mean[0] = std::nan("");
  refuses(p, "'mean' has a non-finite value");
  p = stationary_case(1, 4, 6, 820).prior;
  p.spectrum[1] += 0.5;  // p[0,0,1] no longer equals p[0,0,5]
  refuses(p, "'spectrum' is not even");

  auto den = make(dense_case(3, 800).prior);
  Tensor bad = Tensor::zeros({2, 4}, test::device()), x0 = Tensor::empty({2, 4}, test::device());
  CHECK_THROWS_AS(den->denoise(test::context(), bad, 0.5, x0), ShapeError);
  Tensor xt = Tensor::zeros({2, 3}, test::device()), out = Tensor::empty({2, 3}, test::device());
  auto lin = den->linearize(test::context(), xt, 0.5, out);
  Tensor v = Tensor::zeros({3, 3}, test::device()), jv = Tensor::empty({3, 3}, test::device());
  CHECK_THROWS_AS(den->jvp(test::context(), *lin, v, jv), ShapeError);  // 3 tangents for 2 items
}
