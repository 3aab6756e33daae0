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

RandomStream sample_noise_stream(std::uint64_t seed, std::uint64_t step_id, std::int64_t first_index) {
  return {seed, (step_id << 40) + std::uint64_t(first_index)};
}

namespace {

RandomStream noise_stream(std::uint64_t seed, std::uint64_t step_id, std::int64_t first_index) {
  return sample_noise_stream(seed, step_id, first_index);
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

// ---- Multistep solvers of the probability-flow ODE with the data prediction (dpm++2m, eab) ----
//
// In lambda = log(alpha / sigma), with D(lambda) = E[x | x_lambda], the probability-flow ODE has the
// exact solution (DPM-Solver++, eq. 9, with sigma_s e^{lambda_t + u} = alpha_s e^{u - h})
//
//   x_s = (sigma_s / sigma_t) x_t + alpha_s int_0^h e^{u - h} D(lambda_t + u) du,   h = lambda_s - lambda_t,
//
// so a step only has to approximate D on [lambda_t, lambda_s]. Both kinds replace it by a polynomial in
// u = lambda - lambda_t through the current and earlier data predictions and integrate it exactly, which
// makes a step x_s = (sigma_s / sigma_t) x_t + alpha_s sum_i w_i D_i.

bool is_multistep(const std::string& kind) { return kind == "dpm++2m" || kind == "eab"; }

// The data predictions a step of `kind` reads: its own and order - 1 earlier ones.
int multistep_order(const SamplerOptions& o) { return o.kind == "eab" ? o.order : 2; }

// I_j(h) = int_0^h e^{u - h} u^j du in double. For |h| <= 1 by the series h^{j+1} j! sum_n (-h)^n / (j+n+1)!
// (from expanding e^{-h(1-r)} with u = h r), which keeps its relative accuracy as h -> 0 where the
// recurrence cancels; beyond, by parts: I_0 = 1 - e^{-h}, I_j = h^j - j I_{j-1}.
double exp_moment(int j, double h) {
  if (std::abs(h) <= 1.0) {
    double term = std::pow(h, j + 1) / (j + 1), sum = 0;
    for (int n = 0; n < 60 && std::abs(term) > 1e-18 * std::abs(sum); ++n) {
      sum += term;
      term *= -h / (j + n + 2);
    }
    return sum;
  }
  double moment = -std::expm1(-h);
  for (int k = 1; k <= j; ++k) moment = std::pow(h, k) - k * moment;
  return moment;
}

// Exponential Adams-Bashforth weights: nodes[0] = 0 (the current step) and nodes[i] = lambda of the
// i-th earlier prediction minus lambda_t (< 0); w_i = int_0^h e^{u - h} L_i(u) du, L_i the Lagrange basis
// polynomial of node i, written in u and integrated term by term with I_j.
std::vector<double> eab_weights(const std::vector<double>& nodes, double h) {
  const std::size_t k = nodes.size();
  std::vector<double> weights(k, 0.0);
  for (std::size_t i = 0; i < k; ++i) {
    std::vector<double> coeffs{1.0};  // of L_i in powers of u, lowest first
    for (std::size_t m = 0; m < k; ++m) {
      if (m == i) continue;
      const double scale = 1.0 / (nodes[i] - nodes[m]);
      std::vector<double> next(coeffs.size() + 1, 0.0);
      for (std::size_t p = 0; p < coeffs.size(); ++p) {  // coeffs * (u - nodes[m]) * scale
        next[p + 1] += coeffs[p] * scale;
        next[p] -= coeffs[p] * nodes[m] * scale;
      }
      coeffs = std::move(next);
    }
    for (std::size_t p = 0; p < coeffs.size(); ++p) weights[i] += coeffs[p] * exp_moment(int(p), h);
  }
  return weights;
}

// DPM-Solver++(2M)'s weights (Lu et al. 2022, algorithm 2): with r = h_prev / h, D = (1 + 1/(2r)) D_0 -
// 1/(2r) D_1 held constant over the step. Against eab order 2 (exact I_1 on the same line through D_1,
// D_0) it replaces I_1 = h - I_0 by h I_0 / 2: both are h^2 / 2 + O(h^3), so both are second order and
// differ by O(h^3) per step.
std::vector<double> dpmpp_2m_weights(double h_prev, double h) {
  const double i0 = -std::expm1(-h), half_over_r = 0.5 * h / h_prev;
  return {i0 * (1 + half_over_r), -i0 * half_over_r};
}

// One multistep step from x at grid point n to n + 1. `lambda` holds log(alpha / sigma) at every grid
// point; `past` the earlier data predictions, newest first (of grid points n - 1, n - 2, ...).
void step_multistep(Loop& L, Tensor& x, const Tensor& x0, const std::vector<Tensor>& past, const std::vector<double>& lambda,
                    int n, double t, double s, bool few_steps_last) {
  const double h = lambda[n + 1] - lambda[n];
  std::vector<double> weights;
  if (L.o.kind == "dpm++2m") {
    // The reference implementation (dpm_solver_pytorch's lower_order_final) takes the last step at first
    // order below 10 steps: there the last step is long and extrapolating through D_1 is unstable.
    if (past.empty() || few_steps_last) weights = {-std::expm1(-h)};
    else weights = dpmpp_2m_weights(lambda[n] - lambda[n - 1], h);
  } else {
    std::vector<double> nodes{0.0};
    for (std::size_t i = 0; i < past.size() && int(nodes.size()) < L.o.order; ++i) nodes.push_back(lambda[n - 1 - i] - lambda[n]);
    weights = eab_weights(nodes, h);
  }
  const double as = L.p.alpha(s);
  axpby(L.ctx, float(as * weights[0]), x0, float(L.p.sigma(s) / L.p.sigma(t)), x);
  for (std::size_t i = 1; i < weights.size(); ++i) axpby(L.ctx, float(as * weights[i]), past[i - 1], 1.0f, x);
}

// log(alpha / sigma) at every grid point; the multistep kinds need it finite and increasing (each step
// divides by the spacing of earlier ones).
std::vector<double> lambda_grid(const Process& p, const std::vector<double>& grid, const std::string& kind) {
  std::vector<double> lambda;
  for (std::size_t i = 0; i < grid.size(); ++i) {
    const double a = p.alpha(grid[i]), s = p.sigma(grid[i]);
    if (!(a > 0) || !(s > 0) || !std::isfinite(a) || !std::isfinite(s))
      throw ArgumentError(cat("sampler '", kind, "' needs alpha > 0 and sigma > 0 on the time grid; ", p.name(), " has alpha = ", a,
                              ", sigma = ", s, " at t = ", grid[i]));
    lambda.push_back(std::log(a) - std::log(s));
    if (i > 0 && !(lambda[i] > lambda[i - 1]))
      throw ArgumentError(cat("sampler '", kind, "' needs log(alpha / sigma) to increase along the time grid; ", p.name(),
                              " has ", lambda[i - 1], " at t = ", grid[i - 1], " and ", lambda[i], " at t = ", grid[i]));
  }
  return lambda;
}

}  // namespace

std::vector<std::string> sampler_kinds() {
  return {"em", "ode-euler", "ode-heun", "pc", "ddpm", "ddim", "edm-heun", "dpm++2m", "eab"};
}

std::string sampler_kind_list() {
  std::string list;
  for (const std::string& k : sampler_kinds()) list += (list.empty() ? "" : ", ") + k;
  return list;
}

Tensor sample(Context& ctx, const Denoiser& denoiser, const SamplerOptions& o, std::int64_t count, std::uint64_t seed,
              std::int64_t first_index, const StepHook& hook, const StepGuidance& guidance, const Resumable& resumable) {
  const std::vector<std::string> kinds = sampler_kinds();
  if (std::find(kinds.begin(), kinds.end(), o.kind) == kinds.end()) {
    throw ArgumentError(cat("unknown sampler '", o.kind, "' (known: ", sampler_kind_list(), ")"));
  }
  if (o.steps < 1) throw ArgumentError(cat("sampler steps must be at least 1, not ", o.steps));
  if (count < 1) throw ArgumentError(cat("the number of samples must be at least 1, not ", count));
  if (o.kind == "ddim" && (o.eta < 0 || o.eta > 1)) throw ArgumentError(cat("ddim eta must lie in [0, 1], not ", o.eta));
  if (o.kind == "pc" && (o.snr <= 0 || o.corrector_steps < 0)) throw ArgumentError("pc needs snr > 0 and corrector steps >= 0");
  if (o.kind == "eab" && (o.order < 1 || o.order > 3)) throw ArgumentError(cat("sampler 'eab' takes order 1, 2 or 3, not ", o.order));
  const Process& p = denoiser.process();
  if (o.kind == "em" || o.kind == "ode-euler" || o.kind == "ode-heun" || o.kind == "pc") require_continuous(p, o.kind);

  Shape item = denoiser.item_shape();
  std::vector<std::int64_t> dims{count};
  for (int i = 0; i < item.rank(); ++i) dims.push_back(item[i]);
  Tensor x = Tensor::empty(Shape(std::span<const std::int64_t>(dims)), ctx.device());
  Loop L{ctx, denoiser, p, o, seed, first_index, count};

  const std::vector<double> grid = p.time_grid(o.steps);
  const int steps = int(grid.size()) - 1;
  const bool multistep = is_multistep(o.kind);
  const std::vector<double> lambda = multistep ? lambda_grid(p, grid, o.kind) : std::vector<double>();
  // The earlier data predictions a multistep step reads, newest first.
  const std::size_t keep = multistep ? std::size_t(multistep_order(o) - 1) : 0;
  std::vector<Tensor> history;
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
    const std::size_t expected = std::min(std::size_t(start), keep);
    if (r.x0_history.size() != expected)
      throw ArgumentError(cat("cannot resume sampler '", o.kind, "' at step ", start, ": it needs the data predictions of ", expected,
                              " earlier steps, the saved state has ", r.x0_history.size()));
    for (const Tensor& past : r.x0_history) {
      if (!past.defined() || !(past.shape() == x.shape()))
        throw ArgumentError(cat("cannot resume sampler '", o.kind, "': a saved data prediction is ",
                                past.defined() ? past.shape().str() : std::string("missing"), ", not ", x.shape().str()));
      history.push_back(L.like(x));
      history.back().copy_from(past);
    }
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
      else if (multistep) step_multistep(L, x, x0, history, lambda, n, t, s, last && steps < 10);
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
    if (keep > 0) {
      // The history keeps the denoiser's output as it was, even when the guidance has moved x_next since:
      // guidance acts on x alone, and the next steps interpolate what the denoiser returned.
      history.insert(history.begin(), x0);
      if (history.size() > keep) {
        x0 = history.back();  // the oldest buffer is free again
        history.pop_back();
      } else {
        x0 = L.like(x);
      }
    }
    if (resumable.after_step) resumable.after_step(SamplerState{n + 1, L.next_noise, x, history});
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
