#pragma once
// DiffPIR (Zhu et al. 2023, "Denoising Diffusion Models for Plug-and-Play Image Restoration"):
// half-quadratic splitting inside the reverse diffusion. Each step from t to s
//
//   x0   = E[x | x_t]                                            (the prior's denoiser)
//   x0^  = argmin_x  |y - A x|^2_{Sigma_y^-1} / 2 + lambda |x - x0|^2 / (2 (sigma_t/alpha_t)^2)
//   eps^ = (x_t - alpha_t x0^) / sigma_t
//   x_s  = alpha_s x0^ + sigma_s (sqrt(1 - zeta) eps^ + sqrt(zeta) z),   z ~ N(0, I)
//
// The data step is a Gaussian conditioning of N(x0, (sigma/alpha)^2 / lambda I) on y, which is MMPS's
// solve with the sigma_t covariance divided by lambda (mmps.h: sigma_t_factor = 1 / lambda), by CG with
// operator products only. zeta = 0 is DDIM's deterministic step from x0^; zeta = 1 renoises fully.
// The paper tunes lambda and zeta per task; the defaults here are a middle of its ranges, not tuned.
//
// Costs one forward pass of the prior per step. Linear operators with Gaussian noise (any diagonal
// Sigma_y) only: the proximal map of other likelihoods has no closed form (diffpir_unsupported).
#include <cstdint>
#include <string>

#include "samplers/denoiser.h"
#include "samplers/linalg/krylov.h"
#include "samplers/noise/likelihood.h"
#include "samplers/sampler.h"

namespace tweedie::samplers {

struct DiffpirOptions {
  double lambda = 1.0;  // weight of the prior in the data step, > 0
  double zeta = 0.3;    // share of fresh noise in each step, in [0, 1]
  KrylovOptions krylov{50, 1e-6};  // the data step's CG
};

// Empty when DiffPIR can run on this likelihood, else why not (for refusals).
std::string diffpir_unsupported(const Likelihood& likelihood);

// Like sample() (sampler.h) on the time grid of sampler.steps, for y (count, output...), one observation
// per sample; the noise of sample i is keyed by (seed, step, first_index + i). The hook sees each step
// with x0 = x0^, the data-consistent estimate. Throws ArgumentError for unsupported likelihoods and
// options outside their ranges.
Tensor sample_diffpir(Context& ctx, const Denoiser& prior, const Likelihood& likelihood, const Tensor& y, const DiffpirOptions& options,
                      const SamplerOptions& sampler, std::int64_t count, std::uint64_t seed, std::int64_t first_index = 0,
                      const StepHook& hook = {});

}  // namespace tweedie::samplers
