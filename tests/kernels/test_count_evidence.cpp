#include "kernels/count_evidence.h"

#include <cmath>
#include <functional>

#include "support.h"

using namespace tweedie;

namespace {

// The trapezoid rule on a uniform grid of n intervals over [lo, hi], in double.
double trapezoid(const std::function<double(double)>& f, double lo, double hi, int n) {
  double h = (hi - lo) / n, s = 0.5 * (f(lo) + f(hi));
  for (int i = 1; i < n; ++i) s += f(lo + i * h);
  return s * h;
}

// The negative binomial as the integral of Poisson(y | theta) Gamma(theta | alpha, beta) over theta,
// in u = log theta (the integrand decays like e^(alpha u) below and e^(-beta e^u) above).
double neg_binomial_by_quadrature(double y, double alpha, double beta) {
  double log_norm = alpha * std::log(beta) - std::lgamma(alpha) - std::lgamma(y + 1);
  auto f = [&](double u) {
    double theta = std::exp(u);
    return std::exp(log_norm + (y + alpha) * u - theta * (1 + beta));
  };
  double centre = std::log((y + alpha) / (1 + beta));
  return std::log(trapezoid(f, centre - 60 / std::min(1.0, y + alpha), centre + 6, 200000));
}

// The beta-binomial as the integral of Binomial(y | n, p) Beta(p | a, b) over p, in u = logit p.
double beta_binomial_by_quadrature(double y, double n, double a, double b) {
  double log_norm = std::lgamma(n + 1) - std::lgamma(y + 1) - std::lgamma(n - y + 1) - std::lgamma(a) - std::lgamma(b) +
                    std::lgamma(a + b);
  auto f = [&](double u) {
    double log_p = -std::log1p(std::exp(-u)), log_q = -std::log1p(std::exp(u));
    return std::exp(log_norm + (y + a) * log_p + (n - y + b) * log_q);
  };
  return std::log(trapezoid(f, -80, 80, 400000));
}

// theta = s g(z), z ~ N(mu, v): mean and variance by the trapezoid rule over +-12 standard deviations.
struct Moments {
  double m, var;
};
Moments moments_by_quadrature(CountLink link, double s, double mu, double v) {
  auto g = [&](double z) {
    if (link == CountLink::exp) return s * std::exp(z);
    if (link == CountLink::softplus) return s * std::log1p(std::exp(z));
    return s / (1 + std::exp(-z));
  };
  double sd = std::sqrt(v);
  auto density = [&](double z) { return std::exp(-0.5 * (z - mu) * (z - mu) / v) / std::sqrt(2 * M_PI * v); };
  double m = trapezoid([&](double z) { return g(z) * density(z); }, mu - 12 * sd, mu + 12 * sd, 20000);
  double m2 = trapezoid([&](double z) { return g(z) * g(z) * density(z); }, mu - 12 * sd, mu + 12 * sd, 20000);
  return {m, m2 - m * m};
}

// The moment-matched evidence from quadrature moments and std::lgamma, independent of the header's.
double poisson_reference(double y, CountLink link, double s, double mu, double v) {
  Moments t = moments_by_quadrature(link, s, mu, v);
  double alpha = t.m * t.m / t.var, beta = t.m / t.var;
  return std::lgamma(y + alpha) - std::lgamma(alpha) - std::lgamma(y + 1) + alpha * std::log(beta) -
         (alpha + y) * std::log1p(beta);
}

double binomial_reference(double y, double n, double s, double mu, double v) {
  Moments t = moments_by_quadrature(CountLink::sigmoid, s, mu, v);
  double kappa = t.m * (1 - t.m) / t.var - 1, a = t.m * kappa, b = (1 - t.m) * kappa;
  auto lbeta = [](double p, double q) { return std::lgamma(p) + std::lgamma(q) - std::lgamma(p + q); };
  return std::lgamma(n + 1) - std::lgamma(y + 1) - std::lgamma(n - y + 1) + lbeta(y + a, n - y + b) - lbeta(a, b);
}

double central_difference(const std::function<double(double)>& f, double x, double h) {
  return (f(x + h) - f(x - h)) / (2 * h);
}

}  // namespace

