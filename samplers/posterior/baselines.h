#pragma once
// Classical reconstructions, the baselines posterior samplers are compared with: MAP estimates
//
//   argmin_x  -log p(y | x) + R(x),   R = lambda/2 |x|^2 (Tikhonov) or lambda TV(x) (isotropic TV)
//
// and plug-and-play methods that use the prior's denoiser at one fixed noise level: PnP-ADMM and RED.
// lambda multiplies R in the negative log posterior, so its scale follows the likelihood's (for
// Gaussian noise of standard deviation s, the data term is |y - A x|^2 / (2 s^2)).
// Batches: y (N, output...) gives results (N, input...), every item solved on its own.
//
// How each is solved (the step rule in brackets, for options.step = 0):
//   map_tikhonov  Gaussian noise and linear A: conjugate gradients on (A^T W A + lambda I) x = A^T W y,
//                 W the inverse noise variances (with the mask's zeros), from x = 0. Otherwise gradient
//                 descent [per-item backtracking: Armijo with c = 1/2, halving on rejection, doubling
//                 after acceptance], which also covers Poisson and Binomial likelihoods and nonlinear A.
//   map_tv        images (C, H, W), each channel's TV on its own; Gaussian noise and linear A only. The
//                 primal-dual method of Condat and Vu (Chambolle-Pock with the data term taken by its
//                 gradient): p <- proj_{|p| <= lambda}(p + s grad xbar), x' = x - t (-grad log p - div p),
//                 xbar = 2 x' - x. [t = 0.99 / L, s = L / 16 with L >= |A^T W A| by power iteration;
//                 then 1/t - s |grad|^2 > L/2 (|grad|^2 <= 8), Condat's condition for convergence.]
//   pnp_admm      x <- argmin -log p(y|x) + rho/2 |x - (z - u)|^2, z <- D(x + u), u <- u + x - z, from
//                 x = z = u = 0; returns x (at convergence x = z). The x-update is conjugate gradients
//                 for Gaussian noise and linear A, otherwise a few backtracking gradient steps.
//                 For a Gaussian prior N(mu, S), D is the proximal map of noise_level^2/2 (x-mu)^T
//                 S^-1 (x-mu), so with rho = 1 / noise_level^2 PnP-ADMM returns the exact MAP.
//   red           gradient descent on -log p(y|x) + lambda/2 x^T (x - D(x)) with the RED gradient
//                 -grad log p + lambda (x - D(x)) (Romano, Elad and Milanfar 2017), from x = 0.
//                 [Gaussian noise and linear A: the fixed step 1 / (L + lambda), since x - D(x) is
//                 1-Lipschitz for denoisers whose Jacobian has eigenvalues in [0, 1]; otherwise
//                 backtracking on that objective.]
// options.step > 0 replaces the rule by that fixed step (map_tv: the primal step t, with s = 1/(16 t)).
//
// The denoiser D(v) = E[x | x_t = alpha(t) v] at the time t where sigma(t)/alpha(t) = noise_level
// (time_of_noise_level, samplers/process.h), so v is read as x plus Gaussian
// noise of standard deviation noise_level.
#include <vector>

#include "samplers/denoiser.h"
#include "samplers/noise/likelihood.h"

namespace tweedie::samplers {

struct BaselineOptions {
  double lambda = 0.01;       // regularisation weight (Tikhonov, TV, RED), >= 0
  int iterations = 200;       // outer iterations (CG: the most products with A^T W A)
  double step = 0;            // fixed gradient / primal step; 0: the rule above
  double noise_level = 0.1;   // PnP and RED: the denoiser's noise, sigma(t)/alpha(t), in units of x
  double rho = 1.0;           // PnP-ADMM penalty
  int inner_iterations = 10;  // PnP-ADMM: CG iterations or gradient steps of each x-update
  double tolerance = 0;       // stop once every item's relative change (CG: residual) is below it; 0: never
};

// What a run did, when asked for.
struct BaselineReport {
  int iterations = 0;              // outer iterations run
  std::vector<double> objective;   // -log p(y|x) + R(x) summed over items, once per iteration: after the
                                   // step (gradient methods), at the iterate the step starts from (map_tv),
                                   // once at the end (conjugate gradients); empty for PnP-ADMM, which
                                   // minimises no single function. Includes the likelihood's constants.
  std::vector<double> residual;    // per item at the end: PnP-ADMM |x - z| / |z|; CG |r| / |b|; others
                                   // the last step's |x_k - x_(k-1)| / |x_k|
};

Tensor map_tikhonov(Context& ctx, const Likelihood& likelihood, const Tensor& y, const BaselineOptions& options,
                    BaselineReport* report = nullptr);
Tensor map_tv(Context& ctx, const Likelihood& likelihood, const Tensor& y, const BaselineOptions& options,
              BaselineReport* report = nullptr);
Tensor pnp_admm(Context& ctx, const Denoiser& prior, const Likelihood& likelihood, const Tensor& y,
                const BaselineOptions& options, BaselineReport* report = nullptr);
Tensor red(Context& ctx, const Denoiser& prior, const Likelihood& likelihood, const Tensor& y, const BaselineOptions& options,
           BaselineReport* report = nullptr);

}  // namespace tweedie::samplers
