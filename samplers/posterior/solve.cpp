#include "samplers/posterior/solve.h"

#include <span>
#include <vector>

#include "runtime/error.h"
#include "samplers/noise/likelihood.h"
#include "samplers/operators/stacked_operator.h"
#include "samplers/posterior/guided_denoiser.h"

namespace tweedie::samplers {

const char* const kSolveMethods =
    "mmps, dps, pigdm, tmpd, ddrm, ddnm, diffpir, daps, repaint, tds, evidence, rmp, ess, map-tikhonov, map-tv, pnp, red";

std::vector<std::string> solve_sampling_methods() {
  return {"mmps", "dps", "pigdm", "tmpd", "ddrm", "ddnm", "diffpir", "daps", "repaint", "tds", "evidence"};
}

bool known_solve_method(const std::string& m) {
  for (const char* k : {"rmp", "ess", "map-tikhonov", "map-tv", "pnp", "red"})
    if (m == k) return true;
  return solve_method_samples(m);
}
bool solve_method_samples(const std::string& m) {
  for (const std::string& k : solve_sampling_methods())
    if (m == k) return true;
  return false;
}
bool solve_method_needs_prior(const std::string& m) { return m != "map-tikhonov" && m != "map-tv"; }

namespace {

// What conditions the denoiser on y: the method itself, or rmp's guidance.
const std::string& posterior_kind(const SolveOptions& o) { return o.method == "rmp" ? o.guidance : o.method; }

bool has_counts(const NoiseModel& noise) {
  CountModel unused;
  return noise.count_model(unused);
}

// The methods that run a loop of their own on the sampler's grid, whatever its kind.
bool own_loop(const std::string& m) {
  for (const char* k : {"ddrm", "ddnm", "diffpir", "daps", "repaint", "tds"})
    if (m == k) return true;
  return false;
}

// MMPS's denoiser serves mmps, and pigdm and tmpd with their covariance in it.
bool moment_method(const std::string& m) { return m == "mmps" || m == "pigdm" || m == "tmpd"; }

MmpsOptions moment_options(const SolveOptions& o) {
  MmpsOptions m = o.mmps;
  if (o.method == "pigdm" || o.method == "tmpd") m.covariance = o.method;
  return m;
}

}  // namespace

void check_solve_problem(Context& ctx, const SolveOptions& o, const SolveProblem& p, const std::string& what) {
  if (!known_solve_method(o.method)) throw ArgumentError(cat(what, ": the method is one of ", kSolveMethods));
  if (o.method == "rmp" && o.guidance != "mmps" && o.guidance != "evidence" && o.guidance != "plugin")
    throw ArgumentError(cat(what, ": rmp's guidance '", o.guidance, "' is one of mmps, evidence, plugin"));
  if (solve_method_needs_prior(o.method) && !p.prior) throw ArgumentError(cat(what, " needs a prior"));
  if (!p.op) throw ArgumentError(cat(what, " needs an operator"));
  if (!p.noise) throw ArgumentError(cat(what, ": the noise model is none, so there is no likelihood to solve with"));
  if (p.prior && !(p.prior->item_shape() == p.op->input().shape))
    throw ShapeError(cat(what, ": the operator '", p.op->describe(), "' takes items ", p.op->input().str(), " but the prior's items are ",
                         p.prior->item_shape().str()));
  p.op->check_observations(p.y, what + ": y");
  const bool rmp = o.method == "rmp";
  const bool counts = has_counts(*p.noise);
  const std::string& kind = posterior_kind(o);
  if (kind == "mmps") {
    if (!counts && !p.noise->gaussian_covariance())
      throw ArgumentError(cat(what, " needs Gaussian, Poisson or Binomial noise, not ", p.noise->describe(),
                              rmp ? "; --guidance plugin handles any noise model" : "; --method dps handles any noise model"));
    if (rmp && !p.op->is_linear())
      throw ArgumentError(cat(what, ": operator '", p.op->describe(), "' is nonlinear, and MMPS's Gaussian approximation of p(y | x_t) ",
                              "needs a linear one; --guidance plugin (the log-likelihood gradient at E[x | x_t]) handles it"));
  }
  if (kind == "evidence" && !counts)
    throw ArgumentError(cat(what, " is for count data (Poisson or Binomial noise), not ", p.noise->describe(),
                            rmp ? "; use --guidance mmps for Gaussian noise" : "; use --method mmps for Gaussian noise"));
  if (o.method == "pigdm" || o.method == "tmpd") {
    if (!p.noise->gaussian_covariance())
      throw ArgumentError(cat(what, " needs Gaussian noise, not ", p.noise->describe(), "; --method dps handles any noise model"));
  }
  {
    const Likelihood lik(p.op, p.noise);
    std::string why;
    if (o.method == "diffpir") why = diffpir_unsupported(lik);
    if (o.method == "daps") why = daps_unsupported(lik);
    if (o.method == "tds") why = tds_unsupported(ctx, lik);
    if (o.method == "ddrm" || o.method == "ddnm") why = ddrm_unsupported(lik);
    if (o.method == "repaint") why = repaint_unsupported(ctx, lik);
    if (!why.empty()) throw ArgumentError(cat(what, ": ", why));
  }
  if (o.method == "ess") throw ArgumentError(cat(what, ": ess samples every chain in one pass (elliptical_slice_sampling), not by rows"));
}

Tensor solve_rows(Context& ctx, const SolveOptions& o, const SolveProblem& p, std::int64_t per, std::int64_t first, std::int64_t n,
                  const StepHook& hook, const Resumable& resumable, SolveReport* report) {
  const Tensor y = observations_for(p.y, first, n, per);
  // The operators of these rows' observations (the shared one, or those of a stacked 'each:' operator).
  const std::shared_ptr<const Operator> op = operator_for_rows(p.op, first, n, per);
  const Likelihood likelihood(op, p.noise);
  const std::string& kind = posterior_kind(o);
  const bool counts = has_counts(*p.noise);
  auto posterior = [&]() -> std::unique_ptr<Denoiser> {
    if (counts && (kind == "mmps" || kind == "evidence")) {
      CountPosteriorOptions c = o.counts;
      c.method = kind;
      c.krylov = o.mmps.krylov;
      c.by_vjp = o.mmps.by_vjp;
      c.seed = o.seed;
      return make_count_posterior(p.prior, op, p.noise, y, c);
    }
    if (moment_method(kind)) return make_mmps_denoiser(p.prior, op, ctx, *p.noise, y, moment_options(o));
    return make_guided_denoiser(ctx, p.prior, std::make_shared<Likelihood>(likelihood), y, o.gamma);
  };
  auto count_fallbacks = [&](const Denoiser& d) {
    if (report) report->covariance_fallbacks += mmps_fallbacks(d);
  };
  if (o.method == "rmp") {
    auto d = posterior();
    Tensor x = reverse_mean_propagation(ctx, *d, o.rmp, n, hook);
    count_fallbacks(*d);
    return x;
  }
  if (o.method == "dps") return sample_dps(ctx, *p.prior, likelihood, y, o.dps, o.sampler, n, o.seed, first, hook, resumable);
  // The methods with loops of their own keep no state between steps to resume from: they restart the
  // batch (the checkpoint still records finished batches).
  if (own_loop(o.method)) {
    if (resumable.resume) throw ArgumentError(cat("--method ", o.method, " cannot resume inside a batch"));
    if (o.method == "tds") {
      SamplerOptions ddpm = o.sampler;
      ddpm.kind = "ddpm";
      return sample_tds(ctx, *p.prior, likelihood, y, o.tds, ddpm, n, o.seed, first, hook);
    }
    if (o.method == "ddrm" || o.method == "ddnm") {
      DdrmOptions d = o.ddrm;
      d.variant = o.method;
      return sample_ddrm(ctx, *p.prior, likelihood, y, d, o.sampler, n, o.seed, first, hook);
    }
    if (o.method == "repaint") return sample_repaint(ctx, *p.prior, likelihood, y, o.repaint, o.sampler, n, o.seed, first, hook);
    if (o.method == "diffpir") return sample_diffpir(ctx, *p.prior, likelihood, y, o.diffpir, o.sampler, n, o.seed, first, hook);
    return sample_daps(ctx, *p.prior, likelihood, y, o.daps, o.sampler, n, o.seed, first, hook);
  }
  if (solve_method_samples(o.method)) {
    auto d = posterior();
    Tensor x = sample(ctx, *d, o.sampler, n, o.seed, first, hook, {}, resumable);
    count_fallbacks(*d);
    return x;
  }
  if (o.method == "map-tikhonov") return map_tikhonov(ctx, likelihood, y, o.baseline);
  if (o.method == "map-tv") return map_tv(ctx, likelihood, y, o.baseline);
  if (o.method == "pnp") return pnp_admm(ctx, *p.prior, likelihood, y, o.baseline);
  if (o.method == "red") return red(ctx, *p.prior, likelihood, y, o.baseline);
  throw ArgumentError(cat("solve_rows: method '", o.method, "' does not run by rows (", kSolveMethods, ")"));
}

Tensor observations_for(const Tensor& y, std::int64_t first, std::int64_t n, std::int64_t per) {
  std::vector<std::int64_t> dims(y.shape().dims().begin(), y.shape().dims().end());
  dims[0] = n;
  Tensor out = Tensor::empty(Shape(std::span<const std::int64_t>(dims)), y.device(), y.dtype());
  for (std::int64_t i = 0; i < n; ++i) {
    Tensor dst = out.slice(i, 1);
    dst.copy_from(y.slice((first + i) / per, 1));
  }
  return out;
}

}  // namespace tweedie::samplers
