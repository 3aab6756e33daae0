#pragma once
// The small networks the training tests train: cheap enough for many steps, every parameter live.
#include <cstdint>
#include <memory>
#include <string>

#include "samplers/network_denoiser.h"

namespace tweedie::test {

// prediction "eps", "x0", "v" or "edm"; time_input as NetworkDenoiser reads it ("index", "999t", ...).
samplers::Parameterisation parameterisation(const std::string& prediction, const std::string& time_input);

// An 8x8 one-channel ADM U-Net (32 channels, channel_mult 1,2, attention at 4x4, scale-shift norm) on the
// DDPM linear table with index time input, initialised from `seed` and then perturbed (scale 0.1) so
// that no layer starts at zero.
std::shared_ptr<samplers::NetworkDenoiser> small_unet(std::uint64_t seed, const std::string& prediction = "eps");

}  // namespace tweedie::test
