// Correlated Gaussian noise (a full Sigma_y, or diag(sigma^2) + F^T F) against the test's own dense
// double algebra: log-likelihoods by LU determinant and Gaussian elimination, gradients by the same and
// by finite differences, the covariance map by a dense product, sampling by the empirical covariance.
#include <cmath>
#include <numbers>

#include "samplers/noise/noise_model.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;

namespace {

constexpr std::int64_t kM = 6;  // entries of an output item, (2, 3)
const Shape kItem{2, 3};

// log det of a dense matrix by LU with partial pivoting (the model uses Cholesky).
double log_det_lu(std::vector<double> a, std::int64_t n) {
  double s = 0;
  for (std::int64_t k = 0; k < n; ++k) {
    std::int64_t p = k;
    for (std::int64_t i = k + 1; i < n; ++i)
      if (std::fabs(a[std::size_t(i * n + k)]) > std::fabs(a[std::size_t(p * n + k)])) p = i;
    if (p != k)
      for (std::int64_t j = 0; j < n; ++j) std::swap(a[std::size_t(k * n + j)], a[std::size_t(p * n + j)]);
    const double piv = a[std::size_t(k * n + k)];
    s += std::log(std::fabs(piv));
    for (std::int64_t i = k + 1; i < n; ++i) {
      const double f = a[std::size_t(i * n + k)] / piv;
      for (std::int64_t j = k; j < n; ++j) a[std::size_t(i * n + j)] -= f * a[std::size_t(k * n + j)];
    }
  }
  return s;
}

// A correlated model with its dense Sigma_y, as the test builds it.
struct Correlated {
  std::string name;
  std::shared_ptr<NoiseModel> model;
  std::vector<double> sigma;  // kM x kM
};

std::vector<Correlated> models() {
  std::vector<Correlated> out;
  // Full: a random SPD matrix, stored in f32 as a file would hold it.
  std::vector<double> full = test::as_float(test::random_covariance(kM, 31, 0.05));
  for (std::int64_t i = 0; i < kM; ++i)
    for (std::int64_t j = 0; j < i; ++j) full[std::size_t(i * kM + j)] = full[std::size_t(j * kM + i)];
  out.push_back({"full", make_full_covariance_noise(test::host_f32(full, {kM, kM}), kItem, "gaussian:cov=c.h5"), full});
  // Low rank: per-entry sigma and two sources.
  const std::vector<double> s = test::as_float(test::uniform(kM, 32, 0.1, 0.3)), f = test::as_float(test::uniform(2 * kM, 33, -0.5, 0.5));
  std::vector<double> dense(std::size_t(kM * kM), 0.0);
  for (std::int64_t i = 0; i < kM; ++i)
    for (std::int64_t j = 0; j < kM; ++j) {
      double v = i == j ? s[std::size_t(i)] * s[std::size_t(i)] : 0.0;
      for (std::int64_t q = 0; q < 2; ++q) v += f[std::size_t(q * kM + i)] * f[std::size_t(q * kM + j)];
      dense[std::size_t(i * kM + j)] = v;
    }
  out.push_back({"low rank", make_low_rank_covariance_noise(test::host_f32(s, {2, 3}), test::host_f32(f, {2, kM}), kItem, "gaussian:sigma=s.h5:factor=f.h5"),
                 dense});
  // Low rank with one sigma: the scalar form.
  std::vector<double> scalar = dense;
  for (std::int64_t i = 0; i < kM; ++i) scalar[std::size_t(i * kM + i)] += double(0.2f) * double(0.2f) - s[std::size_t(i)] * s[std::size_t(i)];
  out.push_back({"low rank, one sigma", make_low_rank_covariance_noise(test::host_f32({0.2}, {1}), test::host_f32(f, {2, kM}), kItem, "gaussian:sigma=0.2:factor=f.h5"),
                 scalar});
  return out;
}

// The observed entries of a mask (all when undefined).
std::vector<std::int64_t> observed_entries(const std::vector<double>& mask) {
  std::vector<std::int64_t> o;
  for (std::int64_t i = 0; i < kM; ++i)
    if (mask.empty() || mask[std::size_t(i)] != 0) o.push_back(i);
  return o;
}

std::vector<double> restricted(const std::vector<double>& sigma, const std::vector<std::int64_t>& o) {
  std::vector<double> s;
  for (std::int64_t i : o)
    for (std::int64_t j : o) s.push_back(sigma[std::size_t(i * kM + j)]);
  return s;
}

const std::vector<double> kMask{1, 0, 1, 1, 0, 1};

}  // namespace

