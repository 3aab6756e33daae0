// The network denoiser on the golden model files (tests/data): its posterior mean against each
// parameterisation's formula evaluated here in double from the raw network output, its JVP against
// finite differences, its VJP against the JVP, and the parser of the `diffusion` attribute. The
// processes are closed forms written here, independent of samplers/process.cpp.
#include <algorithm>
#include <cmath>
#include <memory>
#include <numbers>

#include "io/model_file.h"
#include "runtime/error.h"
#include "samplers/network_denoiser.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;

namespace {

// cosine: alpha^2 + sigma^2 = 1. shrink: alpha = 1/(1+t), sigma = t, so alpha^2 + sigma^2 != 1 and
// alpha != 1. karras: alpha = 1, sigma = t.
struct ClosedForm final : Process {
  enum Kind { cosine, shrink, karras } kind;
  explicit ClosedForm(Kind k) : kind(k) {}
  std::string name() const override { return kind == cosine ? "test-cosine" : kind == shrink ? "test-shrink" : "test-karras"; }
  double alpha(double t) const override {
    return kind == cosine ? std::cos(std::numbers::pi * t / 2) : kind == shrink ? 1 / (1 + t) : 1.0;
  }
  double sigma(double t) const override { return kind == cosine ? std::sin(std::numbers::pi * t / 2) : t; }
  // Not used by the denoiser; central differences of the closed forms are enough.
  double drift(double t) const override { return (std::log(alpha(t + 1e-6)) - std::log(alpha(t - 1e-6))) / 2e-6; }
  double diffusion2(double t) const override {
    double s2 = (std::pow(sigma(t + 1e-6), 2) - std::pow(sigma(t - 1e-6), 2)) / 2e-6;
    return s2 - 2 * drift(t) * sigma(t) * sigma(t);
  }
  double t_min() const override { return 1e-3; }
  double t_max() const override { return kind == karras ? 80 : 1; }
  std::vector<double> time_grid(int steps) const override {
    std::vector<double> g;
    for (int i = 0; i <= steps; ++i) g.push_back(t_max() + (t_min() - t_max()) * i / steps);
    return g;
  }
};

NetworkDenoiserOptions clamping(bool clamp) {
  NetworkDenoiserOptions o;
  o.clamp = clamp;
  return o;
}

NetworkDenoiserOptions labelled(std::vector<std::int64_t> labels) {
  NetworkDenoiserOptions o;
  o.labels = std::move(labels);
  return o;
}

std::string golden(const std::string& name) { return std::string(TWEEDIE_TEST_DATA) + "/" + name + ".h5"; }

Parameterisation parameterisation(Prediction p, std::string time_input = "999t") {
  Parameterisation q;
  q.prediction = p;
  q.time_input = std::move(time_input);
  return q;
}

std::unique_ptr<NetworkDenoiser> make(const std::string& model, ClosedForm::Kind kind, Parameterisation p,
                                      NetworkDenoiserOptions options = {}) {
  return std::make_unique<NetworkDenoiser>(load_model(golden(model), test::device()), std::make_unique<ClosedForm>(kind),
                                           std::move(p), std::move(options));
}

Shape batch_of(const Denoiser& d, std::int64_t n) {
  std::vector<std::int64_t> dims{n};
  const Shape item = d.item_shape();  // dims() views the Shape, which must outlive the loop
  for (std::int64_t e : item.dims()) dims.push_back(e);
  return Shape(std::span<const std::int64_t>(dims));
}

std::vector<double> denoise(const Denoiser& d, const Tensor& x, double t) {
  Tensor x0 = Tensor::empty(x.shape(), test::device());
  d.denoise(test::context(), x, t, x0);
  return test::download(x0);
}

// The raw network output at `input` (already scaled as the parameterisation needs), in double.
std::vector<double> raw(const nn::Network& net, const std::vector<double>& input, const Shape& shape, double net_time,
                        std::vector<std::int64_t> labels = {}) {
  Tensor x = test::upload(input, shape), y = Tensor::empty(net.output_shape(shape), test::device());
  net.forward(test::context(), x, nn::Conditioning{{float(net_time)}, std::move(labels)}, y);
  return test::download(y);
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

double norm(const std::vector<double>& a) { return std::sqrt(dot(a, a)); }

struct Case {
  std::string model;
  Prediction prediction;
  ClosedForm::Kind kind;
  bool scale_by_sigma = false, learned_variance = false;
};

std::string describe(const Case& c) {
  return cat(c.model, " ", prediction_name(c.prediction), c.scale_by_sigma ? " (scale_by_sigma)" : "",
             c.learned_variance ? " (learned variance)" : "", " on process ", int(c.kind));
}

std::unique_ptr<NetworkDenoiser> make(const Case& c, NetworkDenoiserOptions options = {}) {
  Parameterisation p = parameterisation(c.prediction, c.prediction == Prediction::edm ? "edm" : "999t");
  p.scale_by_sigma = c.scale_by_sigma;
  p.learned_variance = c.learned_variance;
  return make(c.model, c.kind, p, std::move(options));
}

const std::vector<Case> kCases = {
    {"mlp_small", Prediction::eps, ClosedForm::cosine},
    {"mlp_small", Prediction::x0, ClosedForm::cosine},
    {"mlp_small", Prediction::v, ClosedForm::cosine},
    {"mlp_small", Prediction::v, ClosedForm::shrink},
    {"mlp_small", Prediction::score, ClosedForm::shrink},
    {"mlp_small", Prediction::score, ClosedForm::shrink, true},
    {"mlp_small", Prediction::edm, ClosedForm::karras},
    {"mlp_small", Prediction::edm, ClosedForm::shrink},
    {"adm_legacy_scaleshift_updown", Prediction::eps, ClosedForm::cosine, false, true},
    {"adm_1d", Prediction::edm, ClosedForm::shrink},
};

// The posterior mean each parameterisation defines, from the raw output, computed in double.
std::vector<double> expected_x0(const NetworkDenoiser& d, const Case& c, const std::vector<double>& x, const Shape& shape,
                                double t) {
  const Process& p = d.process();
  double al = p.alpha(t), s = p.sigma(t);
  std::vector<double> in = x, x0(x.size());
  double net_time = p.network_time(t, "999t");
  double c_skip = 0, c_out = 0;
  if (c.prediction == Prediction::edm) {
    double se = s / al, sd = 0.5;  // Karras et al., Table 1, on the alpha = 1 process x_t / alpha
    c_skip = sd * sd / (se * se + sd * sd), c_out = se * sd / std::sqrt(se * se + sd * sd);
    for (double& v : in) v = v / al / std::sqrt(se * se + sd * sd);
    net_time = std::log(se) / 4;
  }
  std::vector<double> f = raw(d.network(), in, shape, net_time);
  std::int64_t n = shape[0], item = std::int64_t(x.size()) / n;
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t i = 0; i < item; ++i) {
      std::size_t k = std::size_t(b * item + i);
      double xt = x[k], out = f[std::size_t(b * item * (c.learned_variance ? 2 : 1) + i)];
      switch (c.prediction) {
        case Prediction::eps: x0[k] = (xt - s * out) / al; break;
        case Prediction::x0: x0[k] = out; break;
        case Prediction::v:  // from v = alpha eps - sigma x0 and x_t = alpha x0 + sigma eps
          x0[k] = c.kind == ClosedForm::cosine ? al * xt - s * out : (al * xt - s * out) / (al * al + s * s);
          break;
        case Prediction::score: x0[k] = (xt + s * s * (c.scale_by_sigma ? out / s : out)) / al; break;
        case Prediction::edm: x0[k] = c_skip * xt / al + c_out * out; break;
      }
    }
  return x0;
}

// (D(x + h v) - D(x - h v)) / 2h.
std::vector<double> central_difference(const Denoiser& d, const Tensor& x, const Tensor& v, double t, double h) {
  std::vector<double> xs = test::download(x), vs = test::download(v), plus(xs), minus(xs);
  for (std::size_t i = 0; i < xs.size(); ++i) plus[i] += h * vs[i], minus[i] -= h * vs[i];
  std::vector<double> fp = denoise(d, test::upload(plus, x.shape()), t), fm = denoise(d, test::upload(minus, x.shape()), t);
  for (std::size_t i = 0; i < fp.size(); ++i) fp[i] = (fp[i] - fm[i]) / (2 * h);
  return fp;
}

Tensor input_for(const NetworkDenoiser& d, std::int64_t n, std::uint64_t seed) {
  return test::upload(test::uniform(std::size_t(batch_of(d, n).numel()), seed), batch_of(d, n));
}

}  // namespace

