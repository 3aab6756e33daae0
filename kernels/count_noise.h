#pragma once
// Observation noise, element by element: draws, log-likelihoods and their gradients for Gaussian,
// Poisson and Binomial measurements of z (samplers/noise/ builds the noise models on these).
//
// Layout shared by every op: z, y and g hold `items` rows of equal length (one row per batch item). A
// parameter (sigma, trials) is one value for all entries or an f32 tensor with one value per entry of a
// row; `observed` is undefined (all measured) or such a tensor of 0/1. Unobserved entries draw 0, add
// nothing to log p and get gradient 0. Gaussian ops also take c64 tensors: each part is a component of
// its own, and the per-entry values of a complex entry apply to both parts.
//
// Random numbers: row r uses Philox stream rng.stream + r, so a row's noise does not depend on the
// batch it shares. Gaussian draws are fill_normal's (real-view element e is normal_at(seed, stream, e)).
// A count entry e owns the Philox blocks [e 2^20, (e + 1) 2^20) of its row's stream: its own sequence
// of up to 2^22 uniforms, however many attempts its rejection loop takes.
//
// log p is computed per entry in double and summed in double.
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/random.h"
#include "runtime/context.h"
#include "runtime/hd.h"
#include "runtime/philox.h"
#include "runtime/tensor.h"

namespace tweedie {

// A noise parameter: `value` at every entry, or (when defined) one f32 per entry of a row.
struct EntryParameter {
  double value = 0;
  Tensor per_entry;
};

// How a Poisson rate follows from z: rate = scale * exp(z) or scale * softplus(z).
enum class RateLink { exp, softplus };

// y = z + sigma n. z and y f32 or c64.
void gaussian_noise_sample(Context& ctx, const Tensor& z, const EntryParameter& sigma, const Tensor& observed,
                           RandomStream rng, std::int64_t items, Tensor& y);
std::vector<double> gaussian_noise_log_likelihood(Context& ctx, const Tensor& y, const Tensor& z, const EntryParameter& sigma,
                                                  const Tensor& observed, std::int64_t items);
// g = (y - z) / sigma^2.
void gaussian_noise_gradient(Context& ctx, const Tensor& y, const Tensor& z, const EntryParameter& sigma,
                             const Tensor& observed, std::int64_t items, Tensor& g);

// y ~ Poisson(scale g(z)). f32 only.
void poisson_noise_sample(Context& ctx, const Tensor& z, RateLink link, double scale, const Tensor& observed,
                          RandomStream rng, std::int64_t items, Tensor& y);
std::vector<double> poisson_noise_log_likelihood(Context& ctx, const Tensor& y, const Tensor& z, RateLink link, double scale,
                                                 const Tensor& observed, std::int64_t items);
void poisson_noise_gradient(Context& ctx, const Tensor& y, const Tensor& z, RateLink link, double scale,
                            const Tensor& observed, std::int64_t items, Tensor& g);

// y ~ Binomial(n, scale sigmoid(z)), n = trials. f32 only.
void binomial_noise_sample(Context& ctx, const Tensor& z, const EntryParameter& trials, double scale,
                           const Tensor& observed, RandomStream rng, std::int64_t items, Tensor& y);
std::vector<double> binomial_noise_log_likelihood(Context& ctx, const Tensor& y, const Tensor& z, const EntryParameter& trials,
                                                  double scale, const Tensor& observed, std::int64_t items);
void binomial_noise_gradient(Context& ctx, const Tensor& y, const Tensor& z, const EntryParameter& trials, double scale,
                             const Tensor& observed, std::int64_t items, Tensor& g);

// ---- scalar math, in double ----------------------------------------------------------------------

inline constexpr double kHalfLog2Pi = 0.91893853320467274178;  // log(2 pi) / 2

// log(1 + e^x) without overflow or loss for large |x|.
TW_HD inline double softplus_d(double x) { return (x > 0 ? x : 0.0) + log1p(exp(-fabs(x))); }
// 1 / (1 + e^-x); exp overflows to inf for x << 0 and the quotient is a clean 0.
TW_HD inline double sigmoid_d(double x) { return 1.0 / (1.0 + exp(-x)); }

// The tail of Stirling's series for log Gamma(x): 1/(12x) - 1/(360x^3) + 1/(1260x^5) - 1/(1680x^7)
// + 1/(1188x^9). For x >= 10 the first omitted term, 691/(360360x^11), is below 2e-14.
TW_HD inline double stirling_tail(double x) {
  double r = 1.0 / x, r2 = r * r;
  return r * (1.0 / 12 - r2 * (1.0 / 360 - r2 * (1.0 / 1260 - r2 * (1.0 / 1680 - r2 * (1.0 / 1188)))));
}

// log Gamma(x) for x > 0 (+inf at +inf, NaN elsewhere), within about 1e-13 of the truth relative to
// max(1, |result|). Written here rather than calling lgamma: glibc's lgamma writes the global signgam,
// a data race in threaded loops. Below 10 the recurrence Gamma(x) = Gamma(x + k) / (x (x+1) ... (x+k-1))
// moves x to where Stirling's series is accurate.
TW_HD inline double log_gamma(double x) {
  if (!(x > 0)) return NAN;
  if (x == INFINITY) return x;
  double product = 1.0;
  while (x < 10.0) product *= x, x += 1.0;
  return (x - 0.5) * log(x) - x + kHalfLog2Pi + stirling_tail(x) - log(product);
}

// k log(rate) - rate - log(k!): the log Poisson pmf. For k >= 10 written as differences from k + 1, so
// that for a large rate the O(rate log rate) terms cancel exactly instead of in rounding (PTRS compares
// it with O(1) quantities, so at rate 1e12 the direct form would lose the third decimal).
TW_HD inline double poisson_log_pmf(double k, double rate, double log_rate) {
  if (k < 10) return k * log_rate - rate - log_gamma(k + 1);
  double x = k + 1, d = x - rate;
  return d - k * log1p(d / rate) - 0.5 * log(x) - kHalfLog2Pi - stirling_tail(x);
}

// The uniforms of one count entry: Philox blocks from `first` on, four words each, each word mapped to
// (w + 1/2) 2^-32, strictly inside (0, 1) with 32 bits of resolution (rejection steps divide by
// 1/2 - |u - 1/2| and take logs, so neither end may occur).
struct EntryUniforms {
  std::uint64_t seed, stream, first;
  std::uint32_t used = 0;
  Philox4x32 block{};
  static constexpr std::uint32_t kMax = 4u << 20;  // the entry's share of the stream

