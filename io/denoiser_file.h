#pragma once
// A denoiser from a file: a tweedie model file (network + the parameterisation and process in its
// `diffusion` attribute) or an exact prior file (Gaussian or Gaussian mixture, io/FORMAT.md), told
// apart by the root attribute `format`.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "samplers/denoiser.h"
#include "samplers/network_denoiser.h"

namespace tweedie {

struct DenoiserOptions {
  // The process ("vp", "ve:sigma_max=50", ...; samplers/process.h). Required for exact priors, which
  // carry none. For a model file that records its schedule, the process to run under: the network is
  // still evaluated at its own times, at the same noise level (samplers/process_change_denoiser.h);
  // for one that records none, the schedule it was trained with.
  std::string process_spec;
  std::vector<std::int64_t> labels;  // class labels for class-conditional models: one, or one per sample
  bool clamp = false;                // clip E[x | x_t] to [-1, 1] (guided-diffusion's clip_denoised)
};

std::unique_ptr<samplers::Denoiser> load_denoiser(const std::string& path, const DenoiserOptions& options, Device device);

// A network as the denoiser its diffusion description (a model file's `diffusion` attribute,
// io/FORMAT.md) makes of it; `where` names the origin in errors.
std::unique_ptr<samplers::NetworkDenoiser> make_network_denoiser(std::unique_ptr<nn::Network> network, const std::string& diffusion_json,
                                                                 const std::string& where, const DenoiserOptions& options = {});

}  // namespace tweedie
