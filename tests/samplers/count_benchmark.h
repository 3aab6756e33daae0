#pragma once
// The 1-D GP count benchmark of the evidence-trick paper (arXiv 2502.05994, first experiment), with
// elliptical slice sampling as ground truth: a GP prior on n points of [0, 1] (squared-exponential
// kernel), y_i ~ Poisson(s exp(f_i)) or Binomial(trials, sigmoid(f_i)). The same on 2-D grids: a Cox
// process (Poisson counts of s exp(f) at every site) and a prevalence survey (Binomial counts at a
// fraction of the sites, each with its own number of trials); every site is scored, measured or not. Each method's posterior mean
// and spread are scored against the MCMC draws, entry by entry, in units of the MCMC posterior
// standard deviation:
//
//   mean error  mean_i |mean_i - mean*_i| / sd*_i
//   spread      mean_i sd_i / sd*_i
//   coverage    mean_i of the fraction of MCMC draws inside the method's central 90% interval (the 5%
//               and 95% empirical quantiles of its samples; mean +- 1.645 sd for Gaussian answers)
//
// All problems of a setting run as one batch (they share the prior), each method's samples too.
#include <cstdint>
#include <string>
#include <vector>

namespace tweedie::test {

struct CountSetting {
  std::string family = "poisson";  // poisson or binomial
  double scale = 1;                // Poisson exposure s
  int trials = 20;                 // Binomial n; with trials_max > trials, each site's n is uniform in [trials, trials_max]
  int trials_max = 0;
  int points = 100;                // n on [0, 1]; ignored when side > 0
  int side = 0;                    // > 0: a side x side grid on [0, 1]^2 (a 2-D GP field) instead
  double observed = 1;             // the fraction of sites measured (a random mask; 1: all, by the identity)
  double length = 0.1;             // the kernel's length scale
  int problems = 8;
  int samples = 64;                // per problem and method
  int steps = 100;                 // ddpm steps of the diffusion methods
  int mcmc_iterations = 6000;      // per chain, 4 chains; the first quarter is burn-in
  int mcmc_thin = 1;               // keep every mcmc_thin-th draw after burn-in
  std::uint64_t seed = 1;
  int inference_steps = 0;         // > 0: also the evidence trick with an inference network trained this long
  int inference_hidden = 128;      // its MLP's width (depth 3)
};

struct MethodScore {
  std::string method;
  double mean_error = 0, mean_error_se = 0;  // average over problems, and its standard error
  double spread = 0, coverage = 0;
  double calls = 0;    // network-equivalent evaluations per sample (forward + JVP + VJP), 0 for closed forms
  double seconds = 0;  // for all problems
  std::string failure;  // why the method stopped (a NaN or Inf at some step); no scores then
};

struct CountBenchmark {
  std::vector<MethodScore> methods;
  double mcmc_rhat = 0;  // the worst over problems and entries
  double mcmc_ess = 0;   // the smallest
  double dps_zeta = 0;   // DPS's step size, tuned on held-out problems
  double mcmc_seconds = 0;
  double inference_loss = 0;       // the trained inference network's held-out conjugate loss per entry
  double inference_seconds = 0;    // its training time
};

CountBenchmark run_count_benchmark(const CountSetting& setting);
std::int64_t points_of(const CountSetting& setting);  // n, or side^2
const MethodScore& score_of(const CountBenchmark& b, const std::string& method);
// A markdown table of the result, with a heading naming the setting.
std::string count_benchmark_table(const CountSetting& setting, const CountBenchmark& b);

}  // namespace tweedie::test
