#include "samplers/noise/noise_model.h"

#include <cmath>
#include <functional>
#include <numbers>

#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;

namespace {

double sigmoid(double z) { return 1 / (1 + std::exp(-z)); }
double softplus(double z) { return z > 0 ? z + std::log1p(std::exp(-z)) : std::log1p(std::exp(z)); }

// A model with the test's own formula for log p of one entry (y, z, entry index within an item) and a
// way to make a valid observation of an entry.
struct Case {
  std::string name;
  std::shared_ptr<NoiseModel> model;
  std::function<double(double y, double z, std::int64_t e)> log_p;
  std::function<double(double u, double z, std::int64_t e)> make_y;  // u uniform in [0, 1)
  bool complex = false;
};

constexpr std::int64_t kItems = 3, kEntries = 24;
const double kLog2Pi = std::log(2 * std::numbers::pi);

double gaussian_log_p(double y, double z, double s) { return -(y - z) * (y - z) / (2 * s * s) - std::log(s) - 0.5 * kLog2Pi; }
double poisson_log_p(double y, double rate) { return y * std::log(rate) - rate - std::lgamma(y + 1); }
double binomial_log_p(double y, double n, double p) {
  return std::lgamma(n + 1) - std::lgamma(y + 1) - std::lgamma(n - y + 1) + y * std::log(p) + (n - y) * std::log(1 - p);
}

double per_entry_sigma(std::int64_t e) { return double(float(0.05 + 0.01 * double(e))); }  // as stored, f32
double per_entry_trials(std::int64_t e) { return double(1 + 7 * e); }

std::vector<Case> cases() {
  std::vector<double> sig, trials;
  for (std::int64_t e = 0; e < kEntries; ++e) sig.push_back(per_entry_sigma(e)), trials.push_back(per_entry_trials(e));
  Tensor sigma = Tensor::from_host(std::span<const float>(std::vector<float>(sig.begin(), sig.end())), {2, kEntries / 2});
  Tensor n = Tensor::from_host(std::span<const float>(std::vector<float>(trials.begin(), trials.end())), {2, kEntries / 2});
  auto counts = [](double u, double, std::int64_t) { return std::floor(15 * u); };
  std::vector<Case> out;
  out.push_back({"gaussian", make_gaussian_noise(0.2), [](double y, double z, std::int64_t) { return gaussian_log_p(y, z, 0.2); },
                 [](double u, double z, std::int64_t) { return z + 0.4 * (u - 0.5); }});
  out.push_back({"gaussian per entry", make_gaussian_noise(sigma, "gaussian:sigma=sigma.h5", test::device()),
                 [](double y, double z, std::int64_t e) { return gaussian_log_p(y, z, per_entry_sigma(e)); },
                 [](double u, double z, std::int64_t e) { return z + 2 * per_entry_sigma(e) * (u - 0.5); }});
  out.push_back({"gaussian complex", make_gaussian_noise(sigma, "gaussian:sigma=sigma.h5", test::device()),
                 [](double y, double z, std::int64_t e) { return gaussian_log_p(y, z, per_entry_sigma(e / 2)); },
                 [](double u, double z, std::int64_t e) { return z + 2 * per_entry_sigma(e / 2) * (u - 0.5); }, true});
  out.push_back({"poisson exp", make_poisson_noise(20, Link::exp),
                 [](double y, double z, std::int64_t) { return poisson_log_p(y, 20 * std::exp(z)); }, counts});
  out.push_back({"poisson softplus", make_poisson_noise(3.5, Link::softplus),
                 [](double y, double z, std::int64_t) { return poisson_log_p(y, 3.5 * softplus(z)); }, counts});
  out.push_back({"binomial", make_binomial_noise(40, 1.0),
                 [](double y, double z, std::int64_t) { return binomial_log_p(y, 40, sigmoid(z)); },
                 [](double u, double, std::int64_t) { return std::floor(41 * u); }});
  out.push_back({"binomial scaled per entry", make_binomial_noise(n, 0.6, "binomial:n=trials.h5:scale=0.6", test::device()),
                 [](double y, double z, std::int64_t e) { return binomial_log_p(y, per_entry_trials(e), 0.6 * sigmoid(z)); },
                 [](double u, double, std::int64_t e) { return std::floor((per_entry_trials(e) + 1) * u); }});
  return out;
}

// Inputs for a case: z uniform in [-2, 2], y valid for it, and a mask that drops a few entries. Values
// are rounded to f32 (what the model sees). For complex cases the vectors hold the real view.
struct Inputs {
  std::vector<double> y, z, mask;
  Tensor yt, zt, observed;
};

Inputs inputs(const Case& c, std::uint64_t seed) {
  std::int64_t parts = c.complex ? 2 : 1, n = kItems * kEntries * parts;
  Inputs in;
  in.z = test::as_float(test::uniform(std::size_t(n), seed, -2, 2));
  std::vector<double> u = test::uniform(std::size_t(n), seed + 1, 0, 1);
  for (std::int64_t i = 0; i < n; ++i) in.y.push_back(c.make_y(u[std::size_t(i)], in.z[std::size_t(i)], i % (kEntries * parts)));
  in.y = test::as_float(in.y);
  for (std::int64_t e = 0; e < kEntries; ++e) in.mask.push_back(e % 5 == 3 ? 0.0 : 1.0);
  Shape shape{kItems, 2, kEntries / 2};
  auto upload = [&](const std::vector<double>& v) {
    if (!c.complex) return test::upload(v, shape);
    std::vector<std::complex<double>> w;
    for (std::size_t i = 0; i < v.size(); i += 2) w.emplace_back(v[i], v[i + 1]);
    return test::upload(w, shape);
  };
  in.yt = upload(in.y), in.zt = upload(in.z);
  in.observed = test::upload(in.mask, {2, kEntries / 2});
  return in;
}

// The test's log p of each item over observed entries.
std::vector<double> reference_log_p(const Case& c, const Inputs& in, const std::vector<double>& z) {
  std::int64_t parts = c.complex ? 2 : 1, per = kEntries * parts;
  std::vector<double> out(kItems, 0.0);
  for (std::int64_t r = 0; r < kItems; ++r)
    for (std::int64_t k = 0; k < per; ++k)
      if (in.mask[std::size_t(k / parts)] != 0) out[std::size_t(r)] += c.log_p(in.y[std::size_t(r * per + k)], z[std::size_t(r * per + k)], k);
  return out;
}

std::vector<double> real_view(const Tensor& t) {
  std::vector<double> out;
  if (t.dtype() != DType::c64) return test::download(t);
  for (auto v : test::download_complex(t)) out.push_back(v.real()), out.push_back(v.imag());
  return out;
}

Tensor from_real_view(const std::vector<double>& v, const Tensor& like) {
  if (like.dtype() != DType::c64) return test::upload(v, like.shape());
  std::vector<std::complex<double>> w;
  for (std::size_t i = 0; i < v.size(); i += 2) w.emplace_back(v[i], v[i + 1]);
  return test::upload(w, like.shape());
}

}  // namespace