TEST_CASE("count evidence: digamma and the log gamma and digamma steps against std::lgamma and differences") {
  for (double x : {0.01, 0.3, 1.0, 2.5, 9.99, 10.0, 37.0, 1e4, 1e9}) {
    double h = 1e-5 * x;
    double want = (std::lgamma(x + h) - std::lgamma(x - h)) / (2 * h);
    CHECK(std::abs(digamma(x) - want) <= 1e-7 * std::max(1.0, std::abs(want)));
  }
  CHECK(std::abs(digamma(1.0) + 0.57721566490153286) < 1e-13);  // -Euler's constant
  for (double a : {0.2, 3.0, 9.5, 10.0, 55.0, 1e6, 1e12}) {
    for (double k : {0.0, 1.0, 7.0, 64.0, 65.0, 1000.0}) {
      double sum = 0, log_sum = 0;  // the exact finite forms for integer k
      for (double j = 0; j < k; j += 1) sum += 1 / (a + j), log_sum += std::log(a + j);
      CHECK(std::abs(digamma_step(a, k) - sum) <= 1e-12 * std::max(sum, 1e-300) + 1e-15);
      CHECK(std::abs(log_gamma_step(a, k) - log_sum) <= 1e-12 * std::max(1.0, std::abs(log_sum)));
    }
  }
}

TEST_CASE("count evidence: negative binomial and beta-binomial against quadrature, gradients against differences") {
  for (double y : {0.0, 1.0, 4.0, 30.0}) {
    for (auto [alpha, beta] : {std::pair{0.7, 0.4}, {2.0, 3.0}, {25.0, 1.5}, {400.0, 20.0}}) {
      EvidenceGradient e = neg_binomial_evidence(y, alpha, beta);
      CHECK(std::abs(e.value - neg_binomial_by_quadrature(y, alpha, beta)) < 1e-7);
      double da = central_difference([&](double a) { return neg_binomial_evidence(y, a, beta).value; }, alpha, 1e-5 * alpha);
      double db = central_difference([&](double b) { return neg_binomial_evidence(y, alpha, b).value; }, beta, 1e-5 * beta);
      CHECK(std::abs(e.d_first - da) < 1e-6 * std::max(1.0, std::abs(da)));
      CHECK(std::abs(e.d_second - db) < 1e-6 * std::max(1.0, std::abs(db)));
    }
  }
  for (double n : {1.0, 12.0, 50.0}) {
    for (double y : {0.0, std::floor(n / 3), n}) {
      for (auto [a, b] : {std::pair{0.6, 0.9}, {3.0, 7.0}, {120.0, 40.0}}) {
        EvidenceGradient e = beta_binomial_evidence(y, n, a, b);
        CHECK(std::abs(e.value - beta_binomial_by_quadrature(y, n, a, b)) < 1e-7);
        double da = central_difference([&](double p) { return beta_binomial_evidence(y, n, p, b).value; }, a, 1e-5 * a);
        double db = central_difference([&](double q) { return beta_binomial_evidence(y, n, a, q).value; }, b, 1e-5 * b);
        CHECK(std::abs(e.d_first - da) < 1e-6 * std::max(1.0, std::abs(da)));
        CHECK(std::abs(e.d_second - db) < 1e-6 * std::max(1.0, std::abs(db)));
      }
    }
  }
}

