#pragma once
// tweedie model files (io/FORMAT.md): an HDF5 file whose root attributes name the architecture and its
// JSON config, with one dataset per parameter under /parameters. Loading builds the network from the
// config and checks the file against it: every shape, every missing and every unexpected parameter is
// reported by name.
#include <cstdint>
#include <memory>
#include <string>

#include "io/hdf5_file.h"
#include "nn/network.h"

namespace tweedie {

inline constexpr const char* kModelFormat = "tweedie-model";
inline constexpr std::int64_t kModelFormatVersion = 1;

struct ModelFileInfo {
  std::string architecture, config;
  std::string diffusion;  // JSON of the optional root attribute `diffusion`; empty when absent
  std::string inference;  // JSON of the root attribute `inference` of inference networks; empty when absent
  std::int64_t version = 0;
};

// The root attributes of a model file; IoError if it is not one.
ModelFileInfo read_model_info(const H5File& file);

std::unique_ptr<nn::Network> load_model(const std::string& path, Device device = Device::cpu());

// Writes the network's architecture, config and parameters (stored as f32, f16 or bf16), and the
// diffusion description (io/FORMAT.md) when one is given.
void save_model(nn::Network& network, const std::string& path, StoredAs stored = StoredAs::f32,
                const std::string& diffusion_json = "", const std::string& inference_json = "");

// IoError "<where>: the parameters do not match the <architecture> config; N missing: a, b; M
// unexpected: c" unless `available` names exactly the network's parameters.
void require_parameter_names(nn::Network& network, const std::vector<std::string>& available, const std::string& where);

// What `tweedie info MODEL.h5` prints. Loading validates the file as load_model does.
struct ModelSummary {
  ModelFileInfo info;
  std::int64_t tensors = 0, parameters = 0, file_bytes = 0;
  std::string stored;  // "f32", "f16", "bf16", or "mixed"
  std::string sha256;  // of the weights' values (io/FORMAT.md), independent of storage precision and layout
};
ModelSummary summarize_model(const std::string& path);
// The digest summarize_model reports, of weights in memory: per parameter in name order, the name, a
// zero byte, the rank and dimensions as little-endian int64, and the values as little-endian f32.
std::string weights_sha256(const nn::ParameterSet& params);

}  // namespace tweedie
