#include "cli/model_flags.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <iostream>

#include "cli/config_file.h"
#include "io/denoiser_file.h"
#include "io/hdf5_file.h"
#include "io/model_file.h"
#include "nn/init.h"
#include "nn/mlp.h"
#include "nn/registry.h"
#include "nn/unet_config.h"
#include "runtime/error.h"

namespace tweedie::cli {
namespace {

using nlohmann::json;

void require(bool ok, const std::string& message) {
  if (!ok) throw ArgumentError(message);
}

const std::vector<std::string> kMlpFlags = {"dim", "hidden", "depth", "emb_dim"};
// Settings in guided-diffusion / DPS config files that say how to train or sample, not what the
// network is; they are accepted and ignored.
const std::vector<std::string> kIgnoredSettings = {
    "use_fp16", "use_checkpoint", "model_path", "timestep_respacing", "rescale_timesteps", "use_kl",
    "rescale_learned_sigmas", "sampler", "clip_denoised", "dynamic_threshold", "batch_size", "num_samples",
    "model_var_type", "loss_type", "sigma_small"};

bool contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

bool given(const ModelFlags& f, const char* name) {
  for (const CLI::Option* o : f.diffusion_options)
    if (o->get_name() == name) return o->count() > 0;
  return false;
}

// The config file's settings, sorted into model flags and diffusion settings (the rest ignored,
// unknown ones reported).
void apply_config_file(ModelFlags& f, const std::vector<std::string>& model_keys) {
  if (f.config.empty()) return;
  for (const auto& [key, value] : read_config_file(f.config)) {
    // Command-line flags win over the file.
    if (contains(model_keys, key)) {
      f.model.emplace(key, value);
    } else if (key == "diffusion_steps" || key == "steps") {
      if (!given(f, "--timesteps")) {
        try {
          f.diffusion.timesteps = std::stoll(value);
        } catch (const std::exception&) {
          throw ArgumentError(cat(f.config, ": ", key, " '", value, "' is not an integer"));
        }
      }
    } else if (key == "noise_schedule") {
      if (!given(f, "--schedule")) f.diffusion.schedule = value;
    } else if (key == "predict_xstart") {
      if (!given(f, "--param") && (value == "true" || value == "True")) f.diffusion.param = "x0";
    } else if (key == "model_mean_type") {
      if (given(f, "--param")) continue;
      if (value == "epsilon") f.diffusion.param = "eps";
      else if (value == "start_x") f.diffusion.param = "x0";
      else throw ArgumentError(cat(f.config, ": model_mean_type '", value, "' is not epsilon or start_x"));
    } else if (!contains(kIgnoredSettings, key)) {
      std::cerr << "tweedie: note: " << f.config << ": ignoring unknown setting '" << key << "'\n";
    }
  }
}

}  // namespace

std::string ModelFlags::model_config(std::string* architecture, bool* learned_variance) {
  ModelFlags& f = *this;
  if (f.arch == "adm" || f.arch == "adm-unet") {
    apply_config_file(f, nn::UNetConfig::guided_diffusion_flags());
    nn::UNetConfig c = nn::UNetConfig::from_guided_diffusion(f.model, "--arch adm");
    *architecture = "adm-unet";
    *learned_variance = c.out_channels == 2 * c.in_channels;
    return c.to_json();
  }
  if (f.arch == "mlp") {
    apply_config_file(f, kMlpFlags);
    json j = {{"dim", 2}, {"hidden", 128}, {"depth", 3}, {"emb_dim", 32}};
    for (const auto& [key, value] : f.model) {
      if (!contains(kMlpFlags, key)) throw ArgumentError(cat("--", key, " is an ADM flag; the mlp takes --dim --hidden --depth --emb_dim"));
      try {
        j[key] = std::stoll(value);
      } catch (const std::exception&) {
        throw ArgumentError(cat("--", key, ": '", value, "' is not an integer"));
      }
    }
    nn::MlpConfig::from_json(j.dump(), "--arch mlp").validate("--arch mlp");
    *architecture = "mlp";
    *learned_variance = false;
    return j.dump();
  }
  throw ArgumentError(cat("--arch: unknown architecture '", f.arch, "' (known: adm, mlp)"));
}


// The root attribute `diffusion` (io/FORMAT.md), or "" when the user stated nothing and the
// architecture has no conventional default.
std::string ModelFlags::diffusion_json(const std::string& architecture, bool learned_variance) const {
  DiffusionFlags d = diffusion;
  if (architecture == "adm-unet") {  // guided-diffusion's defaults
    if (d.param.empty()) d.param = "eps";
    if (d.schedule.empty()) d.schedule = "linear";
  }
  if (d.param.empty() && d.schedule.empty()) return "";
  require(!d.param.empty(), "--param: say what the network predicts (eps, x0, v, score or edm) alongside --schedule");
  require(!d.schedule.empty(), "--schedule: say which diffusion the network was trained for (linear, cosine, vp, ve, edm)");
  require(contains({"eps", "x0", "v", "score", "edm"}, d.param), cat("--param: '", d.param, "' is not eps, x0, v, score or edm"));
  json s = {{"kind", d.schedule}};
  std::string time_input;
  if (d.schedule == "linear" || d.schedule == "cosine") {
    require(d.timesteps >= 2, cat("--timesteps: ", d.timesteps, " (need at least 2)"));
    s["timesteps"] = d.timesteps;
    if (d.schedule == "linear") {
      // guided-diffusion scales the 1000-step betas to other step counts.
      double scale = 1000.0 / double(d.timesteps);
      double b0 = std::isnan(d.beta_start) ? 1e-4 * scale : d.beta_start, b1 = std::isnan(d.beta_end) ? 0.02 * scale : d.beta_end;
      require(0 < b0 && b0 < b1 && b1 < 1, cat("--beta-start/--beta-end: need 0 < ", b0, " < ", b1, " < 1"));
      s["beta_start"] = b0, s["beta_end"] = b1;
    } else {
      require(d.cosine_s > 0, "--cosine-s must be positive");
      s["s"] = d.cosine_s;
    }
    time_input = "index";
  } else if (d.schedule == "vp" || d.schedule == "subvp") {
    require(0 < d.beta_min && d.beta_min < d.beta_max, cat("--beta-min/--beta-max: need 0 < ", d.beta_min, " < ", d.beta_max));
    s["beta_min"] = d.beta_min, s["beta_max"] = d.beta_max;
    time_input = "999t";
  } else if (d.schedule == "ve" || d.schedule == "edm") {
    bool ve = d.schedule == "ve";
    double lo = std::isnan(d.sigma_min) ? (ve ? 0.01 : 0.002) : d.sigma_min, hi = std::isnan(d.sigma_max) ? (ve ? 50.0 : 80.0) : d.sigma_max;
    require(0 < lo && lo < hi, cat("--sigma-min/--sigma-max: need 0 < ", lo, " < ", hi));
    s["sigma_min"] = lo, s["sigma_max"] = hi;
    if (!ve) {
      require(d.sigma_data > 0 && d.rho > 0, "--sigma-data and --rho must be positive");
      s["sigma_data"] = d.sigma_data, s["rho"] = d.rho;
    }
    time_input = ve ? "sigma" : "edm";
  } else {
    throw ArgumentError(cat("--schedule: '", d.schedule, "' is not linear, cosine, vp, subvp, ve or edm"));
  }
  if (!d.time_input.empty()) {
    require(contains({"index", "999t", "t", "sigma", "log-sigma", "edm"}, d.time_input),
            cat("--time-input: '", d.time_input, "' is not index, 999t, t, sigma, log-sigma or edm"));
    time_input = d.time_input;
  }
  json j = {{"parameterization", d.param}, {"schedule", s}, {"time_input", time_input},
            {"learned_variance", learned_variance && d.param == "eps"}};
  if (d.param == "score") j["scale_by_sigma"] = d.scale_by_sigma;
  if (d.param == "edm") {
    if (d.time_input.empty()) j["time_input"] = "edm";
    j["sigma_data"] = d.sigma_data;
  }
  return j.dump();
}

void ModelFlags::add_to(CLI::App* cmd) {
  cmd->add_option("--arch", arch, "Architecture: adm (guided-diffusion UNetModel) or mlp")->capture_default_str();
  cmd->add_option("--config", config, "guided-diffusion/DPS model config (flat YAML or JSON); flags override it");
  auto* group = cmd->add_option_group("model", "Model flags, named and defaulted as guided-diffusion's script_util");
  for (const std::string& name : nn::UNetConfig::guided_diffusion_flags())
    group->add_option("--" + name, model[name])->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  for (const std::string& name : kMlpFlags)
    group->add_option("--" + name, model[name], "mlp only")->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);

