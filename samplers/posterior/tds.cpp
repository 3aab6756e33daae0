#include "samplers/posterior/tds.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "kernels/axpby.h"
#include "kernels/broadcast.h"
#include "kernels/random.h"
#include "kernels/reduce.h"
#include "runtime/error.h"
#include "samplers/finite.h"
#include "samplers/operators/stacked_operator.h"
#include "samplers/posterior/observation_batch.h"

namespace tweedie::samplers {
namespace {

constexpr const char* kName = "tds";

// Resampling uniforms and final picks live in streams with the top bit set, apart from the particles'
// Gaussian noise ((step id << 40) + particle), so the two never share Philox output.
constexpr std::uint64_t kChoiceStreams = std::uint64_t(1) << 63;

std::uint64_t choice_stream(std::uint64_t step_id, std::int64_t row) {
  return kChoiceStreams | (step_id << 40) | std::uint64_t(row);
}

// Complex observations count as the real vectors of their parts (operator.h).
Tensor real_view(const Tensor& t) { return t.dtype() == DType::c64 ? t.view_as_real() : t; }

std::string operator_name(const Operator& op) { return cat("operator '", op.describe(), "'"); }

// log of sum exp, for normalising log weights without overflow.
double log_sum_exp(const std::vector<double>& v) {
  const double top = *std::max_element(v.begin(), v.end());
  if (!std::isfinite(top)) return top;
  double s = 0;
  for (double x : v) s += std::exp(x - top);
  return top + std::log(s);
}

// The indices at which the cumulative normalised weights pass each of the ascending positions in [0, 1).
std::vector<std::int64_t> inverse_cdf(const std::vector<double>& log_weights, const std::vector<double>& positions) {
  const double norm = log_sum_exp(log_weights);
  std::vector<std::int64_t> pick;
  double cumulative = 0;
  std::size_t j = 0;
  for (double position : positions) {
    while (j + 1 < log_weights.size() && cumulative + std::exp(log_weights[j] - norm) <= position)
      cumulative += std::exp(log_weights[j++] - norm);
    pick.push_back(std::int64_t(j));
  }
  return pick;
}

// Systematic resampling: K positions (u + k) / K, one uniform u for all of them (less variance than K
// independent draws).
std::vector<std::int64_t> systematic_indices(const std::vector<double>& log_weights, double u) {
  std::vector<double> positions;
  for (std::size_t i = 0; i < log_weights.size(); ++i) positions.push_back((u + double(i)) / double(log_weights.size()));
  return inverse_cdf(log_weights, positions);
}

// Rows `pick` of a batch (K, ...), as a new tensor.
Tensor gather_rows(const Tensor& t, const std::vector<std::int64_t>& pick) {
  Tensor out = Tensor::empty(t.shape(), t.device(), t.dtype());
  for (std::size_t i = 0; i < pick.size(); ++i) {
    Tensor row = out.slice(std::int64_t(i), 1);
    row.copy_from(t.slice(pick[i], 1));
  }
  return out;
}

void check_options(const TdsOptions& tds, const SamplerOptions& sampler) {
  if (tds.particles < 1) throw ArgumentError(cat(kName, ": the number of particles must be at least 1, not ", tds.particles));
  if (!(tds.resample_below >= 0 && tds.resample_below <= 1))
    throw ArgumentError(cat(kName, ": resample_below is a fraction of the particles in [0, 1], not ", tds.resample_below));
  if (tds.twist_variance != "sigma_t" && tds.twist_variance != "pigdm" && tds.twist_variance != "none")
    throw ArgumentError(cat(kName, ": twist variance '", tds.twist_variance, "' is not one of sigma_t, pigdm, none"));
  if (tds.krylov.max_iterations < 1)
    throw ArgumentError(cat(kName, ": the CG iterations must be at least 1, not ", tds.krylov.max_iterations));
  if (sampler.kind != "ddpm")
    throw ArgumentError(cat(kName, ": runs the DDPM ancestral chain; sampler kind '", sampler.kind, "' is not ddpm"));
  if (sampler.steps < 1) throw ArgumentError(cat(kName, ": sampler steps must be at least 1, not ", sampler.steps));
}

void check_problem(Context& ctx, const Denoiser& prior, const Likelihood& likelihood) {
  const std::string why = tds_unsupported(ctx, likelihood);
  if (!why.empty()) throw ArgumentError(cat(kName, ": ", why));
  const Operator& op = likelihood.op();
  if (op.input().dtype != DType::f32 || op.input().shape != prior.item_shape())
    throw ShapeError(cat(kName, ": ", operator_name(op), " takes ", op.input().str(), " but the prior's items are ",
                         prior.item_shape().str(), " f32"));
}

// psi_t and its gradient for a batch of n particles of one observation (tds.h).
class Twist {
 public:
  Twist(Context& ctx, const Denoiser& prior, const Likelihood& likelihood, const Tensor& y, const TdsOptions& tds, std::int64_t n)
      : prior_(prior), op_(likelihood.op()), tds_(tds), k_(n) {
    y_ = observation_batch(ctx, op_, y, k_, kName);
    if (tds.twist_variance == "none") return;
    // Sigma_y on the observed entries, 1 elsewhere: there the right-hand side is 0 and M the identity,
    // so CG never leaves the measured subspace.
    const Signal& out = op_.output();
    std::vector<float> v = likelihood.noise().gaussian_variance(ctx, out.shape).to_vector<float>();
    std::vector<float> seen = op_.observed().defined() ? op_.observed().to_vector<float>() : std::vector<float>(v.size(), 1.0f);
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (seen[i] == 0) v[i] = 1;
      else if (!(v[i] > 0) || !std::isfinite(v[i]))
        throw ArgumentError(cat(kName, ": the noise variance of ", operator_name(op_), " at entry ", i, " is ", v[i],
                                "; the twist needs positive variances"));
    }
    variance_ = Tensor::from_host(std::span<const float>(v), out.shape, ctx.device());
  }

