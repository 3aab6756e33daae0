#pragma once
// Reverse mean propagation (RMP; after Xue et al. 2024, "Score-Based Variational Inference for Inverse
// Problems"): the posterior mean E[x | y] without sampling, by carrying the mean of each reverse step.
//
// The process's grid t_T > ... > t_0 makes a Markov chain x_k = alpha_k x + sigma_k z whose forward
// transitions are exact Gaussians,
//
//   p(x_{k+1} | x_k) = N(a_k x_k, b_k^2 I),   a_k = alpha_{k+1} / alpha_k,   b_k^2 = sigma_{k+1}^2 - a_k^2 sigma_k^2,
//
// (VP: a_k^2 + b_k^2 = 1, b_k^2 the step's beta; VE: a_k = 1, b_k^2 = sigma_{k+1}^2 - sigma_k^2). As
// x_{k+1} depends on y only through x_k, the reverse conditional is
//
//   p(x_k | x_{k+1}, y)  proportional to  p(x_{k+1} | x_k) p_k(x_k | y),
//
// whose score in x_k is the sum of three terms (the paper's):
//
//   g(x) = a_k (x_{k+1} - a_k x) / b_k^2  +  grad log p_k(x)  +  grad log p(y | x_k = x),
//
// and the last two together are the posterior score (alpha_k D(x, t_k) - x) / sigma_k^2 of a posterior
// denoiser D(x, t) = E[x_0 | x_t = x, y] (MMPS, the count posteriors, or a likelihood-guided denoiser).
// RMP fits q_k = N(mu, P_k^-1) to this conditional by natural-gradient steps on KL(q_k || p) with the
// precision P_k held fixed, which for the mean reads
//
//   mu <- mu + rho P_k^-1 g(mu)        (T_in times, from mu = m_{k+1} / a_k, where the first term is 0)
//
// and propagates the mean: m_k = mu. The output is D(m_0, t_0), the last step to time 0 taken by the
// posterior denoiser itself. The start m_T = alpha_T D(0, t_T) is E[x_T | y] = alpha_T E[x | y] up to
// what x_T = 0 tells about x, which is nothing in the limit sigma_T / alpha_T -> infinity.
//
// Why it gives the mean: E[x_k | y] = E[ E[x_k | x_{k+1}, y] | y ]. When the conditional mean is affine
// in x_{k+1} (a Gaussian prior with a linear Gaussian likelihood: every conditional here is Gaussian),
// this is E[x_k | x_{k+1} = E[x_{k+1} | y], y], so propagating the mean is exact at ANY step count, and
// the fixed point of the inner iteration (g = 0, the mode of a Gaussian, hence its mean) is that
// conditional mean. More: the mean path alpha_k E[x | y] is a fixed point of every inner iteration
// (at mu = m_{k+1} / a_k = alpha_k E[x | y] both terms of g vanish), so from the start above the error
// on a Gaussian problem is rounding at any T and T_in, provided the steps contract what they are off
// by (the precision, below). Off the path, one inner iteration errs by O(h^2) per step, O(1 / T) in
// all. For other priors, E[f(x_{k+1})] != f(E[x_{k+1}]) where f bends: RMP's bias, which a mixture
// shows.
//
// The precision. The Hessian of -log p_k(x | y) is (I - alpha_k J_D) / sigma_k^2 with J_D the
// posterior denoiser's Jacobian, a posterior covariance times alpha_k / sigma_k^2, hence between 0 and
// I / sigma_k^2 for an exact denoiser. With
//
//   P_k = a_k^2 / b_k^2 + 1 / (sigma_k^2 + alpha_k^2 c)
//
// c = 0 (the default) makes every inner step a contraction (factor 1 - (a_k^2/b_k^2 + lambda) / P_k in
// [0, 1) along a Hessian eigenvector of eigenvalue lambda) at any step count, and T_in = 1 agrees with
// the exact conditional mean to O(h^2) per step. c = infinity (P_k = a_k^2 / b_k^2, the transition
// alone) makes T_in = 1 the noise-free ancestral step m_k = m_{k+1}/a_k + (b_k^2 / a_k^2) (posterior
// score at m_{k+1}/a_k), also O(h^2), but it multiplies an error by 1 - (b_k^2 / a_k^2) lambda, which
// exceeds 1 in size where b_k^2 / a_k^2 > 2 sigma_k^2: the last steps of any VP grid, in the directions
// the data pin down (lambda near 1 / sigma_k^2). Measured: 4x MRI of phantoms with the learned prior
// goes from 36-50 dB (c = 0) to 12-15 dB (c = infinity; VP, T = 50). c = the prior's variance per coordinate is the
// precision of p_k under an isotropic prior, between the two.
//
// Learned priors: the mean path is noise-free (m_k is close to alpha_k E[x | y]), an input no network
// was trained on, and there its Jacobian is no covariance: on the phantom U-Net, alpha J has eigenvalues
// near -1 to -4 at alpha_k x against about -0.5 to 2 at alpha_k x + sigma_k z. MMPS's Tweedie covariance
// then makes its linear system indefinite; the CLI runs rmp over a network with MMPS's sigma_t
// covariance (mmps.h) unless told otherwise.
//
// Cost: per observation, 1 + T T_in + 1 posterior denoiser calls (start, inner steps, final).
#include <cstdint>

#include "samplers/denoiser.h"
#include "samplers/sampler.h"

namespace tweedie::samplers {

struct RmpOptions {
  int steps = 0;   // T; 0: 400 for processes with alpha < 1 (VP-like), 30 for alpha = 1 (VE, EDM)
  int inner = 0;   // T_in; 0: 1 for VP-like processes, 20 for VE-like (the paper's settings)
  double step_size = 1.0;  // rho in (0, 2)
  double prior_variance = 0;  // c in P_k above, >= 0; infinity allowed (the ancestral step at T_in = 1)
};

// The options with the defaults filled in for this process; ArgumentError naming the option when one
// is out of range.
RmpOptions resolve_rmp_options(const RmpOptions& options, const Process& process);

// One outer step: from m = m_{k+1} at t_from to mu = m_k at t (< t_from), T_in inner iterations;
// x0 is left with D at the last inner iterate. mu and x0 have m's shape. `step` only names the step
// in errors.
void rmp_step(Context& ctx, const Denoiser& posterior, const Tensor& m, double t_from, double t, const RmpOptions& options,
              Tensor& mu, Tensor& x0, int step = 0);

// The posterior mean of each of `count` observations (those the posterior denoiser holds: item i is
// conditioned on its observation i, or all on one shared y), (count, item...). `posterior` is any
// posterior denoiser; its counters (the prior's network calls) report the cost. The hook sees every
// outer step (x: m_{k+1}; x0: D at the last inner iterate). NumericError names the step if a NaN
// appears.
Tensor reverse_mean_propagation(Context& ctx, const Denoiser& posterior, const RmpOptions& options, std::int64_t count,
                                const StepHook& hook = {});

}  // namespace tweedie::samplers
