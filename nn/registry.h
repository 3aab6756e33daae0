#pragma once
// Building a network from the architecture name and JSON config stored in a model file. Adding an
// architecture means a class implementing nn::Network and one line in registry.cpp.
#include <memory>
#include <string>
#include <vector>

#include "nn/network.h"

namespace tweedie::nn {

// `where` names the origin in errors ("model.h5").
std::unique_ptr<Network> make_network(const std::string& architecture, const std::string& config_json, Device device,
                                      const std::string& where);
std::vector<std::string> known_architectures();

}  // namespace tweedie::nn