TEST_CASE("noise models: describe gives the canonical spec, with shortest round-trip numbers") {
  CHECK(make_gaussian_noise(0.05)->describe() == "gaussian:sigma=0.05");
  CHECK(make_gaussian_noise(1.0 / 3)->describe() == "gaussian:sigma=0.3333333333333333");
  CHECK(make_poisson_noise(20, Link::exp)->describe() == "poisson:scale=20:link=exp");
  CHECK(make_poisson_noise(0.1, Link::softplus)->describe() == "poisson:scale=0.1:link=softplus");
  CHECK(make_binomial_noise(100, 1.0)->describe() == "binomial:n=100:scale=1");
  CHECK(make_binomial_noise(7, 0.25)->describe() == "binomial:n=7:scale=0.25");
  Tensor ones = Tensor::from_host({1, 2, 3}, {3});
  CHECK(make_gaussian_noise(ones, "gaussian:sigma=s.h5:s", Device::cpu())->describe() == "gaussian:sigma=s.h5:s");
  CHECK(make_binomial_noise(ones, 0.5, "binomial:n=n.h5:n:scale=0.5", Device::cpu())->describe() == "binomial:n=n.h5:n:scale=0.5");
  CHECK(std::string(link_name(Link::exp)) == "exp");
  CHECK(std::string(link_name(Link::softplus)) == "softplus");
  CHECK(std::string(link_name(Link::sigmoid)) == "sigmoid");
}

