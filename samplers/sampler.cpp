#include "samplers/sampler.h"

#include <algorithm>
#include <cmath>

#include "kernels/axpby.h"
#include "kernels/map.h"
#include "kernels/random.h"
#include "kernels/reduce.h"
#include "runtime/error.h"
#include "samplers/finite.h"

namespace tweedie::samplers {
namespace {

// Noise for (step, sample): Philox stream (step << 40) + sample index, so a sample's noise is the same
// whatever batch it is drawn in. Step ids: 0 for the initial draw, then one per noise use.
RandomStream noise_stream(std::uint64_t seed, std::uint64_t step_id, std::int64_t first_index) {
  return {seed, (step_id << 40) + std::uint64_t(first_index)};
}

struct Loop {
  Context& ctx;
  const Denoiser& d;
  const Process& p;
  const SamplerOptions& o;
  std::uint64_t seed;
  std::int64_t first, count;
  std::uint64_t next_noise = 1;

  Tensor like(const Tensor& x) const { return Tensor::empty(x.shape(), x.device()); }

  void normal(Tensor& z) { fill_normal(ctx, z, noise_stream(seed, next_noise++, first), 0.0f, 1.0f, count); }

  // score(x, t) = (alpha E[x|x_t] - x) / sigma^2, from a denoised x0.
  void score_from(const Tensor& x, const Tensor& x0, double t, Tensor& score) const {
    double a = p.alpha(t), s2 = p.sigma(t) * p.sigma(t);
    score.copy_from(x0);
    axpby(ctx, float(-1.0 / s2), x, float(a / s2), score);
  }

