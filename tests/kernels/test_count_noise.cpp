#include "kernels/count_noise.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "support.h"

using namespace tweedie;

namespace {

constexpr std::int64_t kDraws = 100000;

// Draws of one row of `n` entries, all with the same z.
std::vector<double> poisson_draws(double z, RateLink link, double scale, std::uint64_t seed, std::int64_t n = kDraws) {
  Tensor zt = test::upload(std::vector<double>(std::size_t(n), z), {1, n});
  Tensor y = Tensor::empty({1, n}, test::device());
  poisson_noise_sample(test::context(), zt, link, scale, Tensor(), {seed, 0}, 1, y);
  return test::download(y);
}

std::vector<double> binomial_draws(double z, double trials, double scale, std::uint64_t seed, std::int64_t n = kDraws) {
  Tensor zt = test::upload(std::vector<double>(std::size_t(n), z), {1, n});
  Tensor y = Tensor::empty({1, n}, test::device());
  binomial_noise_sample(test::context(), zt, {trials, Tensor()}, scale, Tensor(), {seed, 0}, 1, y);
  return test::download(y);
}

double sample_mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / double(v.size());
}

double sample_variance(const std::vector<double>& v) {
  double m = sample_mean(v), s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return s / double(v.size() - 1);
}

// Sample mean and variance against the distribution's mean, variance and fourth central moment, each
// within 5 standard errors: sqrt(var / n) for the mean, and for the unbiased sample variance the exact
// sqrt((mu4 - var^2 (n - 3) / (n - 1)) / n) (its leading term alone vanishes for a fair coin).
void check_moments(const std::vector<double>& v, double mean, double var, double mu4) {
  double n = double(v.size());
  CHECK(std::abs(sample_mean(v) - mean) <= 5 * std::sqrt(var / n));
  CHECK(std::abs(sample_variance(v) - var) <= 5 * std::sqrt((mu4 - var * var * (n - 3) / (n - 1)) / n));
}

// Pearson's chi-square statistic of integer draws against a pmf, with consecutive values pooled until
// each bin expects at least 5 draws (a short last bin joins the one before). Returns the statistic and
// sets df = bins - 1.
double chi_square(const std::vector<double>& v, const std::function<double(double)>& pmf, double k_max, int& df) {
  double n = double(v.size());
  std::vector<double> counts(std::size_t(k_max) + 1, 0.0);
  std::size_t outside = 0;
  for (double x : v) {
    if (x >= 0 && x <= k_max) counts[std::size_t(x)] += 1;
    else ++outside;
  }
  REQUIRE(outside == 0);
  std::vector<double> expected_bins, observed_bins;
  double e = 0, o = 0;
  for (std::size_t k = 0; k < counts.size(); ++k) {
    e += n * pmf(double(k)), o += counts[k];
    if (e >= 5) expected_bins.push_back(e), observed_bins.push_back(o), e = 0, o = 0;
  }
  expected_bins.back() += e, observed_bins.back() += o;
  double stat = 0;
  for (std::size_t b = 0; b < expected_bins.size(); ++b)
    stat += (observed_bins[b] - expected_bins[b]) * (observed_bins[b] - expected_bins[b]) / expected_bins[b];
  df = int(expected_bins.size()) - 1;
  return stat;
}

// The chi-square quantile with upper tail 1e-4, by the Wilson-Hilferty cube-root normal approximation
// (z = 3.7190, the normal's 1e-4 upper quantile); within about 1% of the exact value for df >= 5, and
// a little above it for smaller df.
double chi_square_critical(int df) {
  double d = double(df), c = 2.0 / (9.0 * d);
  return d * std::pow(1 - c + 3.7190 * std::sqrt(c), 3);
}

double poisson_pmf(double k, double rate) { return std::exp(k * std::log(rate) - rate - std::lgamma(k + 1)); }
double binomial_pmf(double k, double n, double p) {
  return std::exp(std::lgamma(n + 1) - std::lgamma(k + 1) - std::lgamma(n - k + 1) + k * std::log(p) + (n - k) * std::log1p(-p));
}

