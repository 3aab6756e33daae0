#pragma once
// Inference networks of the evidence trick as model files: the MLP's weights like any model file, plus
// the root attribute `inference` (io/FORMAT.md) that ties them to their problem.
#include <memory>
#include <string>

#include "io/hdf5_file.h"
#include "samplers/posterior/inference_network.h"

namespace tweedie {

void save_inference_network(samplers::InferenceNetwork& network, const std::string& path, StoredAs stored = StoredAs::f32);
// IoError / ArgumentError naming the file: not a model file, no `inference` attribute (a denoiser), an
// invalid description, an MLP that does not fit it.
std::shared_ptr<samplers::InferenceNetwork> load_inference_network(const std::string& path, Device device = Device::cpu());

}  // namespace tweedie
