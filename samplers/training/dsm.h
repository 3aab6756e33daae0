#pragma once
// Denoising score matching: the loss that trains a network to be a denoiser E[x | x_t].
//
// Clean items x0, times t_i and standard normal noise z_i give x_t = alpha_i x0 + sigma_i z_i. The
// network denoiser (network_denoiser.h) reads the network's output F as
//
//   E[x | x_t] = a x_t + b F(s x_t; t_net),     a, b, s, t_net functions of t and the parameterisation.
//
// Regressing E[x | x_t] on x0 with weight 1/b^2 is regressing F on its own target
//
//   F* = (x0 - a x_t) / b
//
// which is z for eps (DDPM's "simple" loss), x0 for x0, alpha z - sigma x0 for v, and
// (x0 - c_skip y) / c_out for edm, where the weight 1/b^2 = 1/c_out^2 is exactly Karras et al.'s
// lambda(sigma) (EDM, 2022, Table 1). So one loss serves every parameterisation, and the network learns
// the very quantity the samplers read back through the same a, b and s:
//
//   loss = (1/N) sum_i (1/D) |F_i - F*_i|^2        D elements per item.
//
// For eps models with learned variance only the first C output channels (the mean) are trained; the
// variance channels get no gradient and keep their weights (guided-diffusion trains them with its
// variational bound, which tweedie does not have).
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/context.h"
#include "runtime/tensor.h"
#include "samplers/network_denoiser.h"
#include "samplers/process.h"

namespace tweedie::samplers {

// How training draws t.
//   uniform  discrete tables: an index uniform on 0..T-1; continuous processes: t uniform on
//            [t_min, t_max]
//   edm      Karras et al.'s log-normal noise levels: ln(sigma / alpha) ~ N(p_mean, p_std^2), mapped to
//            the t with that sigma / alpha (the nearest index on a table), kept inside [t_min, t_max]
struct TimeSampling {
  std::string kind = "uniform";
  double p_mean = -1.2, p_std = 1.2;
  void validate() const;  // ArgumentError naming --time
};

// The t of a training item from one uniform u in (0, 1) and one standard normal n.
double training_time(const Process& process, const TimeSampling& sampling, double u, double n);

// `count` times that sample the distribution evenly (its quantiles at (k + 1/2) / count): the fixed
// grid a validation loss is reported on.
std::vector<double> validation_times(const Process& process, const TimeSampling& sampling, int count);

struct DsmBatch {
  Tensor x0;                          // (N, item...) on the context's device
  std::vector<double> t;              // N times
  Tensor noise;                       // like x0: z ~ N(0, I)
  std::vector<std::int64_t> labels;   // empty, or N class labels
  // Data-parallel training (process_group.h): these N items are part of a batch of mean_over items,
  // and the loss and its gradient are those of the mean over the whole batch. 0: over these N.
  std::int64_t mean_over = 0;
};

struct DsmResult {
  double loss = 0;                  // the batch mean (the sum of item_losses / mean_over)
  std::vector<double> item_losses;  // (1/D) |F_i - F*_i|^2
};

// The loss of `batch` for `model`. With `gradients`, the gradient of the batch-mean loss is added to
// the parameters' gradients (nn::Parameter::grad) by one linearization and one VJP of the network.
DsmResult dsm_loss(Context& ctx, const NetworkDenoiser& model, const DsmBatch& batch, bool gradients);

}  // namespace tweedie::samplers
