#include "io/inference_file.h"

#include "io/model_file.h"
#include "runtime/error.h"

namespace tweedie {

void save_inference_network(samplers::InferenceNetwork& network, const std::string& path, StoredAs stored) {
  save_model(network.network(), path, stored, "", network.spec().to_json());
}

std::shared_ptr<samplers::InferenceNetwork> load_inference_network(const std::string& path, Device device) {
  std::string inference;
  {
    H5File file = H5File::open(path);
    inference = read_model_info(file).inference;
  }
  if (inference.empty())
    throw ArgumentError(cat(path, ": not an inference network (no root attribute 'inference'); train one with tweedie train --objective conjugate"));
  samplers::InferenceSpec spec = samplers::InferenceSpec::from_json(inference, path);
  std::shared_ptr<nn::Network> net = load_model(path, device);
  return std::make_shared<samplers::InferenceNetwork>(std::move(net), std::move(spec), path);
}

}  // namespace tweedie