  const Tensor& y() const { return y_; }
  bool twisted() const { return variance_.defined(); }

  // r_t^2, the variance of x given x_t that the twist assumes.
  double r2(double t) const {
    const double q = std::pow(prior_.process().sigma(t) / prior_.process().alpha(t), 2);
    return tds_.twist_variance == "pigdm" ? q / (1 + q) : q;
  }

  // At x (n, item...) and t: x0 = E[x | x_t], grad = grad log psi_t(x) and the log psi_t of each particle
  // (without log det M_t, one number for all particles). Untwisted: psi = 1, grad = 0, a plain forward.
  std::vector<double> evaluate(Context& ctx, const Tensor& x, double t, Tensor& x0, Tensor& grad) const {
    if (!twisted()) {
      prior_.denoise(ctx, x, t, x0);
      require_finite(ctx, x0, "the prior denoiser");
      fill(ctx, grad, 0.0f);
      return std::vector<double>(std::size_t(k_), 0.0);
    }
    std::unique_ptr<DenoiserLinearization> lin = prior_.linearize(ctx, x, t, x0);
    require_finite(ctx, x0, "the prior denoiser");
    const Device dev = ctx.device();
    const Tensor& seen = op_.observed();
    // r = P (y - A E)
    Tensor r = op_.make_output(k_, dev);
    op_.apply(ctx, x0, r);
    {
      Tensor rr = real_view(r);
      axpby(ctx, 1.0f, real_view(y_), -1.0f, rr);
    }
    if (seen.defined()) multiply_repeated(ctx, r, seen, r);
    // M u = Sigma_y u + r_t^2 P A A^T P u
    const float spread = float(r2(t));
    Tensor pu = op_.make_output(k_, dev), su = op_.make_output(k_, dev), xa = op_.make_input(k_, dev);
    LinearMap m = [&](Context& c, const Tensor& u, Tensor& out) {
      const Tensor* in = &u;
      if (seen.defined()) {
        multiply_repeated(c, u, seen, pu);
        in = &pu;
      }
      op_.adjoint(c, *in, xa);
      op_.apply(c, xa, out);
      if (seen.defined()) multiply_repeated(c, out, seen, out);
      multiply_repeated(c, u, variance_, su);
      Tensor o = real_view(out);
      axpby(c, 1.0f, real_view(su), spread, o);
    };
    Tensor v = op_.make_output(k_, dev);
    conjugate_gradient(ctx, m, r, v, tds_.krylov);
    require_finite(ctx, v, "the CG solve of the twist");
    std::vector<double> log_psi = dot_rows(ctx, real_view(r), real_view(v), k_);
    for (double& l : log_psi) l *= -0.5;
    // grad = J^T A^T M^{-1} r
    op_.adjoint(ctx, v, xa);
    prior_.vjp(ctx, *lin, xa, grad);
    require_finite(ctx, grad, "the twist's gradient");
    return log_psi;
  }

 private:
  const Denoiser& prior_;
  const Operator& op_;
  const TdsOptions& tds_;
  std::int64_t k_;
  Tensor y_, variance_;
};

}  // namespace