TEST_CASE("noise models: constructors refuse bad parameters, naming the field") {
  CHECK_THROWS_WITH_AS(make_gaussian_noise(0.0), "gaussian noise: sigma must be a positive finite number, got 0", ArgumentError);
  CHECK_THROWS_WITH_AS(make_gaussian_noise(INFINITY), "gaussian noise: sigma must be a positive finite number, got inf",
                       ArgumentError);
  CHECK_THROWS_WITH_AS(make_gaussian_noise(NAN), "gaussian noise: sigma must be a positive finite number, got nan", ArgumentError);
  CHECK_THROWS_WITH_AS(make_poisson_noise(-1, Link::exp), "poisson noise: scale must be a positive finite number, got -1",
                       ArgumentError);
  CHECK_THROWS_WITH_AS(make_poisson_noise(2, Link::sigmoid), "poisson noise: link must be exp or softplus, got sigmoid",
                       ArgumentError);
  CHECK_THROWS_WITH_AS(make_binomial_noise(10, 1.5), "binomial noise: scale must lie in (0, 1], got 1.5", ArgumentError);
  CHECK_THROWS_WITH_AS(make_binomial_noise(10, 0.0), "binomial noise: scale must lie in (0, 1], got 0", ArgumentError);
  CHECK_THROWS_WITH_AS(make_binomial_noise(0, 1.0),
                       "binomial noise: n = 0, but the number of trials must be an integer from 1 to 16777216 (2^24)",
                       ArgumentError);
  CHECK_THROWS_AS(make_binomial_noise(std::int64_t(1) << 25, 1.0), ArgumentError);
  Tensor sigma = Tensor::from_host({0.1f, -1.0f, 0.2f, 0.3f}, {2, 2});
  CHECK_THROWS_WITH_AS(make_gaussian_noise(sigma, "gaussian:sigma=s.h5", Device::cpu()),
                       "gaussian noise 'gaussian:sigma=s.h5': sigma entry (0, 1) is -1, but every sigma must be positive and finite",
                       ArgumentError);
  Tensor trials = Tensor::from_host({3.0f, 2.5f}, {2});
  CHECK_THROWS_WITH_AS(make_binomial_noise(trials, 1.0, "binomial:n=t.h5", Device::cpu()),
                       "binomial noise 'binomial:n=t.h5': trials entry (1) is 2.5, but the number of trials must be an "
                       "integer from 1 to 16777216 (2^24)",
                       ArgumentError);
}

TEST_CASE("noise models: log p equals the test's own formula, item by item, observed entries only") {
  for (const Case& c : cases()) {
    CAPTURE(c.name);
    Inputs in = inputs(c, 1);
    std::vector<double> got = c.model->log_likelihood(test::context(), in.yt, in.zt, in.observed);
    std::vector<double> want = reference_log_p(c, in, in.z);
    REQUIRE(got.size() == std::size_t(kItems));
    for (std::size_t r = 0; r < got.size(); ++r) CHECK(got[r] == doctest::Approx(want[r]).epsilon(1e-11));
    // Without a mask every entry counts.
    Inputs all = in;
    all.mask.assign(all.mask.size(), 1.0);
    std::vector<double> unmasked = c.model->log_likelihood(test::context(), in.yt, in.zt, Tensor());
    std::vector<double> want_all = reference_log_p(c, all, in.z);
    for (std::size_t r = 0; r < got.size(); ++r) CHECK(unmasked[r] == doctest::Approx(want_all[r]).epsilon(1e-11));
  }
}

TEST_CASE("noise models: the gradient matches central differences of the test's log p formula") {
  const double h = 1e-5;  // in double, on the formula: truncation ~h^2, rounding ~1e-16 / h
  for (const Case& c : cases()) {
    CAPTURE(c.name);
    Inputs in = inputs(c, 2);
    Tensor g;
    c.model->gradient(test::context(), in.yt, in.zt, in.observed, g);
    std::vector<double> got = real_view(g);
    std::int64_t parts = c.complex ? 2 : 1, per = kEntries * parts;
    for (std::size_t i = 0; i < got.size(); ++i) {
      std::int64_t k = std::int64_t(i) % per;
      double y = in.y[i], z = in.z[i];
      double want = in.mask[std::size_t(k / parts)] == 0 ? 0.0 : (c.log_p(y, z + h, k) - c.log_p(y, z - h, k)) / (2 * h);
      CHECK(got[i] == doctest::Approx(want).epsilon(1e-5).scale(1.0));
    }
  }
}

