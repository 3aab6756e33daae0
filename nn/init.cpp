#include "nn/init.h"

#include <cmath>
#include <string>

#include "kernels/axpby.h"
#include "kernels/random.h"
#include "runtime/error.h"

namespace tweedie::nn {
namespace {

// The layer a parameter belongs to: its name without ".weight" / ".bias".
std::string layer_of(const std::string& name) { return name.substr(0, name.rfind('.')); }

bool starts_at_zero(const std::string& architecture, const std::string& layer) {
  if (architecture == "adm-unet") return layer.ends_with(".out_layers.3") || layer.ends_with(".proj_out") || layer == "out.2";
  if (architecture == "mlp") return layer == "output";
  return false;
}

}  // namespace

void initialize_parameters(Context& ctx, Network& network, std::uint64_t seed) {
  ParameterSet& params = network.parameters();
  const std::string arch = network.architecture();
  const std::vector<Parameter*>& all = params.all();
  for (std::size_t i = 0; i < all.size(); ++i) {
    Parameter& p = *all[i];
    const std::string layer = layer_of(p.name);
    const RandomStream rng{seed, std::uint64_t(i)};
    if (p.name.ends_with("label_emb.weight")) {
      fill_normal(ctx, p.value, rng);
      continue;
    }
    if (starts_at_zero(arch, layer)) {
      fill(ctx, p.value, 0.0f);
      continue;
    }
    // The layer's weight tells what kind it is: rank 1 for a normalisation, (out, in, kernel...) else.
    const Parameter* weight = params.find(layer + ".weight");
    if (!weight) throw ArgumentError(cat("initialize_parameters: ", p.name, " has no weight beside it in the ", arch));
    if (weight->value.rank() == 1) {
      fill(ctx, p.value, p.name.ends_with(".weight") ? 1.0f : 0.0f);
      continue;
    }
    const double fan_in = double(weight->value.numel() / weight->value.dim(0)), bound = 1.0 / std::sqrt(fan_in);
    fill_uniform(ctx, p.value, rng, float(-bound), float(bound));
  }
}

}  // namespace tweedie::nn