// The z (as f32) whose link gives about `target`, and the rate or probability that f32 z really gives.
double logit(double p) { return std::log(p / (1 - p)); }
double f32(double v) { return double(float(v)); }
double sigmoid(double z) { return 1 / (1 + std::exp(-z)); }

}  // namespace

TEST_CASE("count noise: log_gamma agrees with std::lgamma from 0.5 to 1e9") {
  for (double x : {0.5, 1.0, 1.5, 2.0, 3.25, 7.0, 9.999, 10.0, 10.001, 17.5, 100.0, 1234.5, 1e6, 1e9}) {
    double want = std::lgamma(x);
    CHECK(std::abs(log_gamma(x) - want) <= 2e-13 * std::max(1.0, std::abs(want)));
  }
  CHECK(std::isnan(log_gamma(0.0)));
  CHECK(std::isnan(log_gamma(-1.0)));
  CHECK(log_gamma(INFINITY) == INFINITY);
}

TEST_CASE("count noise: the cancellation-free Poisson log pmf equals the direct formula in long double") {
  for (double rate : {10.0, 37.0, 1e4, 1e6, 1e9})
    for (double d : {-6.0, -1.0, 0.0, 2.0, 5.0}) {
      double k = std::max(0.0, std::floor(rate + d * std::sqrt(rate)));
      long double want = (long double)k * std::log((long double)rate) - rate - std::lgammal((long double)k + 1);
      CHECK(std::abs(poisson_log_pmf(k, rate, std::log(rate)) - double(want)) <= 1e-9 + 1e-14 * rate);
    }
}

TEST_CASE("count noise: Poisson draws have the mean and variance of the rate, from 0 to 1e6") {
  const double scale = 2.0;
  std::uint64_t seed = 11;  // a seed per rate keeps the checks independent
  for (double rate : {0.3, 3.0, 9.9, 10.1, 50.0, 1e4, 1e6}) {
    CAPTURE(rate);
    double z = f32(std::log(rate / scale)), r = scale * std::exp(z);
    check_moments(poisson_draws(z, RateLink::exp, scale, ++seed), r, r, r + 3 * r * r);
  }
  // softplus link, around where inversion hands over to rejection
  for (double rate : {0.01, 9.99, 10.01}) {
    CAPTURE(rate);
    double z = f32(std::log(std::expm1(rate))), r = std::log1p(std::exp(z));
    check_moments(poisson_draws(z, RateLink::softplus, 1.0, ++seed), r, r, r + 3 * r * r);
  }
  // Rate 0 (z = -inf) gives zeros; a NaN rate stays NaN, an infinite one inf.
  std::vector<double> zero = poisson_draws(-INFINITY, RateLink::exp, 1.0, 13, 1000);
  CHECK(std::count(zero.begin(), zero.end(), 0.0) == 1000);
  CHECK(std::isnan(poisson_draws(NAN, RateLink::exp, 1.0, 13, 4)[0]));
  CHECK(poisson_draws(INFINITY, RateLink::exp, 1.0, 13, 4)[0] == INFINITY);
}

TEST_CASE("count noise: Poisson draws pass chi-square against the pmf, by inversion and by PTRS") {
  for (double rate : {3.0, 50.0}) {
    CAPTURE(rate);
    double z = f32(std::log(rate)), r = std::exp(z);
    int df = 0;
    double stat = chi_square(poisson_draws(z, RateLink::exp, 1.0, 21), [&](double k) { return poisson_pmf(k, r); },
                             rate + 40 * std::sqrt(rate) + 40, df);
    CAPTURE(df);
    CHECK(df >= 8);
    CHECK(stat < chi_square_critical(df));
  }
}

