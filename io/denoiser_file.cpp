#include "io/denoiser_file.h"

#include <nlohmann/json.hpp>

#include "io/hdf5_file.h"
#include "io/model_file.h"
#include "io/prior_file.h"
#include "runtime/error.h"
#include "samplers/network_denoiser.h"
#include "samplers/process_change_denoiser.h"

namespace tweedie {
namespace {

std::unique_ptr<samplers::Denoiser> network_denoiser(const std::string& path, const ModelFileInfo& info,
                                                     const DenoiserOptions& options, Device device) {
  if (!info.inference.empty())
    throw ArgumentError(cat(path, ": this is an inference network (hyperparameters of the evidence trick), not a prior; ",
                            "give it to solve as --inference-net"));
  // A model file that records its schedule keeps it: the network is evaluated at its own times, and
  // --process, when given, is the process the run follows (samplers/process_change_denoiser.h).
  nlohmann::json diffusion = nlohmann::json::parse(info.diffusion, nullptr, /*allow_exceptions=*/false);
  if (options.process_spec.empty() || !diffusion.is_object() || !diffusion.contains("schedule"))
    return make_network_denoiser(load_model(path, device), info.diffusion, path, options);
  DenoiserOptions own = options;
  own.process_spec.clear();
  std::shared_ptr<samplers::Denoiser> trained = make_network_denoiser(load_model(path, device), info.diffusion, path, own);
  return samplers::make_process_change_denoiser(std::move(trained), samplers::process_from_spec(options.process_spec, "--process"));
}

}  // namespace

std::unique_ptr<samplers::NetworkDenoiser> make_network_denoiser(std::unique_ptr<nn::Network> network, const std::string& diffusion_json,
                                                                 const std::string& where, const DenoiserOptions& options) {
  if (diffusion_json.empty())
    throw IoError(cat(where, ": the model file does not say what the network predicts or for which diffusion; ",
                      "convert it with tweedie convert --param ... --schedule ..."));
  nlohmann::json diffusion;
  try {
    diffusion = nlohmann::json::parse(diffusion_json);
  } catch (const nlohmann::json::exception& e) {
    throw IoError(cat(where, ": attribute 'diffusion' is not valid JSON (", e.what(), ")"));
  }
  std::unique_ptr<samplers::Process> process;
  if (!options.process_spec.empty()) process = samplers::process_from_spec(options.process_spec, "--process");
  else if (diffusion.is_object() && diffusion.contains("schedule")) process = samplers::process_from_json(diffusion["schedule"].dump(), where + ": diffusion.schedule");
  else throw IoError(cat(where, ": attribute 'diffusion' has no schedule; pass --process"));
  samplers::Parameterisation p = samplers::parameterisation_from_json(diffusion_json, where + ": diffusion");
  samplers::NetworkDenoiserOptions o;
  o.labels = options.labels;
  o.clamp = options.clamp;
  return std::make_unique<samplers::NetworkDenoiser>(std::move(network), std::move(process), p, o);
}

std::unique_ptr<samplers::Denoiser> load_denoiser(const std::string& path, const DenoiserOptions& options, Device device) {
  std::string format;
  {
    H5File file = H5File::open(path);
    if (!file.has_attribute("", "format"))
      throw IoError(cat(path, ": neither a tweedie model file nor a prior file (no root attribute 'format')"));
    format = file.string_attribute("", "format");
    if (format == kModelFormat) return network_denoiser(path, read_model_info(file), options, device);
  }
  if (format == "tweedie-prior") {
    if (options.process_spec.empty())
      throw ArgumentError(cat(path, ": an exact prior needs a noising process: pass --process (vp, ve, edm, ...)"));
    if (!options.labels.empty()) throw ArgumentError(cat(path, ": labels given, but an exact prior is not class-conditional"));
    return load_prior(path, samplers::process_from_spec(options.process_spec, "--process"), device);
  }
  throw IoError(cat(path, ": unknown file format '", format, "' (expected tweedie-model or tweedie-prior)"));
}

}  // namespace tweedie