TEST_CASE("noise models: the gradient predicts the change of the model's own log p") {
  // L(z + h v) - L(z - h v) against <g, dz>, dz the f32 difference actually applied; the central
  // difference is exact for the Gaussian and leaves O(h^3) for the count models, so with h = 1e-2 the
  // two agree to 2e-3 and with h = 1e-3 to 1e-4 of sum |g dz|.
  for (const Case& c : cases()) {
    CAPTURE(c.name);
    Inputs in = inputs(c, 3);
    Tensor g;
    c.model->gradient(test::context(), in.yt, in.zt, in.observed, g);
    std::vector<double> gv = real_view(g), v = test::uniform(in.z.size(), 4);
    for (auto [h, tol] : {std::pair{1e-2, 2e-3}, std::pair{1e-3, 1e-4}}) {
      CAPTURE(h);
      std::vector<double> zp(in.z), zm(in.z);
      for (std::size_t i = 0; i < zp.size(); ++i) zp[i] = double(float(in.z[i] + h * v[i])), zm[i] = double(float(in.z[i] - h * v[i]));
      std::vector<double> lp = c.model->log_likelihood(test::context(), in.yt, from_real_view(zp, in.zt), in.observed);
      std::vector<double> lm = c.model->log_likelihood(test::context(), in.yt, from_real_view(zm, in.zt), in.observed);
      std::size_t per = gv.size() / kItems;
      for (std::size_t r = 0; r < std::size_t(kItems); ++r) {
        double predicted = 0, size = 0;
        for (std::size_t i = r * per; i < (r + 1) * per; ++i)
          predicted += gv[i] * (zp[i] - zm[i]), size += std::abs(gv[i] * (zp[i] - zm[i]));
        CHECK(std::abs(lp[r] - lm[r] - predicted) <= tol * size);
      }
    }
  }
}