  TW_HD bool exhausted() const { return used >= kMax; }
  TW_HD double next() {
    if (used % 4 == 0) block = philox_block(seed, stream, first + used / 4);
    std::uint32_t w = block.x[used % 4];
    ++used;
    return (double(w) + 0.5) * 2.3283064365386963e-10;
  }
};

// Poisson(rate) for rate < 10: sequential search of the cdf from 0 (one uniform; about rate + 1
// steps). The cdf reaches 1 - 1e-15 long before the 1000-step guard.
TW_HD inline double poisson_inversion(double rate, EntryUniforms& u) {
  double target = u.next(), p = exp(-rate), cdf = p, k = 0;
  while (target > cdf && k < 1000) {
    k += 1;
    p *= rate / k;
    cdf += p;
  }
  return k;
}

// Poisson(rate) for rate >= 10: PTRS, the transformed rejection with squeeze of W. Hörmann, "The
// transformed rejection method for generating Poisson random variables", Insurance: Mathematics and
// Economics 12 (1993). A hat k = floor((2a/us + b) U + rate + 0.43) built from two uniforms; about 90%
// of attempts end in the cheap squeeze, and the expected number of attempts is below 1.15.
TW_HD inline double poisson_ptrs(double rate, EntryUniforms& u) {
  double log_rate = log(rate);
  double b = 0.931 + 2.53 * sqrt(rate);
  double a = -0.059 + 0.02483 * b;
  double log_inv_alpha = log(1.1239 + 1.1328 / (b - 3.4));
  double v_r = 0.9277 - 3.6224 / (b - 2);
  while (!u.exhausted()) {
    double U = u.next() - 0.5, V = u.next();
    double us = 0.5 - fabs(U);
    double k = floor((2 * a / us + b) * U + rate + 0.43);
    if (us >= 0.07 && V <= v_r) return k;
    if (k < 0 || (us < 0.013 && V > us)) continue;
    if (log(V) + log_inv_alpha - log(a / (us * us) + b) <= poisson_log_pmf(k, rate, log_rate)) return k;
  }
  return floor(rate);  // 2^21 rejections in a row: not reached with any real probability
}

// A Poisson draw for any rate >= 0. Beyond 2^52 doubles no longer hold consecutive integers; there the
// normal approximation (skewness rate^-1/2 < 2e-8) is used. NaN stays NaN, an infinite rate gives inf.
TW_HD inline double poisson_draw(double rate, EntryUniforms& u) {
  if (!(rate > 0) || rate == INFINITY) return rate == 0 ? 0.0 : rate;
  if (rate < 10) return poisson_inversion(rate, u);
  if (rate < 4503599627370496.0) return poisson_ptrs(rate, u);
  double r = sqrt(-2 * log(u.next())), angle = 6.283185307179586 * u.next();
  return floor(rate + sqrt(rate) * r * cos(angle) + 0.5);
}

// Binomial(n, p), p <= 1/2, q = 1 - p (passed in, computed without cancellation), n p < 10: sequential
// search from 0 with pmf ratios (n - k) p / ((k + 1) q); pmf(0) = q^n >= e^-14 here.
TW_HD inline double binomial_inversion(double n, double p, double q, EntryUniforms& u) {
  double target = u.next(), ratio = p / q, pmf = exp(n * log(q)), cdf = pmf, k = 0;
  while (target > cdf && k < n) {
    pmf *= ratio * (n - k) / (k + 1);
    k += 1;
    cdf += pmf;
  }
  return k;
}

// Binomial(n, p), p <= 1/2, n p >= 10: BTRS, the transformed rejection with squeeze of W. Hörmann,
// "The generation of binomial random variates", Journal of Statistical Computation and Simulation 46
// (1993). Same scheme as PTRS, with the hat centred at n p + 1/2 and the exact test made relative to the
// pmf at the mode m, which keeps its terms small.
TW_HD inline double binomial_btrs(double n, double p, double q, EntryUniforms& u) {
  double spq = sqrt(n * p * q);
  double b = 1.15 + 2.53 * spq;
  double a = -0.0873 + 0.0248 * b + 0.01 * p;
  double c = n * p + 0.5;
  double v_r = 0.92 - 4.2 / b;
  double alpha = (2.83 + 5.1 / b) * spq;
  double log_odds = log(p / q);
  double m = floor((n + 1) * p);
  double h = log_gamma(m + 1) + log_gamma(n - m + 1);
  while (!u.exhausted()) {
    double U = u.next() - 0.5, V = u.next();
    double us = 0.5 - fabs(U);
    double k = floor((2 * a / us + b) * U + c);
    if (k < 0 || k > n) continue;
    if (us >= 0.07 && V <= v_r) return k;
    if (log(V * alpha / (a / (us * us) + b)) <= h - log_gamma(k + 1) - log_gamma(n - k + 1) + (k - m) * log_odds) return k;
  }
  return floor(n * p);
}

// A Binomial(n, p) draw, q = 1 - p. The smaller of p and q is drawn and the count mirrored, since both
// methods assume p <= 1/2.
TW_HD inline double binomial_draw(double n, double p, double q, EntryUniforms& u) {
  if (p != p || q != q) return NAN;
  bool mirror = p > q;
  double small = mirror ? q : p, large = mirror ? p : q;
  double k = small <= 0 ? 0.0 : n * small < 10 ? binomial_inversion(n, small, large, u) : binomial_btrs(n, small, large, u);
  return mirror ? n - k : k;
}

// Success probability p = s sigmoid(z) and its complement q = 1 - p = sigmoid(-z) + (1 - s) sigmoid(z),
// each without cancellation; and their logs, log p = log s - softplus(-z) and
// log q = log(sigmoid(-z) (1 + (1 - s) e^z)), the branch chosen so e^(+-z) cannot overflow.
struct BinomialProbabilities {
  double p, q, log_p, log_q;
};
TW_HD inline BinomialProbabilities binomial_probabilities(double z, double scale, double log_scale) {
  double s_pos = sigmoid_d(z), s_neg = sigmoid_d(-z);
  BinomialProbabilities r;
  r.p = scale * s_pos;
  r.q = s_neg + (1 - scale) * s_pos;
  r.log_p = log_scale - softplus_d(-z);
  if (scale == 1) r.log_q = -softplus_d(z);
  else if (z > 0) r.log_q = -softplus_d(-z) + log((1 - scale) + exp(-z));
  else r.log_q = -softplus_d(z) + log1p((1 - scale) * exp(z));
  return r;
}

// ---- per-element functors ------------------------------------------------------------------------

// A parameter as the kernels see it: a device array, or one value when the array is null.
struct EntryValues {
  const float* values;
  double value;
  TW_HD double operator[](std::int64_t e) const { return values ? double(values[e]) : value; }
};

// Row length and how entries map to columns: column c of a row is entry c >> shift (shift 1 for the
// real view of c64, whose two parts share an entry).
struct NoiseRows {
  std::int64_t cols;
  int shift;
  const float* observed;  // null: all observed
  TW_HD bool seen(std::int64_t e) const { return observed == nullptr || observed[e] != 0.0f; }
};

struct GaussianSample {
  const float* z;
  float* y;
  EntryValues sigma;
  NoiseRows rows;
  std::uint64_t seed, stream;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t i = r * rows.cols + c, e = c >> rows.shift;
    y[i] = rows.seen(e) ? z[i] + float(sigma[e]) * normal_at(seed, stream + std::uint64_t(r), std::uint64_t(c)) : 0.0f;
  }
};