TEST_CASE("correlated Gaussian noise: log p and its gradient are N(y_o; z_o, Sigma_oo)'s, in dense double algebra") {
  Context& ctx = test::context();
  const std::int64_t n = 3;
  const Shape shape{n, 2, 3};
  const std::vector<double> z = test::as_float(test::uniform(std::size_t(n * kM), 34)), y = test::as_float(test::uniform(std::size_t(n * kM), 35));
  for (const Correlated& c : models())
    for (const std::vector<double>& mask : {std::vector<double>(), kMask}) {
      CAPTURE(c.name);
      CAPTURE(mask.size());
      const Tensor observed = mask.empty() ? Tensor() : test::upload(mask, kItem);
      const std::vector<std::int64_t> o = observed_entries(mask);
      const auto k = std::int64_t(o.size());
      const std::vector<double> s = restricted(c.sigma, o);
      const std::vector<double> lp = c.model->log_likelihood(ctx, test::upload(y, shape), test::upload(z, shape), observed);
      Tensor g;
      c.model->gradient(ctx, test::upload(y, shape), test::upload(z, shape), observed, g);
      const std::vector<double> got_g = test::download(g);
      for (std::int64_t r = 0; r < n; ++r) {
        std::vector<double> res;
        for (std::int64_t i : o) res.push_back(y[std::size_t(r * kM + i)] - z[std::size_t(r * kM + i)]);
        const std::vector<double> w = test::solve_dense(s, res, k);
        double quad = 0;
        for (std::int64_t i = 0; i < k; ++i) quad += res[std::size_t(i)] * w[std::size_t(i)];
        const double want = -0.5 * (quad + log_det_lu(s, k) + double(k) * std::log(2 * std::numbers::pi));
        CHECK(lp[std::size_t(r)] == doctest::Approx(want).epsilon(1e-9));
        std::vector<double> want_g(std::size_t(kM), 0.0), item_g(got_g.begin() + r * kM, got_g.begin() + (r + 1) * kM);
        for (std::int64_t i = 0; i < k; ++i) want_g[std::size_t(o[std::size_t(i)])] = w[std::size_t(i)];
        CHECK(test::max_relative_error(item_g, want_g, 1e-3) < 1e-5);
        // And against a central difference of log p along entry 2 (observed in both patterns).
        const double h = 1e-2;
        std::vector<double> zp = z, zm = z;
        zp[std::size_t(r * kM + 2)] += h, zm[std::size_t(r * kM + 2)] -= h;
        const double fp = c.model->log_likelihood(ctx, test::upload(y, shape), test::upload(zp, shape), observed)[std::size_t(r)];
        const double fm = c.model->log_likelihood(ctx, test::upload(y, shape), test::upload(zm, shape), observed)[std::size_t(r)];
        CHECK((fp - fm) / (2 * h) == doctest::Approx(item_g[2]).epsilon(1e-3));
      }
    }
}