TEST_CASE("noise models: log p and gradient stay finite and right at z = +-30") {
  Context& ctx = test::context();
  auto run = [&](const NoiseModel& m, std::vector<double> y, std::vector<double> z, std::vector<double>& g) {
    Tensor yt = test::upload(y, {1, std::int64_t(y.size())}), zt = test::upload(z, {1, std::int64_t(z.size())}), gt;
    double lp = m.log_likelihood(ctx, yt, zt, Tensor())[0];
    m.gradient(ctx, yt, zt, Tensor(), gt);
    g = test::download(gt);
    return lp;
  };
  std::vector<double> g;
  // Poisson, softplus link: at z = -30 the rate is 3.5 e^-30 and y / softplus * sigmoid -> y.
  double lp = run(*make_poisson_noise(3.5, Link::softplus), {3, 0, 2, 0}, {-30, -30, 30, 30}, g);
  double sp = std::log1p(std::exp(-30.0)), want = 3 * std::log(3.5 * sp) - 2 * 3.5 * sp - std::lgamma(4.0) +
                                                    2 * std::log(3.5 * 30) - 2 * 3.5 * 30 - std::lgamma(3.0);
  CHECK(lp == doctest::Approx(want).epsilon(1e-12));
  CHECK(g[0] == doctest::Approx(3.0).epsilon(1e-6));
  CHECK(std::abs(g[1]) < 1e-11);
  CHECK(g[2] == doctest::Approx(2 / 30.0 - 3.5).epsilon(1e-6));
  CHECK(g[3] == doctest::Approx(-3.5).epsilon(1e-6));
  // Poisson, exp link.
  lp = run(*make_poisson_noise(20, Link::exp), {5, 0}, {-30, 30}, g);
  CHECK(lp == doctest::Approx(5 * (std::log(20.0) - 30) - 20 * std::exp(-30.0) - std::lgamma(6.0) - 20 * std::exp(30.0)).epsilon(1e-12));
  CHECK(g[0] == doctest::Approx(5.0).epsilon(1e-6));
  CHECK(g[1] == doctest::Approx(-20 * std::exp(30.0)).epsilon(1e-6));
  // Binomial, s = 1: log p = log C + y log sigmoid(z) + (n - y) log sigmoid(-z); gradient y - n sigmoid(z).
  auto log_sig = [](double z) { return -softplus(-z); };
  lp = run(*make_binomial_noise(100, 1.0), {37, 37, 0, 100}, {-30, 30, -30, 30}, g);
  double choose = std::lgamma(101.0) - std::lgamma(38.0) - std::lgamma(64.0);
  want = 2 * choose + 37 * log_sig(-30) + 63 * log_sig(30) + 37 * log_sig(30) + 63 * log_sig(-30) + 100 * log_sig(30) +
         100 * log_sig(30);
  CHECK(lp == doctest::Approx(want).epsilon(1e-12));
  std::vector<double> want_g = {37 - 100 * sigmoid(-30), 37 - 100 * sigmoid(30), -100 * sigmoid(-30), 100 * sigmoid(-30)};
  for (std::size_t i = 0; i < 4; ++i) CHECK(g[i] == doctest::Approx(want_g[i]).epsilon(1e-6).scale(1e-9));
  // Binomial, s = 0.5: q = 1 - p stays near 1/2 at z = 30, and p = 0.5 e^-30 at z = -30.
  lp = run(*make_binomial_noise(10, 0.5), {4, 4}, {-30, 30}, g);
  double choose10 = std::lgamma(11.0) - std::lgamma(5.0) - std::lgamma(7.0);
  double p_lo = 0.5 * sigmoid(-30), p_hi = 0.5 * sigmoid(30), q_hi = sigmoid(-30) + 0.5 * sigmoid(30);
  want = 2 * choose10 + 4 * std::log(p_lo) + 6 * std::log1p(-p_lo) + 4 * std::log(p_hi) + 6 * std::log(q_hi);
  CHECK(lp == doctest::Approx(want).epsilon(1e-12));
  // dlogp/dz = y sigmoid(-z) - (n - y) s sigmoid(z) sigmoid(-z) / q
  CHECK(g[0] == doctest::Approx(4 * sigmoid(30) - 6 * p_lo * sigmoid(30) / (1 - p_lo)).epsilon(1e-6));
  CHECK(g[1] == doctest::Approx(4 * sigmoid(-30) - 6 * p_hi * sigmoid(-30) / q_hi).epsilon(1e-6).scale(1e-12));
  for (double v : g) CHECK(std::isfinite(v));
}

TEST_CASE("noise models: unobserved entries sample 0, add nothing to log p and get gradient 0") {
  Context& ctx = test::context();
  Tensor observed = test::upload(std::vector<double>{1, 0, 1, 0, 1, 1}, {2, 3});
  std::vector<std::shared_ptr<NoiseModel>> models = {make_gaussian_noise(0.3), make_poisson_noise(5, Link::exp),
                                                     make_binomial_noise(12, 1.0)};
  for (auto& m : models) {
    CAPTURE(m->describe());
    Tensor z = test::upload(test::uniform(4 * 6, 5), {4, 2, 3}), y;
    m->sample(ctx, z, observed, {3, 0}, y);  // y allocated like z
    std::vector<double> yv = test::download(y);
    for (std::size_t i = 0; i < yv.size(); ++i)
      if (i % 6 == 1 || i % 6 == 3) CHECK(yv[i] == 0);
    // Changing y at unobserved entries changes nothing.
    std::vector<double> other = yv;
    for (std::size_t i = 0; i < other.size(); ++i)
      if (i % 6 == 1 || i % 6 == 3) other[i] = 7;
    Tensor y2 = test::upload(other, {4, 2, 3});
    CHECK(m->log_likelihood(ctx, y, z, observed) == m->log_likelihood(ctx, y2, z, observed));
    Tensor g;
    m->gradient(ctx, y2, z, observed, g);
    std::vector<double> gv = test::download(g);
    for (std::size_t i = 0; i < gv.size(); ++i)
      if (i % 6 == 1 || i % 6 == 3) CHECK(gv[i] == 0);
  }
}

