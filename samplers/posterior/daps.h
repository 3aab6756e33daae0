#pragma once
// DAPS, decoupled annealing posterior sampling (Zhang et al. 2024, "Improving Diffusion Inverse Problem
// Solving with Decoupled Noise Annealing"). Each step from t to s decouples x_s from x_t through a clean
// estimate sampled given y:
//
//   x0^  = E[x | x_t]                      (the prior's denoiser; or ode_steps probability-flow steps to t_min)
//   x0   ~ p(x0 | x_t, y) ~ N(x0; x0^, r_t^2 I) p(y | x0),   r_t = sigma_t / alpha_t,
//          by `langevin_steps` unadjusted Langevin steps from x0^
//   x_s  = alpha_s x0 + sigma_s z
//
// and the result is the last x0. The Langevin steps need no network: each costs one likelihood gradient
// (an operator JVP and VJP for a nonlinear A), so DAPS handles nonlinear operators (phase retrieval).
// Step size eta = lr / (1 / r_t^2 + L), L the largest curvature of the log-likelihood at x0^ (power
// iteration on J_A^T Sigma_y^-1 J_A), so that lr < 1 is stable at every noise level; the paper's
// schedule is in the noise level alone, which a fixed lr cannot follow across operators.
//
// Costs ode_steps forward passes of the prior per step. Gaussian noise only (the curvature bound).
#include <cstdint>
#include <string>

#include "samplers/denoiser.h"
#include "samplers/noise/likelihood.h"
#include "samplers/sampler.h"

namespace tweedie::samplers {

struct DapsOptions {
  int langevin_steps = 50;  // >= 1
  double lr = 0.5;          // Langevin step in units of 1 / (1/r^2 + L), in (0, 1]
  int ode_steps = 1;        // probability-flow (DDIM) steps from t to t_min for x0^; 1 is E[x | x_t]
  int power_iterations = 8; // for L
};

// Empty when DAPS can run on this likelihood, else why not (for refusals).
std::string daps_unsupported(const Likelihood& likelihood);

// For y (count, output...), one observation per sample, on the grid of sampler.steps; noise keyed as
// sample()'s by (seed, step id, first_index + i). The hook sees each step with x0 = the Langevin sample.
Tensor sample_daps(Context& ctx, const Denoiser& prior, const Likelihood& likelihood, const Tensor& y, const DapsOptions& options,
                   const SamplerOptions& sampler, std::int64_t count, std::uint64_t seed, std::int64_t first_index = 0,
                   const StepHook& hook = {});

}  // namespace tweedie::samplers
