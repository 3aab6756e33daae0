#pragma once
// Moment-matching posterior sampling (MMPS, Rozet et al. 2024): a posterior denoiser E[x | x_t, y] for an
// operator A and Gaussian noise Sigma_y, from the prior's denoiser E = E[x | x_t] and Tweedie's
// covariance V = Cov[x | x_t] = (sigma^2 / alpha) J:
//
//   E[x | x_t, y] = E + V A^T v,   (Sigma_y + A V A^T) v = y - A(E),
//
// solved by CG (or GMRES) with V products from one linearization of the prior's denoiser at x_t (JVP,
// or VJP with by_vjp). A nonlinear A is linearized at E: A above is its Jacobian there, taken by the
// operator's JVP and VJP (for a linear A, A itself), as azula and the DiEM code do for phase retrieval.
// Being a Denoiser, it plugs into every sampler unchanged.
//
// The same Gaussian approximation p(y | x_t) ~ N(y; A(E), Sigma_y + A C A^T) underlies two older
// methods, which differ from MMPS in the covariance C inside the solve and in how the correction comes
// back to x (options.covariance):
//   pigdm  Pi-GDM (Song et al. 2023): C = r_t^2 I, r_t^2 = (sigma/alpha)^2 / (1 + (sigma/alpha)^2), the
//          posterior variance of unit-variance white data (exact for a N(0, I) prior);
//   tmpd   TMPD (Boys et al. 2023): C = diag(V 1), the row sums of Tweedie's covariance by one JVP with
//          a vector of ones (exact for a diagonal prior observed through a mask), clipped at 0;
// and both return E + (sigma^2 / alpha) J^T A^T v, i.e. the gradient in x_t of log N(y; A(E(x_t)), M)
// with M held fixed (one VJP of the prior), where MMPS returns E + V A^T v.
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
#include "samplers/noise/noise_model.h"
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
  // pigdm and tmpd (above) turn the denoiser into those methods.
  std::string covariance = "tweedie";
  // Multiplies the sigma_t covariance: DiffPIR's data step is this solve with V = (sigma/alpha)^2 / lambda I
  // (its proximal map at E with weight lambda / (sigma/alpha)^2), so lambda = 1 / sigma_t_factor. > 0.
  double sigma_t_factor = 1.0;
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
// Each pigdm or tmpd denoise costs one linearization, one VJP and, for tmpd, one JVP; their solves
// make no network products. With the sigma_t covariance a denoise is one forward pass.
//
// Errors (ArgumentError / ShapeError, naming the operator): an operator whose
// input is not the prior's item (f32), y or noise_variance of the wrong shape or type, a non-positive
// variance on an observed entry, an unknown solver or covariance, "gaussian" with a non-Gaussian prior.
// How many items of all denoise calls so far fell back from Tweedie's covariance to sigma_t because a
// product showed u^T A V A^T u < 0 (a network Jacobian that is no covariance there); 0 for any denoiser
// that is not an MMPS one.
std::int64_t mmps_fallbacks(const Denoiser& denoiser);

std::unique_ptr<Denoiser> make_mmps_denoiser(std::shared_ptr<const Denoiser> prior, std::shared_ptr<const Operator> op,
                                             Tensor noise_variance, Tensor y, const MmpsOptions& options);
// The same with any Sigma_y, diagonal or correlated, as a map (NoiseModel::gaussian_covariance): each
// of the k products then also applies Sigma_y, which for correlated noise runs on the host in double.
std::unique_ptr<Denoiser> make_mmps_denoiser(std::shared_ptr<const Denoiser> prior, std::shared_ptr<const Operator> op,
                                             std::shared_ptr<const NoiseCovariance> noise_covariance, Tensor y,
                                             const MmpsOptions& options);
// The same for a Gaussian noise model: its diagonal when it has one, its map otherwise (ArgumentError
// for non-Gaussian models).
std::unique_ptr<Denoiser> make_mmps_denoiser(std::shared_ptr<const Denoiser> prior, std::shared_ptr<const Operator> op,
                                             Context& ctx, const NoiseModel& noise, Tensor y, const MmpsOptions& options);

}  // namespace tweedie::samplers
