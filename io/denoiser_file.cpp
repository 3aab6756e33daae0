#include "io/denoiser_file.h"

#include <nlohmann/json.hpp>

#include "io/hdf5_file.h"
#include "io/model_file.h"
#include "io/prior_file.h"
#include "runtime/error.h"
#include "samplers/network_denoiser.h"

namespace tweedie {
namespace {

std::unique_ptr<samplers::Denoiser> network_denoiser(const std::string& path, const ModelFileInfo& info,
                                                     const DenoiserOptions& options, Device device) {
  if (info.diffusion.empty())
    throw IoError(cat(path, ": the model file does not say what the network predicts or for which diffusion; ",
                      "convert it with tweedie convert --param ... --schedule ..."));
  nlohmann::json diffusion;
  try {
    diffusion = nlohmann::json::parse(info.diffusion);
  } catch (const nlohmann::json::exception& e) {
    throw IoError(cat(path, ": attribute 'diffusion' is not valid JSON (", e.what(), ")"));
  }
  std::unique_ptr<samplers::Process> process;
  if (!options.process_spec.empty()) process = samplers::process_from_spec(options.process_spec, "--process");
  else if (diffusion.contains("schedule")) process = samplers::process_from_json(diffusion["schedule"].dump(), path + ": diffusion.schedule");
  else throw IoError(cat(path, ": attribute 'diffusion' has no schedule; pass --process"));
  samplers::Parameterisation p = samplers::parameterisation_from_json(info.diffusion, path + ": diffusion");
  samplers::NetworkDenoiserOptions o;
  o.labels = options.labels;
  o.clamp = options.clamp;
  return std::make_unique<samplers::NetworkDenoiser>(load_model(path, device), std::move(process), p, o);
}

}  // namespace

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