  auto* d = cmd->add_option_group("diffusion", "What the network predicts and for which diffusion (recorded in the model file)");
  DiffusionFlags& df = diffusion;
  diffusion_options = {
      d->add_option("--param", df.param, "eps, x0, v, score, or edm (Karras preconditioning) (adm default: eps)"),
      d->add_option("--schedule", df.schedule, "linear, cosine (discrete tables), vp, subvp, ve, edm (adm default: linear)"),
      d->add_option("--timesteps,--diffusion_steps", df.timesteps, "Discrete steps (linear, cosine)")->capture_default_str(),
      d->add_option("--beta-start", df.beta_start, "linear: first beta (default 1e-4 x 1000/timesteps)"),
      d->add_option("--beta-end", df.beta_end, "linear: last beta (default 0.02 x 1000/timesteps)"),
      d->add_option("--cosine-s", df.cosine_s, "cosine: offset s")->capture_default_str(),
      d->add_option("--beta-min", df.beta_min, "vp: beta(0)")->capture_default_str(),
      d->add_option("--beta-max", df.beta_max, "vp: beta(1)")->capture_default_str(),
      d->add_option("--sigma-min", df.sigma_min, "ve / edm: smallest sigma (default 0.01 / 0.002)"),
      d->add_option("--sigma-max", df.sigma_max, "ve / edm: largest sigma (default 50 / 80)"),
      d->add_option("--sigma-data", df.sigma_data, "edm schedule or edm parameterisation: data standard deviation")->capture_default_str(),
      d->add_option("--rho", df.rho, "edm: time-step exponent")->capture_default_str(),
      d->add_option("--time-input", df.time_input, "What the network's time input is: index, 999t, t, sigma, log-sigma, edm"),
      d->add_flag("--scale-by-sigma", df.scale_by_sigma, "score: the network output is divided by sigma (score_sde)")};
}

