#pragma once
// Diffusion posterior sampling (DPS, Chung et al. 2023): after each sampler step from x_t to x_next,
//
//   x_next -= zeta * grad_{x_t} d(y, A(E[x | x_t]))
//
// with the gradient through the denoiser by one VJP at the very linearization that produced E (no
// second forward pass), and through the operator by its VJP. The distance d, per item, over observed
// entries only (Operator::observed), complex entries counting as their real and imaginary parts:
//
//   Gaussian noise   d = |y - z|                         z = A(x0): the norm, not its square, as the
//                                                        reference code (torch.linalg.norm, autograd);
//                                                        correlated noise too (Sigma_y enters only
//                                                        through zeta, as in the paper)
//   Poisson noise    d = |(y - mu(z)) / sqrt(y + 1)|     mu = scale g(z), the expected counts
//
// The paper's appendix weighs the Poisson residual by Lambda = diag(1 / 2y), a Gaussian of variance y
// in place of the Poisson; the +1 keeps zero counts finite, and the factor 2 is absorbed in zeta. (The
// reference code instead multiplies the unweighted |y - z| by the mean of 1 / |y|, which a single zero
// count makes infinite.)
//   Binomial noise   d = |(y - n p(z)) / sqrt(n q (1 - q))|   p = scale sigmoid(z), q = (y + 1) / (n + 2):
//                                                        the same idea, the Binomial variance at the
//                                                        smoothed observed rate (not in the paper).
//
// Every sampler kind works. The gradient is that of E at the step's start x_t: a Heun-type step's
// second denoiser evaluation (ode-heun, edm-heun) is a plain forward pass and is not differentiated;
// pc's corrector evaluations are linearized and discarded (only the step's own denoise counts).
// Networks with a learned variance run their DDPM steps with the fixed posterior variance here, since
// a linearization returns no variance output.
//
// Costs per step, on the prior's counters: one forward (by linearize) and, for zeta > 0, one VJP.
#include <cstdint>
#include <memory>
#include <vector>

#include "samplers/denoiser.h"
#include "samplers/noise/likelihood.h"
#include "samplers/sampler.h"

namespace tweedie::samplers {

struct DpsOptions {
  double zeta = 1.0;  // step size, >= 0; the reference code tunes it per task (0 is the prior's sampler)
};

// Like sample() (sampler.h) for y (count, output...), one observation per sample. The hook sees the
// steps as sample()'s does (x0 is the prior's E[x | x_t]).
Tensor sample_dps(Context& ctx, const Denoiser& prior, const Likelihood& likelihood, const Tensor& y, const DpsOptions& dps,
                  const SamplerOptions& options, std::int64_t count, std::uint64_t seed, std::int64_t first_index = 0,
                  const StepHook& hook = {}, const Resumable& resumable = {});

// The distance d(y, A(x0)) above of each item of x0 (N, input...) to y (N, output...).
std::vector<double> dps_distance(Context& ctx, const Likelihood& likelihood, const Tensor& y, const Tensor& x0);

// grad = grad_{x_t} d(y, A(E[x | x_t])) (x_t's shape) given lin, the prior's linearization at x_t, and
// x0 = E[x | x_t] it produced: one operator VJP and one denoiser VJP. Returns the distances. Where an
// item's distance is 0 its gradient is taken to be 0.
std::vector<double> dps_gradient(Context& ctx, const Denoiser& prior, const DenoiserLinearization& lin, const Tensor& x0,
                                 const Likelihood& likelihood, const Tensor& y, Tensor& grad);

}  // namespace tweedie::samplers
