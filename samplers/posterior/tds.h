#pragma once
// The twisted diffusion sampler (TDS, Wu, Trippe, Naesseth, Blei and Cunningham 2023): sequential Monte
// Carlo over the DDPM ancestral chain, with K particles per observation. As K grows, the weighted
// particles of a run approach the chain's own law conditioned on y, p_chain(x) p(y | x) / Z: exact
// conditional sampling up to the chain's discretisation, whatever the twisting functions are.
//
// Twisting function for a linear operator A with Gaussian noise Sigma_y, on the observed entries only
// (Operator::observed; complex outputs count as their real and imaginary parts):
//
//   log psi_t(x_t) = log N(y; A E(x_t), M_t),   M_t = Sigma_y + r_t^2 A A^T,   E(x_t) = E[x | x_t]
//
// with r_t^2 = (sigma_t / alpha_t)^2 ("sigma_t") or (sigma_t / alpha_t)^2 / (1 + (sigma_t / alpha_t)^2)
// (Pi-GDM's, "pigdm"). M_t does not depend on x_t, so log det M_t is one number for all particles at t:
// it cancels in the normalised weights and is left out. M_t^{-1} (y - A E) comes from conjugate
// gradients (samplers/linalg/krylov.h); the gradient in x_t, J^T A^T M_t^{-1} (y - A E), from one VJP
// of the prior's linearization. An inexact solve changes psi and the proposal, never the limit: the
// weights use the very psi and proposal the run used.
//
// One step from x_t to x_s (not the last): with the DDPM transition p(x_s | x_t) = N(m(x_t), v I),
//
//   proposal  x_s = m(x_t) + v grad log psi_t(x_t) + sqrt(v) z
//   weight    w *= p(x_s | x_t) psi_s(x_s) / (q(x_s | x_t, y) psi_t(x_t)),
//             log p - log q = -(v / 2) |grad|^2 - sqrt(v) <grad, z>   (exact, from x_s - m = v grad + sqrt(v) z).
//
// The initial weights are psi at t_max. The last step is the sampler's deterministic one (x_s = m(x_t),
// no noise, no twist), then E[x | x_{t_min}] when SamplerOptions::denoise_last; its weight factor is the
// true likelihood p(y | x) at that output over psi_t(x_t). Before each step the particles are resampled,
// systematically (one uniform per resampling), when the ESS (sum w)^2 / sum w^2 is below
// resample_below * K.
//
// twist_variance "none" sets psi = 1 before the last step: the bootstrap particle filter (proposal =
// the plain DDPM chain, weights = the likelihood at the end); with K = 1 it is sample()'s ddpm.
//
// Noise: particle k of row `row` draws its Gaussian noise as sample() draws sample row * K + k (Philox
// stream (step id << 40) + row * K + k, step id 0 for the initial draw, then one per step); the
// resampling uniforms and the final pick use streams keyed by (seed, step, row) in a range of their own.
// A row's result depends on neither the batch of rows nor the thread count.
//
// Work per particle: one linearization of the prior and one VJP at t_max and after every step but the
// last (steps of each in all; "none": plain forward passes, no VJP), the CG iterations through the
// operator only, and one forward pass for denoise_last. Learned variances
// are not used: the steps take the fixed DDPM posterior variance. Every process with alpha and sigma
// works (VE: alpha = 1), discrete tables included.
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/context.h"
#include "runtime/tensor.h"
#include "samplers/denoiser.h"
#include "samplers/linalg/krylov.h"
#include "samplers/noise/likelihood.h"
#include "samplers/sampler.h"

namespace tweedie::samplers {

struct TdsOptions {
  int particles = 16;                   // K >= 1
  double resample_below = 0.5;          // resample when ESS < resample_below * K; in [0, 1]
  std::string twist_variance = "sigma_t";  // sigma_t, pigdm or none
  KrylovOptions krylov{.max_iterations = 20, .tolerance = 1e-6};  // the solve with M_t
};

struct TdsRun {
  Tensor particles;                  // (K, item...): the run's final samples
  std::vector<double> log_weights;   // K normalised log weights (log-sum-exp 0)
  std::vector<double> ess;           // steps + 1 values: of the initial weights, then after each step
  int resamplings = 0;               // steps that began with a resampling
};

// Empty when TDS can run with this likelihood, else why not (a nonlinear operator, non-Gaussian noise).
std::string tds_unsupported(Context& ctx, const Likelihood& likelihood);

// One SMC run for the observation y (1, output...), its noise keyed by (seed, row). SamplerOptions: steps
// and denoise_last are used; kind must be "ddpm". The hook, when set, sees every step with the K
// particles as x and their E[x | x_t] as x0, after resampling and before the move.
TdsRun run_tds(Context& ctx, const Denoiser& prior, const Likelihood& likelihood, const Tensor& y, const TdsOptions& tds,
               const SamplerOptions& sampler, std::uint64_t seed, std::int64_t row, const StepHook& hook = {});

// For y (count, output...), one run per row with rows first_index .. first_index + count - 1; each
// returns one particle drawn by its final weights. Returns (count, item...).
Tensor sample_tds(Context& ctx, const Denoiser& prior, const Likelihood& likelihood, const Tensor& y, const TdsOptions& tds,
                  const SamplerOptions& sampler, std::int64_t count, std::uint64_t seed, std::int64_t first_index = 0,
                  const StepHook& hook = {});

// log psi_t (without log det M_t) of each particle of x (N, item...) for the observation y (1, output...),
// with x0 = E[x | x_t] and grad = grad log psi_t(x) (x's shape): one linearization and one VJP of the prior.
// Uses tds's twist_variance and krylov ("none": 0, grad 0, a plain forward pass).
std::vector<double> tds_twist(Context& ctx, const Denoiser& prior, const Likelihood& likelihood, const Tensor& y,
                              const TdsOptions& tds, const Tensor& x, double t, Tensor& x0, Tensor& grad);

// The effective sample size (sum w)^2 / sum w^2 of weights given by their logarithms.
double effective_sample_size(const std::vector<double>& log_weights);

}  // namespace tweedie::samplers