double effective_sample_size(const std::vector<double>& log_weights) {
  if (log_weights.empty()) return 0;
  const double top = *std::max_element(log_weights.begin(), log_weights.end());
  if (!std::isfinite(top)) return 0;
  double s = 0, s2 = 0;
  for (double l : log_weights) {
    const double w = std::exp(l - top);
    s += w;
    s2 += w * w;
  }
  return s * s / s2;
}

std::string tds_unsupported(Context& ctx, const Likelihood& likelihood) {
  const Operator& op = likelihood.op();
  if (!op.is_linear())
    return cat(operator_name(op), " is nonlinear; the twisting function needs a linear operator (DPS takes this one)");
  if (dynamic_cast<const StackedOperator*>(&op))
    return cat(operator_name(op), " holds one operator per observation; run each observation with its own operator");
  return independent_gaussian_refusal(ctx, likelihood.noise(), op.output().shape,
                                      "the twisting function is built for a diagonal Sigma_y");
}

std::vector<double> tds_twist(Context& ctx, const Denoiser& prior, const Likelihood& likelihood, const Tensor& y,
                              const TdsOptions& tds, const Tensor& x, double t, Tensor& x0, Tensor& grad) {
  check_options(tds, SamplerOptions{.kind = "ddpm"});
  check_problem(ctx, prior, likelihood);
  if (likelihood.op().batch_of_output(ctx, y) != 1)
    throw ShapeError(cat(kName, ": the twist conditions on one observation; y is ", y.shape().str()));
  const std::int64_t n = likelihood.op().batch_of_input(ctx, x);
  likelihood.op().batch_of_input(ctx, x0, "x0");
  likelihood.op().batch_of_input(ctx, grad, "grad");
  if (x0.dim(0) != n || grad.dim(0) != n)
    throw ShapeError(cat(kName, ": x is ", x.shape().str(), " but x0 is ", x0.shape().str(), " and grad ", grad.shape().str()));
  return Twist(ctx, prior, likelihood, y, tds, n).evaluate(ctx, x, t, x0, grad);
}

