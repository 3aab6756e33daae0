#pragma once
// Moment-matching posterior sampling (MMPS, Rozet et al. 2024): a posterior denoiser E[x | x_t, y] for a
// linear operator A and Gaussian noise Sigma_y, from the prior's denoiser E = E[x | x_t] and Tweedie's
// covariance V = Cov[x | x_t] = (sigma^2 / alpha) J:
//
//   E[x | x_t, y] = E + V A^T v,   (Sigma_y + A V A^T) v = y - A E,
//
// solved by CG (or GMRES) with V products from one linearization of the prior's denoiser at x_t (JVP,
// or VJP with by_vjp). Being a Denoiser, it plugs into every sampler unchanged.
//
// A network's Jacobian need not be a covariance: where a product shows u^T A V A^T u < 0 beyond
// rounding, that item's solve is no Gaussian conditioning (M can be near singular, and the correction
// off by orders of magnitude: measured up to 1e5 through a half-trained MLP), so the item takes the
// sigma_t covariance for that step instead (mmps_fallbacks counts them). Exact priors never trigger it.
#include <limits>
#include <memory>
#include <string>

#include "samplers/denoiser.h"
#include "samplers/linalg/krylov.h"
#include "samplers/operators/operator.h"

namespace tweedie::samplers {

struct MmpsOptions {
  std::string solver = "cg";         // cg or gmres
  KrylovOptions krylov;              // iterations (k) and tolerance
  bool by_vjp = false;               // covariance products by VJP instead of JVP
  // How V is formed: "tweedie" ((sigma^2/alpha) J, the method), the cheaper heuristic "sigma_t"
  // (V = (sigma/alpha)^2 I: Cov[x | x_t] under a flat prior, no network products) and, for Gaussian
  // priors N(m, S) only, "gaussian" (V = (S^-1 + (alpha/sigma)^2 I)^-1, the exact posterior covariance).
  // The Gaussian denoiser's Jacobian is exact, so "gaussian" computes the same as "tweedie"; it exists
  // to state the intent and checks that the prior is a GaussianDenoiser.
  std::string covariance = "tweedie";
  // Above this noise level sigma/alpha, V is the sigma_t one even when covariance is "tweedie". A
  // network's Jacobian makes a poor covariance at high noise: there Cov[x | x_t] is about the prior's,
  // while (sigma^2/alpha) J multiplies J's errors by (sigma/alpha)^2 (measured: a 5-D MLP prior after
  // 2,000 training steps gave corrections of 1e5 at sigma/alpha = 150, and of 2.6 at most below 1,
  // where the exact Gaussian prior gives 2.1). Infinity: Tweedie's everywhere, the method as published.
  double tweedie_max_noise = std::numeric_limits<double>::infinity();
};

// y: (N, output...) the observation each item of a sampler batch of N is conditioned on, or (1,
// output...) one observation shared by every item of any batch; on the device denoise runs on.
// noise_variance: Sigma_y's diagonal, output item shape, f32 (NoiseModel::gaussian_variance); for
// complex outputs the variance of each of the real and imaginary parts. Entries the operator does not
// observe (Operator::observed) are left out of the solve, whatever their variance.
//
// Each denoise(x_t, t) costs one linearization of the prior and k covariance products (k CG
// iterations; V A^T v accumulates from the products CG makes), or k + 1 with GMRES (one for V A^T v). The network evaluations are the prior's: after every call the MMPS
// denoiser's forward/jvp/vjp counters are set to the prior's (running totals, shared with anything else
// that uses the prior). The MMPS denoiser itself has no JVP or VJP (they throw): samplers need neither.
//
// Errors (ArgumentError / ShapeError, naming the operator): a nonlinear operator, an operator whose
// input is not the prior's item (f32), y or noise_variance of the wrong shape or type, a non-positive
// variance on an observed entry, an unknown solver or covariance, "gaussian" with a non-Gaussian prior.
// How many items of all denoise calls so far fell back from Tweedie's covariance to sigma_t because a
// product showed u^T A V A^T u < 0 (a network Jacobian that is no covariance there); 0 for any denoiser
// that is not an MMPS one.
std::int64_t mmps_fallbacks(const Denoiser& denoiser);

std::unique_ptr<Denoiser> make_mmps_denoiser(std::shared_ptr<const Denoiser> prior, std::shared_ptr<const Operator> op,
                                             Tensor noise_variance, Tensor y, const MmpsOptions& options);

}  // namespace tweedie::samplers
