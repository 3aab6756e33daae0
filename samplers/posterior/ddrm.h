#pragma once
// DDRM and DDNM: posterior sampling loops in the spectral coordinates of the operator's SVD
// A = U S V^T (Operator::svd(), operators/svd.h), for Gaussian noise of one standard deviation sigma_y.
//
// Both work in the variance-exploding coordinates x = x_t / alpha_t, noise level sigma = sigma_t /
// alpha_t, so that VP and VE processes are treated alike. Per step from sigma to the next level s, with
// x0 = E[x | x_t] from the prior's denoiser and, per spectral component i (bars: V^T of a vector),
// ybar_i = (U^T y)_i / s_i and its noise level r_i = sigma_y / s_i, eps = (xbar - x0bar) / sigma the
// denoiser's noise estimate and z fresh standard normal noise:
//
// DDRM (Kawar et al. 2022, eq. 7-8), with eta and eta_b:
//   s_i = 0:    x0bar + sqrt(1 - eta^2) s eps + eta s z
//   s < r_i:    x0bar + sqrt(1 - eta^2) s (ybar - x0bar) / r_i + eta s z
//   s >= r_i:   (1 - eta_b) x0bar + eta_b ybar + sqrt(s^2 - eta_b^2 r_i^2) z
// starting from xbar ~ N(ybar, sigma_T^2 - r_i^2) where sigma_T > r_i, else N(0, sigma_T^2).
//
// DDNM (Wang et al. 2023) with DDNM+'s noise-aware scaling: x0hat = x0bar + lambda_i (ybar - x0bar),
// the range-null-space rectification (lambda_i = 0 on null directions), then a DDIM step whose noise is
// shrunk by what x0hat already carries:
//   lambda_i = 1 and gamma_i = sqrt(s^2 - r_i^2)   where s >= r_i
//   lambda_i = s / r_i and gamma_i = 0             where s < r_i
//   xbar_next = x0hat + gamma_i (sqrt(1 - eta^2) eps + eta z)      (gamma_i = s on null directions)
// The paper states the rule with sigma_y for operators whose A^+ keeps the noise level (masks, average
// pooling up to its scale); r_i = sigma_y / s_i is the same rule per direction of any SVD, and the
// eps/z split of the DDIM step follows DDRM's eta. Without noise (sigma_y -> 0) this is plain DDNM: lambda = 1 and A x0hat = y exactly. It starts from
// N(0, sigma_T^2).
//
// The loop runs the prior's time grid (SamplerOptions::steps; its kind, eta and corrector settings are
// not used). With SamplerOptions::denoise_last it ends with one more denoiser call at the grid's last
// time t_min and returns a clean estimate: the rule above at s = sigma(t_min) without its noise and eps
// terms (DDRM: ybar blended by eta_b where r_i <= s, x0bar elsewhere; DDNM: x0hat). So y replaces the
// denoiser's estimate on the directions it measures better than the last noise level, and DDNM with
// (nearly) noise-free y returns samples with A x = y. Without denoise_last it returns x_t at t_min.
// Noise is Philox keyed by (seed, step, sample index) as in sample(), so a sample does not depend on its
// batch.
#include <cstdint>
#include <string>

#include "samplers/denoiser.h"
#include "samplers/noise/likelihood.h"
#include "samplers/sampler.h"

namespace tweedie::samplers {

struct DdrmOptions {
  std::string variant = "ddrm";  // ddrm | ddnm
  double eta = 0.85;             // share of fresh noise in each step, in [0, 1]
  double eta_b = 1.0;            // ddrm: weight of y on directions it measures better than the noise level, in [0, 1]
};

// Empty when DDRM and DDNM can run on this likelihood, else why not (naming the operator or the noise
// model): the operator needs an SVD and the noise must be Gaussian with one standard deviation over the
// observed entries.
std::string ddrm_unsupported(const Likelihood& likelihood);

// `count` samples for y (count, output...), one observation per sample, with indices first_index ..
// first_index + count - 1 (the index keys the noise). Returns (count, item...). The hook sees every
// step (x: x_t before the step, x0: the prior's E[x | x_t]). ArgumentError for unsupported likelihoods
// (ddrm_unsupported) and bad options, ShapeError for y.
Tensor sample_ddrm(Context& ctx, const Denoiser& prior, const Likelihood& likelihood, const Tensor& y, const DdrmOptions& options,
                   const SamplerOptions& sampler, std::int64_t count, std::uint64_t seed, std::int64_t first_index = 0,
                   const StepHook& hook = {});

}  // namespace tweedie::samplers