void ModelFlags::keep_given(CLI::App* cmd) {
  std::map<std::string, std::string> given_flags;
  for (const auto& [name, value] : model)
    if (cmd->get_option_no_throw("--" + name) && cmd->get_option("--" + name)->count() > 0) given_flags[name] = value;
  model = given_flags;
}

bool ModelFlags::diffusion_given() const {
  for (const CLI::Option* o : diffusion_options)
    if (o->count() > 0) return true;
  return false;
}

bool ModelFlags::any_given() const { return !config.empty() || !model.empty() || diffusion_given(); }

StartingNetwork starting_network(ModelFlags& flags, const std::string& init, Context& ctx, Device device, std::uint64_t seed,
                                 const std::string& what) {
  StartingNetwork n;
  std::unique_ptr<nn::Network> net;
  if (!init.empty()) {
    if (!flags.config.empty() || !flags.model.empty())
      throw ArgumentError("--init: the network comes from the model file; drop the model flags and --config");
    H5File file = H5File::open(init);
    ModelFileInfo info = read_model_info(file);
    n.diffusion = flags.diffusion_given() ? flags.diffusion_json(info.architecture, false) : info.diffusion;
    if (n.diffusion.empty()) throw ArgumentError(cat("--init ", init, " records no diffusion; give --param and --schedule"));
    net = load_model(init, device);
  } else {
    std::string architecture;
    bool learned_variance = false;
    std::string config = flags.model_config(&architecture, &learned_variance);
    n.diffusion = flags.diffusion_json(architecture, learned_variance);
    if (n.diffusion.empty()) throw ArgumentError("--param and --schedule: say what the network predicts and for which diffusion (e.g. --param eps --schedule vp)");
    net = nn::make_network(architecture, config, device, "--arch " + flags.arch);
    nn::initialize_parameters(ctx, *net, seed);
  }
  if (nlohmann::json::parse(net->config_json()).value("dropout", 0.0) > 0)
    std::cerr << what << ": note: the config's dropout is recorded but not applied; training runs without dropout\n";
  n.denoiser = make_network_denoiser(std::move(net), n.diffusion, init.empty() ? what : init);
  return n;
}

std::string default_time_sampling(const std::string& diffusion_json) {
  nlohmann::json d = nlohmann::json::parse(diffusion_json);
  const bool edm = d.value("parameterization", "") == "edm" || (d.contains("schedule") && d["schedule"].value("kind", "") == "edm");
  return edm ? "edm" : "uniform";
}

}  // namespace tweedie::cli