// -(y - z)^2 / (2 sigma^2) - log sigma - log(2 pi) / 2 per component.
struct GaussianLogLikelihood {
  using Value = double;
  const float* y;
  const float* z;
  EntryValues sigma;
  NoiseRows rows;
  TW_HD Value identity() const { return 0.0; }
  TW_HD static Value combine(const Value& a, const Value& b) { return a + b; }
  TW_HD Value element(std::int64_t i) const {
    std::int64_t e = (i % rows.cols) >> rows.shift;
    if (!rows.seen(e)) return 0.0;
    double s = sigma[e], d = (double(y[i]) - double(z[i])) / s;
    return -0.5 * d * d - log(s) - kHalfLog2Pi;
  }
};

struct GaussianGradient {
  const float* y;
  const float* z;
  float* g;
  EntryValues sigma;
  NoiseRows rows;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t i = r * rows.cols + c, e = c >> rows.shift;
    double s = sigma[e];
    g[i] = rows.seen(e) ? float((double(y[i]) - double(z[i])) / (s * s)) : 0.0f;
  }
};

TW_HD inline double poisson_rate(RateLink link, double scale, double z) {
  return scale * (link == RateLink::exp ? exp(z) : softplus_d(z));
}

struct PoissonSample {
  const float* z;
  float* y;
  RateLink link;
  double scale;
  NoiseRows rows;
  std::uint64_t seed, stream;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t i = r * rows.cols + c;
    if (!rows.seen(c)) {
      y[i] = 0.0f;
      return;
    }
    EntryUniforms u{seed, stream + std::uint64_t(r), std::uint64_t(c) << 20};
    y[i] = float(poisson_draw(poisson_rate(link, scale, z[i]), u));
  }
};