TdsRun run_tds(Context& ctx, const Denoiser& prior, const Likelihood& likelihood, const Tensor& y, const TdsOptions& tds,
               const SamplerOptions& sampler, std::uint64_t seed, std::int64_t row, const StepHook& hook) {
  check_options(tds, sampler);
  check_problem(ctx, prior, likelihood);
  if (likelihood.op().batch_of_output(ctx, y) != 1)
    throw ShapeError(cat(kName, ": one run conditions on one observation; y is ", y.shape().str()));
  if (row < 0 || row >= (std::int64_t(1) << 40) / tds.particles)
    throw ArgumentError(cat(kName, ": row ", row, " is outside the noise streams of ", tds.particles, " particles"));
  likelihood.validate(ctx, y, "tds: y");

  const std::int64_t k = tds.particles;
  const Twist twist(ctx, prior, likelihood, y, tds, k);
  const Process& p = prior.process();
  const std::vector<double> grid = p.time_grid(sampler.steps);
  const int steps = int(grid.size()) - 1;
  const Shape shape = batched(k, prior.item_shape());
  const Device dev = ctx.device();
  // Particle k of this row draws what sample() draws for sample row * K + k.
  const std::int64_t first = row * k;

  Tensor x = Tensor::empty(shape, dev), x0 = Tensor::empty(shape, dev), grad = Tensor::empty(shape, dev);
  Tensor z = Tensor::empty(shape, dev);
  fill_normal(ctx, x, sample_noise_stream(seed, 0, first), 0.0f, float(std::hypot(p.alpha(grid.front()), p.sigma(grid.front()))), k);

  TdsRun run;
  std::vector<double> log_psi;
  try {
    log_psi = twist.evaluate(ctx, x, grid.front(), x0, grad);
  } catch (const NumericError& e) {
    throw NumericError(cat(kName, ": stopped at the initial twist (t = ", grid.front(), ") of row ", row, ": ", e.what()));
  }
  std::vector<double> log_w = log_psi;
  auto normalise = [&](int step) {
    const double norm = log_sum_exp(log_w);
    if (!std::isfinite(norm) || std::any_of(log_w.begin(), log_w.end(), [](double l) { return std::isnan(l); }))
      throw NumericError(cat(kName, ": every weight of row ", row, " vanished or is not finite after step ", step, "/", steps));
    for (double& l : log_w) l -= norm;
    run.ess.push_back(effective_sample_size(log_w));
  };
  normalise(0);

  std::uint64_t noise_id = 1;
  for (int n = 0; n < steps; ++n) {
    const double t = grid[std::size_t(n)], s = grid[std::size_t(n) + 1];
    const bool last = n + 1 == steps;
    if (k > 1 && run.ess.back() < tds.resample_below * double(k)) {
      const double u = uniform_at(seed, choice_stream(std::uint64_t(n), row), 0);
      const std::vector<std::int64_t> pick = systematic_indices(log_w, u);
      x = gather_rows(x, pick), x0 = gather_rows(x0, pick), grad = gather_rows(grad, pick);
      std::vector<double> psi(log_psi.size());
      for (std::size_t i = 0; i < pick.size(); ++i) psi[i] = log_psi[std::size_t(pick[i])];
      log_psi = psi;
      std::fill(log_w.begin(), log_w.end(), -std::log(double(k)));
      ++run.resamplings;
    }
    if (hook) hook(StepInfo{n, steps, t, s, &x, &x0});

    try {
      // The DDPM mean m(x_t), as sample()'s ddpm step forms it (same expressions, same rounding).
      const double at = p.alpha(t), st = p.sigma(t), as = p.alpha(s), ss = p.sigma(s);
      const double ats = at / as, s2ts = st * st - ats * ats * ss * ss;
      const double var = s2ts * ss * ss / (st * st);
      Tensor mean = Tensor::empty(shape, dev);
      mean.copy_from(x0);
      axpby(ctx, float(ats * ss * ss / (st * st)), x, float(as * s2ts / (st * st)), mean);
      x = mean;
      if (last) {
        // The deterministic last step, then the true likelihood at the output in place of psi.
        Tensor out = x;
        if (sampler.denoise_last) {
          out = Tensor::empty(shape, dev);
          prior.denoise(ctx, x, grid.back(), out);
        }
        require_finite(ctx, out, "the last step");
        const std::vector<double> log_lik = likelihood.log_likelihood(ctx, twist.y(), out);
        for (std::size_t i = 0; i < log_w.size(); ++i) log_w[i] += log_lik[i] - log_psi[i];
        x = out;
      } else {
        fill_normal(ctx, z, sample_noise_stream(seed, noise_id++, first), 0.0f, 1.0f, k);
        std::vector<double> pq(std::size_t(k), 0.0);
        if (twist.twisted()) {
          const std::vector<double> gg = dot_rows(ctx, grad, grad, k), gz = dot_rows(ctx, grad, z, k);
          for (std::size_t i = 0; i < pq.size(); ++i) pq[i] = -0.5 * var * gg[i] - std::sqrt(var) * gz[i];
          axpby(ctx, float(var), grad, 1.0f, x);
        }
        axpby(ctx, float(std::sqrt(var)), z, 1.0f, x);
        require_finite(ctx, x, "the proposal");
        const std::vector<double> next = twist.evaluate(ctx, x, s, x0, grad);
        for (std::size_t i = 0; i < log_w.size(); ++i) log_w[i] += pq[i] + next[i] - log_psi[i];
        log_psi = next;
      }
    } catch (const NumericError& e) {
      throw NumericError(cat(kName, ": stopped at step ", n + 1, "/", steps, " (t = ", t, ") of row ", row, ": ", e.what()));
    }
    normalise(n + 1);
  }
  run.particles = x;
  run.log_weights = log_w;
  return run;
}

Tensor sample_tds(Context& ctx, const Denoiser& prior, const Likelihood& likelihood, const Tensor& y, const TdsOptions& tds,
                  const SamplerOptions& sampler, std::int64_t count, std::uint64_t seed, std::int64_t first_index,
                  const StepHook& hook) {
  check_options(tds, sampler);
  check_problem(ctx, prior, likelihood);
  if (count < 1) throw ArgumentError(cat(kName, ": the number of samples must be at least 1, not ", count));
  if (likelihood.op().batch_of_output(ctx, y) != count)
    throw ShapeError(cat(kName, ": y has ", y.dim(0), " observations, ", y.shape().str(), ", but ", count,
                         " samples are drawn (one observation each)"));
  if (first_index < 0) throw ArgumentError(cat(kName, ": the first row index must be >= 0, not ", first_index));
  Tensor out = Tensor::empty(batched(count, prior.item_shape()), ctx.device());
  for (std::int64_t i = 0; i < count; ++i) {
    const std::int64_t row = first_index + i;
    const TdsRun run = run_tds(ctx, prior, likelihood, y.slice(i, 1), tds, sampler, seed, row, hook);
    // One particle by the final weights, its uniform keyed past the last resampling step.
    const double u = uniform_at(seed, choice_stream(std::uint64_t(sampler.steps) + 1, row), 0);
    const std::int64_t pick = inverse_cdf(run.log_weights, {u})[0];
    Tensor dst = out.slice(i, 1);
    dst.copy_from(run.particles.slice(pick, 1));
  }
  return out;
}

}  // namespace tweedie::samplers
