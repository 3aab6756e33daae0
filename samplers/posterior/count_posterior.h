#pragma once
// Posterior denoisers for count data, y ~ Poisson(s g(A x)) or Binomial(n, s sigmoid(A x)), with a linear
// A. Both are Tweedie's formula for the posterior, E[x | x_t, y] = E + (sigma^2 / alpha) grad_{x_t} log
// p(y | x_t), E = E[x | x_t], and differ in how p(y | x_t) is approximated. With C = Cov[x | x_t] =
// (sigma^2 / alpha) J, z = A x | x_t has mean mu = A E and per-entry variance v = diag(A C A^T):
//
//   evidence  the evidence trick (arXiv 2502.05994): each entry's theta = s g(z) replaced by its
//             conjugate prior (Gamma, Beta) with the moments of g(z), z ~ N(mu, v), which makes
//             p(y_i | x_t) a negative binomial or beta-binomial (kernels/count_evidence.h). Then
//             grad_{x_t} log p = J^T A^T d (d: the per-entry score in mu, v held fixed): one VJP. The
//             paper clips this gradient elementwise ([-10, 10]); `clip` does so when > 0.
//   mmps      MMPS for counts: the log-likelihood replaced by its Gauss-Newton quadratic in z around mu
//             (score r, Fisher weight h at the moment-matched mean of theta), a Gaussian pseudo-
//             observation with variance 1/h, so that, as in MMPS, E[x | x_t, y] = E + C A^T w with
//             (diag(1/h) + A C A^T) w = r / h. Solved in the symmetric form
//             (I + H A C A^T H) u = r / sqrt(h),  w = H u,  H = diag(sqrt(h)),
//             whose eigenvalues are >= 1 and which stays finite where h vanishes. CG over Tweedie
//             covariance products, as MMPS. To first order in C, the evidence trick is this with C
//             replaced by its diagonal: the per-entry version ignores Cov[x | x_t]'s correlations.
//
// v, the variance of each measured entry given x_t (`variance`):
//   exact      diag(A C A^T) from one covariance product per output entry. A Gaussian prior's C does not
//              depend on x_t, so one set of products serves the batch (linearized at its first item);
//              other priors pay them per item. Refused above 4096 output entries.
//   probes     Hutchinson's estimator with `probes` Rademacher vectors (unbiased, noisy; negative
//              estimates set to 0). The vectors are Philox draws keyed by `seed`, t and the batch position.
//   heuristic  C = sigma^2 / (alpha^2 + sigma^2) I, the posterior covariance for data of unit variance:
//              v = that times diag(A A^T) (computed once). No network products.
//   none       v = 0: the exact likelihood at z = mu (a DPS-like plug-in of E; for mmps, plain
//              Gauss-Newton at the mean).
//   auto       exact for exact priors (Gaussian, mixture) with at most 4096 output entries, else probes.
//
// Cost per denoise, on the prior's counters: one linearization; exact: as many JVPs as output entries
// (per item, except for Gaussian priors); probes: `probes` JVPs; evidence: one VJP; mmps: k JVPs (CG).
#include <cstdint>
#include <memory>
#include <string>

#include "samplers/denoiser.h"
#include "samplers/linalg/krylov.h"
#include "samplers/noise/noise_model.h"
#include "samplers/operators/operator.h"
#include "samplers/posterior/inference_network.h"

namespace tweedie::samplers {

struct CountPosteriorOptions {
  std::string method = "mmps";     // mmps or evidence
  std::string variance = "auto";   // auto, exact, probes, heuristic, none
  int probes = 8;                  // Rademacher vectors for variance = probes
  double clip = 0;                 // evidence: clip the likelihood gradient to [-clip, clip]; 0: no clipping
  KrylovOptions krylov;            // mmps: CG iterations and tolerance
  bool by_vjp = false;             // covariance products by VJP instead of JVP
  std::uint64_t seed = 0;          // probes' key
  // evidence: the conjugate hyperparameters from this trained network (inference_network.h) instead of
  // moment matching; then the likelihood gradient is pulled back through it (one forward and one VJP
  // of it per denoise) and the prior only denoises, and `variance` is unused.
  std::shared_ptr<const InferenceNetwork> inference;
};

// y: (N, output...) one observation per item of a sampler batch of N, or (1, output...) shared, on the
// device denoise runs on. Errors (ArgumentError / ShapeError naming the operator or the option): a
// nonlinear operator, an operator whose input is not the prior's item, a noise model that is not a
// count model, y of the wrong shape, an unknown method or variance, probes < 1, clip < 0, exact with
// more than 4096 output entries.
std::unique_ptr<Denoiser> make_count_posterior(std::shared_ptr<const Denoiser> prior, std::shared_ptr<const Operator> op,
                                               std::shared_ptr<const NoiseModel> noise, Tensor y,
                                               const CountPosteriorOptions& options);

}  // namespace tweedie::samplers