TEST_CASE("count noise: Binomial draws have mean n p and variance n p q, by inversion, BTRS and mirroring") {
  struct Case {
    double n, p, scale;
  };
  std::uint64_t seed = 31;
  for (Case c : {Case{1, 0.5, 1}, Case{20, 0.1, 1}, Case{100, 0.3, 1}, Case{1000, 0.97, 1}, Case{5, 0.999, 1},
                 Case{200, 0.45, 0.9}, Case{16777216, 0.5, 1}}) {
    CAPTURE(c.n);
    CAPTURE(c.p);
    double z = f32(logit(c.p / c.scale)), p = c.scale * sigmoid(z), q = 1 - p;
    double var = c.n * p * q, mu4 = var * (1 + 3 * (c.n - 2) * p * q);
    check_moments(binomial_draws(z, c.n, c.scale, ++seed), c.n * p, var, mu4);
  }
}

TEST_CASE("count noise: Binomial draws pass chi-square against the pmf, by inversion, BTRS and mirrored BTRS") {
  struct Case {
    double n, p;
  };
  for (Case c : {Case{20, 0.1}, Case{100, 0.3}, Case{1000, 0.97}}) {
    CAPTURE(c.n);
    CAPTURE(c.p);
    double z = f32(logit(c.p)), p = sigmoid(z);
    int df = 0;
    double stat = chi_square(binomial_draws(z, c.n, 1.0, 41), [&](double k) { return binomial_pmf(k, c.n, p); }, c.n, df);
    CAPTURE(df);
    CHECK(df >= 5);
    CHECK(stat < chi_square_critical(df));
  }
}

TEST_CASE("count noise: small-rate draws are the inverse cdf of the entry's first Philox word") {
  // Entry e of row r reads block e 2^20 of stream rng.stream + r; its first word w gives u = (w + 1/2) 2^-32.
  const std::int64_t items = 3, per = 50;
  const std::uint64_t seed = 77, stream = 5;
  std::vector<double> zs = test::uniform(std::size_t(items * per), 1, -3.0, 2.0);
  Tensor z = test::upload(zs, {items, per});
  Tensor y = Tensor::empty({items, per}, test::device());
  poisson_noise_sample(test::context(), z, RateLink::exp, 1.0, Tensor(), {seed, stream}, items, y);
  Tensor b = Tensor::empty({items, per}, test::device());
  binomial_noise_sample(test::context(), z, {8, Tensor()}, 1.0, Tensor(), {seed, stream}, items, b);
  std::vector<double> yv = test::download(y), bv = test::download(b);
  for (std::int64_t r = 0; r < items; ++r)
    for (std::int64_t e = 0; e < per; ++e) {
      std::size_t i = std::size_t(r * per + e);
      std::uint32_t w = philox_block(seed, stream + r, std::uint64_t(e) << 20).x[0];
      double u = (double(w) + 0.5) / 4294967296.0, zf = f32(zs[i]);
      // Poisson: the smallest k with cdf(k) >= u.
      double rate = std::exp(zf), k = 0, cdf = poisson_pmf(0, rate);
      while (cdf < u) cdf += poisson_pmf(++k, rate);
      CHECK(yv[i] == k);
      // Binomial(8, p), drawn as 8 - Binomial(8, q) when p > 1/2 (n min(p, q) < 10: inversion).
      double p = sigmoid(zf), small = std::min(p, 1 - p), j = 0, bcdf = binomial_pmf(0, 8, small);
      while (bcdf < u) bcdf += binomial_pmf(++j, 8, small);
      CHECK(bv[i] == (p > 0.5 ? 8 - j : j));
    }
}

