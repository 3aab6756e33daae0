#pragma once
// Fresh weights for training from scratch, as the PyTorch models these networks mirror start:
//   convolution and linear weights  U(-1/sqrt(fan_in), 1/sqrt(fan_in))  (PyTorch's default
//                                   kaiming_uniform with a = sqrt(5)); their biases the same bound
//   GroupNorm scale 1, shift 0; class embeddings N(0, 1)
//   zero: the layers guided-diffusion wraps in zero_module (each ResBlock's last convolution
//         out_layers.3, each attention's proj_out, the output convolution out.2) and the MLP's
//         output layer, so that every residual branch and the network's output start at zero.
// Values come from Philox keyed by the seed and the parameter's position, the same on every device.
#include <cstdint>

#include "nn/network.h"
#include "runtime/context.h"

namespace tweedie::nn {

void initialize_parameters(Context& ctx, Network& network, std::uint64_t seed);

}  // namespace tweedie::nn
