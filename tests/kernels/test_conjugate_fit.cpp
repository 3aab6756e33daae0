// The inference network's per-entry losses (kernels/conjugate_fit.h): values against the Gamma and Beta
// densities and the negative binomial / beta-binomial written out with std::lgamma, gradients against
// central differences in double, and the batched ops (mask, per-entry trials) against the scalar math.
#include "kernels/conjugate_fit.h"

#include <cmath>

#include "support.h"

using namespace tweedie;

namespace {

struct Case {
  CountFamily family;
  double theta, y, n, r1, r2;
};

const Case kCases[] = {
    {CountFamily::poisson, 0.7, 3, 0, 0.2, 1.1},     {CountFamily::poisson, 25.0, 31, 0, 3.0, 4.5},
    {CountFamily::poisson, 0.01, 0, 0, -2.0, -0.5},  {CountFamily::binomial, 0.3, 4, 12, -0.4, 1.5},
    {CountFamily::binomial, 0.97, 49, 50, 2.5, 3.0}, {CountFamily::binomial, 0.02, 0, 5, -3.0, 0.3},
};

// The densities from their definitions (Gamma in shape-rate, Beta), with alpha = e^r2, beta = alpha / e^r1
// and a = sigmoid(r1) e^r2, b = (1 - sigmoid(r1)) e^r2.
double nll_by_definition(const Case& c) {
  const double kappa = std::exp(c.r2);
  if (c.family == CountFamily::poisson) {
    const double alpha = kappa, beta = alpha / std::exp(c.r1);
    return -(alpha * std::log(beta) - std::lgamma(alpha) + (alpha - 1) * std::log(c.theta) - beta * c.theta);
  }
  const double m = 1 / (1 + std::exp(-c.r1)), a = m * kappa, b = (1 - m) * kappa;
  return -((a - 1) * std::log(c.theta) + (b - 1) * std::log1p(-c.theta) - std::lgamma(a) - std::lgamma(b) + std::lgamma(a + b));
}

double evidence_by_definition(const Case& c) {
  const double kappa = std::exp(c.r2);
  if (c.family == CountFamily::poisson) {
    const double alpha = kappa, beta = alpha / std::exp(c.r1);
    return std::lgamma(c.y + alpha) - std::lgamma(alpha) - std::lgamma(c.y + 1) + alpha * std::log(beta / (1 + beta)) - c.y * std::log1p(beta);
  }
  const double m = 1 / (1 + std::exp(-c.r1)), a = m * kappa, b = (1 - m) * kappa;
  return std::lgamma(c.n + 1) - std::lgamma(c.y + 1) - std::lgamma(c.n - c.y + 1) + std::lgamma(c.y + a) + std::lgamma(c.n - c.y + b) -
         std::lgamma(c.n + a + b) - std::lgamma(a) - std::lgamma(b) + std::lgamma(a + b);
}

}  // namespace

TEST_CASE("conjugate fit: values match the densities, gradients match central differences") {
  for (const Case& c : kCases) {
    CAPTURE(c.theta);
    CAPTURE(c.r1);
    RawGradient nll = conjugate_entry_nll(c.family, c.theta, c.r1, c.r2);
    CHECK(nll.value == doctest::Approx(nll_by_definition(c)).epsilon(1e-10));
    RawGradient ev = conjugate_entry_evidence(c.family, c.y, c.n, c.r1, c.r2);
    CHECK(ev.value == doctest::Approx(evidence_by_definition(c)).epsilon(1e-10));
    const double h = 1e-5;
    auto diff = [&](auto f, int which) {
      double p = which == 1 ? f(c.r1 + h, c.r2) : f(c.r1, c.r2 + h), m = which == 1 ? f(c.r1 - h, c.r2) : f(c.r1, c.r2 - h);
      return (p - m) / (2 * h);
    };
    auto nll_at = [&](double a, double b) { return conjugate_entry_nll(c.family, c.theta, a, b).value; };
    auto ev_at = [&](double a, double b) { return conjugate_entry_evidence(c.family, c.y, c.n, a, b).value; };
    CHECK(nll.d_r1 == doctest::Approx(diff(nll_at, 1)).epsilon(1e-6).scale(1.0));
    CHECK(nll.d_r2 == doctest::Approx(diff(nll_at, 2)).epsilon(1e-6).scale(1.0));
    CHECK(ev.d_r1 == doctest::Approx(diff(ev_at, 1)).epsilon(1e-6).scale(1.0));
    CHECK(ev.d_r2 == doctest::Approx(diff(ev_at, 2)).epsilon(1e-6).scale(1.0));
  }
  // Raw values past +-30 are held there: finite, and the gradient of the held coordinate is that at 30.
  RawGradient far = conjugate_entry_nll(CountFamily::poisson, 1.0, 80.0, -80.0);
  CHECK(std::isfinite(far.value));
  CHECK(std::isfinite(far.d_r1));
}

