#include "samplers/mixture_denoiser.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "samplers/closed_form_process.h"
#include "support.h"

using namespace tweedie;
using samplers::MixtureDenoiser;
using samplers::MixturePrior;

namespace {

using Vec = std::vector<double>;

// A^{-1} b and log det A by Gaussian elimination with partial pivoting, in double.
Vec solve(Vec a, Vec b, std::int64_t n, double* log_det = nullptr) {
  double ld = 0;
  for (std::int64_t c = 0; c < n; ++c) {
    std::int64_t p = c;
    for (std::int64_t r = c + 1; r < n; ++r)
      if (std::abs(a[r * n + c]) > std::abs(a[p * n + c])) p = r;
    for (std::int64_t j = 0; j < n; ++j) std::swap(a[c * n + j], a[p * n + j]);
    std::swap(b[c], b[p]);
    ld += std::log(std::abs(a[c * n + c]));
    for (std::int64_t r = c + 1; r < n; ++r) {
      double f = a[r * n + c] / a[c * n + c];
      for (std::int64_t j = c; j < n; ++j) a[r * n + j] -= f * a[c * n + j];
      b[r] -= f * b[c];
    }
  }
  Vec x(b.size());
  for (std::int64_t r = n - 1; r >= 0; --r) {
    double s = b[r];
    for (std::int64_t j = r + 1; j < n; ++j) s -= a[r * n + j] * x[j];
    x[r] = s / a[r * n + r];
  }
  if (log_det) *log_det = ld;
  return x;
}

Vec multiply(const double* a, const Vec& x, std::int64_t n) {
  Vec y(n, 0.0);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j) y[i] += a[i * n + j] * x[j];
  return y;
}

double dot(const Vec& a, const Vec& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Everything about one item at one t, from normal densities and direct solves.
struct Reference {
  Vec resp, mean;
  std::vector<Vec> m, g;  // component posterior means and scores
};

struct Mixture {
  MixturePrior prior;
  std::int64_t d() const { return prior.dim; }
  std::int64_t k() const { return prior.components(); }
  const double* cov(std::int64_t c) const { return &prior.covs[c * d() * d()]; }
  Vec noisy_cov(std::int64_t c, double a, double s) const {  // alpha^2 S_k + sigma^2 I
    Vec m(cov(c), cov(c) + d() * d());
    for (double& e : m) e *= a * a;
    for (std::int64_t i = 0; i < d(); ++i) m[i * d() + i] += s * s;
    return m;
  }
};

Reference reference(const Mixture& mx, double a, double s, const Vec& x) {
  std::int64_t d = mx.d(), kc = mx.k();
  Reference r;
  Vec log_p(kc);
  for (std::int64_t c = 0; c < kc; ++c) {
    Vec diff(d);
    for (std::int64_t i = 0; i < d; ++i) diff[i] = x[i] - a * mx.prior.means[c * d + i];
    double ld = 0;
    Vec y = solve(mx.noisy_cov(c, a, s), diff, d, &ld);
    log_p[c] = std::log(mx.prior.weights[c]) - 0.5 * dot(diff, y) - 0.5 * ld - 0.5 * d * std::log(2 * std::numbers::pi);
    Vec sy = multiply(mx.cov(c), y, d), m(d), g(d);
    for (std::int64_t i = 0; i < d; ++i) m[i] = mx.prior.means[c * d + i] + a * sy[i], g[i] = -y[i];
    r.m.push_back(m);
    r.g.push_back(g);
  }
  double top = *std::max_element(log_p.begin(), log_p.end()), total = 0;
  for (double lp : log_p) total += std::exp(lp - top);
  r.mean.assign(d, 0.0);
  for (std::int64_t c = 0; c < kc; ++c) {
    r.resp.push_back(std::exp(log_p[c] - top) / total);
    for (std::int64_t i = 0; i < d; ++i) r.mean[i] += r.resp[c] * r.m[c][i];
  }
  return r;
}

// J v = sum_k r_k J_k v + sum_k m_k (grad r_k . v), grad r_k = r_k (g_k - sum_j r_j g_j).
Vec reference_jvp(const Mixture& mx, double a, double s, const Reference& r, const Vec& v) {
  std::int64_t d = mx.d(), kc = mx.k();
  Vec out(d, 0.0), gbar(d, 0.0);
  for (std::int64_t c = 0; c < kc; ++c)
    for (std::int64_t i = 0; i < d; ++i) gbar[i] += r.resp[c] * r.g[c][i];
  for (std::int64_t c = 0; c < kc; ++c) {
    Vec jv = multiply(mx.cov(c), solve(mx.noisy_cov(c, a, s), v, d), d);
    double grad_dot_v = 0;
    for (std::int64_t i = 0; i < d; ++i) grad_dot_v += r.resp[c] * (r.g[c][i] - gbar[i]) * v[i];
    for (std::int64_t i = 0; i < d; ++i) out[i] += r.resp[c] * a * jv[i] + r.m[c][i] * grad_dot_v;
  }
  return out;
}

Mixture random_mixture(std::int64_t d, std::uint64_t seed) {
  Mixture mx;
  mx.prior.dim = d;
  mx.prior.weights = {0.5, 0.3, 0.2};
  mx.prior.means = test::uniform(3 * d, seed, -1.5, 1.5);
  for (std::int64_t c = 0; c < 3; ++c) {
    Vec b = test::uniform(d * d, seed + 1 + c);
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t j = 0; j < d; ++j) {
        double e = i == j ? 0.1 : 0.0;
        for (std::int64_t k = 0; k < d; ++k) e += b[i * d + k] * b[j * d + k] / double(d);
        mx.prior.covs.push_back(e);
      }
  }
  return mx;
}