TEST_CASE("each parameterisation's posterior mean is its formula applied to the raw network output") {
  for (const Case& c : kCases) {
    CAPTURE(describe(c));
    auto d = make(c);
    Shape shape = batch_of(*d, 2);
    std::vector<double> x = test::as_float(test::uniform(std::size_t(shape.numel()), 11));
    for (double t : {0.3, 0.7}) {
      CAPTURE(t);
      std::vector<double> got = denoise(*d, test::upload(x, shape), t);
      CHECK(test::max_relative_error(got, expected_x0(*d, c, x, shape, t)) < 2e-5);
    }
  }
}

TEST_CASE("the network's time input is the process's network_time of the model's time_input") {
  for (std::string time_input : {"999t", "t", "sigma", "log-sigma"}) {
    CAPTURE(time_input);
    auto d = make("mlp_small", ClosedForm::cosine, parameterisation(Prediction::x0, time_input));
    Tensor x = input_for(*d, 3, 5);
    double t = 0.45;
    CHECK(denoise(*d, x, t) == raw(d->network(), test::download(x), x.shape(), d->process().network_time(t, time_input)));
  }
  // EDM on an alpha = 1 process: c_noise = ln(sigma)/4 is the process's "edm" time; F sees c_in x.
  auto d = make("mlp_small", ClosedForm::karras, parameterisation(Prediction::edm, "edm"));
  double t = 2.5;
  NetworkDenoiser::Coefficients k = d->coefficients(t);
  CHECK(k.net_time == float(d->process().network_time(t, "edm")));
  CHECK(k.net_time == doctest::Approx(std::log(2.5) / 4));
}