TEST_CASE("conjugate fit: the batched ops follow the scalar math, skip unmeasured entries and sum per item") {
  Context& ctx = test::context();
  const std::int64_t items = 3, k = 5;
  std::vector<double> raw = test::uniform(std::size_t(items * 2 * k), 41, -1.5, 2.0);
  std::vector<double> theta = test::uniform(std::size_t(items * k), 42, 0.05, 0.95);
  std::vector<double> y{0, 3, 1, 7, 2, 4, 0, 2, 9, 1, 5, 5, 0, 3, 8};
  std::vector<double> trials{5, 9, 3, 12, 10};
  std::vector<double> observed{1, 0, 1, 1, 1};
  for (CountFamily family : {CountFamily::poisson, CountFamily::binomial}) {
    CAPTURE(int(family));
    Tensor r = test::upload(raw, {items, 2, k}), g = Tensor::empty({items, 2, k}, test::device());
    std::vector<double> nll = conjugate_nll(ctx, r, test::upload(theta, {items, k}), family, test::upload(observed, {k}), items, g);
    std::vector<double> grad = test::download(g);
    CountModel model;
    model.law = {family, family == CountFamily::poisson ? CountLink::exp : CountLink::sigmoid, 1.0};
    model.trials.per_entry = test::upload(trials, {k});
    Tensor ge = Tensor::empty({items, 2, k}, test::device());
    std::vector<double> ev = conjugate_evidence(ctx, r, test::upload(y, {items, k}), model, test::upload(observed, {k}), items, ge);
    std::vector<double> grad_e = test::download(ge);
    for (std::int64_t i = 0; i < items; ++i) {
      double sum = 0, sum_e = 0;
      for (std::int64_t e = 0; e < k; ++e) {
        const std::size_t a = std::size_t(i * 2 * k + e), b = std::size_t(i * 2 * k + k + e);
        const double r1 = float(raw[a]), r2 = float(raw[b]);
        RawGradient want = conjugate_entry_nll(family, float(theta[std::size_t(i * k + e)]), r1, r2);
        RawGradient want_e = conjugate_entry_evidence(family, y[std::size_t(i * k + e)], trials[std::size_t(e)], r1, r2);
        if (observed[std::size_t(e)] == 0) {
          CHECK(grad[a] == 0.0);
          CHECK(grad_e[b] == 0.0);
          continue;
        }
        sum += want.value, sum_e += want_e.value;
        CHECK(grad[a] == doctest::Approx(want.d_r1).epsilon(1e-5));
        CHECK(grad[b] == doctest::Approx(want.d_r2).epsilon(1e-5));
        CHECK(grad_e[a] == doctest::Approx(want_e.d_r1).epsilon(1e-5));
        CHECK(grad_e[b] == doctest::Approx(want_e.d_r2).epsilon(1e-5));
      }
      CHECK(nll[std::size_t(i)] == doctest::Approx(sum).epsilon(1e-9));
      CHECK(ev[std::size_t(i)] == doctest::Approx(sum_e).epsilon(1e-9));
    }
  }
}