TEST_CASE("count evidence: moment-matched evidence and its score in mu against quadrature moments") {
  struct Case {
    CountLink link;
    double s, mu, v, y;
  };
  for (Case c : {Case{CountLink::exp, 1.0, 0.2, 0.3, 2}, {CountLink::exp, 20.0, -0.4, 0.05, 11}, {CountLink::exp, 3.0, 1.0, 1.5, 0},
                 {CountLink::softplus, 5.0, 0.3, 0.4, 3}, {CountLink::softplus, 1.0, -1.0, 2.0, 0}, {CountLink::softplus, 30.0, 1.2, 0.01, 44}}) {
    CAPTURE(int(c.link)); CAPTURE(c.mu); CAPTURE(c.v); CAPTURE(c.y);
    EntryEvidence e = poisson_entry_evidence(c.y, c.link, c.s, c.mu, c.v);
    CHECK(std::abs(e.log_evidence - poisson_reference(c.y, c.link, c.s, c.mu, c.v)) < 1e-8);
    double fd = central_difference([&](double m) { return poisson_reference(c.y, c.link, c.s, m, c.v); }, c.mu, 1e-4);
    CHECK(std::abs(e.score - fd) < 1e-6 * std::max(1.0, std::abs(fd)));
  }
  for (Case c : {Case{CountLink::sigmoid, 1.0, 0.2, 0.3, 4}, {CountLink::sigmoid, 1.0, -2.0, 1.0, 0}, {CountLink::sigmoid, 0.8, 1.5, 0.05, 17},
                 {CountLink::sigmoid, 1.0, 3.0, 4.0, 20}}) {
    const double n = 20;
    CAPTURE(c.mu); CAPTURE(c.v); CAPTURE(c.y);
    EntryEvidence e = binomial_entry_evidence(c.y, n, c.s, c.mu, c.v);
    // 32-node Gauss-Hermite moments of the sigmoid: within 1e-12 up to v = 1, about 2e-7 at v = 4,
    // which y = n = 20 amplifies in the evidence.
    const double tolerance = c.v <= 1 ? 1e-8 : 1e-5;
    CHECK(std::abs(e.log_evidence - binomial_reference(c.y, n, c.s, c.mu, c.v)) < tolerance);
    double fd = central_difference([&](double m) { return binomial_reference(c.y, n, c.s, m, c.v); }, c.mu, 1e-4);
    CHECK(std::abs(e.score - fd) < 100 * tolerance * std::max(1.0, std::abs(fd)));
  }
}

TEST_CASE("count evidence: as v -> 0 the evidence and its score become the likelihood's, continuously") {
  // At v = 1e-9 (above the point threshold) the conjugate formulas are still used; they must agree with
  // the exact Poisson and Binomial log pmf and score to O(v).
  for (double mu : {-3.0, 0.0, 2.5}) {
    for (double y : {0.0, 3.0, 40.0}) {
      for (CountLink link : {CountLink::exp, CountLink::softplus}) {
        double s = 4, rate = link == CountLink::exp ? s * std::exp(mu) : s * std::log1p(std::exp(mu));
        double exact = y * std::log(rate) - rate - std::lgamma(y + 1);
        double slope = link == CountLink::exp ? rate : s / (1 + std::exp(-mu));
        EntryEvidence e = poisson_entry_evidence(y, link, s, mu, 1e-9);
        EntryEvidence point = poisson_entry_evidence(y, link, s, mu, 0.0);
        CHECK(std::abs(e.log_evidence - exact) < 1e-6 * std::max(1.0, std::abs(exact)));
        CHECK(std::abs(point.log_evidence - exact) < 1e-10 * std::max(1.0, std::abs(exact)));
        CHECK(std::abs(e.score - (y / rate - 1) * slope) < 1e-5 * std::max(1.0, std::abs(y - rate)));
        CHECK(std::abs(point.score - (y / rate - 1) * slope) < 1e-10 * std::max(1.0, std::abs(y - rate)));
      }
      const double n = 50, p = 1 / (1 + std::exp(-mu));
      if (y > n) continue;
      double exact = std::lgamma(n + 1) - std::lgamma(y + 1) - std::lgamma(n - y + 1) + y * std::log(p) + (n - y) * std::log1p(-p);
      EntryEvidence e = binomial_entry_evidence(y, n, 1.0, mu, 1e-9);
      CHECK(std::abs(e.log_evidence - exact) < 1e-6 * std::max(1.0, std::abs(exact)));
      CHECK(std::abs(e.score - (y - n * p)) < 1e-5 * std::max(1.0, std::abs(y - n * p)));
    }
  }
}

TEST_CASE("count evidence: Gauss-Newton terms, closed form for the exp link and the Binomial at v = 0") {
  CountLaw poisson{CountFamily::poisson, CountLink::exp, 7.0};
  for (double mu : {-2.0, 0.5}) {
    for (double v : {0.0, 0.2}) {
      double m = 7 * std::exp(mu + v / 2);
      NewtonTerms t = count_newton_terms(5, 0, poisson, mu, v);
      CHECK(std::abs(t.root_weight - std::sqrt(m)) < 1e-12 * std::sqrt(m));
      CHECK(std::abs(t.pearson - (5 - m) / std::sqrt(m)) < 1e-12 * std::max(1.0, std::abs(t.pearson)));
    }
  }
  CountLaw binomial{CountFamily::binomial, CountLink::sigmoid, 1.0};
  double mu = 0.7, n = 30, p = 1 / (1 + std::exp(-mu));
  NewtonTerms t = count_newton_terms(12, n, binomial, mu, 0.0);
  // Fisher information of Binomial(n, sigmoid(z)) in z: n p (1 - p); score y - n p.
  CHECK(std::abs(t.root_weight - std::sqrt(n * p * (1 - p))) < 1e-12);
  CHECK(std::abs(t.pearson * t.root_weight - (12 - n * p)) < 1e-10);
}