TEST_CASE("EDM's preconditioning scalings are Karras et al.'s, taken at sigma/alpha for processes with alpha != 1") {
  double sigma = 2, sd = 0.5;
  EdmScalings c = edm_scalings(sigma, sd);
  CHECK(c.c_skip == doctest::Approx(0.25 / 4.25).epsilon(1e-14));
  CHECK(c.c_out == doctest::Approx(1.0 / std::sqrt(4.25)).epsilon(1e-14));
  CHECK(c.c_in == doctest::Approx(1.0 / std::sqrt(4.25)).epsilon(1e-14));
  CHECK(c.c_noise == doctest::Approx(std::log(2.0) / 4).epsilon(1e-14));
  // sigma -> 0 passes x through; sigma -> infinity trusts the network, scaled by sigma_data.
  CHECK(edm_scalings(1e-8, sd).c_skip == doctest::Approx(1.0));
  CHECK(edm_scalings(1e8, sd).c_out == doctest::Approx(sd));

  Parameterisation p = parameterisation(Prediction::edm, "edm");
  p.sigma_data = 0.7;
  auto d = make("mlp_small", ClosedForm::shrink, p);
  double t = 1.5, alpha = 1 / 2.5, se = t / alpha;
  EdmScalings e = edm_scalings(se, 0.7);
  NetworkDenoiser::Coefficients k = d->coefficients(t);
  CHECK(k.a == doctest::Approx(e.c_skip / alpha).epsilon(1e-14));
  CHECK(k.b == doctest::Approx(e.c_out).epsilon(1e-14));
  CHECK(k.s == doctest::Approx(e.c_in / alpha).epsilon(1e-14));
  CHECK(k.net_time == float(std::log(se) / 4));
}