TEST_CASE("correlated Gaussian noise: the covariance map is Sigma_oo on observed entries and the identity elsewhere, also for diagonal models") {
  Context& ctx = test::context();
  const std::int64_t n = 2;
  const Shape shape{n, 2, 3};
  const std::vector<double> u = test::as_float(test::uniform(std::size_t(n * kM), 36));
  std::vector<Correlated> all = models();
  std::vector<double> diag(std::size_t(kM * kM), 0.0), per(std::size_t(kM * kM), 0.0), sig = test::as_float(test::uniform(kM, 37, 0.1, 2));
  for (std::int64_t i = 0; i < kM; ++i)
    diag[std::size_t(i * kM + i)] = double(0.3f) * double(0.3f), per[std::size_t(i * kM + i)] = sig[std::size_t(i)] * sig[std::size_t(i)];
  all.push_back({"diagonal", make_gaussian_noise(0.3), diag});
  all.push_back({"diagonal per entry", make_gaussian_noise(test::host_f32(sig, kItem), "gaussian:sigma=s.h5", test::device()), per});
  for (const Correlated& c : all)
    for (const std::vector<double>& mask : {std::vector<double>(), kMask}) {
      CAPTURE(c.name);
      CAPTURE(mask.size());
      REQUIRE(c.model->gaussian_covariance());
      const std::vector<std::int64_t> o = observed_entries(mask);
      Tensor out;
      c.model->gaussian_covariance()->apply(ctx, test::upload(u, shape), mask.empty() ? Tensor() : test::upload(mask, kItem), out);
      std::vector<double> want = u;
      for (std::int64_t r = 0; r < n; ++r)
        for (std::int64_t i : o) {
          double v = 0;
          for (std::int64_t j : o) v += c.sigma[std::size_t(i * kM + j)] * u[std::size_t(r * kM + j)];
          want[std::size_t(r * kM + i)] = v;
        }
      CHECK(test::max_relative_error(test::download(out), want, 1e-3) < 1e-5);
    }
  CHECK_FALSE(make_poisson_noise(1, Link::exp)->gaussian_covariance());
}

TEST_CASE("correlated Gaussian noise: draws have covariance Sigma_oo, 0 on unobserved entries, and do not depend on the batch") {
  Context& ctx = test::context();
  const std::int64_t n = 20000;
  const std::vector<double> z = test::uniform(kM, 38);
  std::vector<double> zs;
  for (std::int64_t r = 0; r < n; ++r) zs.insert(zs.end(), z.begin(), z.end());
  for (const Correlated& c : models()) {
    CAPTURE(c.name);
    Tensor y;
    c.model->sample(ctx, test::upload(zs, {n, 2, 3}), test::upload(kMask, kItem), RandomStream{5, 100}, y);
    const std::vector<double> v = test::download(y);
    double worst = 0, scale = 0;
    for (std::int64_t i = 0; i < kM; ++i)
      for (std::int64_t j = 0; j < kM; ++j) {
        double s = 0;
        for (std::int64_t r = 0; r < n; ++r) s += (v[std::size_t(r * kM + i)] - z[std::size_t(i)] * kMask[std::size_t(i)]) *
                                                   (v[std::size_t(r * kM + j)] - z[std::size_t(j)] * kMask[std::size_t(j)]);
        const double want = kMask[std::size_t(i)] * kMask[std::size_t(j)] * c.sigma[std::size_t(i * kM + j)];
        worst = std::max(worst, std::fabs(s / double(n) - want));
        scale = std::max(scale, want);
      }
    // Entry errors of an empirical covariance are about sqrt(2 / n) Sigma_max = 0.01 Sigma_max.
    CHECK(worst < 0.05 * scale);
    for (std::int64_t r = 0; r < 5; ++r) CHECK(v[std::size_t(r * kM + 1)] == 0.0);
    // Item 3 of a batch of 4 starting at stream 100 is item 0 of a batch of 1 at stream 103.
    Tensor one;
    c.model->sample(ctx, test::upload(z, {1, 2, 3}), test::upload(kMask, kItem), RandomStream{5, 103}, one);
    const std::vector<double> w = test::download(one);
    for (std::int64_t i = 0; i < kM; ++i) CHECK(w[std::size_t(i)] == v[std::size_t(3 * kM + i)]);
  }
}

