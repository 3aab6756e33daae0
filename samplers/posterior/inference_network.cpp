#include "samplers/posterior/inference_network.h"

#include <nlohmann/json.hpp>

#include "nn/mlp.h"
#include "runtime/error.h"

namespace tweedie::samplers {
namespace {

const char* family_name(CountFamily f) { return f == CountFamily::poisson ? "poisson" : "binomial"; }
const char* count_link_name(CountLink l) { return l == CountLink::exp ? "exp" : l == CountLink::softplus ? "softplus" : "sigmoid"; }

}  // namespace

std::string InferenceSpec::to_json() const {
  std::vector<std::int64_t> dims(item.dims().begin(), item.dims().end());
  return nlohmann::json{{"family", family_name(law.family)}, {"link", count_link_name(law.link)}, {"scale", law.scale},
                        {"process", process}, {"item_shape", dims}, {"outputs", outputs},
                        {"operator", operator_description}, {"noise", noise_description}}
      .dump();
}

InferenceSpec InferenceSpec::from_json(const std::string& text, const std::string& where) {
  InferenceSpec s;
  try {
    nlohmann::json j = nlohmann::json::parse(text);
    const std::string family = j.at("family").get<std::string>(), link = j.at("link").get<std::string>();
    if (family != "poisson" && family != "binomial") throw ArgumentError(cat("family '", family, "'"));
    s.law.family = family == "poisson" ? CountFamily::poisson : CountFamily::binomial;
    if (link == "exp") s.law.link = CountLink::exp;
    else if (link == "softplus") s.law.link = CountLink::softplus;
    else if (link == "sigmoid") s.law.link = CountLink::sigmoid;
    else throw ArgumentError(cat("link '", link, "'"));
    s.law.scale = j.at("scale").get<double>();
    s.process = j.at("process").get<std::string>();
    std::vector<std::int64_t> dims = j.at("item_shape").get<std::vector<std::int64_t>>();
    s.item = Shape(std::span<const std::int64_t>(dims));
    s.outputs = j.at("outputs").get<std::int64_t>();
    s.operator_description = j.value("operator", std::string());
    s.noise_description = j.value("noise", std::string());
  } catch (const std::exception& e) {
    throw ArgumentError(cat(where, ": the attribute 'inference' is not a valid inference-network description (", e.what(), ")"));
  }
  if (s.outputs < 1 || s.item.numel() < 1) throw ArgumentError(cat(where, ": the attribute 'inference' has no outputs or items"));
  return s;
}

InferenceNetwork::InferenceNetwork(std::shared_ptr<nn::Network> network, InferenceSpec spec, const std::string& where)
    : network_(std::move(network)), spec_(std::move(spec)), process_(process_from_spec(spec_.process, where + ": process")) {
  if (network_->architecture() != "mlp")
    throw ArgumentError(cat(where, ": inference networks are MLPs, not '", network_->architecture(), "'"));
  const nn::MlpConfig c = nn::MlpConfig::from_json(network_->config_json(), where);
  if (c.dim != spec_.item.numel() || c.outputs() != 2 * spec_.outputs)
    throw ArgumentError(cat(where, ": the MLP maps ", c.dim, " inputs to ", c.outputs(), " outputs, but an inference network for items ",
                            spec_.item.str(), " and ", spec_.outputs, " measured entries needs ", spec_.item.numel(), " to ",
                            2 * spec_.outputs));
}

nn::Conditioning InferenceNetwork::conditioning(std::int64_t n, const std::vector<double>& t) const {
  if (t.size() != 1 && std::int64_t(t.size()) != n)
    throw ArgumentError(cat("inference network: ", t.size(), " times for ", n, " items"));
  nn::Conditioning c;
  for (std::int64_t i = 0; i < n; ++i) c.t.push_back(float(999.0 * t[t.size() == 1 ? 0 : std::size_t(i)]));
  return c;
}

void InferenceNetwork::forward(Context& ctx, const Tensor& xt, const std::vector<double>& t, Tensor& raw) const {
  const std::int64_t n = xt.dim(0);
  Tensor flat = raw.reshape({n, 2 * spec_.outputs});
  network_->forward(ctx, xt.reshape({n, spec_.item.numel()}), conditioning(n, t), flat);
}

std::unique_ptr<nn::Linearization> InferenceNetwork::linearize(Context& ctx, const Tensor& xt, const std::vector<double>& t,
                                                               Tensor& raw) const {
  const std::int64_t n = xt.dim(0);
  Tensor flat = raw.reshape({n, 2 * spec_.outputs});
  return network_->linearize(ctx, xt.reshape({n, spec_.item.numel()}), conditioning(n, t), flat);
}

void InferenceNetwork::vjp(Context& ctx, const nn::Linearization& lin, const Tensor& g_raw, Tensor& g_xt, bool param_grads) const {
  const std::int64_t n = g_xt.dim(0);
  Tensor gx = g_xt.reshape({n, spec_.item.numel()});
  network_->vjp(ctx, lin, g_raw.reshape({n, 2 * spec_.outputs}), gx, param_grads);
}

void InferenceNetwork::check_problem(const Shape& item, const Operator& op, const NoiseModel& noise, const std::string& where) const {
  CountModel count;
  if (!noise.count_model(count))
    throw ArgumentError(cat(where, ": an inference network serves count data, not ", noise.describe()));
  if (!(item == spec_.item))
    throw ArgumentError(cat(where, ": trained for items ", spec_.item.str(), ", but the prior's items are ", item.str()));
  if (op.output().shape.numel() != spec_.outputs || op.output().dtype != DType::f32)
    throw ArgumentError(cat(where, ": trained for ", spec_.outputs, " measured entries (", spec_.operator_description, "), but the operator '",
                            op.describe(), "' has ", op.output().shape.numel()));
  if (count.law.family != spec_.law.family || count.law.link != spec_.law.link || std::abs(count.law.scale - spec_.law.scale) > 1e-9 * spec_.law.scale)
    throw ArgumentError(cat(where, ": trained for ", spec_.noise_description, " (", family_name(spec_.law.family), ", link ",
                            count_link_name(spec_.law.link), ", scale ", spec_.law.scale, "), but the data are ", noise.describe()));
}

}  // namespace tweedie::samplers