TEST_CASE("the JVP matches central finite differences of the posterior mean") {
  for (const Case& c : kCases) {
    CAPTURE(describe(c));
    auto d = make(c);
    Context& ctx = test::context();
    Tensor x = input_for(*d, 2, 21), v = input_for(*d, 2, 22);
    double t = 0.5, h = 1e-2;
    Tensor x0 = Tensor::empty(x.shape(), test::device()), jv = Tensor::empty(x.shape(), test::device());
    auto lin = d->linearize(ctx, x, t, x0);
    d->jvp(ctx, *lin, v, jv);
    // Richardson's combination of steps h and h/2 cancels the h^2 error of central differences, which
    // for the U-Nets is ~5e-3 at h = 1e-2, while f32 rounding keeps h from being much smaller.
    std::vector<double> coarse = central_difference(*d, x, v, t, h), fine = central_difference(*d, x, v, t, h / 2);
    std::vector<double> fd(fine.size());
    for (std::size_t i = 0; i < fd.size(); ++i) fd[i] = (4 * fine[i] - coarse[i]) / 3;
    CHECK(test::max_relative_error(test::download(jv), fd) < 1e-3);
    CHECK(test::download(x0) == denoise(*d, x, t));  // linearize evaluates the same posterior mean
  }
}

TEST_CASE("the VJP is the transpose of the JVP: <u, J v> = <J^T u, v>") {
  for (bool clamp : {false, true}) {
    for (const Case& c : kCases) {
      CAPTURE(describe(c));
      CAPTURE(clamp);
      auto d = make(c, clamping(clamp));
      Context& ctx = test::context();
      Tensor x = input_for(*d, 2, 31), v = input_for(*d, 2, 32), u = input_for(*d, 2, 33);
      Tensor x0 = Tensor::empty(x.shape(), test::device()), jv = Tensor::empty(x.shape(), test::device()),
             ju = Tensor::empty(x.shape(), test::device());
      auto lin = d->linearize(ctx, x, 0.5, x0);
      d->jvp(ctx, *lin, v, jv);
      d->vjp(ctx, *lin, u, ju);
      std::vector<double> us = test::download(u), jvs = test::download(jv);
      double lhs = dot(us, jvs), rhs = dot(test::download(ju), test::download(v));
      CHECK(std::abs(lhs - rhs) <= 1e-4 * norm(us) * norm(jvs));
    }
  }
}

TEST_CASE("several tangents and cotangents per item give what one at a time gives") {
  for (const Case& c : {kCases[2], kCases[7], kCases[8]}) {
    for (bool clamp : {false, true}) {
      CAPTURE(describe(c));
      CAPTURE(clamp);
      auto d = make(c, clamping(clamp));
      Context& ctx = test::context();
      const std::int64_t n = 2, k = 3;
      Tensor x = input_for(*d, n, 41), v = input_for(*d, k * n, 42), u = input_for(*d, k * n, 43);
      Tensor x0 = Tensor::empty(x.shape(), test::device());
      auto lin = d->linearize(ctx, x, 0.6, x0);
      Tensor jv = Tensor::empty(v.shape(), test::device()), ju = Tensor::empty(u.shape(), test::device());
      d->jvp(ctx, *lin, v, jv);
      d->vjp(ctx, *lin, u, ju);
      for (std::int64_t j = 0; j < k; ++j) {
        CAPTURE(j);
        Tensor one_v = v.slice(j * n, n).clone(), one_u = u.slice(j * n, n).clone();
        Tensor one_jv = Tensor::empty(one_v.shape(), test::device()), one_ju = Tensor::empty(one_u.shape(), test::device());
        d->jvp(ctx, *lin, one_v, one_jv);
        d->vjp(ctx, *lin, one_u, one_ju);
        CHECK(test::max_relative_error(test::download(jv.slice(j * n, n)), test::download(one_jv)) < 1e-5);
        CHECK(test::max_relative_error(test::download(ju.slice(j * n, n)), test::download(one_ju)) < 1e-5);
      }
    }
  }
}

