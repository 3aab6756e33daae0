#include "nn/registry.h"

#include "nn/mlp.h"
#include "nn/unet.h"
#include "runtime/error.h"

namespace tweedie::nn {

std::vector<std::string> known_architectures() { return {"adm-unet", "mlp"}; }

std::unique_ptr<Network> make_network(const std::string& architecture, const std::string& config_json, Device device,
                                      const std::string& where) {
  if (architecture == "adm-unet") return std::make_unique<UNet>(UNetConfig::from_json(config_json, where + ": config"), device);
  if (architecture == "mlp") return std::make_unique<Mlp>(MlpConfig::from_json(config_json, where + ": config"), device);
  throw ArgumentError(cat(where, ": unknown architecture '", architecture, "' (known: adm-unet, mlp)"));
}

}  // namespace tweedie::nn
