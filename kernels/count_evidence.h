#pragma once
// The conjugate "evidence" of count data given a Gaussian belief about the measurement, entry by entry:
// the likelihood terms of the evidence trick and of MMPS for counts (samplers/posterior/count_posterior.h).
//
// An entry observes y ~ Poisson(theta) or Binomial(n, theta), theta = s g(z) through a link g, while z
// itself is only known as z ~ N(mu, v) (z = A x0 given x_t). theta's law is replaced by the likelihood's
// conjugate prior with theta's mean m and variance V (moment matching):
//
//   Poisson   theta ~ Gamma(alpha, beta)   alpha = m^2 / V, beta = m / V   (shape, rate)
//             p(y) = Gamma(y + alpha) / (Gamma(alpha) y!) beta^alpha / (1 + beta)^(alpha + y)
//                                                                          (negative binomial)
//   Binomial  theta ~ Beta(a, b)           kappa = m (1 - m) / V - 1, a = m kappa, b = (1 - m) kappa
//             p(y) = C(n, y) B(y + a, n - y + b) / B(a, b)                  (beta-binomial)
//
// m and V as functions of (mu, v): for the exp link the log-normal moments, m = s e^(mu + v/2) and
// V = m^2 (e^v - 1); for softplus and sigmoid, 32-node Gauss-Hermite quadrature of E[g] and E[g^2]
// (within 1e-12 up to v = 1, the variance of a unit-scaled x0, and 2e-7 at v = 4). The score the samplers
// need is d log p(y) / d mu with v held fixed (differentiating v would need the network's second
// derivatives). As v -> 0 it tends to the exact likelihood's score in z (y - s e^z for Poisson with the
// exp link, y - n sigmoid(z) for Binomial); below v = 1e-12 the exact likelihood is used outright.
//
// Also here: the Gauss-Newton terms of MMPS for counts (the Fisher weight h in mu and the Pearson
// residual (score in mu) / sqrt(h) at the moment-matched mean), and the evidence as a function of the
// hyperparameters themselves with its gradient, for inference networks that output them.
//
// Layout (kernels/count_noise.h): `items` rows of equal length, `observed` undefined or one 0/1 f32 per
// entry of a row, the number of trials one value or one f32 per entry. Unobserved entries give 0.
// Everything per entry is double; log evidence is summed per item in double.
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/count_noise.h"
#include "runtime/context.h"
#include "runtime/hd.h"
#include "runtime/tensor.h"