// y log(rate) - rate - log(y!). log(rate) is formed from z directly (log s + z for exp; for softplus,
// log(softplus(z)) -> z below -30, where softplus(z) = e^z to double precision), so that y = 0 with a
// vanishing rate gives 0 rather than 0 * -inf.
struct PoissonLogLikelihood {
  using Value = double;
  const float* y;
  const float* z;
  RateLink link;
  double scale, log_scale;
  NoiseRows rows;
  TW_HD Value identity() const { return 0.0; }
  TW_HD static Value combine(const Value& a, const Value& b) { return a + b; }
  TW_HD Value element(std::int64_t i) const {
    if (!rows.seen(i % rows.cols)) return 0.0;
    double k = y[i], x = z[i], rate = poisson_rate(link, scale, x);
    double log_g = link == RateLink::exp ? x : x < -30 ? x : log(softplus_d(x));
    return k * (log_scale + log_g) - rate - log_gamma(k + 1);
  }
};

// d/dz: exp link y - s e^z; softplus link (y / softplus(z) - s) sigmoid(z), with the ratio
// sigmoid(z) / softplus(z) (which tends to 1 as z -> -inf, where both underflow) taken as 1 - e^z / 2
// below -30 (error e^2z / 12).
TW_HD inline double poisson_score(double k, RateLink link, double scale, double x) {
  if (link == RateLink::exp) return k - scale * exp(x);
  double ratio = x < -30 ? 1 - 0.5 * exp(x) : sigmoid_d(x) / softplus_d(x);
  return k * ratio - scale * sigmoid_d(x);
}

