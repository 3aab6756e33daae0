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
// The ellipse: plain ESS moves on ellipses of the prior, which suits likelihoods that are weak next to
// the prior. Data that pin x down far inside the prior (mean counts of 20, a fine 2-D grid) leave only a
// thin slice of each prior ellipse, and the chains crawl. `laplace` (Nishihara, Murray and Adams,
// "Parallel MCMC with generalized elliptical slice sampling", JMLR 2014, section 2) moves instead on
// ellipses of the Laplace approximation N(m, P^-1) of each observation's posterior
// (samplers/posterior/laplace.h) and slices the ratio p(y | x) N(x; mu, S) / N(x; m, P^-1): the same
// exact target, a ratio close to constant, so nearly every first proposal lands. In the whitened
// coordinates of laplace.h, with u = L^T (w - m) (P = L L^T) and a fresh nu ~ N(0, I), the ellipse
// u cos(theta) + nu sin(theta) is linear in cos and sin, so each proposal costs one likelihood of K
// entries once the iteration's products (L^-T nu, R L^-T nu, B L^-T nu) are formed. Chains start from an
// overdispersed draw (u ~ N(0, 4 I)), as R-hat assumes. Dense and in double on the host, so for problems
// laplace.h accepts (linear A, Gaussian or count noise, up to 4096 unknowns); `automatic` takes it there
// and the prior's ellipses elsewhere.
//
// Diagnostics per observation, over the coordinates of x, from the kept draws: the largest split R-hat
// and the smallest effective sample size (Gelman et al., Bayesian Data Analysis 3rd ed., 11.4-11.5:
// chains split in halves; autocorrelations combined across chains, truncated by Geyer's initial
// positive sequence).
#include <cstdint>
#include <string>
#include <vector>

#include "samplers/gaussian_denoiser.h"
#include "samplers/noise/likelihood.h"

namespace tweedie::samplers {

enum class EssEllipse { automatic, prior, laplace };
const char* ellipse_name(EssEllipse e);          // "auto", "prior", "laplace"
EssEllipse parse_ellipse(const std::string& s);  // ArgumentError naming the choices

struct EssOptions {
  EssEllipse ellipse = EssEllipse::automatic;
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
  EssEllipse ellipse = EssEllipse::prior;   // the one used
  int laplace_iterations = 0;               // laplace: the most Newton iterations a mode took
  bool laplace_converged = true;            // laplace: every mode's last Newton step below 1e-9
};

// y (M, output...). Returns the kept draws (M * chains * kept, item...), grouped by observation, then
// chain, then iteration; kept = (iterations - burn_in + thin - 1) / thin.
Tensor elliptical_slice_sampling(Context& ctx, const GaussianDenoiser& prior, const Likelihood& likelihood, const Tensor& y,
                                 const EssOptions& options, std::uint64_t seed, EssReport* report = nullptr);

// ArgumentError unless chains >= 1, iterations > burn-in >= 0, thin >= 1 and max_shrinks >= 1.
void check_ess_options(const EssOptions& options);

// The ellipse `automatic` resolves to for this prior and likelihood.
EssEllipse resolve_ellipse(EssEllipse requested, const GaussianDenoiser& prior, const Likelihood& likelihood);

// draws: chains x length values of one scalar, chain-major. Split R-hat and the effective sample size.
double split_rhat(const std::vector<double>& draws, int chains);
double effective_sample_size(const std::vector<double>& draws, int chains);

namespace detail {
// The two ellipses' samplers, after elliptical_slice_sampling()'s checks; y is (M, output...) and yb the
// rows of y repeated per chain.
Tensor prior_ellipse_sampling(Context& ctx, const GaussianDenoiser& prior, const Likelihood& likelihood, const Tensor& y,
                              const EssOptions& options, std::uint64_t seed, EssReport* report);
Tensor laplace_ellipse_sampling(Context& ctx, const GaussianDenoiser& prior, const Likelihood& likelihood, const Tensor& y,
                                const EssOptions& options, std::uint64_t seed, EssReport* report);
// R-hat and ESS per observation from the kept draws (M * chains * kept, item...).
void fill_diagnostics(const Tensor& draws, std::int64_t observations, int chains, EssReport& report);
// Philox key of the slice levels and angles, apart from the normal draws'.
inline constexpr std::uint64_t kUniformKey = 0x9e3779b97f4a7c15ull;
}  // namespace detail

}  // namespace tweedie::samplers