namespace tweedie {

enum class CountFamily { poisson, binomial };
enum class CountLink { exp, softplus, sigmoid };

// A count likelihood as the kernels see it: Poisson with exp or softplus, Binomial with sigmoid.
// (`CountLaw` is the part the per-element math sees: plain values a GPU kernel can take.)
struct CountLaw {
  CountFamily family = CountFamily::poisson;
  CountLink link = CountLink::exp;
  double scale = 1;  // s: Poisson exposure > 0; Binomial 0 < s <= 1
};
struct CountModel {
  CountLaw law;
  EntryParameter trials;  // Binomial n
};

// score = d log p(y) / d mean per entry (f32, like mean); returns log p(y) of each item.
std::vector<double> count_evidence(Context& ctx, const Tensor& y, const Tensor& mean, const Tensor& var, const CountModel& model,
                                   const Tensor& observed, std::int64_t items, Tensor& score);
// Gauss-Newton at the moment-matched mean: root_weight = sqrt(h), pearson = (score in mean) / sqrt(h).
void count_newton(Context& ctx, const Tensor& y, const Tensor& mean, const Tensor& var, const CountModel& model,
                  const Tensor& observed, std::int64_t items, Tensor& root_weight, Tensor& pearson);

// ---- scalar math, in double ----------------------------------------------------------------------

// The asymptotic series of digamma past log x - 1/(2x): sum of B_2k / (2k x^2k), k = 1..5, for x >= 10
// (the first term left out is below 3e-14 there).
TW_HD inline double digamma_tail(double x) {
  double r2 = 1 / (x * x);
  return r2 * (1.0 / 12 - r2 * (1.0 / 120 - r2 * (1.0 / 252 - r2 * (1.0 / 240 - r2 * (1.0 / 132)))));
}

// digamma(x) for x > 0: the recurrence up to x >= 10, then the asymptotic series (error < 1e-13).
TW_HD inline double digamma(double x) {
  if (!(x > 0)) return NAN;
  double shift = 0;
  while (x < 10) shift += 1 / x, x += 1;
  const double r = 1 / x;
  return log(x) - 0.5 * r - digamma_tail(x) - shift;
}

// digamma(a + k) - digamma(a) for a > 0 and a count k >= 0, without the cancellation of the plain
// difference when a >> k: from a = 10 on as log1p(k / a) plus differences of the series' terms, below
// it as the sum of 1 / (a + j) (k <= 64) or the plain difference (small a: no large terms to cancel).
TW_HD inline double digamma_step(double a, double k) {
  if (k == 0) return 0;
  if (a >= 10) {
    double b = a + k;
    return log1p(k / a) + 0.5 * k / (a * b) + digamma_tail(a) - digamma_tail(b);
  }
  if (k <= 64) {
    double s = 0;
    for (double j = 0; j < k; j += 1) s += 1 / (a + j);
    return s;
  }
  return digamma(a + k) - digamma(a);
}

// log Gamma(a + k) - log Gamma(a) for a > 0, k >= 0, the same way: from a = 10 on by Stirling's
// formula in differences, (a - 1/2) log1p(k / a) + k log(a + k) - k + tail(a + k) - tail(a).
TW_HD inline double log_gamma_step(double a, double k) {
  if (k == 0) return 0;
  if (a >= 10) return (a - 0.5) * log1p(k / a) + k * log(a + k) - k + stirling_tail(a + k) - stirling_tail(a);
  return log_gamma(a + k) - log_gamma(a);
}

// The negative binomial evidence log p(y | alpha, beta) and its gradient in (alpha, beta).
struct EvidenceGradient {
  double value, d_first, d_second;
};
TW_HD inline EvidenceGradient neg_binomial_evidence(double y, double alpha, double beta) {
  EvidenceGradient e;
  e.value = log_gamma_step(alpha, y) - log_gamma(y + 1) + alpha * log(beta) - (alpha + y) * log1p(beta);
  e.d_first = digamma_step(alpha, y) + log(beta) - log1p(beta);
  e.d_second = alpha / beta - (alpha + y) / (1 + beta);
  return e;
}

// The beta-binomial evidence log p(y | n, a, b) and its gradient in (a, b).
TW_HD inline EvidenceGradient beta_binomial_evidence(double y, double n, double a, double b) {
  EvidenceGradient e;
  double log_choose = log_gamma(n + 1) - log_gamma(y + 1) - log_gamma(n - y + 1);
  double total = digamma_step(a + b, n);
  e.value = log_choose + log_gamma_step(a, y) + log_gamma_step(b, n - y) - log_gamma_step(a + b, n);
  e.d_first = digamma_step(a, y) - total;
  e.d_second = digamma_step(b, n - y) - total;
  return e;
}

// theta = s g(z), z ~ N(mu, v): theta's mean m, 1 - m (for Binomial, without cancellation near 1), its
// variance V, and dm/dmu, dV/dmu.
struct LinkMoments {
  double m, m_complement, var, dm, dvar;
};

// Below this v the Gaussian belief is a point: the exact likelihood at z = mu.
inline constexpr double kPointVariance = 1e-12;

// Gauss-Hermite nodes x_i > 0 and weights w_i / sqrt(pi) of the 32-node rule (symmetric: -x_i carries
// the same weight). E[f(mu + sqrt(v) Z)] = sum_i w_i (f(mu + sqrt(2 v) x_i) + f(mu - sqrt(2 v) x_i)).
// For the sigmoid's moments it is within 1e-12 up to v = 1 and 2e-7 at v = 4 (measured against fine
// quadrature); the 20-node rule was 1e-10 and 6e-6.
inline constexpr int kHermiteHalf = 16;
TW_HD inline double hermite_node(int i) {
  constexpr double x[kHermiteHalf] = {
      0.19484074156939934, 0.5849787654359324, 0.9765004635896828, 1.3703764109528718, 1.7676541094632015, 2.169499183606112,
      2.5772495377323175,  2.992490825002374,  3.417167492818571,  3.853755485471445,  4.305547953351199,  4.777164503502596,
      5.2755509865158805,  5.812225949515914,  6.409498149269661,  7.125813909830728};
  return x[i];
}
TW_HD inline double hermite_weight(int i) {
  constexpr double w[kHermiteHalf] = {
      0.21170556988047937,   0.1565389937575985,    0.08534480827208067,   0.034109847726092095, 0.009903461702320596,
      0.002062051051307884,  0.00030255702581706253, 3.055980306089635e-05, 2.0596221039534304e-06, 8.881290713105862e-08,
      2.312518412074231e-09, 3.3475012398012285e-11, 2.378064855777791e-13, 6.755290223670129e-16, 5.208449591960842e-19,
      4.1246074890182323e-23};
  return w[i];
}

// g and g' of the softplus and sigmoid links (scaled by s), and 1 - s sigmoid(z) without cancellation.
struct LinkValue {
  double g, dg, complement;
};
TW_HD inline LinkValue link_value(CountLink link, double scale, double z) {
  double sp = sigmoid_d(z), sn = sigmoid_d(-z);
  if (link == CountLink::softplus) return {scale * softplus_d(z), scale * sp, 0.0};
  return {scale * sp, scale * sp * sn, sn + (1 - scale) * sp};
}

TW_HD inline LinkMoments link_moments(CountLink link, double scale, double mu, double v) {
  LinkMoments r;
  if (link == CountLink::exp) {
    r.m = scale * exp(mu + 0.5 * v);
    r.m_complement = 0;
    r.var = r.m * r.m * expm1(v);
    r.dm = r.m;
    r.dvar = 2 * r.var;
    return r;
  }
  // Centred on g(mu), so that V = E[d^2] - E[d]^2 with d = g(z) - g(mu) keeps its digits for small v.
  LinkValue c = link_value(link, scale, mu);
  double e_d = 0, e_dd = 0, e_dg = 0, e_ddg = 0, e_comp = 0, spread = sqrt(2 * v);
  for (int i = 0; i < kHermiteHalf; ++i) {
    for (int side = -1; side <= 1; side += 2) {
      LinkValue p = link_value(link, scale, mu + side * spread * hermite_node(i));
      double w = hermite_weight(i), d = p.g - c.g;
      e_d += w * d;
      e_dd += w * d * d;
      e_dg += w * p.dg;
      e_ddg += w * d * p.dg;
      e_comp += w * p.complement;
    }
  }
  r.m = c.g + e_d;
  r.m_complement = e_comp;
  r.var = e_dd - e_d * e_d;
  r.dm = e_dg;
  r.dvar = 2 * (e_ddg - e_d * e_dg);
  return r;
}

// log p(y) and d log p / d mu of one entry under the moment-matched conjugate prior.
struct EntryEvidence {
  double log_evidence, score;
};

TW_HD inline EntryEvidence poisson_entry_evidence(double y, CountLink link, double scale, double mu, double v) {
  LinkMoments t = link_moments(link, scale, mu, v > kPointVariance ? v : 0.0);
  double m = t.m;
  if (!(v > kPointVariance) || !(t.var > 0) || m * m / t.var > 1e15) {
    // The Poisson likelihood itself; y log m with y = 0 contributes 0 even when m underflows.
    RateLink rate = link == CountLink::exp ? RateLink::exp : RateLink::softplus;
    double log_m = link == CountLink::exp ? log(scale) + mu : mu < -30 ? log(scale) + mu : log(m);
    return {(y > 0 ? y * log_m : 0.0) - m - log_gamma(y + 1), poisson_score(y, rate, scale, mu)};
  }
  // In (m, alpha), beta = alpha / m: log p = log_gamma_step(alpha, y) - log y! - alpha log1p(m / alpha)
  // - y log1p(alpha / m); d/dm at fixed alpha = alpha (y - m) / (m (alpha + m)), and
  // d/dalpha at fixed m = digamma_step(alpha, y) - log1p(m / alpha) + (m - y) / (alpha + m).
  double alpha = m * m / t.var;
  double value = log_gamma_step(alpha, y) - log_gamma(y + 1) - alpha * log1p(m / alpha) - y * log1p(alpha / m);
  double d_m = alpha * (y - m) / (m * (alpha + m));
  double d_alpha = digamma_step(alpha, y) - log1p(m / alpha) + (m - y) / (alpha + m);
  double alpha_mu = alpha * (2 * t.dm / m - t.dvar / t.var);  // 0 for the exp link (alpha = 1 / expm1(v))
  return {value, d_m * t.dm + d_alpha * alpha_mu};
}

TW_HD inline EntryEvidence binomial_entry_evidence(double y, double n, double scale, double mu, double v) {
  LinkMoments t = link_moments(CountLink::sigmoid, scale, mu, v > kPointVariance ? v : 0.0);
  double m = t.m, mc = t.m_complement;
  double log_choose = log_gamma(n + 1) - log_gamma(y + 1) - log_gamma(n - y + 1);
  double spread = m * mc;
  if (!(v > kPointVariance) || !(t.var > 0) || spread / t.var > 1e15) {
    BinomialProbabilities p = binomial_probabilities(mu, scale, log(scale));
    double value = log_choose + (y > 0 ? y * p.log_p : 0.0) + (n - y > 0 ? (n - y) * p.log_q : 0.0);
    return {value, binomial_score(y, n, scale, mu)};
  }
  // kappa > 0 always for exact moments of a variable in (0, 1); held at 1e-6 against rounding.
  double kappa = fmax(spread / t.var - 1, 1e-6);
  double a = m * kappa, b = mc * kappa;
  double d_kappa = ((mc - m) * t.dm * t.var - spread * t.dvar) / (t.var * t.var);
  double total = digamma_step(kappa, n);
  double d_a = digamma_step(a, y) - total, d_b = digamma_step(b, n - y) - total;
  // d/dmu = d_a (m' kappa + m kappa') + d_b (-m' kappa + mc kappa'), grouped so that the large kappa
  // terms meet in (d_a - d_b), which tends to the Binomial score in m.
  double score = t.dm * kappa * (d_a - d_b) + d_kappa * (m * d_a + mc * d_b);
  double value = log_choose + log_gamma_step(a, y) + log_gamma_step(b, n - y) - log_gamma_step(kappa, n);
  return {value, score};
}

// Gauss-Newton terms at the moment-matched mean m of theta: the likelihood's score in mu, r, and its
// Fisher information in mu, h, as if z were mu with theta = m:
//   Poisson   r = (y - m) m' / m,                  h = m'^2 / m
//   Binomial  r = (y - n m) m' / (m (1 - m)),      h = n m'^2 / (m (1 - m))
// returned as sqrt(h) and r / sqrt(h) (for the exp link: sqrt(m) and the Pearson residual
// (y - m) / sqrt(m)), which stay finite where h vanishes.
// Both links are increasing (m' >= 0), so the sign of r is that of the residual. The Pearson residual
// is held within +-1e15 (a rate of 1e-30 observed as 1 count), where f32 and CG still behave.
inline constexpr double kPearsonLimit = 1e15;
struct NewtonTerms {
  double root_weight, pearson;
};
TW_HD inline NewtonTerms count_newton_terms(double y, double n, const CountLaw& law, double mu, double v) {
  double vv = v > kPointVariance ? v : 0.0;
  if (law.family == CountFamily::poisson) {
    LinkMoments t = link_moments(law.link, law.scale, mu, vv);
    if (!(t.m > 0)) return {0.0, 0.0};
    double root_m = sqrt(t.m);
    return {fabs(t.dm) / root_m, fmin(fmax((y - t.m) / root_m, -kPearsonLimit), kPearsonLimit)};
  }
  LinkMoments t = link_moments(CountLink::sigmoid, law.scale, mu, vv);
  double spread = t.m * t.m_complement;
  if (!(spread > 0)) return {0.0, 0.0};
  double root = sqrt(n * spread);
  return {sqrt(n / spread) * fabs(t.dm), fmin(fmax((y - n * t.m) / root, -kPearsonLimit), kPearsonLimit)};
}

// ---- per-element functors ------------------------------------------------------------------------

struct CountEntries {
  const float* y;
  const float* mean;
  const float* var;
  CountLaw law;
  EntryValues trials;
  NoiseRows rows;
  TW_HD EntryEvidence at(std::int64_t i) const {
    std::int64_t e = i % rows.cols;
    double v = var[i] > 0 ? double(var[i]) : 0.0;
    if (law.family == CountFamily::poisson) return poisson_entry_evidence(y[i], law.link, law.scale, mean[i], v);
    return binomial_entry_evidence(y[i], trials[e], law.scale, mean[i], v);
  }
};

struct CountEvidenceScore {
  CountEntries entries;
  float* score;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t i = r * entries.rows.cols + c;
    score[i] = entries.rows.seen(c) ? float(entries.at(i).score) : 0.0f;
  }
};

struct CountEvidenceValue {
  using Value = double;
  CountEntries entries;
  TW_HD Value identity() const { return 0.0; }
  TW_HD static Value combine(const Value& a, const Value& b) { return a + b; }
  TW_HD Value element(std::int64_t i) const {
    return entries.rows.seen(i % entries.rows.cols) ? entries.at(i).log_evidence : 0.0;
  }
};

struct CountNewton {
  CountEntries entries;
  float* root_weight;
  float* pearson;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t i = r * entries.rows.cols + c;
    NewtonTerms t{0.0, 0.0};
    if (entries.rows.seen(c)) {
      double v = entries.var[i] > 0 ? double(entries.var[i]) : 0.0;
      t = count_newton_terms(entries.y[i], entries.trials[c], entries.law, entries.mean[i], v);
    }
    root_weight[i] = float(t.root_weight);
    pearson[i] = float(t.pearson);
  }
};

}  // namespace tweedie