TEST_CASE("count noise: per-entry trials and a mask apply to every item of the batch") {
  const std::int64_t items = 2, per = 4, reps = 20000;  // entries cycle through 4 trial counts
  Tensor trials = test::upload(std::vector<double>{3, 50, 1, 400}, {per});
  Tensor observed = test::upload(std::vector<double>{1, 1, 1, 0}, {per});
  std::vector<double> zv(std::size_t(items * per * reps), 0.0);  // p = 1/2
  Tensor z = test::upload(zv, {items, per * reps});
  Tensor big_trials = test::upload([&] {
    std::vector<double> t;
    for (std::int64_t i = 0; i < reps; ++i) t.insert(t.end(), {3, 50, 1, 400});
    return t;
  }(), {per * reps});
  Tensor big_observed = test::upload([&] {
    std::vector<double> t;
    for (std::int64_t i = 0; i < reps; ++i) t.insert(t.end(), {1, 1, 1, 0});
    return t;
  }(), {per * reps});
  Tensor y = Tensor::empty({items, per * reps}, test::device());
  binomial_noise_sample(test::context(), z, {0, big_trials}, 1.0, big_observed, {5, 0}, items, y);
  std::vector<double> v = test::download(y);
  const double n[3] = {3, 50, 1};
  for (int e = 0; e < 3; ++e) {
    std::vector<double> draws;
    for (std::size_t i = std::size_t(e); i < v.size(); i += per) draws.push_back(v[i]);
    double var = n[e] / 4, mu4 = var * (1 + 3 * (n[e] - 2) / 4);
    check_moments(draws, n[e] / 2, var, mu4);
    CHECK(*std::max_element(draws.begin(), draws.end()) <= n[e]);
  }
  double unobserved = 0;
  for (std::size_t i = 3; i < v.size(); i += per) unobserved += std::abs(v[i]);
  CHECK(unobserved == 0);
  // Tensors whose size does not match an item are refused.
  CHECK_THROWS_AS(binomial_noise_sample(test::context(), z, {0, trials}, 1.0, Tensor(), {5, 0}, items, y), ShapeError);
  CHECK_THROWS_AS(binomial_noise_sample(test::context(), z, {3, Tensor()}, 1.0, observed, {5, 0}, items, y), ShapeError);
}

TEST_CASE("count noise: Gaussian draws are z + sigma normal_at, real and complex, per-entry sigma") {
  const std::int64_t items = 3, per = 40000;
  std::vector<double> zs = test::uniform(std::size_t(items * per), 2);
  Tensor z = test::upload(zs, {items, per});
  Tensor y = Tensor::empty({items, per}, test::device());
  gaussian_noise_sample(test::context(), z, {0.25, Tensor()}, Tensor(), {9, 4}, items, y);
  std::vector<double> yv = test::download(y), d;
  for (std::int64_t r = 0; r < items; ++r)
    for (std::int64_t c = 0; c < per; c += 997) {
      std::size_t i = std::size_t(r * per + c);
      CHECK(yv[i] == doctest::Approx(f32(zs[i]) + 0.25 * normal_at(9, 4 + r, c)).epsilon(1e-6));
    }
  for (std::size_t i = 0; i < yv.size(); ++i) d.push_back((yv[i] - f32(zs[i])) / 0.25);
  check_moments(d, 0, 1, 3);

  // Complex: both parts of entry e get sigma[e] (here 0.5 and 2 alternating).
  const std::int64_t cper = 20000;
  Tensor cz = test::upload(test::complex_uniform(std::size_t(items * cper), 3), {items, cper});
  std::vector<double> sig(static_cast<std::size_t>(cper));
  for (std::size_t e = 0; e < sig.size(); ++e) sig[e] = e % 2 ? 2.0 : 0.5;
  Tensor cy = Tensor::empty({items, cper}, test::device(), DType::c64);
  gaussian_noise_sample(test::context(), cz, {0, test::upload(sig, {cper})}, Tensor(), {9, 4}, items, cy);
  std::vector<std::complex<double>> zc = test::download_complex(cz), yc = test::download_complex(cy);
  std::vector<double> re, im;
  for (std::size_t i = 0; i < yc.size(); ++i) {
    double s = sig[i % std::size_t(cper)];
    re.push_back((yc[i].real() - zc[i].real()) / s), im.push_back((yc[i].imag() - zc[i].imag()) / s);
  }
  check_moments(re, 0, 1, 3);
  check_moments(im, 0, 1, 3);
  // The real view's element c of row r is normal_at(seed, stream + r, c).
  CHECK(yc[1].imag() == doctest::Approx(zc[1].imag() + 2.0 * normal_at(9, 4, 3)).epsilon(1e-6));
}

