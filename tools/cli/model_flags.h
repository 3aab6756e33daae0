#pragma once
// The flags that say which network to build and what it predicts, shared by `tweedie convert` and
// `tweedie train`: --arch, guided-diffusion's model flags (adm) or the MLP's, a guided-diffusion / DPS
// config file, and the diffusion flags recorded as the model file's `diffusion` attribute
// (io/FORMAT.md).
#include <CLI/CLI.hpp>

#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "runtime/context.h"
#include "samplers/network_denoiser.h"

namespace tweedie::cli {

struct DiffusionFlags {
  std::string param, schedule, time_input;
  std::int64_t timesteps = 1000;
  double beta_start = NAN, beta_end = NAN, beta_min = 0.1, beta_max = 20, cosine_s = 0.008;
  double sigma_min = NAN, sigma_max = NAN, sigma_data = 0.5, rho = 7;
  bool scale_by_sigma = false;
};

struct ModelFlags {
  std::string arch = "adm", config;
  std::map<std::string, std::string> model;  // model flags given on the command line
  DiffusionFlags diffusion;
  std::vector<CLI::Option*> diffusion_options;

  // Registers --arch, --config, the model flags and the diffusion flags on `cmd`.
  void add_to(CLI::App* cmd);
  // After parsing: keeps only the model flags actually given, so that defaults come from one place.
  void keep_given(CLI::App* cmd);
  bool any_given() const;        // any of these flags or a config file given
  bool diffusion_given() const;  // any of the diffusion flags given

  // The architecture ("adm-unet", "mlp") and its JSON config from the flags and the config file;
  // whether the network predicts a variance too. ArgumentError naming the flag.
  std::string model_config(std::string* architecture, bool* learned_variance);
  // The `diffusion` attribute, or "" when nothing was stated and the architecture has no default
  // (adm: guided-diffusion's eps on the linear 1000-step table).
  std::string diffusion_json(const std::string& architecture, bool learned_variance) const;
};

// The network a training run starts from, and the diffusion description it is trained for: new from the
// model flags with PyTorch's initialisation drawn from `seed`, or a model file's (`init`: fine-tuning,
// and then the model flags are refused). `what` names the origin in messages ("tweedie train").
struct StartingNetwork {
  std::shared_ptr<samplers::NetworkDenoiser> denoiser;
  std::string diffusion;
};
StartingNetwork starting_network(ModelFlags& flags, const std::string& init, Context& ctx, Device device, std::uint64_t seed,
                                 const std::string& what);

// The training time sampling a model gets by default: "edm" (log-normal noise levels) for EDM models,
// "uniform" otherwise.
std::string default_time_sampling(const std::string& diffusion_json);

}  // namespace tweedie::cli
