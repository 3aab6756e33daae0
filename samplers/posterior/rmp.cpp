#include "samplers/posterior/rmp.h"

#include <cmath>

#include "kernels/axpby.h"
#include "runtime/error.h"
#include "samplers/finite.h"
#include "samplers/operators/operator.h"

namespace tweedie::samplers {
namespace {

constexpr const char* kName = "rmp";

// VE-like processes keep alpha = 1 (VE, EDM); the rest shrink the signal (VP, sub-VP, cosine, tables).
bool variance_exploding(const Process& p) { return std::abs(p.alpha(p.t_max()) - 1.0) < 1e-12; }

}  // namespace

RmpOptions resolve_rmp_options(const RmpOptions& options, const Process& process) {
  RmpOptions o = options;
  const bool ve = variance_exploding(process);
  if (o.steps == 0) o.steps = ve ? 30 : 400;
  if (o.inner == 0) o.inner = ve ? 20 : 1;
  if (o.steps < 1) throw ArgumentError(cat(kName, ": steps ", o.steps, ": need at least 1 (0: the default)"));
  if (o.inner < 1) throw ArgumentError(cat(kName, ": inner iterations ", o.inner, ": need at least 1 (0: the default)"));
  if (!(o.step_size > 0 && o.step_size < 2))
    throw ArgumentError(cat(kName, ": step size ", o.step_size, ": need 0 < rho < 2 (1 is a full natural-gradient step)"));
  if (!(o.prior_variance >= 0)) throw ArgumentError(cat(kName, ": prior variance ", o.prior_variance, ": need c >= 0 (inf allowed)"));
  return o;
}

void rmp_step(Context& ctx, const Denoiser& posterior, const Tensor& m, double t_from, double t, const RmpOptions& options,
              Tensor& mu, Tensor& x0, int step) {
  const Process& p = posterior.process();
  const RmpOptions o = resolve_rmp_options(options, p);
  const double alpha = p.alpha(t), sigma2 = p.sigma(t) * p.sigma(t);
  const double a = p.alpha(t_from) / alpha, b2 = p.sigma(t_from) * p.sigma(t_from) - a * a * sigma2;
  if (!(b2 > 0) || !(sigma2 > 0))
    throw ArgumentError(cat(kName, ": the step from t = ", t_from, " to ", t, " adds no noise (b^2 = ", b2, ", sigma^2 = ", sigma2,
                            "); the process or its grid is degenerate"));
  const double transition = a * a / b2;
  const double precision = transition + (std::isinf(o.prior_variance) ? 0.0 : 1.0 / (sigma2 + alpha * alpha * o.prior_variance));
  // mu + (rho / P) g(mu) with g = (a/b^2) m - (a^2/b^2 + 1/sigma^2) mu + (alpha/sigma^2) D(mu), as
  // mu <- keep mu + from_m m, then mu += from_d D.
  const double r = o.step_size / precision;
  const float keep = float(1.0 - r * (transition + 1.0 / sigma2)), from_m = float(r * a / b2), from_d = float(r * alpha / sigma2);
  mu.copy_from(m);
  scale(ctx, mu, float(1.0 / a));  // the transition term's zero
  for (int i = 0; i < o.inner; ++i) {
    posterior.denoise(ctx, mu, t, x0);
    require_finite(ctx, x0, cat("rmp: the posterior denoiser at step ", step, ", inner iteration ", i));
    axpby(ctx, from_m, m, keep, mu);
    axpby(ctx, from_d, x0, 1.0f, mu);
  }
  require_finite(ctx, mu, cat("rmp: the mean after step ", step));
}

Tensor reverse_mean_propagation(Context& ctx, const Denoiser& posterior, const RmpOptions& options, std::int64_t count,
                                const StepHook& hook) {
  const Process& p = posterior.process();
  const RmpOptions o = resolve_rmp_options(options, p);
  if (count < 1) throw ArgumentError(cat(kName, ": the number of observations must be at least 1, not ", count));
  const std::vector<double> grid = p.time_grid(o.steps);
  const Shape shape = batched(count, posterior.item_shape());
  Tensor m = Tensor::empty(shape, ctx.device()), mu = Tensor::empty(shape, ctx.device()), x0 = Tensor::empty(shape, ctx.device());

  // m_T = alpha_T D(0, t_T).
  fill(ctx, mu, 0.0f);
  posterior.denoise(ctx, mu, grid.front(), x0);
  require_finite(ctx, x0, "rmp: the posterior denoiser at the start");
  m.copy_from(x0);
  scale(ctx, m, float(p.alpha(grid.front())));

  for (int k = 0; k < o.steps; ++k) {
    const double t_from = grid[std::size_t(k)], t = grid[std::size_t(k) + 1];
    rmp_step(ctx, posterior, m, t_from, t, o, mu, x0, k);
    if (hook) hook(StepInfo{.step = k, .steps = o.steps, .t = t_from, .t_next = t, .x = &m, .x0 = &x0});
    m.copy_from(mu);
  }
  posterior.denoise(ctx, m, grid.back(), x0);
  require_finite(ctx, x0, "rmp: the posterior denoiser at the end");
  return x0;
}

}  // namespace tweedie::samplers