TEST_CASE("noise models: Gaussian sampling of complex z puts sigma on each part") {
  Context& ctx = test::context();
  const std::int64_t n = 20000;
  Tensor z = test::upload(std::vector<std::complex<double>>(std::size_t(n), {1.0, -2.0}), {2, n / 2});
  Tensor y;
  make_gaussian_noise(0.5)->sample(ctx, z, Tensor(), {8, 1}, y);
  double re = 0, im = 0, re2 = 0, im2 = 0, cross = 0;
  for (auto v : test::download_complex(y)) {
    double a = v.real() - 1, b = v.imag() + 2;
    re += a, im += b, re2 += a * a, im2 += b * b, cross += a * b;
  }
  double nn = double(n), sd = 0.5;
  CHECK(std::abs(re / nn) < 5 * sd / std::sqrt(nn));
  CHECK(std::abs(im / nn) < 5 * sd / std::sqrt(nn));
  CHECK(std::abs(re2 / nn - sd * sd) < 5 * sd * sd * std::sqrt(2 / nn));
  CHECK(std::abs(im2 / nn - sd * sd) < 5 * sd * sd * std::sqrt(2 / nn));
  CHECK(std::abs(cross / nn) < 5 * sd * sd / std::sqrt(nn));
}

TEST_CASE("noise models: gaussian_variance is sigma^2 per entry of the output item") {
  Context& ctx = test::context();
  Tensor v = make_gaussian_noise(0.5)->gaussian_variance(ctx, {2, 3});
  CHECK(v.shape() == Shape{2, 3});
  CHECK(v.device() == ctx.device());
  for (double x : test::download(v)) CHECK(x == 0.25);
  Tensor sigma = Tensor::from_host({0.5f, 2.0f, 0.25f}, {3});
  Tensor w = make_gaussian_noise(sigma, "gaussian:sigma=s.h5", test::device())->gaussian_variance(ctx, {1, 3});
  CHECK(w.shape() == Shape{1, 3});
  CHECK(test::download(w) == std::vector<double>{0.25, 4.0, 0.0625});
  CHECK_THROWS_AS(make_gaussian_noise(sigma, "gaussian:sigma=s.h5", test::device())->gaussian_variance(ctx, {4}), ShapeError);
  CHECK_FALSE(make_poisson_noise(1, Link::exp)->gaussian_variance(ctx, {3}).defined());
}