struct PoissonGradient {
  const float* y;
  const float* z;
  float* g;
  RateLink link;
  double scale;
  NoiseRows rows;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t i = r * rows.cols + c;
    if (!rows.seen(c)) {
      g[i] = 0.0f;
      return;
    }
    g[i] = float(poisson_score(y[i], link, scale, z[i]));
  }
};

struct BinomialSample {
  const float* z;
  float* y;
  EntryValues trials;
  double scale;
  NoiseRows rows;
  std::uint64_t seed, stream;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t i = r * rows.cols + c;
    if (!rows.seen(c)) {
      y[i] = 0.0f;
      return;
    }
    double x = z[i], s_pos = sigmoid_d(x), s_neg = sigmoid_d(-x);
    EntryUniforms u{seed, stream + std::uint64_t(r), std::uint64_t(c) << 20};
    y[i] = float(binomial_draw(trials[c], scale * s_pos, s_neg + (1 - scale) * s_pos, u));
  }
};

// log C(n, y) + y log p + (n - y) log q.
struct BinomialLogLikelihood {
  using Value = double;
  const float* y;
  const float* z;
  EntryValues trials;
  double scale, log_scale;
  NoiseRows rows;
  TW_HD Value identity() const { return 0.0; }
  TW_HD static Value combine(const Value& a, const Value& b) { return a + b; }
  TW_HD Value element(std::int64_t i) const {
    std::int64_t e = i % rows.cols;
    if (!rows.seen(e)) return 0.0;
    double k = y[i], n = trials[e];
    BinomialProbabilities pr = binomial_probabilities(z[i], scale, log_scale);
    double log_choose = log_gamma(n + 1) - log_gamma(k + 1) - log_gamma(n - k + 1);
    return log_choose + k * pr.log_p + (n - k) * pr.log_q;
  }
};

// d/dz = y sigmoid(-z) - (n - y) s sigmoid(z) sigmoid(-z) / q, and sigmoid(-z) / q = 1 / (1 + (1 - s) e^z)
// (e^z capped at e^700 so that s = 1 gives 0 * finite); for s = 1 this is y - n sigmoid(z).
TW_HD inline double binomial_score(double k, double n, double scale, double x) {
  double share = 1.0 / (1.0 + (1 - scale) * exp(x < 700 ? x : 700.0));
  return k * sigmoid_d(-x) - (n - k) * scale * sigmoid_d(x) * share;
}

struct BinomialGradient {
  const float* y;
  const float* z;
  float* g;
  EntryValues trials;
  double scale;
  NoiseRows rows;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t i = r * rows.cols + c;
    if (!rows.seen(c)) {
      g[i] = 0.0f;
      return;
    }
    g[i] = float(binomial_score(y[i], trials[c], scale, z[i]));
  }
};

}  // namespace tweedie
