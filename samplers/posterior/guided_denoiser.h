#pragma once
// A posterior denoiser from the likelihood's gradient at Tweedie's estimate (the "plug-in" score of
// DPS-type methods, here with the log-likelihood itself rather than DPS's norm):
//
//   D(x_t) = E + gamma (sigma^2 / alpha) J^T grad_x log p(y | x) at x = E,     E = E[x | x_t], J = dE/dx_t,
//
// so that its posterior score (alpha D - x_t) / sigma^2 is the prior's score plus
// gamma grad_{x_t} log p(y | x = E(x_t)), the likelihood term of reverse mean propagation (rmp.h).
// It ignores Cov[x | x_t] (exact only as sigma -> 0), which MMPS keeps; in exchange it takes any
// likelihood (Likelihood::gradient): nonlinear operators, Gaussian, Poisson or Binomial noise.
//
// Cost per denoise, on the prior's counters: one linearization and one VJP. No JVP or VJP of its own.
#include <memory>

#include "samplers/denoiser.h"
#include "samplers/noise/likelihood.h"

namespace tweedie::samplers {

// y: (N, output...) one observation per item of each batch, or (1, output...) shared. gamma >= 0, finite
// (ArgumentError otherwise); ShapeError when the operator's input is not the prior's item (f32) or y
// does not fit its output; y is validated against the noise model (counts, NaN).
std::unique_ptr<Denoiser> make_guided_denoiser(Context& ctx, std::shared_ptr<const Denoiser> prior,
                                               std::shared_ptr<const Likelihood> likelihood, Tensor y, double gamma);

}  // namespace tweedie::samplers
