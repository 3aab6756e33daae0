#pragma once
// The conjugate prior of a count entry as an inference network outputs it (the evidence trick of
// arXiv 2502.05994 with amortised hyperparameters): two raw values per entry, the first for theta's
// mean and the second for the concentration, each through a link that keeps it valid:
//
//   Poisson   theta ~ Gamma(alpha, beta)  mean m = exp(r1), shape alpha = exp(r2), rate beta = alpha / m
//   Binomial  theta ~ Beta(a, b)          mean m = sigmoid(r1), kappa = exp(r2), a = m kappa, b = (1 - m) kappa
//
// (mean and concentration rather than alpha and beta themselves: the mean is what the data constrain
// first, and it stays well scaled whatever the concentration). Raw values are held to [-30, 30] before
// exp. Two uses, both returning per-item sums and the gradient in the raw values:
//
//   conjugate_nll       training: -log Gamma(theta; alpha, beta) or -log Beta(theta; a, b) of the true
//                       theta = s g(A x0), the paper's amortised objective
//   conjugate_evidence  solving: log p(y | hyperparameters), the negative binomial or beta-binomial of
//                       count_evidence.h, whose gradient the network's VJP pulls back to x_t
//
// Layout: raw is (items, 2, K) (the K first values, then the K concentration values), theta and y are
// (items, K); observed (K) 0/1 or undefined; trials one value or K values. Unobserved entries give 0.
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/count_evidence.h"

namespace tweedie {

std::vector<double> conjugate_nll(Context& ctx, const Tensor& raw, const Tensor& theta, CountFamily family, const Tensor& observed,
                                  std::int64_t items, Tensor& grad_raw);
std::vector<double> conjugate_evidence(Context& ctx, const Tensor& raw, const Tensor& y, const CountModel& model,
                                       const Tensor& observed, std::int64_t items, Tensor& grad_raw);

// ---- scalar math, in double ----------------------------------------------------------------------

inline constexpr double kRawLimit = 30;
TW_HD inline double held_raw(double r) { return fmin(fmax(r, -kRawLimit), kRawLimit); }

// The two hyperparameters (alpha, beta for Gamma; a, b for Beta) and the derivatives of each in r1, r2.
struct ConjugateParameters {
  double first, second;
  double first_r1, first_r2, second_r1, second_r2;
};
TW_HD inline ConjugateParameters conjugate_parameters(CountFamily family, double r1, double r2) {
  r1 = held_raw(r1), r2 = held_raw(r2);
  ConjugateParameters p;
  if (family == CountFamily::poisson) {
    // alpha = e^r2, beta = e^(r2 - r1).
    p.first = exp(r2), p.second = exp(r2 - r1);
    p.first_r1 = 0, p.first_r2 = p.first;
    p.second_r1 = -p.second, p.second_r2 = p.second;
    return p;
  }
  double m = sigmoid_d(r1), mc = sigmoid_d(-r1), kappa = exp(r2);
  p.first = m * kappa, p.second = mc * kappa;
  p.first_r1 = kappa * m * mc, p.second_r1 = -p.first_r1;
  p.first_r2 = p.first, p.second_r2 = p.second;
  return p;
}

// -log density of theta and its gradient in (r1, r2).
struct RawGradient {
  double value, d_r1, d_r2;
};
TW_HD inline RawGradient conjugate_entry_nll(CountFamily family, double theta, double r1, double r2) {
  ConjugateParameters p = conjugate_parameters(family, r1, r2);
  double d_first, d_second, log_density;
  if (family == CountFamily::poisson) {
    double t = fmax(theta, 1e-300), log_t = log(t), log_beta = log(p.second);
    log_density = p.first * log_beta - log_gamma(p.first) + (p.first - 1) * log_t - p.second * t;
    d_first = log_beta - digamma(p.first) + log_t;
    d_second = p.first / p.second - t;
  } else {
    double t = fmin(fmax(theta, 1e-12), 1 - 1e-12), kappa = p.first + p.second;
    double log_t = log(t), log_c = log1p(-t);
    log_density = (p.first - 1) * log_t + (p.second - 1) * log_c - log_gamma(p.first) - log_gamma(p.second) + log_gamma(kappa);
    d_first = log_t - digamma(p.first) + digamma(kappa);
    d_second = log_c - digamma(p.second) + digamma(kappa);
  }
  return {-log_density, -(d_first * p.first_r1 + d_second * p.second_r1), -(d_first * p.first_r2 + d_second * p.second_r2)};
}

// log p(y | hyperparameters) and its gradient in (r1, r2).
TW_HD inline RawGradient conjugate_entry_evidence(CountFamily family, double y, double n, double r1, double r2) {
  ConjugateParameters p = conjugate_parameters(family, r1, r2);
  EvidenceGradient e = family == CountFamily::poisson ? neg_binomial_evidence(y, p.first, p.second)
                                                      : beta_binomial_evidence(y, n, p.first, p.second);
  return {e.value, e.d_first * p.first_r1 + e.d_second * p.second_r1, e.d_first * p.first_r2 + e.d_second * p.second_r2};
}

// ---- per-element functors ------------------------------------------------------------------------

struct ConjugateEntries {
  const float* raw;     // (items, 2, K)
  const float* other;   // theta or y, (items, K)
  CountFamily family;
  EntryValues trials;
  NoiseRows rows;       // cols = K
  bool evidence;        // conjugate_entry_evidence instead of conjugate_entry_nll
  TW_HD RawGradient at(std::int64_t r, std::int64_t c) const {
    const std::int64_t k = rows.cols;
    double r1 = raw[r * 2 * k + c], r2 = raw[r * 2 * k + k + c], v = other[r * k + c];
    return evidence ? conjugate_entry_evidence(family, v, trials[c], r1, r2) : conjugate_entry_nll(family, v, r1, r2);
  }
};

struct ConjugateGradient {
  ConjugateEntries entries;
  float* grad;  // like raw
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    const std::int64_t k = entries.rows.cols;
    RawGradient g{0.0, 0.0, 0.0};
    if (entries.rows.seen(c)) g = entries.at(r, c);
    grad[r * 2 * k + c] = float(g.d_r1);
    grad[r * 2 * k + k + c] = float(g.d_r2);
  }
};

struct ConjugateValue {
  using Value = double;
  ConjugateEntries entries;
  TW_HD Value identity() const { return 0.0; }
  TW_HD static Value combine(const Value& a, const Value& b) { return a + b; }
  TW_HD Value element(std::int64_t i) const {
    const std::int64_t k = entries.rows.cols, c = i % k;
    return entries.rows.seen(c) ? entries.at(i / k, c).value : 0.0;
  }
};

}  // namespace tweedie
