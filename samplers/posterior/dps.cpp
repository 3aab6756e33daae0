#include "samplers/posterior/dps.h"

#include <cmath>
#include <string>

#include "kernels/axpby.h"
#include "kernels/broadcast.h"
#include "kernels/map.h"
#include "kernels/reduce.h"
#include "kernels/rows.h"
#include "samplers/finite.h"
#include "runtime/error.h"

namespace tweedie::samplers {
namespace {

constexpr const char* kName = "dps";

// Which distance the noise model calls for (dps.h).
struct Distance {
  enum class Kind { gaussian, poisson, binomial } kind = Kind::gaussian;
  CountModel counts;
};

Distance distance_of(const Likelihood& lik) {
  const NoiseModel& noise = lik.noise();
  // Every Gaussian model, diagonal or correlated, reports its covariance; the distance is DPS's plain
  // |y - A(x0)| for all of them (dps.h).
  if (noise.gaussian_covariance()) return {};
  Distance d;
  if (!noise.count_model(d.counts)) throw ArgumentError(cat(kName, ": needs Gaussian, Poisson or Binomial noise, not '", noise.describe(), "'"));
  d.kind = d.counts.law.family == CountFamily::poisson ? Distance::Kind::poisson : Distance::Kind::binomial;
  return d;
}

// The number of trials of every entry of an (n, output...) batch.
Tensor trials_of(Context& ctx, const Operator& op, const CountModel& m, std::int64_t n) {
  Tensor t = op.make_output(n, ctx.device());
  fill(ctx, t, m.trials.per_entry.defined() ? 1.0f : float(m.trials.value));
  if (m.trials.per_entry.defined()) multiply_repeated(ctx, t, m.trials.per_entry, t);
  return t;
}

// The flat f32 rows (N, per) of a batch, complex entries as two reals.
Tensor rows_of(const Tensor& t, std::int64_t n) {
  Tensor r = t.dtype() == DType::c64 ? t.view_as_real() : t;
  return r.reshape({n, r.numel() / n});
}

std::int64_t check_pair(const Context& ctx, const Likelihood& lik, const Tensor& y, const Tensor& x0) {
  const Operator& op = lik.op();
  const std::int64_t n = op.batch_of_input(ctx, x0, "x0");
  if (op.batch_of_output(ctx, y) != n)
    throw ShapeError(cat(kName, ": y has ", y.dim(0), " items, ", y.shape().str(), ", but x0 has ", n, ", ",
                         x0.shape().str()));
  return n;
}

// The distances of dps.h, and with dz set, their gradient in z = A(x0) (z's shape and type).
std::vector<double> distance_and_gradient(Context& ctx, const Likelihood& lik, const Distance& kind, const Tensor& y,
                                          const Tensor& x0, Tensor* dz) {
  const Operator& op = lik.op();
  const std::int64_t n = check_pair(ctx, lik, y, x0);
  Tensor z = op.make_output(n, ctx.device());
  op.apply(ctx, x0, z);
  // r = y - z (Gaussian), (y - mu) / sqrt(y + 1) (Poisson) or (y - mu) / sqrt(n p (1 - p)) with
  // p = (y + 1) / (n + 2) (Binomial), zero where nothing is observed.
  Tensor r = op.make_output(n, ctx.device()), mu, root, trials;
  const double s = kind.counts.law.scale;
  if (kind.kind == Distance::Kind::gaussian) {
    Tensor out = rows_of(r, n);  // complex entries as their two real parts
    sub(ctx, rows_of(y, n), rows_of(z, n), out);
  } else {
    mu = op.make_output(n, ctx.device());
    root = op.make_output(n, ctx.device());
    if (kind.kind == Distance::Kind::poisson) {
      unary(ctx, kind.counts.law.link == CountLink::exp ? UnaryOp::exp : UnaryOp::softplus, z, mu);
      scale(ctx, mu, float(s));
      fill(ctx, root, 1.0f);
      add(ctx, root, y, root);
    } else {
      trials = trials_of(ctx, op, kind.counts, n);
      unary(ctx, UnaryOp::sigmoid, z, mu);
      scale(ctx, mu, float(s));
      mul(ctx, mu, trials, mu);
      // n p (1 - p) = (y + 1) (n - y + 1) n / (n + 2)^2
      Tensor other = op.make_output(n, ctx.device());
      fill(ctx, root, 1.0f);
      add(ctx, root, y, root);  // y + 1
      fill(ctx, other, 1.0f);
      add(ctx, other, trials, other);
      sub(ctx, other, y, other);  // n - y + 1
      mul(ctx, root, other, root);
      mul(ctx, root, trials, root);
      fill(ctx, other, 2.0f);
      add(ctx, other, trials, other);  // n + 2
      div(ctx, root, other, root);
      div(ctx, root, other, root);
    }
    unary(ctx, UnaryOp::sqrt, root, root);
    sub(ctx, y, mu, r);
    div(ctx, r, root, r);
  }
  if (op.observed().defined()) multiply_repeated(ctx, r, op.observed(), r);
  std::vector<double> d = norm2_rows(ctx, rows_of(r, n), n);
  if (!dz) return d;

  // d|r| / dr = r / |r|, and dr / dz = -1 (Gaussian) or -mu'(z) / sqrt(y + 1) (Poisson).
  std::vector<double> f(d.size());
  for (std::size_t i = 0; i < d.size(); ++i) f[i] = d[i] > 0 ? -1.0 / d[i] : 0.0;
  axpby_rows(ctx, f, r, std::vector<double>(f.size(), 0.0), *dz);
  if (kind.kind != Distance::Kind::gaussian) {
    // mu' = mu for the exp link, s sigmoid(z) for softplus; n s sigmoid(z) sigmoid(-z) for Binomial.
    Tensor& slope = mu;
    if (kind.kind == Distance::Kind::binomial) {
      Tensor other = op.make_output(n, ctx.device());
      unary(ctx, UnaryOp::sigmoid, z, slope);
      unary(ctx, UnaryOp::neg, z, other);
      unary(ctx, UnaryOp::sigmoid, other, other);
      mul(ctx, slope, other, slope);
      scale(ctx, slope, float(s));
      mul(ctx, slope, trials, slope);
    } else if (kind.counts.law.link == CountLink::softplus) {
      unary(ctx, UnaryOp::sigmoid, z, slope);
      scale(ctx, slope, float(s));
    }
    mul(ctx, *dz, slope, *dz);
    div(ctx, *dz, root, *dz);
  }
  return d;
}

// The prior as the sampler sees it under DPS: each denoise() is a linearization, kept for the step's
// guidance. The step's hook (called right after the step's own denoise) pins the latest one, so that
// evaluations inside the step (Heun's second) are plain forward passes and do not replace it; the
// guidance takes it and unpins.
class LinearizingDenoiser final : public Denoiser {
 public:
  explicit LinearizingDenoiser(const Denoiser& prior) : prior_(prior) {}