std::unique_ptr<MixtureDenoiser> make(const MixturePrior& p) {
  return std::make_unique<MixtureDenoiser>(p, std::make_unique<test::TrigProcess>(), test::device());
}

Vec row(const Vec& all, std::int64_t i, std::int64_t d) { return Vec(all.begin() + i * d, all.begin() + (i + 1) * d); }

double alpha_at(double t) { return std::cos(0.5 * std::numbers::pi * t); }
double sigma_at(double t) { return std::sin(0.5 * std::numbers::pi * t); }

}  // namespace

TEST_CASE("A Gaussian mixture denoiser gives the closed-form posterior mean, responsibilities and Jacobian") {
  Context& ctx = test::context();
  for (std::int64_t d : {1, 2, 7, 16}) {
    Mixture mx = random_mixture(d, 10 * d);
    auto den = make(mx.prior);
    for (double t : {0.3, 0.6, 0.9}) {
      for (std::int64_t n : {1, 5}) {
        CAPTURE(d);
        CAPTURE(t);
        CAPTURE(n);
        double a = alpha_at(t), s = sigma_at(t);
        Vec xt = test::as_float(test::uniform(n * d, 20 * d + n, -1.5, 1.5));
        Vec v = test::as_float(test::uniform(n * d, 30 * d + n));
        Tensor x0 = Tensor::empty({n, d}, test::device()), jv = Tensor::empty({n, d}, test::device());
        auto lin = den->linearize(ctx, test::upload(xt, {n, d}), t, x0);
        den->jvp(ctx, *lin, test::upload(v, {n, d}), jv);
        std::vector<double> resp = den->responsibilities(ctx, test::upload(xt, {n, d}), t);
        Vec want_mean, want_jvp, want_resp;
        for (std::int64_t i = 0; i < n; ++i) {
          Reference r = reference(mx, a, s, row(xt, i, d));
          Vec j = reference_jvp(mx, a, s, r, row(v, i, d));
          want_mean.insert(want_mean.end(), r.mean.begin(), r.mean.end());
          want_jvp.insert(want_jvp.end(), j.begin(), j.end());
          want_resp.insert(want_resp.end(), r.resp.begin(), r.resp.end());
        }
        CHECK(test::max_relative_error(test::download(x0), want_mean) < 1e-4);
        CHECK(test::max_relative_error(test::download(jv), want_jvp) < 1e-4);
        CHECK(test::max_relative_error(resp, want_resp) < 1e-4);
      }
    }
  }
}

TEST_CASE("Gaussian mixture JVPs match finite differences, VJPs satisfy the dot-product identity, tangents batch") {
  Context& ctx = test::context();
  const std::int64_t d = 7, n = 5, k = 3;
  Mixture mx = random_mixture(d, 77);
  auto den = make(mx.prior);
  for (double t : {0.4, 0.8}) {
    CAPTURE(t);
    Vec xt = test::uniform(n * d, 78, -1, 1), v = test::uniform(k * n * d, 79), u = test::uniform(k * n * d, 80);
    Tensor x0 = Tensor::empty({n, d}, test::device());
    auto lin = den->linearize(ctx, test::upload(xt, {n, d}), t, x0);
    Tensor jv = Tensor::empty({k * n, d}, test::device()), ju = Tensor::empty({k * n, d}, test::device());
    Tensor jvu = Tensor::empty({k * n, d}, test::device());
    den->jvp(ctx, *lin, test::upload(v, {k * n, d}), jv);
    den->vjp(ctx, *lin, test::upload(u, {k * n, d}), ju);
    den->jvp(ctx, *lin, test::upload(u, {k * n, d}), jvu);
    Vec jvs = test::download(jv), jus = test::download(ju), jvus = test::download(jvu);
    // The responsibilities' own derivative matters only where they are mixed: make sure some are.
    std::vector<double> r = den->responsibilities(ctx, test::upload(xt, {n, d}), t);
    CHECK(std::count_if(r.begin(), r.end(), [](double e) { return e > 0.05 && e < 0.95; }) >= 2);

    double h = 3e-3;
    Vec plus = xt, minus = xt;
    for (std::int64_t i = 0; i < n * d; ++i) plus[i] += h * v[i], minus[i] -= h * v[i];
    Tensor fp = Tensor::empty({n, d}, test::device()), fm = Tensor::empty({n, d}, test::device());
    den->denoise(ctx, test::upload(plus, {n, d}), t, fp);
    den->denoise(ctx, test::upload(minus, {n, d}), t, fm);
    Vec dp = test::download(fp), dm = test::download(fm), fd(n * d);
    for (std::int64_t i = 0; i < n * d; ++i) fd[i] = (dp[i] - dm[i]) / (2 * h);
    CHECK(test::max_relative_error(fd, Vec(jvs.begin(), jvs.begin() + n * d)) < 1e-3);

    double scale = std::sqrt(dot(u, u) * dot(jvs, jvs));
    CHECK(std::abs(dot(u, jvs) - dot(jus, v)) < 1e-4 * scale);
    // J is symmetric, so the VJP and the JVP of the same vector agree.
    CHECK(test::max_relative_error(jus, jvus) < 1e-4);

    for (std::int64_t b = 0; b < k; ++b) {
      Tensor one = Tensor::empty({n, d}, test::device()), back = Tensor::empty({n, d}, test::device());
      den->jvp(ctx, *lin, test::upload(row(v, b, n * d), {n, d}), one);
      den->vjp(ctx, *lin, test::upload(row(u, b, n * d), {n, d}), back);
      CHECK(test::max_relative_error(test::download(one), row(jvs, b, n * d)) < 1e-6);
      CHECK(test::max_relative_error(test::download(back), row(jus, b, n * d)) < 1e-6);
    }
  }
  CHECK(den->forward_count == 2 * 3 * n);
  CHECK(den->jvp_count == 2 * (2 * k * n + k * n));
  CHECK(den->vjp_count == 2 * (k * n + k * n));
}

