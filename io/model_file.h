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
  std::int64_t version = 0;
};

// The root attributes of a model file; IoError if it is not one.
ModelFileInfo read_model_info(const H5File& file);

std::unique_ptr<nn::Network> load_model(const std::string& path, Device device = Device::cpu());

// Writes the network's architecture, config and parameters (stored as f32, f16 or bf16).
void save_model(nn::Network& network, const std::string& path, StoredAs stored = StoredAs::f32);

}  // namespace tweedie