TEST_CASE("correlated Gaussian noise: bad covariances, factors and data are refused by name") {
  Context& ctx = test::context();
  std::vector<double> full = test::random_covariance(kM, 31, 0.05);
  for (std::int64_t i = 0; i < kM; ++i)
    for (std::int64_t j = 0; j < i; ++j) full[std::size_t(i * kM + j)] = full[std::size_t(j * kM + i)];
  CHECK_THROWS_WITH_AS(make_full_covariance_noise(test::host_f32({full.begin(), full.begin() + kM * (kM - 1)}, {kM, kM - 1}), kItem, "gaussian:cov=c.h5"),
                       doctest::Contains("must be (6, 6)"), ShapeError);
  std::vector<double> skew = full;
  skew[1] += 0.5;
  CHECK_THROWS_WITH_AS(make_full_covariance_noise(test::host_f32(skew, {kM, kM}), kItem, "gaussian:cov=c.h5"),
                       doctest::Contains("not symmetric: entry (1, 0)"), ArgumentError);
  std::vector<double> indefinite = full;
  indefinite[std::size_t(3 * kM + 3)] = -1;
  CHECK_THROWS_WITH_AS(make_full_covariance_noise(test::host_f32(indefinite, {kM, kM}), kItem, "gaussian:cov=c.h5"),
                       doctest::Contains("not positive definite (its Cholesky pivot at entry 3"), ArgumentError);
  std::vector<double> nan = full;
  nan[7] = NAN;
  CHECK_THROWS_WITH_AS(make_full_covariance_noise(test::host_f32(nan, {kM, kM}), kItem, "gaussian:cov=c.h5"), doctest::Contains("gaussian:cov=c.h5"),
                       ArgumentError);
  const Tensor f = test::host_f32(test::uniform(2 * kM, 33), {2, kM});
  CHECK_THROWS_WITH_AS(make_low_rank_covariance_noise(test::host_f32({0.0}, {1}), f, kItem, "g"), doctest::Contains("must be positive"), ArgumentError);
  CHECK_THROWS_WITH_AS(make_low_rank_covariance_noise(test::host_f32({0.1, 0.2}, {2}), f, kItem, "g"), doctest::Contains("one value or one per entry"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(make_low_rank_covariance_noise(test::host_f32({0.1}, {1}), test::host_f32(test::uniform(2 * kM, 33), {kM, 2}), kItem, "g"),
                       doctest::Contains("must be (r, 6)"), ShapeError);

  // Models and data: complex data, items of the wrong size; correlated models have no diagonal.
  const auto model = make_full_covariance_noise(test::host_f32(full, {kM, kM}), kItem, "gaussian:cov=c.h5");
  CHECK_FALSE(model->gaussian_variance(ctx, kItem).defined());
  CHECK_THROWS_WITH_AS(model->validate(ctx, test::upload(test::complex_uniform(kM, 1), {1, 2, 3}), Tensor(), "y.h5#y"),
                       doctest::Contains("whiten complex (multi-coil) data"), ArgumentError);
  CHECK_THROWS_WITH_AS(model->validate(ctx, test::upload(test::uniform(8, 1), {1, 8}), Tensor(), "y.h5#y"),
                       doctest::Contains("have 8 entries, but noise 'gaussian:cov=c.h5' is a covariance over 6"), ShapeError);
  std::vector<double> bad = test::uniform(kM, 1);
  bad[4] = INFINITY;
  CHECK_THROWS_WITH_AS(model->validate(ctx, test::upload(bad, {1, 2, 3}), Tensor(), "y.h5#y"), doctest::Contains("must be finite"), ArgumentError);
  CHECK_NOTHROW(model->validate(ctx, test::upload(bad, {1, 2, 3}), test::upload(std::vector<double>{1, 1, 1, 1, 0, 1}, kItem), "y.h5#y"));
  Tensor g;
  CHECK_THROWS_WITH_AS(model->gradient(ctx, test::upload(test::uniform(8, 1), {1, 8}), test::upload(test::uniform(8, 1), {1, 8}), Tensor(), g),
                       doctest::Contains("over 6 entries per item"), ShapeError);

  CHECK(independent_gaussian_refusal(ctx, *model, kItem, "RePaint needs one sigma").find("has correlated entries") != std::string::npos);
  CHECK(independent_gaussian_refusal(ctx, *make_poisson_noise(1, Link::exp), kItem, "x").find("is not Gaussian") != std::string::npos);
  CHECK(independent_gaussian_refusal(ctx, *make_gaussian_noise(0.1), kItem, "x").empty());
}