TEST_CASE("a learned-variance model's extra channels are its raw variance, outside the mean and its derivatives") {
  const Case& c = kCases[8];
  auto d = make(c);
  REQUIRE(d->has_learned_variance());
  CHECK(d->item_shape() == Shape{3, 16, 16});
  Context& ctx = test::context();
  Tensor x = input_for(*d, 2, 51);
  double t = 0.4;
  Tensor x0 = Tensor::empty(x.shape(), test::device()), var = Tensor::empty(x.shape(), test::device());
  d->denoise_with_variance(ctx, x, t, x0, var);
  std::vector<double> f = raw(d->network(), test::download(x), x.shape(), d->process().network_time(t, "999t"));
  std::vector<double> want_var;
  for (std::int64_t b = 0; b < 2; ++b)  // channels 3..5 of each item's 6
    want_var.insert(want_var.end(), f.begin() + b * 6 * 256 + 3 * 256, f.begin() + (b + 1) * 6 * 256);
  CHECK(test::download(var) == want_var);
  CHECK(test::download(x0) == denoise(*d, x, t));

  // The Jacobian of the mean alone: the variance channels change with x_t, so leaking them in would
  // break the finite-difference check above; here the VJP's zero cotangent on them is checked by
  // comparing with the network's own VJP of [u; 0].
  Tensor u = input_for(*d, 2, 52), ju = Tensor::empty(x.shape(), test::device());
  auto lin = d->linearize(ctx, x, t, x0);
  d->vjp(ctx, *lin, u, ju);
  std::vector<double> us = test::download(u), padded(std::size_t(2 * 6 * 256), 0.0);
  for (std::int64_t b = 0; b < 2; ++b) std::copy_n(us.begin() + b * 768, 768, padded.begin() + b * 1536);
  const Process& p = d->process();
  Tensor f_again = Tensor::empty({2, 6, 16, 16}, test::device());
  auto net_lin = d->network().linearize(ctx, x, nn::Conditioning{{float(p.network_time(t, "999t"))}, {}}, f_again);
  Tensor g = Tensor::empty(x.shape(), test::device());
  d->network().vjp(ctx, *net_lin, test::upload(padded, {2, 6, 16, 16}), g, false);
  std::vector<double> gs = test::download(g), want(us.size());
  double al = p.alpha(t), s = p.sigma(t);
  for (std::size_t i = 0; i < want.size(); ++i) want[i] = (us[i] - s * gs[i]) / al;
  CHECK(test::max_relative_error(test::download(ju), want) < 1e-5);

  // A model without the extra channels has no variance to give.
  auto plain = make(kCases[0]);
  CHECK_FALSE(plain->has_learned_variance());
  Tensor y = input_for(*plain, 2, 53);
  Tensor y0 = Tensor::empty(y.shape(), test::device()), yv = Tensor::empty(y.shape(), test::device());
  CHECK_THROWS_AS(plain->denoise_with_variance(ctx, y, t, y0, yv), ArgumentError);
}