TEST_CASE("count evidence: the batched ops match the scalar math, skip unobserved entries and sum per item") {
  Context& ctx = test::context();
  const std::int64_t items = 3, cols = 5;
  std::vector<double> mean = test::uniform(items * cols, 1, -1.5, 1.5), var = test::uniform(items * cols, 2, 0.0, 0.8);
  var[3] = 0;  // a point belief
  std::vector<double> y(std::size_t(items * cols)), trials{5, 9, 3, 30, 12}, seen{1, 0, 1, 1, 1};
  for (std::size_t i = 0; i < y.size(); ++i) y[i] = double(i % 5);
  for (CountFamily family : {CountFamily::poisson, CountFamily::binomial}) {
    CountModel model;
    model.law = {family, family == CountFamily::poisson ? CountLink::softplus : CountLink::sigmoid, family == CountFamily::poisson ? 3.0 : 0.9};
    if (family == CountFamily::binomial) model.trials.per_entry = test::upload(trials, {cols});
    Tensor yt = test::upload(y, {items, cols}), mt = test::upload(mean, {items, cols}), vt = test::upload(var, {items, cols});
    Tensor observed = test::upload(seen, {cols});
    Tensor score = Tensor::empty({items, cols}, test::device()), root = Tensor::empty({items, cols}, test::device()),
           pearson = Tensor::empty({items, cols}, test::device());
    std::vector<double> logp = count_evidence(ctx, yt, mt, vt, model, observed, items, score);
    count_newton(ctx, yt, mt, vt, model, observed, items, root, pearson);
    std::vector<double> s = test::download(score), r = test::download(root), pe = test::download(pearson);
    for (std::int64_t i = 0; i < items; ++i) {
      double want = 0;
      for (std::int64_t c = 0; c < cols; ++c) {
        std::size_t k = std::size_t(i * cols + c);
        // The inputs as the kernel sees them (f32).
        double mu = double(float(mean[k])), v = double(float(var[k]));
        EntryEvidence e = family == CountFamily::poisson ? poisson_entry_evidence(y[k], model.law.link, 3.0, mu, v)
                                                         : binomial_entry_evidence(y[k], trials[std::size_t(c)], 0.9, mu, v);
        NewtonTerms nt = count_newton_terms(y[k], trials[std::size_t(c)], model.law, mu, v);
        if (seen[std::size_t(c)] == 0) {
          CHECK(s[k] == 0); CHECK(r[k] == 0); CHECK(pe[k] == 0);
          continue;
        }
        want += e.log_evidence;
        CHECK(std::abs(s[k] - e.score) <= 1e-6 * std::max(1.0, std::abs(e.score)));
        CHECK(std::abs(r[k] - nt.root_weight) <= 1e-6 * std::max(1.0, nt.root_weight));
        CHECK(std::abs(pe[k] - nt.pearson) <= 1e-6 * std::max(1.0, std::abs(nt.pearson)));
      }
      CHECK(std::abs(logp[std::size_t(i)] - want) < 1e-9 * std::max(1.0, std::abs(want)));
    }
  }
}

TEST_CASE("count evidence: mismatched shapes and links are refused by name") {
  Context& ctx = test::context();
  Tensor a = test::upload(std::vector<double>{1, 2, 3, 4}, Shape{2, 2}), b = test::upload(std::vector<double>{1, 2, 3}, Shape{3});
  Tensor out = Tensor::empty({2, 2}, test::device());
  CountModel model;
  CHECK_THROWS_WITH_AS(count_evidence(ctx, a, b, a, model, Tensor(), 2, out), doctest::Contains("count_evidence"), ShapeError);
  model.law.link = CountLink::sigmoid;
  CHECK_THROWS_WITH_AS(count_evidence(ctx, a, a, a, model, Tensor(), 2, out), doctest::Contains("exp or softplus"), ArgumentError);
}
