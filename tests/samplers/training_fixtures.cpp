#include "samplers/training_fixtures.h"

#include "nn/gradcheck.h"
#include "nn/init.h"
#include "nn/unet.h"
#include "samplers/processes.h"
#include "support.h"

namespace tweedie::test {

samplers::Parameterisation parameterisation(const std::string& prediction, const std::string& time_input) {
  using samplers::Prediction;
  samplers::Parameterisation p;
  for (Prediction k : {Prediction::eps, Prediction::x0, Prediction::v, Prediction::edm})
    if (prediction == samplers::prediction_name(k)) p.prediction = k;
  p.time_input = time_input;
  return p;
}

std::shared_ptr<samplers::NetworkDenoiser> small_unet(std::uint64_t seed, const std::string& prediction) {
  nn::UNetConfig c;
  c.image_size = 8, c.in_channels = 1, c.out_channels = 1, c.model_channels = 32, c.num_res_blocks = 1;
  c.channel_mult = {1, 2}, c.attention_resolutions = {2}, c.num_heads = 2, c.use_scale_shift_norm = true;
  auto net = std::make_unique<nn::UNet>(c, device());
  nn::initialize_parameters(context(), *net, seed);
  randomize(net->parameters(), seed, 0.1);
  return std::make_shared<samplers::NetworkDenoiser>(std::move(net), samplers::process_from_spec("ddpm-linear:1000", "test"),
                                                     parameterisation(prediction, "index"));
}

}  // namespace tweedie::test
