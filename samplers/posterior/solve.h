#pragma once
// The posterior methods of `tweedie solve` behind one call, so that the CLI, the C API and MPI ranks run
// the same code. A problem is M observations y of one likelihood p(y | A(x)) and, for the diffusion and
// plug-and-play methods, a prior; its results are M x K rows, row r the r % K-th sample (or estimate)
// for observation r / K. Rows are independent: a row's noise is keyed by the seed and the row's index
// alone, so any split of the rows into batches, threads or ranks gives the same bits on the CPU.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "samplers/noise/noise_model.h"
#include "samplers/operators/operator.h"
#include "samplers/posterior/baselines.h"
#include "samplers/posterior/count_posterior.h"
#include "samplers/posterior/daps.h"
#include "samplers/posterior/ddrm.h"
#include "samplers/posterior/diffpir.h"
#include "samplers/posterior/dps.h"
#include "samplers/posterior/mmps.h"
#include "samplers/posterior/repaint.h"
#include "samplers/posterior/rmp.h"
#include "samplers/posterior/tds.h"
#include "samplers/sampler.h"

namespace tweedie::samplers {

struct SolveOptions {
  std::string method = "mmps";    // kSolveMethods
  std::string guidance = "mmps";  // rmp: what conditions its denoiser on y: mmps, evidence or plugin
  double gamma = 1.0;             // rmp with plugin guidance: weight of the likelihood term
  std::uint64_t seed = 0;
  SamplerOptions sampler;         // mmps, dps, evidence
  MmpsOptions mmps;               // mmps, and pigdm and tmpd (their covariance set by the method)
  DpsOptions dps;
  DiffpirOptions diffpir;
  DapsOptions daps;
  DdrmOptions ddrm;               // ddrm and ddnm (the variant set by the method)
  RepaintOptions repaint;
  TdsOptions tds;                 // tds runs DDPM ancestral steps, whatever sampler.kind says
  BaselineOptions baseline;       // map-tikhonov, map-tv, pnp, red
  CountPosteriorOptions counts;   // mmps and evidence on Poisson or Binomial counts
  RmpOptions rmp;                 // resolved (resolve_rmp_options)
};

// "mmps, dps, ..." for messages; whether a method is one of them, draws samples (K per observation)
// from a diffusion sampler, or needs a prior. pigdm and tmpd are MMPS's denoiser with their covariance
// (mmps.h), so they take every sampler kind; diffpir, daps (and ddrm, ddnm, tds) run loops of their own on
// the sampler's time grid (steps), whatever its kind.
extern const char* const kSolveMethods;
std::vector<std::string> solve_sampling_methods();
bool known_solve_method(const std::string& method);
bool solve_method_samples(const std::string& method);
bool solve_method_needs_prior(const std::string& method);

struct SolveProblem {
  std::shared_ptr<const Denoiser> prior;  // null for map-tikhonov and map-tv
  std::shared_ptr<const Operator> op;     // one operator, or a StackedOperator of one per observation
  std::shared_ptr<const NoiseModel> noise;
  Tensor y;                               // (M, output...) on the device the problem runs on
};

// Throws ArgumentError / ShapeError when the method cannot run on the problem: an unknown method, a
// missing prior, a prior whose items are not the operator's input, noise MMPS cannot use, the evidence
// trick without counts, MMPS guidance of rmp through a nonlinear operator. Messages start with `what`
// (the CLI passes "--method mmps").
void check_solve_problem(Context& ctx, const SolveOptions& options, const SolveProblem& problem, const std::string& what);

struct SolveReport {
  std::int64_t covariance_fallbacks = 0;  // MMPS item-steps that left Tweedie's covariance (mmps.h)
};

// Rows first .. first + n - 1 of the M x per results, (n, input...). `resumable` continues a sampling
// method from a checkpoint (sampler.h). The report, when given, is added to.
Tensor solve_rows(Context& ctx, const SolveOptions& options, const SolveProblem& problem, std::int64_t per, std::int64_t first,
                  std::int64_t n, const StepHook& hook = {}, const Resumable& resumable = {}, SolveReport* report = nullptr);

// Rows of y (observations, ...) for result rows first .. first + n - 1, row g belonging to observation
// g / per: the observation batch a posterior method sees has one row per item.
Tensor observations_for(const Tensor& y, std::int64_t first, std::int64_t n, std::int64_t per);

}  // namespace tweedie::samplers