TEST_CASE("clamping clips the posterior mean to [-1, 1] and zeroes the derivatives of clipped elements") {
  // eps at t = 0.9 divides by alpha = 0.16: many elements land outside [-1, 1], some inside.
  auto free = make(kCases[0]), clamped = make(kCases[0], clamping(true));
  Context& ctx = test::context();
  Tensor x = input_for(*free, 4, 61), v = input_for(*free, 4, 62), u = input_for(*free, 4, 63);
  double t = 0.9;
  Tensor x0f = Tensor::empty(x.shape(), test::device()), x0c = Tensor::empty(x.shape(), test::device());
  auto lf = free->linearize(ctx, x, t, x0f);
  auto lc = clamped->linearize(ctx, x, t, x0c);
  std::vector<double> mf = test::download(x0f), mc = test::download(x0c);
  std::vector<double> mask(mf.size());
  int inside = 0;
  for (std::size_t i = 0; i < mf.size(); ++i) {
    mask[i] = std::abs(mf[i]) <= 1 ? 1.0 : 0.0;
    inside += int(mask[i]);
    CHECK(mc[i] == std::clamp(mf[i], -1.0, 1.0));
  }
  REQUIRE(inside > 0);
  REQUIRE(inside < int(mf.size()));
  CHECK(denoise(*clamped, x, t) == mc);

  Tensor jf = Tensor::empty(x.shape(), test::device()), jc = Tensor::empty(x.shape(), test::device());
  free->jvp(ctx, *lf, v, jf);
  clamped->jvp(ctx, *lc, v, jc);
  std::vector<double> jfs = test::download(jf), jcs = test::download(jc);
  for (std::size_t i = 0; i < jfs.size(); ++i) CHECK(jcs[i] == mask[i] * jfs[i]);

  // J_clamped^T u = J^T (M u).
  std::vector<double> us = test::download(u), masked(us.size());
  for (std::size_t i = 0; i < us.size(); ++i) masked[i] = mask[i] * us[i];
  Tensor gf = Tensor::empty(x.shape(), test::device()), gc = Tensor::empty(x.shape(), test::device());
  free->vjp(ctx, *lf, test::upload(masked, x.shape()), gf);
  clamped->vjp(ctx, *lc, u, gc);
  CHECK(test::max_relative_error(test::download(gc), test::download(gf)) < 1e-6);
}

TEST_CASE("a class-conditional model gets the fixed labels") {
  auto d = make("adm_neworder_plain_classcond", ClosedForm::cosine, parameterisation(Prediction::x0),
                labelled({3, 7}));
  Tensor x = input_for(*d, 2, 71);
  double t = 0.5, net_time = d->process().network_time(t, "999t");
  std::vector<double> got = denoise(*d, x, t);
  CHECK(got == raw(d->network(), test::download(x), x.shape(), net_time, {3, 7}));
  CHECK(got != raw(d->network(), test::download(x), x.shape(), net_time, {3, 3}));
}

TEST_CASE("the counters count network evaluations in items") {
  auto d = make(kCases[8]);
  Context& ctx = test::context();
  Tensor x = input_for(*d, 2, 81), v = input_for(*d, 6, 82), x0 = Tensor::empty(x.shape(), test::device());
  d->denoise(ctx, x, 0.5, x0);
  auto lin = d->linearize(ctx, x, 0.5, x0);
  Tensor jv = Tensor::empty(v.shape(), test::device()), ju = Tensor::empty(v.shape(), test::device());
  d->jvp(ctx, *lin, v, jv);
  d->vjp(ctx, *lin, v, ju);
  d->vjp(ctx, *lin, x, x0);
  CHECK(d->forward_count == 4);
  CHECK(d->jvp_count == 6);
  CHECK(d->vjp_count == 8);
}

TEST_CASE("shapes that do not fit the network or the linearization are reported") {
  Parameterisation p = parameterisation(Prediction::eps);
  p.learned_variance = true;  // the MLP has no extra outputs
  CHECK_THROWS_WITH_AS(make("mlp_small", ClosedForm::cosine, p), doctest::Contains("needs (1,32)"), ArgumentError);
  CHECK(make("adm_1d", ClosedForm::cosine, parameterisation(Prediction::x0))->item_shape() == Shape{1, 32});

  auto d = make(kCases[0]);
  CHECK(d->item_shape() == Shape{16});
  Context& ctx = test::context();
  Tensor bad = Tensor::zeros({2, 15}, test::device()), x0 = Tensor::empty({2, 15}, test::device());
  CHECK_THROWS_WITH_AS(d->denoise(ctx, bad, 0.5, x0), doctest::Contains("not a batch of (16) items"), ShapeError);
  Tensor x = input_for(*d, 2, 91), y0 = Tensor::empty(x.shape(), test::device());
  auto lin = d->linearize(ctx, x, 0.5, y0);
  Tensor v = input_for(*d, 3, 92), jv = Tensor::empty(v.shape(), test::device());
  CHECK_THROWS_WITH_AS(d->jvp(ctx, *lin, v, jv), doctest::Contains("in copies of 2"), ShapeError);
}