TEST_CASE("Gaussian mixture prior samples pick components by weight and have their means") {
  MixturePrior p;
  p.dim = 2;
  p.weights = {0.5, 0.3, 0.2};
  p.means = {-4, 0, 3, 2, 0, 6};
  p.covs = {0.5, 0.2, 0.2, 0.4, 0.3, -0.1, -0.1, 0.6, 0.4, 0, 0, 0.2};
  auto den = make(p);
  const std::int64_t n = 100000;
  Tensor x = Tensor::empty({n, 2}, test::device());
  den->sample_prior(test::context(), 7, x);
  Vec s = test::download(x);
  std::vector<double> count(3, 0.0), sum(6, 0.0);
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t best = 0;
    double best_d = 1e300;
    for (std::int64_t c = 0; c < 3; ++c) {
      double dx = s[2 * i] - p.means[2 * c], dy = s[2 * i + 1] - p.means[2 * c + 1];
      if (dx * dx + dy * dy < best_d) best_d = dx * dx + dy * dy, best = c;
    }
    count[best] += 1;
    sum[2 * best] += s[2 * i];
    sum[2 * best + 1] += s[2 * i + 1];
  }
  for (std::int64_t c = 0; c < 3; ++c) {
    CAPTURE(c);
    double w = p.weights[c];
    CHECK(std::abs(count[c] / n - w) < 5 * std::sqrt(w * (1 - w) / n));
    for (std::int64_t j = 0; j < 2; ++j)
      CHECK(std::abs(sum[2 * c + j] / count[c] - p.means[2 * c + j]) < 5 * std::sqrt(p.covs[c * 4 + j * 3] / count[c]));
  }
}

TEST_CASE("A Gaussian mixture with a zero weight never uses that component") {
  Mixture mx = random_mixture(2, 5);
  mx.prior.weights = {0.6, 0.4, 0.0};
  auto den = make(mx.prior);
  Tensor xt = test::upload(test::uniform(8, 6), {4, 2});
  std::vector<double> r = den->responsibilities(test::context(), xt, 0.5);
  for (std::int64_t i = 0; i < 4; ++i) {
    CHECK(r[i * 3 + 2] == 0.0);
    CHECK(r[i * 3] + r[i * 3 + 1] == doctest::Approx(1.0).epsilon(1e-12));
  }
  Tensor x = Tensor::empty({1000, 2}, test::device());
  den->sample_prior(test::context(), 3, x);  // draws from components 0 and 1 only: finite and near them
  for (double e : test::download(x)) CHECK(std::isfinite(e));
}

TEST_CASE("A Gaussian mixture denoiser refuses invalid weights and covariances, naming the field") {
  auto refuses = [](const MixturePrior& p, const char* what) {
    CAPTURE(what);
    CHECK_THROWS_WITH_AS(make(p), doctest::Contains(what), ArgumentError);
  };
  MixturePrior p = random_mixture(2, 9).prior;
  p.weights = {0.5, 0.3, 0.1};
  refuses(p, "'weights' sum to 0.9");
  p.weights = {0.5, 0.7, -0.2};
  refuses(p, "'weights' has the invalid weight -0.2");
  p = random_mixture(2, 9).prior;
  p.covs[4 + 0] = -1;
  refuses(p, "'covs[1]' is not positive semi-definite");
  p = random_mixture(2, 9).prior;
  p.covs[8 + 1] += 1;
  refuses(p, "'covs[2]' is not symmetric");
  p = random_mixture(2, 9).prior;
  p.means.pop_back();
  refuses(p, "'means' has 5 values");
}
