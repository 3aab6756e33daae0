#include "samplers/network_denoiser.h"

#include <cmath>
#include <nlohmann/json.hpp>

#include "kernels/axpby.h"
#include "kernels/concat.h"
#include "kernels/map.h"
#include "nn/mlp.h"
#include "nn/unet_config.h"
#include "runtime/check.h"
#include "runtime/error.h"

namespace tweedie::samplers {

using json = nlohmann::json;

struct NetworkDenoiser::Linearization : DenoiserLinearization {
  std::unique_ptr<nn::Linearization> net;
  Coefficients k{};
  Tensor mask;  // 1 where x0 was not clamped; only when clamping
};

namespace {

const char* const kTimeInputs[] = {"index", "999t", "t", "sigma", "log-sigma", "edm"};

std::string field_name(const std::string& where, const std::string& key) { return cat(where, ": diffusion.", key); }

bool flag(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return false;
  if (!j[key].is_boolean()) throw ArgumentError(cat(field_name(where, key), " must be true or false, not ", j[key].dump()));
  return j[key].get<bool>();
}

Prediction prediction_from(const json& j, const std::string& where) {
  std::string name = field_name(where, "parameterization");
  if (!j.contains("parameterization")) throw ArgumentError(cat(name, " is missing (eps, x0, v, score or edm)"));
  const json& value = j["parameterization"];
  if (!value.is_string()) throw ArgumentError(cat(name, " must be a string, not ", value.dump()));
  std::string s = value.get<std::string>();
  for (Prediction p : {Prediction::eps, Prediction::x0, Prediction::v, Prediction::score, Prediction::edm})
    if (s == prediction_name(p)) return p;
  throw ArgumentError(cat(name, " is \"", s, "\"; expected eps, x0, v, score or edm"));
}

// The schedule's kind, or "" when the description has none.
std::string schedule_kind(const json& j, const std::string& where) {
  if (!j.contains("schedule") || j["schedule"].is_null()) return "";
  const json& s = j["schedule"];
  if (!s.is_object()) throw ArgumentError(cat(field_name(where, "schedule"), " must be an object, not ", s.dump()));
  if (!s.contains("kind") || !s["kind"].is_string())
    throw ArgumentError(cat(field_name(where, "schedule.kind"), " is missing or not a string"));
  return s["kind"].get<std::string>();
}

std::string time_input_from(const json& j, Prediction p, const std::string& kind, const std::string& where) {
  std::string name = field_name(where, "time_input");
  if (j.contains("time_input") && !j["time_input"].is_null()) {
    if (!j["time_input"].is_string()) throw ArgumentError(cat(name, " must be a string, not ", j["time_input"].dump()));
    std::string s = j["time_input"].get<std::string>();
    for (const char* known : kTimeInputs)
      if (s == known) return s;
    throw ArgumentError(cat(name, " is \"", s, "\"; expected index, 999t, t, sigma, log-sigma or edm"));
  }
  // What the trainers of each schedule fed their networks.
  if (kind == "linear" || kind == "cosine") return "index";
  if (kind == "vp") return "999t";
  if (kind == "ve") return "sigma";
  if (kind == "edm" || p == Prediction::edm) return "edm";
  throw ArgumentError(cat(name, " is missing and the schedule (", kind.empty() ? "none" : kind, ") does not imply one"));
}

double sigma_data_from(const json& j, const std::string& where) {
  auto read = [&](const json& v, const std::string& key) {
    if (!v.is_number() || !(v.get<double>() > 0) || !std::isfinite(v.get<double>()))
      throw ArgumentError(cat(field_name(where, key), " must be a positive number, not ", v.dump()));
    return v.get<double>();
  };
  if (j.contains("sigma_data")) return read(j["sigma_data"], "sigma_data");
  if (j.contains("schedule") && j["schedule"].is_object() && j["schedule"].contains("sigma_data"))
    return read(j["schedule"]["sigma_data"], "schedule.sigma_data");
  return 0.5;
}

Shape with_dim1(const Shape& s, std::int64_t c) {
  std::vector<std::int64_t> dims(s.dims().begin(), s.dims().end());
  dims[1] = c;
  return Shape(std::span<const std::int64_t>(dims));
}

// The trained input shape of an item, from the network's own config.
Shape item_shape_of(const nn::Network& net) {
  std::string where = cat("network denoiser: ", net.architecture(), " config");
  if (net.architecture() == "mlp") return {nn::MlpConfig::from_json(net.config_json(), where).dim};
  if (net.architecture() == "adm-unet") {
    nn::UNetConfig c = nn::UNetConfig::from_json(net.config_json(), where);
    if (c.image_size < 1) throw ArgumentError(cat(where, " records no image_size; give the item shape"));
    if (c.dims == 1) return {c.in_channels, c.image_size};
    if (c.dims == 2) return {c.in_channels, c.image_size, c.image_size};
    return {c.in_channels, c.image_size, c.image_size, c.image_size};
  }
  throw ArgumentError(cat("network denoiser: no item shape known for architecture ", net.architecture(), "; give one"));
}

// x itself when s == 1, else a new s x.
Tensor scaled(Context& ctx, const Tensor& x, double s) {
  if (s == 1.0) return x;
  Tensor y = Tensor::empty(x.shape(), x.device());
  axpby(ctx, float(s), x, 0.0f, y);
  return y;
}

// out = a x + b y. x first, so that out may be x.
void combine(Context& ctx, double a, const Tensor& x, double b, const Tensor& y, Tensor& out) {
  if (a == 0.0) {
    axpby(ctx, float(b), y, 0.0f, out);
    return;
  }
  axpby(ctx, float(a), x, 0.0f, out);
  axpby(ctx, float(b), y, 1.0f, out);
}

// 1 where |x| <= 1, else 0, exactly. Outside, |x| - 1 >= 2^-23 (the float after 1 is 1 + 2^-23, and
// the subtraction is exact there), so 1 - 2^30 (|x| - 1) <= -127 and the ReLU gives 0.
Tensor unclamped_mask(Context& ctx, const Tensor& x) {
  Tensor excess = Tensor::empty(x.shape(), x.device()), mask = Tensor::empty(x.shape(), x.device());
  unary(ctx, UnaryOp::abs, x, excess);
  fill(ctx, mask, 1.0f);
  sub(ctx, excess, mask, excess);
  unary(ctx, UnaryOp::relu, excess, excess);
  axpby(ctx, -1073741824.0f, excess, 1.0f, mask);
  unary(ctx, UnaryOp::relu, mask, mask);
  return mask;
}

void clamp_unit(Context& ctx, Tensor& x) {
  Tensor bound = Tensor::empty(x.shape(), x.device());
  fill(ctx, bound, -1.0f);
  binary(ctx, BinaryOp::maximum, x, bound, x);
  fill(ctx, bound, 1.0f);
  binary(ctx, BinaryOp::minimum, x, bound, x);
}

// x *= mask for each of x's copies of mask's batch.
void mask_copies(Context& ctx, const Tensor& mask, Tensor& x) {
  std::int64_t n = mask.dim(0);
  for (std::int64_t j = 0; j < x.dim(0) / n; ++j) {
    Tensor part = x.slice(j * n, n);
    mul(ctx, part, mask, part);
  }
}

}  // namespace

const char* prediction_name(Prediction p) {
  switch (p) {
    case Prediction::eps: return "eps";
    case Prediction::x0: return "x0";
    case Prediction::v: return "v";
    case Prediction::score: return "score";
    case Prediction::edm: return "edm";
  }
  return "?";
}

Parameterisation parameterisation_from_json(const std::string& diffusion_json, const std::string& where) {
  json j;
  try {
    j = json::parse(diffusion_json);
  } catch (const json::exception& e) {
    throw ArgumentError(cat(where, ": the diffusion description is not JSON (", e.what(), ")"));
  }
  if (!j.is_object()) throw ArgumentError(cat(where, ": the diffusion description is not a JSON object"));
  Parameterisation p;
  p.prediction = prediction_from(j, where);
  p.learned_variance = flag(j, "learned_variance", where);
  p.scale_by_sigma = flag(j, "scale_by_sigma", where);
  if (p.learned_variance && p.prediction != Prediction::eps)
    throw ArgumentError(
        cat(field_name(where, "learned_variance"), " is only for eps models, not ", prediction_name(p.prediction)));
  if (p.scale_by_sigma && p.prediction != Prediction::score)
    throw ArgumentError(
        cat(field_name(where, "scale_by_sigma"), " is only for score models, not ", prediction_name(p.prediction)));
  p.time_input = time_input_from(j, p.prediction, schedule_kind(j, where), where);
  if (p.prediction == Prediction::edm) p.sigma_data = sigma_data_from(j, where);
  return p;
}

EdmScalings edm_scalings(double sigma, double sigma_data) {
  double s2 = sigma * sigma, d2 = sigma_data * sigma_data, r = std::sqrt(s2 + d2);
  return {d2 / (s2 + d2), sigma * sigma_data / r, 1.0 / r, std::log(sigma) / 4.0};
}

NetworkDenoiser::NetworkDenoiser(std::unique_ptr<nn::Network> network, std::unique_ptr<Process> process, Parameterisation p,
                                 NetworkDenoiserOptions options)
    : network_(std::move(network)), process_(std::move(process)), param_(std::move(p)), options_(std::move(options)) {
  if (!network_ || !process_) throw ArgumentError("network denoiser: needs a network and a process");
  if (param_.prediction == Prediction::edm && !(param_.sigma_data > 0))
    throw ArgumentError(cat("network denoiser: sigma_data must be positive, not ", param_.sigma_data));
  item_shape_ = options_.item_shape.rank() > 0 ? options_.item_shape : item_shape_of(*network_);
  if (item_shape_.rank() + 1 > kMaxRank)
    throw ShapeError(cat("network denoiser: item shape ", item_shape_.str(), " has too many dimensions"));
  std::vector<std::int64_t> dims{1};
  dims.insert(dims.end(), item_shape_.dims().begin(), item_shape_.dims().end());
  Shape one{std::span<const std::int64_t>(dims)};
  Shape out = network_->output_shape(one), want = with_dim1(one, param_.learned_variance ? 2 * one[1] : one[1]);
  if (!(out == want))
    throw ArgumentError(cat("network denoiser: the ", network_->architecture(), " maps ", one.str(), " to ", out.str(),
                            ", but ", prediction_name(param_.prediction),
                            param_.learned_variance ? " with learned variance" : "", " needs ", want.str()));
}

NetworkDenoiser::Coefficients NetworkDenoiser::coefficients(double t) const {
  double alpha = process_->alpha(t), sigma = process_->sigma(t);
  if (!(alpha > 0)) throw ArgumentError(cat("network denoiser: alpha(", t, ") = ", alpha, " must be positive"));
  Coefficients k{0.0, 1.0, 1.0, 0.0f};
  switch (param_.prediction) {
    case Prediction::eps: k.a = 1 / alpha, k.b = -sigma / alpha; break;
    case Prediction::x0: break;
    case Prediction::v: {
      double r = alpha * alpha + sigma * sigma;
      k.a = alpha / r, k.b = -sigma / r;
      break;
    }
    case Prediction::score: k.a = 1 / alpha, k.b = (param_.scale_by_sigma ? sigma : sigma * sigma) / alpha; break;
    case Prediction::edm: {
      if (!(sigma > 0)) throw ArgumentError(cat("network denoiser: edm needs sigma(", t, ") > 0, got ", sigma));
      EdmScalings c = edm_scalings(sigma / alpha, param_.sigma_data);
      k.a = c.c_skip / alpha, k.b = c.c_out, k.s = c.c_in / alpha;
      // c_noise belongs to the alpha = 1 process x_t / alpha; the process's own ln(sigma)/4 only agrees at alpha = 1.
      if (param_.time_input == "edm" && alpha != 1.0) {
        k.net_time = float(c.c_noise);
        return k;
      }
      break;
    }
  }
  k.net_time = float(process_->network_time(t, param_.time_input));
  return k;
}

void NetworkDenoiser::check_batch(const char* name, const Tensor& x, std::int64_t multiple_of) const {
  bool ok = x.rank() == item_shape_.rank() + 1 && x.dim(0) > 0 && x.dim(0) % multiple_of == 0;
  for (int i = 0; ok && i < item_shape_.rank(); ++i) ok = x.dim(i + 1) == item_shape_[i];
  if (!ok)
    throw ShapeError(cat("network denoiser: ", name, " is ", x.str(), ", not a batch of ", item_shape_.str(), " items",
                         multiple_of > 1 ? cat(" in copies of ", multiple_of) : std::string()));
}

void NetworkDenoiser::run(Context& ctx, const Tensor& xt, double t, Tensor& x0, Tensor* variance, Linearization* lin) const {
  expect_tensor(ctx, "network denoiser", "xt", xt);
  expect_tensor(ctx, "network denoiser", "x0", x0);
  check_batch("xt", xt, 1);
  expect_same_shape("network denoiser", "xt", xt, "x0", x0);
  if (variance) expect_same_shape("network denoiser", "xt", xt, "variance", *variance);
  std::int64_t n = xt.dim(0);
  Coefficients k = coefficients(t);
  nn::Conditioning c;
  c.t = {k.net_time};
  c.labels = options_.labels;
  Tensor in = scaled(ctx, xt, k.s);
  Tensor f = Tensor::empty(network_->output_shape(xt.shape()), xt.device());
  if (lin) {
    lin->net = network_->linearize(ctx, in, c, f);
    lin->batch = n, lin->t = t, lin->k = k;
  } else {
    network_->forward(ctx, in, c, f);
  }
  forward_count += n;
  Tensor mean = f;
  if (param_.learned_variance) {
    std::vector<Tensor> parts{Tensor::empty(xt.shape(), xt.device()),
                              variance ? *variance : Tensor::empty(xt.shape(), xt.device())};
    split_channels(ctx, f, parts);
    mean = parts[0];
  }
  combine(ctx, k.a, xt, k.b, mean, x0);
  if (options_.clamp) {
    if (lin) lin->mask = unclamped_mask(ctx, x0);
    clamp_unit(ctx, x0);
  }
}

void NetworkDenoiser::denoise(Context& ctx, const Tensor& xt, double t, Tensor& x0) const {
  run(ctx, xt, t, x0, nullptr, nullptr);
}

std::unique_ptr<DenoiserLinearization> NetworkDenoiser::linearize(Context& ctx, const Tensor& xt, double t, Tensor& x0) const {
  auto lin = std::make_unique<Linearization>();
  run(ctx, xt, t, x0, nullptr, lin.get());
  return lin;
}

void NetworkDenoiser::denoise_with_variance(Context& ctx, const Tensor& xt, double t, Tensor& x0, Tensor& v) const {
  if (!param_.learned_variance) return Denoiser::denoise_with_variance(ctx, xt, t, x0, v);
  expect_tensor(ctx, "network denoiser", "variance", v);
  run(ctx, xt, t, x0, &v, nullptr);
}

void NetworkDenoiser::jvp(Context& ctx, const DenoiserLinearization& lin, const Tensor& v, Tensor& jv) const {
  const Linearization& l = dynamic_cast<const Linearization&>(lin);
  expect_tensor(ctx, "network denoiser", "v", v);
  expect_tensor(ctx, "network denoiser", "jv", jv);
  check_batch("the tangent", v, l.batch);
  expect_same_shape("network denoiser", "v", v, "jv", jv);
  Tensor df = Tensor::empty(network_->output_shape(v.shape()), v.device());
  network_->jvp(ctx, *l.net, scaled(ctx, v, l.k.s), df);  // J_F (s v) = s J_F v
  Tensor dmean = df;
  if (param_.learned_variance) {  // the variance channels are not part of x0
    std::vector<Tensor> parts{Tensor::empty(v.shape(), v.device()), Tensor::empty(v.shape(), v.device())};
    split_channels(ctx, df, parts);
    dmean = parts[0];
  }
  combine(ctx, l.k.a, v, l.k.b, dmean, jv);
  if (options_.clamp) mask_copies(ctx, l.mask, jv);
  jvp_count += v.dim(0);
}

void NetworkDenoiser::vjp(Context& ctx, const DenoiserLinearization& lin, const Tensor& u, Tensor& ju) const {
  const Linearization& l = dynamic_cast<const Linearization&>(lin);
  expect_tensor(ctx, "network denoiser", "u", u);
  expect_tensor(ctx, "network denoiser", "ju", ju);
  check_batch("the cotangent", u, l.batch);
  expect_same_shape("network denoiser", "u", u, "ju", ju);
  Tensor mu = u;  // M u: the clip's Jacobian is diagonal, so it acts first in J^T M
  if (options_.clamp) {
    mu = u.clone();
    mask_copies(ctx, l.mask, mu);
  }
  // The network takes one cotangent per linearized item: one pass per copy.
  std::int64_t n = l.batch;
  Tensor g = Tensor::empty(u.shape(), u.device());
  for (std::int64_t j = 0; j < u.dim(0) / n; ++j) {
    Tensor gy = mu.slice(j * n, n), gx = g.slice(j * n, n);
    if (param_.learned_variance) {  // zero cotangent on the variance channels
      Tensor full = Tensor::empty(network_->output_shape(gy.shape()), u.device());
      concat_channels(ctx, {gy, Tensor::zeros(gy.shape(), u.device())}, full);
      gy = full;
    }
    network_->vjp(ctx, *l.net, gy, gx, false);
  }
  combine(ctx, l.k.a, mu, l.k.b * l.k.s, g, ju);
  vjp_count += u.dim(0);
}

}  // namespace tweedie::samplers