TEST_CASE("the diffusion description parser reads every field and names the offending one") {
  Parameterisation p = parameterisation_from_json(
      R"({"parameterization": "eps", "learned_variance": true, "schedule": {"kind": "linear", "timesteps": 1000}})", "m.h5");
  CHECK(p.prediction == Prediction::eps);
  CHECK(p.learned_variance);
  CHECK(p.time_input == "index");
  p = parameterisation_from_json(R"({"parameterization": "score", "scale_by_sigma": true, "schedule": {"kind": "ve"}})", "m.h5");
  CHECK(p.prediction == Prediction::score);
  CHECK(p.scale_by_sigma);
  CHECK(p.time_input == "sigma");
  p = parameterisation_from_json(R"({"parameterization": "v", "time_input": "log-sigma"})", "m.h5");
  CHECK(p.prediction == Prediction::v);
  CHECK(p.time_input == "log-sigma");
  CHECK(parameterisation_from_json(R"({"parameterization": "x0", "schedule": {"kind": "vp"}})", "m.h5").time_input == "999t");
  p = parameterisation_from_json(R"({"parameterization": "edm", "schedule": {"kind": "edm", "sigma_data": 0.25}})", "m.h5");
  CHECK(p.prediction == Prediction::edm);
  CHECK(p.time_input == "edm");
  CHECK(p.sigma_data == 0.25);
  CHECK(parameterisation_from_json(R"({"parameterization": "edm", "sigma_data": 1.5})", "m.h5").sigma_data == 1.5);
  CHECK(parameterisation_from_json(R"({"parameterization": "edm"})", "m.h5").sigma_data == 0.5);

  auto fails = [](const std::string& text, const std::string& message) {
    CAPTURE(text);
    CHECK_THROWS_WITH_AS(parameterisation_from_json(text, "m.h5"), doctest::Contains(message.c_str()), ArgumentError);
  };
  fails("{", "m.h5: the diffusion description is not JSON");
  fails("[1]", "m.h5: the diffusion description is not a JSON object");
  fails(R"({"time_input": "t"})", "m.h5: diffusion.parameterization is missing");
  fails(R"({"parameterization": "noise", "time_input": "t"})", "m.h5: diffusion.parameterization is \"noise\"");
  fails(R"({"parameterization": 3, "time_input": "t"})", "diffusion.parameterization must be a string");
  fails(R"({"parameterization": "x0", "learned_variance": true, "time_input": "t"})", "diffusion.learned_variance is only for eps");
  fails(R"({"parameterization": "eps", "learned_variance": "yes", "time_input": "t"})",
        "diffusion.learned_variance must be true or false");
  fails(R"({"parameterization": "eps", "scale_by_sigma": true, "time_input": "t"})", "diffusion.scale_by_sigma is only for score");
  fails(R"({"parameterization": "eps", "time_input": "seconds"})", "diffusion.time_input is \"seconds\"");
  fails(R"({"parameterization": "eps"})", "diffusion.time_input is missing");
  fails(R"({"parameterization": "eps", "schedule": "linear"})", "diffusion.schedule must be an object");
  fails(R"({"parameterization": "eps", "schedule": {"timesteps": 10}})", "diffusion.schedule.kind is missing");
  fails(R"({"parameterization": "edm", "sigma_data": -1})", "diffusion.sigma_data must be a positive number");
  fails(R"({"parameterization": "edm", "schedule": {"kind": "edm", "sigma_data": "x"}})",
        "diffusion.schedule.sigma_data must be a positive number");
}