  const Process& process() const override { return prior_.process(); }
  Shape item_shape() const override { return prior_.item_shape(); }

  void denoise(Context& ctx, const Tensor& xt, double t, Tensor& x0) const override {
    if (pinned_) prior_.denoise(ctx, xt, t, x0);
    else lin_ = prior_.linearize(ctx, xt, t, x0);
  }
  std::unique_ptr<DenoiserLinearization> linearize(Context& ctx, const Tensor& xt, double t, Tensor& x0) const override {
    return prior_.linearize(ctx, xt, t, x0);
  }
  void jvp(Context& ctx, const DenoiserLinearization& lin, const Tensor& v, Tensor& jv) const override {
    prior_.jvp(ctx, lin, v, jv);
  }
  void vjp(Context& ctx, const DenoiserLinearization& lin, const Tensor& u, Tensor& ju) const override {
    prior_.vjp(ctx, lin, u, ju);
  }

  void pin() const { pinned_ = true; }
  std::unique_ptr<DenoiserLinearization> take() const {
    pinned_ = false;
    if (!lin_) throw Error(cat(kName, ": the sampler stepped without a linearization of the prior"));
    return std::move(lin_);
  }

 private:
  const Denoiser& prior_;
  mutable std::unique_ptr<DenoiserLinearization> lin_;
  mutable bool pinned_ = false;
};

}  // namespace

std::vector<double> dps_distance(Context& ctx, const Likelihood& likelihood, const Tensor& y, const Tensor& x0) {
  return distance_and_gradient(ctx, likelihood, distance_of(likelihood), y, x0, nullptr);
}

std::vector<double> dps_gradient(Context& ctx, const Denoiser& prior, const DenoiserLinearization& lin, const Tensor& x0,
                                 const Likelihood& likelihood, const Tensor& y, Tensor& grad) {
  const Operator& op = likelihood.op();
  const std::int64_t n = check_pair(ctx, likelihood, y, x0);
  Tensor dz = op.make_output(n, ctx.device()), dx0 = op.make_input(n, ctx.device());
  std::vector<double> d = distance_and_gradient(ctx, likelihood, distance_of(likelihood), y, x0, &dz);
  op.vjp(ctx, x0, dz, dx0);
  prior.vjp(ctx, lin, dx0, grad);
  return d;
}

Tensor sample_dps(Context& ctx, const Denoiser& prior, const Likelihood& likelihood, const Tensor& y, const DpsOptions& dps,
                  const SamplerOptions& options, std::int64_t count, std::uint64_t seed, std::int64_t first_index,
                  const StepHook& hook, const Resumable& resumable) {
  if (!(dps.zeta >= 0) || !std::isfinite(dps.zeta))
    throw ArgumentError(cat(kName, ": zeta must be a finite number >= 0, not ", dps.zeta));
  const Operator& op = likelihood.op();
  if (op.input().dtype != DType::f32 || op.input().shape != prior.item_shape())
    throw ShapeError(cat(kName, ": the operator takes ", op.input().str(), " but the prior's items are ",
                         prior.item_shape().str(), " f32"));
  if (count < 1) throw ArgumentError(cat("the number of samples must be at least 1, not ", count));
  if (op.batch_of_output(ctx, y) != count)
    throw ShapeError(cat(kName, ": y has ", y.dim(0), " observations, ", y.shape().str(), ", but ", count,
                         " samples are drawn (one observation each)"));
  likelihood.validate(ctx, y, "dps: y");
  const Distance kind = distance_of(likelihood);

  LinearizingDenoiser wrapped(prior);
  StepHook pin = [&](const StepInfo& info) {
    wrapped.pin();
    if (hook) hook(info);
  };
  Tensor dz, dx0, grad;
  StepGuidance guide = [&](Context& c, const StepInfo& info, Tensor& x_next) {
    std::unique_ptr<DenoiserLinearization> lin = wrapped.take();
    if (dps.zeta == 0) return;  // exactly the prior's sampler, without the VJP
    if (!grad.defined()) {
      dz = op.make_output(count, c.device()), dx0 = op.make_input(count, c.device());
      grad = Tensor::empty(x_next.shape(), c.device());
    }
    distance_and_gradient(c, likelihood, kind, y, *info.x0, &dz);
    op.vjp(c, *info.x0, dz, dx0);
    prior.vjp(c, *lin, dx0, grad);
    require_finite(c, grad, "the likelihood gradient");
    axpby(c, float(-dps.zeta), grad, 1.0f, x_next);
  };
  // The last denoise is the prior's own: nothing follows it to guide.
  SamplerOptions o = options;
  o.denoise_last = false;
  Tensor x = sample(ctx, wrapped, o, count, seed, first_index, pin, guide, resumable);
  if (!options.denoise_last) return x;
  Tensor x0 = Tensor::empty(x.shape(), x.device());
  prior.denoise(ctx, x, prior.process().time_grid(options.steps).back(), x0);
  return x0;
}

}  // namespace tweedie::samplers
