// `tweedie convert`: a PyTorch / safetensors / NumPy checkpoint to a tweedie model file, no Python
// needed. The model config comes from guided-diffusion-style flags and/or the config file users
// already have; the diffusion the model was trained with is recorded so that samplers need no flags.
#include <nlohmann/json.hpp>

#include <cmath>
#include <iostream>

#include "cli/commands.h"
#include "cli/config_file.h"
#include "io/weight_import.h"
#include "nn/mlp.h"
#include "nn/unet_config.h"
#include "runtime/error.h"

namespace tweedie::cli {
namespace {

using nlohmann::json;

const std::vector<std::string> kMlpFlags = {"dim", "hidden", "depth", "emb_dim"};
// Settings in guided-diffusion / DPS config files that say how to train or sample, not what the
// network is; they are accepted and ignored.
const std::vector<std::string> kIgnoredSettings = {
    "use_fp16", "use_checkpoint", "model_path", "timestep_respacing", "rescale_timesteps", "use_kl",
    "rescale_learned_sigmas", "sampler", "clip_denoised", "dynamic_threshold", "batch_size", "num_samples",
    "model_var_type", "loss_type", "sigma_small"};

struct DiffusionFlags {
  std::string param, schedule, time_input;
  std::int64_t timesteps = 1000;
  double beta_start = NAN, beta_end = NAN, beta_min = 0.1, beta_max = 20, cosine_s = 0.008;
  double sigma_min = NAN, sigma_max = NAN, sigma_data = 0.5, rho = 7;
  bool scale_by_sigma = false;
};

struct ConvertFlags {
  std::string input, output, arch = "adm", config, key, dtype = "keep", nan = "error";
  std::map<std::string, std::string> model;  // model flags given on the command line
  DiffusionFlags diffusion;
  std::vector<CLI::Option*> diffusion_options;
};

bool contains(const std::vector<std::string>& list, const std::string& s) {
  return std::find(list.begin(), list.end(), s) != list.end();
}

bool given(const ConvertFlags& f, const char* name) {
  for (const CLI::Option* o : f.diffusion_options)
    if (o->get_name() == name) return o->count() > 0;
  return false;
}

// The config file's settings, sorted into model flags and diffusion settings (the rest ignored,
// unknown ones reported).
void apply_config_file(ConvertFlags& f, const std::vector<std::string>& model_keys) {
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
      std::cerr << "tweedie convert: note: " << f.config << ": ignoring unknown setting '" << key << "'\n";
    }
  }
}

std::string model_config(ConvertFlags& f, std::string* architecture, bool* learned_variance) {
  if (f.arch == "adm" || f.arch == "adm-unet") {
    apply_config_file(f, nn::UNetConfig::guided_diffusion_flags());
    nn::UNetConfig c = nn::UNetConfig::from_guided_diffusion(f.model, "convert --arch adm");
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
    nn::MlpConfig::from_json(j.dump(), "convert --arch mlp").validate("convert --arch mlp");
    *architecture = "mlp";
    *learned_variance = false;
    return j.dump();
  }
  throw ArgumentError(cat("--arch: unknown architecture '", f.arch, "' (known: adm, mlp)"));
}

void require(bool ok, const std::string& message) {
  if (!ok) throw ArgumentError(message);
}

// The root attribute `diffusion` (io/FORMAT.md), or "" when the user stated nothing and the
// architecture has no conventional default.
std::string diffusion_json(const ConvertFlags& f, const std::string& architecture, bool learned_variance) {
  DiffusionFlags d = f.diffusion;
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

const char* stored_name(StoredAs s) { return s == StoredAs::f16 ? "f16" : s == StoredAs::bf16 ? "bf16" : "f32"; }

void run_convert(ConvertFlags& f) {
  ImportOptions o;
  bool learned_variance = false;
  o.config_json = model_config(f, &o.architecture, &learned_variance);
  o.diffusion_json = diffusion_json(f, o.architecture, learned_variance);
  o.key = f.key;
  if (f.dtype == "keep") o.precision = ImportPrecision::keep;
  else if (f.dtype == "f32") o.precision = ImportPrecision::f32;
  else if (f.dtype == "f16") o.precision = ImportPrecision::f16;
  else if (f.dtype == "bf16") o.precision = ImportPrecision::bf16;
  else throw ArgumentError(cat("--dtype: '", f.dtype, "' is not keep, f32, f16 or bf16"));
  if (f.nan == "error") o.nan = NanPolicy::error;
  else if (f.nan == "warn") o.nan = NanPolicy::warn;
  else throw ArgumentError(cat("--nan: '", f.nan, "' is not error or warn"));

  ImportReport r = import_checkpoint(f.input, f.output, o);
  for (const std::string& w : r.warnings) std::cerr << "tweedie convert: warning: " << w << "\n";
  std::cout << "converted " << r.tensors << " tensors (" << r.parameters << " parameters) from " << f.input;
  if (!r.chosen_key.empty()) std::cout << " [" << r.chosen_key << "]";
  if (!r.stripped_prefix.empty()) std::cout << ", prefix '" << r.stripped_prefix << "' removed";
  std::cout << "\n  to " << f.output << ": " << o.architecture << ", stored " << stored_name(r.stored) << "\n";
  if (!o.diffusion_json.empty()) std::cout << "  diffusion " << o.diffusion_json << "\n";
}

}  // namespace

void add_convert_command(CLI::App& app) {
  auto f = std::make_shared<ConvertFlags>();
  auto* cmd = app.add_subcommand("convert", "Convert a PyTorch (.pt/.pth), safetensors or NumPy (.npz) checkpoint to a tweedie model file");
  cmd->add_option("input", f->input, "Checkpoint file (format detected from its contents)")->required();
  cmd->add_option("-o,--output", f->output, "Output model file (HDF5)")->required();
  cmd->add_option("--arch", f->arch, "Architecture: adm (guided-diffusion UNetModel) or mlp")->capture_default_str();
  cmd->add_option("--config", f->config, "guided-diffusion/DPS model config (flat YAML or JSON); flags override it");
  cmd->add_option("--key", f->key, "Nested dict to convert, e.g. ema or model (levels joined by /)");
  cmd->add_option("--dtype", f->dtype, "Stored precision: keep (16-bit stays 16-bit, else f32), f32, f16, bf16")->capture_default_str();
  cmd->add_option("--nan", f->nan, "NaN or infinite weights: error, or warn and convert")->capture_default_str();

  auto* model = cmd->add_option_group("model", "Model flags, named and defaulted as guided-diffusion's script_util");
  for (const std::string& name : nn::UNetConfig::guided_diffusion_flags())
    model->add_option("--" + name, f->model[name])->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  for (const std::string& name : kMlpFlags)
    model->add_option("--" + name, f->model[name], "mlp only")->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);

  auto* d = cmd->add_option_group("diffusion", "What the network predicts and for which diffusion (recorded in the file)");
  DiffusionFlags& df = f->diffusion;
  f->diffusion_options = {
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
  cmd->callback([f, cmd] {
    // Keep only the model flags actually given, so that defaults come from one place.
    std::map<std::string, std::string> given_flags;
    for (const auto& [name, value] : f->model)
      if (cmd->get_option_no_throw("--" + name) && cmd->get_option("--" + name)->count() > 0) given_flags[name] = value;
    f->model = given_flags;
    run_convert(*f);
  });
}

}  // namespace tweedie::cli
