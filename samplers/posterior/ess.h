#pragma once
// Elliptical slice sampling (Murray, Adams and MacKay, AISTATS 2010): exact MCMC for a Gaussian prior
// N(m, S) and any likelihood, the ground truth for count data and nonlinear operators when the prior is
// Gaussian (a GP). With f = x - m and a fresh prior draw nu, each iteration moves along the ellipse
// f cos(theta) + nu sin(theta), shrinking the bracket around 0 until a point clears a slice of the
// likelihood; no step size, and every move is accepted.
//
// Chains run in lockstep as one batch (every chain of every observation): each round evaluates the
// likelihood of all pending proposals at once. Random numbers are Philox keyed by (seed, chain index,
// iteration), so a chain does not depend on how many run beside it.
//
// Diagnostics per observation, over the coordinates of x, from the kept draws: the largest split R-hat
// and the smallest effective sample size (Gelman et al., Bayesian Data Analysis 3rd ed., 11.4-11.5:
// chains split in halves; autocorrelations combined across chains, truncated by Geyer's initial
// positive sequence).
#include <cstdint>
#include <vector>

#include "samplers/gaussian_denoiser.h"
#include "samplers/noise/likelihood.h"

namespace tweedie::samplers {

struct EssOptions {
  int chains = 4;
  int iterations = 2000;  // per chain, burn-in included
  int burn_in = 500;
  int thin = 1;           // keep every thin-th draw after the burn-in
  int max_shrinks = 200;  // bracket shrinks before an iteration gives up and stays (never seen in practice)
};

struct EssReport {
  std::vector<double> rhat;  // per observation: max over coordinates of split R-hat
  std::vector<double> ess;   // per observation: min over coordinates of the effective sample size
  double shrinks_per_iteration = 0;
  std::int64_t likelihood_evaluations = 0;  // in items
  std::int64_t stuck_iterations = 0;        // iterations that hit max_shrinks
};

// y (M, output...). Returns the kept draws (M * chains * kept, item...), grouped by observation, then
// chain, then iteration; kept = (iterations - burn_in + thin - 1) / thin.
Tensor elliptical_slice_sampling(Context& ctx, const GaussianDenoiser& prior, const Likelihood& likelihood, const Tensor& y,
                                 const EssOptions& options, std::uint64_t seed, EssReport* report = nullptr);

// draws: chains x length values of one scalar, chain-major. Split R-hat and the effective sample size.
double split_rhat(const std::vector<double>& draws, int chains);
double effective_sample_size(const std::vector<double>& draws, int chains);

}  // namespace tweedie::samplers