TEST_CASE("noise models: validate names the first bad entry and its value") {
  Context& ctx = test::context();
  auto y_of = [](std::vector<double> v) { return test::upload(v, {2, 3}); };
  auto poisson = make_poisson_noise(4, Link::exp);
  CHECK_NOTHROW(poisson->validate(ctx, y_of({0, 1, 2, 3, 40, 5}), Tensor(), "y.h5:y"));
  CHECK_THROWS_WITH_AS(poisson->validate(ctx, y_of({0, 1, 2, 3, -2, 5}), Tensor(), "y.h5:y"),
                       "y.h5:y: entry (1, 1) is -2, but Poisson counts must be finite non-negative integers", ArgumentError);
  CHECK_THROWS_WITH_AS(poisson->validate(ctx, y_of({0, 1.5, 2, 3, 4, 5}), Tensor(), "y.h5:y"),
                       "y.h5:y: entry (0, 1) is 1.5, but Poisson counts must be finite non-negative integers", ArgumentError);
  CHECK_THROWS_WITH_AS(poisson->validate(ctx, y_of({0, 1, NAN, 3, 4, 5}), Tensor(), "y.h5:y"),
                       "y.h5:y: entry (0, 2) is nan, but Poisson counts must be finite non-negative integers", ArgumentError);
  CHECK_THROWS_WITH_AS(poisson->validate(ctx, y_of({0, 1, 2, INFINITY, 4, 5}), Tensor(), "y.h5:y"),
                       "y.h5:y: entry (1, 0) is inf, but Poisson counts must be finite non-negative integers", ArgumentError);
  // An unobserved entry may hold anything.
  Tensor observed = test::upload(std::vector<double>{1, 1, 0}, {3});
  CHECK_NOTHROW(poisson->validate(ctx, y_of({0, 1, -7, 3, 4, NAN}), observed, "y.h5:y"));
  Tensor cy = test::upload(std::vector<std::complex<double>>(6, {1.0, 0.0}), {2, 3});
  CHECK_THROWS_WITH_AS(poisson->validate(ctx, cy, Tensor(), "y.h5:y"),
                       doctest::Contains("y.h5:y: y is complex (c64 (2,3) on"), ArgumentError);

  auto binomial = make_binomial_noise(10, 1.0);
  CHECK_NOTHROW(binomial->validate(ctx, y_of({0, 10, 2, 3, 4, 5}), Tensor(), "y.h5:y"));
  CHECK_THROWS_WITH_AS(binomial->validate(ctx, y_of({0, 11, 2, 3, 4, 5}), Tensor(), "obs"),
                       "obs: entry (0, 1) is 11, but Binomial counts cannot exceed the number of trials, 10", ArgumentError);
  CHECK_THROWS_WITH_AS(binomial->validate(ctx, y_of({0, 1, 2, -1, 4, 5}), Tensor(), "obs"),
                       "obs: entry (1, 0) is -1, but Binomial counts must be finite non-negative integers", ArgumentError);
  Tensor trials = Tensor::from_host({2.0f, 3.0f, 4.0f}, {3});
  auto per_entry = make_binomial_noise(trials, 1.0, "binomial:n=t.h5", test::device());
  CHECK_NOTHROW(per_entry->validate(ctx, y_of({2, 3, 4, 0, 0, 0}), Tensor(), "obs"));
  CHECK_THROWS_WITH_AS(per_entry->validate(ctx, y_of({2, 3, 4, 0, 0, 5}), Tensor(), "obs"),
                       "obs: entry (1, 2) is 5, but Binomial counts cannot exceed the number of trials, 4", ArgumentError);

  auto gaussian = make_gaussian_noise(1.0);
  CHECK_NOTHROW(gaussian->validate(ctx, y_of({-1e30, 1.5, -2, 3, 4, 5}), Tensor(), "y.h5:y"));
  CHECK_THROWS_WITH_AS(gaussian->validate(ctx, y_of({0, 1, 2, 3, -INFINITY, 5}), Tensor(), "y.h5:y"),
                       "y.h5:y: entry (1, 1) is -inf, but Gaussian observations must be finite", ArgumentError);
  std::vector<std::complex<double>> c(6, {1.0, 2.0});
  c[4] = {1.0, NAN};
  CHECK_THROWS_WITH_AS(gaussian->validate(ctx, test::upload(c, {2, 3}), Tensor(), "k.h5:y"),
                       "k.h5:y: entry (1, 1) is 1 + nan i, but Gaussian observations must be finite", ArgumentError);
}

TEST_CASE("noise models: mismatched y, z, g and masks are refused with both shapes") {
  Context& ctx = test::context();
  auto m = make_poisson_noise(2, Link::exp);
  Tensor z = test::upload(test::uniform(6, 9), {2, 3}), y = test::upload(std::vector<double>(8, 1.0), {2, 4});
  CHECK_THROWS_WITH_AS(m->log_likelihood(ctx, y, z, Tensor()), doctest::Contains("poisson noise: y is f32 (2,4)"), ShapeError);
  Tensor g = Tensor::empty({3, 2}, test::device());
  CHECK_THROWS_WITH_AS(m->gradient(ctx, z, z, Tensor(), g), doctest::Contains("poisson noise: g is f32 (3,2)"), ShapeError);
  Tensor mask = test::upload(std::vector<double>(4, 1.0), {4});
  CHECK_THROWS_WITH_AS(m->log_likelihood(ctx, z, z, mask), doctest::Contains("have 3 entries"), ShapeError);
  Tensor cz = test::upload(std::vector<std::complex<double>>(6, {1.0, 0.0}), {2, 3});
  Tensor cy;
  CHECK_THROWS_AS(m->sample(ctx, cz, Tensor(), {1, 0}, cy), DTypeError);
  CHECK_THROWS_AS(make_binomial_noise(3, 1.0)->sample(ctx, cz, Tensor(), {1, 0}, cy), DTypeError);
  Tensor sigma = Tensor::from_host({0.5f, 2.0f}, {2});
  CHECK_THROWS_WITH_AS(make_gaussian_noise(sigma, "g", test::device())->log_likelihood(ctx, z, z, Tensor()),
                       doctest::Contains("sigma is f32 (2)"), ShapeError);
}