TEST_CASE("count noise: an item's draws do not depend on the batch it shares; seeds give different draws") {
  const std::int64_t items = 4, per = 301;
  std::vector<double> zs = test::uniform(std::size_t(items * per), 4, -2.0, 6.0);
  Tensor z = test::upload(zs, {items, per});
  auto one_row = [&](std::int64_t r) { return test::upload(std::vector<double>(zs.begin() + r * per, zs.begin() + (r + 1) * per), {1, per}); };
  using Sampler = std::function<void(const Tensor&, RandomStream, std::int64_t, Tensor&)>;
  Sampler samplers[] = {
      [](const Tensor& zt, RandomStream rng, std::int64_t n, Tensor& y) { poisson_noise_sample(test::context(), zt, RateLink::exp, 3.0, Tensor(), rng, n, y); },
      [](const Tensor& zt, RandomStream rng, std::int64_t n, Tensor& y) { binomial_noise_sample(test::context(), zt, {60, Tensor()}, 0.7, Tensor(), rng, n, y); },
      [](const Tensor& zt, RandomStream rng, std::int64_t n, Tensor& y) { gaussian_noise_sample(test::context(), zt, {0.1, Tensor()}, Tensor(), rng, n, y); },
  };
  for (auto& sample : samplers) {
    Tensor batch = Tensor::empty({items, per}, test::device());
    sample(z, {17, 100}, items, batch);
    std::vector<float> all = batch.to_vector();
    for (std::int64_t r = 0; r < items; ++r) {
      Tensor alone = Tensor::empty({1, per}, test::device());
      sample(one_row(r), {17, 100 + std::uint64_t(r)}, 1, alone);
      std::vector<float> a = alone.to_vector();
      CHECK(std::equal(a.begin(), a.end(), all.begin() + r * per));
    }
    Tensor other = Tensor::empty({items, per}, test::device());
    sample(z, {18, 100}, items, other);
    std::vector<float> o = other.to_vector();
    std::int64_t same = 0;
    for (std::size_t i = 0; i < o.size(); ++i) same += o[i] == all[i];
    CHECK(same < std::int64_t(o.size()) / 2);  // counts collide often (same small values), not mostly
  }
}

TEST_SUITE("slow") {
  TEST_CASE("count noise: 10^6 draws per rate, chi-square in the rejection regime up to 1e4") {
    for (double rate : {9.9, 10.1, 200.0, 1e4}) {
      CAPTURE(rate);
      double z = f32(std::log(rate)), r = std::exp(z);
      std::vector<double> v = poisson_draws(z, RateLink::exp, 1.0, 51, 1000000);
      check_moments(v, r, r, r + 3 * r * r);
      int df = 0;
      double stat = chi_square(v, [&](double k) { return poisson_pmf(k, r); }, rate + 40 * std::sqrt(rate) + 40, df);
      CHECK(stat < chi_square_critical(df));
    }
    struct Case {
      double n, p;
    };
    for (Case c : {Case{30, 0.34}, Case{5000, 0.002}, Case{5000, 0.01}, Case{100000, 0.5}}) {
      CAPTURE(c.n);
      double z = f32(logit(c.p)), p = sigmoid(z);
      std::vector<double> v = binomial_draws(z, c.n, 1.0, 52, 1000000);
      double var = c.n * p * (1 - p);
      check_moments(v, c.n * p, var, var * (1 + 3 * (c.n - 2) * p * (1 - p)));
      int df = 0;
      double stat = chi_square(v, [&](double k) { return binomial_pmf(k, c.n, p); }, c.n, df);
      CHECK(stat < chi_square_critical(df));
    }
  }
}