  // The drift of the reverse SDE (g2_weight 1) or of the probability-flow ODE (g2_weight 1/2) at
  // (x, t), given E[x | x_t]: dx/dt = f x - g2_weight g^2 score.
  void velocity(const Tensor& x, const Tensor& x0, double t, double g2_weight, Tensor& v) const {
    score_from(x, x0, t, v);
    axpby(ctx, float(p.drift(t)), x, float(-g2_weight * p.diffusion2(t)), v);
  }
};

void require_continuous(const Process& p, const std::string& kind) {
  if (!p.continuous())
    throw ArgumentError(cat("sampler '", kind, "' integrates the SDE and needs a continuous process; ", p.name(),
                            " is a discrete table: use ddpm or ddim"));
}

// One step of each kind, from x at t to s < t. `x0` is E[x | x_t], already computed.
void step_em(Loop& L, Tensor& x, const Tensor& x0, double t, double s, bool last) {
  Tensor v = L.like(x);
  L.velocity(x, x0, t, 1.0, v);
  const double dt = s - t;
  axpby(L.ctx, float(dt), v, 1.0f, x);
  if (last) return;  // score_sde returns the mean of the last step
  Tensor z = L.like(x);
  L.normal(z);
  axpby(L.ctx, float(std::sqrt(L.p.diffusion2(t) * -dt)), z, 1.0f, x);
}

void step_ode_euler(Loop& L, Tensor& x, const Tensor& x0, double t, double s) {
  Tensor v = L.like(x);
  L.velocity(x, x0, t, 0.5, v);
  axpby(L.ctx, float(s - t), v, 1.0f, x);
}

// Heun: an Euler step to y, then the average of the velocities at (x, t) and (y, s).
void step_ode_heun(Loop& L, Tensor& x, const Tensor& x0, double t, double s) {
  Tensor v = L.like(x), v2 = L.like(x), y = L.like(x), y0 = L.like(x);
  L.velocity(x, x0, t, 0.5, v);
  y.copy_from(x);
  axpby(L.ctx, float(s - t), v, 1.0f, y);
  L.d.denoise(L.ctx, y, s, y0);
  L.velocity(y, y0, s, 0.5, v2);
  axpby(L.ctx, float(0.5 * (s - t)), v, 1.0f, x);
  axpby(L.ctx, float(0.5 * (s - t)), v2, 1.0f, x);
}

// Langevin correction at t (score_sde's LangevinCorrector): step 2 a (snr |z| / |score|)^2, with
// a = 1 for variance-exploding processes and the one-step alpha ratio exp(2 f dt) otherwise.
// score_sde averages the two norms over the batch; here they are each sample's own, so that a sample
// does not depend on its batch. In few dimensions |score| of a single sample can come arbitrarily
// close to zero, so the step is capped at what the rule gives for unit-variance data at this noise
// level, 2 a snr^2 (alpha^2 + sigma^2).
void correct_langevin(Loop& L, Tensor& x, double t, double dt_abs) {
  const double a = std::exp(2.0 * L.p.drift(t) * dt_abs);
  const double cap = 2.0 * a * L.o.snr * L.o.snr * (L.p.alpha(t) * L.p.alpha(t) + L.p.sigma(t) * L.p.sigma(t));
  Tensor x0 = L.like(x), score = L.like(x), z = L.like(x);
  for (int j = 0; j < L.o.corrector_steps; ++j) {
    L.d.denoise(L.ctx, x, t, x0);
    L.score_from(x, x0, t, score);
    L.normal(z);
    std::vector<double> g = norm2_rows(L.ctx, score, L.count), n = norm2_rows(L.ctx, z, L.count);
    const std::int64_t per = x.numel() / L.count;
    for (std::int64_t i = 0; i < L.count; ++i) {
      double step = std::min(2.0 * a * std::pow(L.o.snr * n[i] / std::max(g[i], 1e-30), 2), cap);
      Tensor xi = x.reshape({L.count, per}).slice(i, 1), si = score.reshape({L.count, per}).slice(i, 1);
      Tensor zi = z.reshape({L.count, per}).slice(i, 1);
      axpby(L.ctx, float(step), si, 1.0f, xi);
      axpby(L.ctx, float(std::sqrt(2.0 * step)), zi, 1.0f, xi);
    }
  }
}

// DDPM ancestral step: a draw from q(x_s | x_t, x0) with x0 = E[x | x_t]; with a learned variance, the
// log variance interpolates between the posterior's and beta_ts's (guided-diffusion's learned range).
void step_ddpm(Loop& L, Tensor& x, const Tensor& x0, const Tensor* v_raw, double t, double s, bool last) {
  const double at = L.p.alpha(t), st = L.p.sigma(t), as = L.p.alpha(s), ss = L.p.sigma(s);
  const double ats = at / as, s2ts = st * st - ats * ats * ss * ss;
  Tensor mean = L.like(x);
  mean.copy_from(x0);
  axpby(L.ctx, float(ats * ss * ss / (st * st)), x, float(as * s2ts / (st * st)), mean);
  x.copy_from(mean);
  if (last) return;
  Tensor z = L.like(x);
  L.normal(z);
  const double post_var = s2ts * ss * ss / (st * st);
  if (!v_raw) {
    axpby(L.ctx, float(std::sqrt(post_var)), z, 1.0f, x);
    return;
  }
  const double lo = std::log(post_var), hi = std::log(1.0 - ats * ats);
  Tensor std_dev = L.like(x);
  fill(L.ctx, std_dev, float(0.5 * lo + 0.25 * (hi - lo)));
  axpby(L.ctx, float(0.25 * (hi - lo)), *v_raw, 1.0f, std_dev);  // 0.5 * log variance
  unary(L.ctx, UnaryOp::exp, std_dev, std_dev);
  mul(L.ctx, z, std_dev, z);
  axpby(L.ctx, 1.0f, z, 1.0f, x);
}

// DDIM(eta): x_s = alpha_s x0 + sqrt(sigma_s^2 - c^2) eps_hat + c z, c^2 = eta^2 Var[q(x_s | x_t, x0)].
void step_ddim(Loop& L, Tensor& x, const Tensor& x0, double t, double s) {
  const double at = L.p.alpha(t), st = L.p.sigma(t), as = L.p.alpha(s), ss = L.p.sigma(s);
  const double ats = at / as, s2ts = st * st - ats * ats * ss * ss;
  const double c = L.o.eta * std::sqrt(std::max(s2ts * ss * ss / (st * st), 0.0));
  const double k = std::sqrt(std::max(ss * ss - c * c, 0.0)) / st;  // eps_hat = (x - at x0) / st
  // x_s = k x + (as - k at) x0 + c z
  axpby(L.ctx, float(as - k * at), x0, float(k), x);
  if (c > 0) {
    Tensor z = L.like(x);
    L.normal(z);
    axpby(L.ctx, float(c), z, 1.0f, x);
  }
}

// EDM's second-order step (Karras et al., algorithm 1, no churn) for alpha = 1: dx/dsigma = (x - D) / sigma.
void step_edm_heun(Loop& L, Tensor& x, const Tensor& x0, double t, double s) {
  const double st = L.p.sigma(t), ss = L.p.sigma(s);
  if (std::abs(L.p.alpha(t) - 1.0) > 1e-12 || std::abs(L.p.alpha(s) - 1.0) > 1e-12)
    throw ArgumentError(cat("sampler 'edm-heun' needs a process with alpha = 1 (ve, edm); ", L.p.name(),
                            " has alpha(t) = ", L.p.alpha(t), ": use ode-heun"));
  Tensor dx = L.like(x), y = L.like(x), x0s = L.like(x);
  dx.copy_from(x);
  axpby(L.ctx, float(-1.0 / st), x0, float(1.0 / st), dx);  // (x - D) / sigma_t
  y.copy_from(x);
  axpby(L.ctx, float(ss - st), dx, 1.0f, y);
  L.d.denoise(L.ctx, y, s, x0s);
  // x_s = x + (ss - st) (dx + (y - D(y)) / ss) / 2
  axpby(L.ctx, float(0.5 * (ss - st)), dx, 1.0f, x);
  axpby(L.ctx, float(0.5 * (ss - st) / ss), y, 1.0f, x);
  axpby(L.ctx, float(-0.5 * (ss - st) / ss), x0s, 1.0f, x);
}

}  // namespace

std::vector<std::string> sampler_kinds() { return {"em", "ode-euler", "ode-heun", "pc", "ddpm", "ddim", "edm-heun"}; }

Tensor sample(Context& ctx, const Denoiser& denoiser, const SamplerOptions& o, std::int64_t count, std::uint64_t seed,
              std::int64_t first_index, const StepHook& hook, const StepGuidance& guidance, const Resumable& resumable) {
  const std::vector<std::string> kinds = sampler_kinds();
  if (std::find(kinds.begin(), kinds.end(), o.kind) == kinds.end()) {
    std::string list;
    for (const std::string& k : kinds) list += (list.empty() ? "" : ", ") + k;
    throw ArgumentError(cat("unknown sampler '", o.kind, "' (known: ", list, ")"));
  }
  if (o.steps < 1) throw ArgumentError(cat("sampler steps must be at least 1, not ", o.steps));
  if (count < 1) throw ArgumentError(cat("the number of samples must be at least 1, not ", count));
  if (o.kind == "ddim" && (o.eta < 0 || o.eta > 1)) throw ArgumentError(cat("ddim eta must lie in [0, 1], not ", o.eta));
  if (o.kind == "pc" && (o.snr <= 0 || o.corrector_steps < 0)) throw ArgumentError("pc needs snr > 0 and corrector steps >= 0");
  const Process& p = denoiser.process();
  if (o.kind == "em" || o.kind == "ode-euler" || o.kind == "ode-heun" || o.kind == "pc") require_continuous(p, o.kind);

  Shape item = denoiser.item_shape();
  std::vector<std::int64_t> dims{count};
  for (int i = 0; i < item.rank(); ++i) dims.push_back(item[i]);
  Tensor x = Tensor::empty(Shape(std::span<const std::int64_t>(dims)), ctx.device());
  Loop L{ctx, denoiser, p, o, seed, first_index, count};

  const std::vector<double> grid = p.time_grid(o.steps);
  const int steps = int(grid.size()) - 1;
  int start = 0;
  if (resumable.resume) {
    const SamplerState& r = *resumable.resume;
    if (r.steps_done < 0 || r.steps_done > steps || !r.x.defined() || !(r.x.shape() == x.shape()))
      throw ArgumentError(cat("cannot resume sampling: the saved state (step ", r.steps_done, ", x ",
                              r.x.defined() ? r.x.shape().str() : std::string("missing"), ") does not fit ", steps,
                              " steps of ", x.shape().str()));
    x.copy_from(r.x);
    L.next_noise = r.next_noise;
    start = r.steps_done;
  } else {
    // Start from the marginal at t_max of data with unit variance: N(0, alpha^2 + sigma^2).
    const double t0 = grid.front();
    fill_normal(ctx, x, noise_stream(seed, 0, first_index), 0.0f, float(std::hypot(p.alpha(t0), p.sigma(t0))), count);
  }

  const bool learned = o.kind == "ddpm" && denoiser.has_learned_variance();
  Tensor x0 = L.like(x), v_raw = learned ? L.like(x) : Tensor();
  Tensor x_before = guidance ? L.like(x) : Tensor();  // the steps update x in place
  for (int n = start; n < steps; ++n) {
    const double t = grid[n], s = grid[n + 1];
    const bool last = n + 1 == steps;
    try {
      if (o.kind == "pc") correct_langevin(L, x, t, t - s);
      if (learned) denoiser.denoise_with_variance(ctx, x, t, x0, v_raw);
      else denoiser.denoise(ctx, x, t, x0);
      require_finite(ctx, x0, "the denoiser");
      const StepInfo info{n, steps, t, s, guidance ? &x_before : &x, &x0};
      if (guidance) x_before.copy_from(x);
      if (hook) hook(info);
      if (o.kind == "em" || o.kind == "pc") step_em(L, x, x0, t, s, last);
      else if (o.kind == "ode-euler") step_ode_euler(L, x, x0, t, s);
      else if (o.kind == "ode-heun") step_ode_heun(L, x, x0, t, s);
      else if (o.kind == "ddpm") step_ddpm(L, x, x0, learned ? &v_raw : nullptr, t, s, last);
      else if (o.kind == "ddim") step_ddim(L, x, x0, t, s);
      else step_edm_heun(L, x, x0, t, s);
      require_finite(ctx, x, cat("the ", o.kind, " update"));
      if (guidance) {
        guidance(ctx, info, x);
        require_finite(ctx, x, "the guidance");
      }
    } catch (const NumericError& e) {
      throw NumericError(cat("sampling stopped at step ", n + 1, "/", steps, " (t = ", t, ") of samples ", first_index, "-",
                             first_index + count - 1, ": ", e.what()));
    }
    if (resumable.after_step) resumable.after_step(SamplerState{n + 1, L.next_noise, x});
  }
  if (o.denoise_last) {
    denoiser.denoise(ctx, x, grid.back(), x0);
    try {
      require_finite(ctx, x0, "the denoiser");
    } catch (const NumericError& e) {
      throw NumericError(cat("sampling stopped at the final denoise of samples ", first_index, "-", first_index + count - 1, ": ", e.what()));
    }
    return x0;
  }
  return x;
}

}  // namespace tweedie::samplers
