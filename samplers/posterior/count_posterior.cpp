#include "samplers/posterior/count_posterior.h"

#include <bit>
#include <cmath>
#include <vector>

#include "kernels/axpby.h"
#include "kernels/broadcast.h"
#include "kernels/conjugate_fit.h"
#include "kernels/map.h"
#include "kernels/random.h"
#include "kernels/rows.h"
#include "runtime/error.h"
#include "samplers/finite.h"
#include "samplers/gaussian_denoiser.h"
#include "samplers/mixture_denoiser.h"
#include "samplers/posterior/observation_batch.h"

namespace tweedie::samplers {
namespace {

constexpr const char* kName = "count posterior";
constexpr std::int64_t kExactLimit = 4096;

enum class VarianceKind { exact, probes, heuristic, none };

// The output space's unit vectors, `rows` copies of each: item j * rows + b holds e_j (b < rows).
Tensor unit_probes(const Operator& op, std::int64_t first, std::int64_t count, std::int64_t rows, Device device) {
  const std::int64_t p = op.output().shape.numel();
  std::vector<float> host(std::size_t(count * rows * p), 0.0f);
  for (std::int64_t j = 0; j < count; ++j)
    for (std::int64_t b = 0; b < rows; ++b) host[std::size_t((j * rows + b) * p + first + j)] = 1.0f;
  return Tensor::from_host(std::span<const float>(host), batched(count * rows, op.output().shape), device);
}

// diag(A A^T), in chunks of 256 unit vectors: the heuristic's per-entry gain.
std::vector<float> operator_gram_diagonal(Context& ctx, const Operator& op) {
  const std::int64_t p = op.output().shape.numel();
  std::vector<float> diag(static_cast<std::size_t>(p));
  for (std::int64_t first = 0; first < p; first += 256) {
    const std::int64_t count = std::min<std::int64_t>(256, p - first);
    Tensor e = unit_probes(op, first, count, 1, ctx.device());
    Tensor back = op.make_input(count, ctx.device()), out = op.make_output(count, ctx.device());
    op.adjoint(ctx, e, back);
    op.apply(ctx, back, out);
    std::vector<float> h = out.to(Device::cpu()).to_vector<float>();
    for (std::int64_t j = 0; j < count; ++j) diag[std::size_t(first + j)] = h[std::size_t(j * p + first + j)];
  }
  return diag;
}

class CountPosterior final : public PosteriorDenoiser {
 public:
  CountPosterior(std::shared_ptr<const Denoiser> prior, std::shared_ptr<const Operator> op, std::shared_ptr<const NoiseModel> noise,
                 Tensor y, const CountPosteriorOptions& options)
      : PosteriorDenoiser(kName), prior_(std::move(prior)), op_(std::move(op)), y_(std::move(y)), options_(options) {
    if (!prior_) throw ArgumentError(cat(kName, ": no prior denoiser"));
    if (!op_ || !noise) throw ArgumentError(cat(kName, ": no operator or noise model"));
    const std::string name = cat("operator '", op_->describe(), "'");
    if (!noise->count_model(model_))
      throw ArgumentError(cat(kName, ": noise '", noise->describe(), "' is not a count model (Poisson or Binomial)"));
    if (!op_->is_linear())
      throw ArgumentError(cat(kName, ": ", name, " is nonlinear; the count methods need a linear operator (use DPS for this one)"));
    if (op_->input().dtype != DType::f32 || op_->input().shape != prior_->item_shape())
      throw ShapeError(cat(kName, ": ", name, " takes ", op_->input().str(), " but the prior's items are ",
                           prior_->item_shape().str(), " f32"));
    if (op_->output().dtype != DType::f32) throw ArgumentError(cat(kName, ": ", name, " gives complex values; counts are real"));
    if (!y_.defined()) throw ArgumentError(cat(kName, ": y is undefined"));
    op_->check_observations(y_, kName);
    if (y_.dim(0) < 1) throw ShapeError(cat(kName, ": y is ", y_.str(), ", expected at least one observation"));
    if (options_.method != "mmps" && options_.method != "evidence")
      throw ArgumentError(cat(kName, ": method '", options_.method, "' is not one of mmps, evidence"));
    if (!(options_.clip >= 0) || !std::isfinite(options_.clip))
      throw ArgumentError(cat(kName, ": clip must be a finite number >= 0, not ", options_.clip));
    const std::int64_t entries = op_->output().shape.numel();
    const bool exact_prior = dynamic_cast<const GaussianDenoiser*>(prior_.get()) || dynamic_cast<const MixtureDenoiser*>(prior_.get());
    const std::string& v = options_.variance;
    if (v == "auto") variance_ = exact_prior && entries <= kExactLimit ? VarianceKind::exact : VarianceKind::probes;
    else if (v == "exact") variance_ = VarianceKind::exact;
    else if (v == "probes") variance_ = VarianceKind::probes;
    else if (v == "heuristic") variance_ = VarianceKind::heuristic;
    else if (v == "none") variance_ = VarianceKind::none;
    else throw ArgumentError(cat(kName, ": variance '", v, "' is not one of auto, exact, probes, heuristic, none"));
    if (variance_ == VarianceKind::exact && entries > kExactLimit)
      throw ArgumentError(cat(kName, ": variance 'exact' needs one covariance product per measured entry, and ", name, " has ",
                              entries, " (more than ", kExactLimit, "); use probes"));
    if (variance_ == VarianceKind::probes && options_.probes < 1)
      throw ArgumentError(cat(kName, ": probes must be at least 1, not ", options_.probes));
    gaussian_prior_ = dynamic_cast<const GaussianDenoiser*>(prior_.get()) != nullptr;
    if (options_.inference) {
      if (options_.method != "evidence")
        throw ArgumentError(cat(kName, ": an inference network gives the evidence trick's hyperparameters; method '", options_.method,
                                "' does not use them"));
      options_.inference->check_problem(prior_->item_shape(), *op_, *noise, "inference network");
      if (options_.inference->process().name() != prior_->process().name())
        throw ArgumentError(cat(kName, ": the inference network was trained on x_t of the '", options_.inference->process().name(),
                                "' process, but the prior samples with '", prior_->process().name(), "'"));
    }
  }

  const Process& process() const override { return prior_->process(); }
  Shape item_shape() const override { return prior_->item_shape(); }

  void denoise(Context& ctx, const Tensor& xt, double t, Tensor& x0) const override;


 private:
  void denoise_with_network(Context& ctx, const Tensor& xt, double t, const Tensor& y, Tensor& x0) const;
  void clip_gradient(Context& ctx, Tensor& grad) const;
  mutable std::int64_t inference_calls_ = 0;
  void covariance(Context& ctx, const DenoiserLinearization& lin, const Tensor& in, Tensor& out) const {
    tweedie_covariance(ctx, *prior_, lin, in, out, options_.by_vjp);
  }
  // v = diag(A C A^T) per item, (n, output...).
  Tensor output_variance(Context& ctx, const Tensor& xt, double t, const DenoiserLinearization& lin) const;
  Tensor exact_variance(Context& ctx, const Tensor& xt, double t, const DenoiserLinearization& lin) const;
  Tensor probe_variance(Context& ctx, double t, const DenoiserLinearization& lin, std::int64_t n) const;

  std::shared_ptr<const Denoiser> prior_;
  std::shared_ptr<const Operator> op_;
  Tensor y_;
  CountPosteriorOptions options_;
  CountModel model_;
  VarianceKind variance_ = VarianceKind::exact;
  bool gaussian_prior_ = false;
  mutable std::vector<float> gram_;  // heuristic: diag(A A^T), once
};

Tensor CountPosterior::exact_variance(Context& ctx, const Tensor& xt, double t, const DenoiserLinearization& lin) const {
  const std::int64_t n = xt.dim(0), p = op_->output().shape.numel();
  const Device dev = ctx.device();
  // A Gaussian prior's C is the same at every x_t: products at the batch's first item serve all.
  std::unique_ptr<DenoiserLinearization> first;
  const DenoiserLinearization* at = &lin;
  std::int64_t rows = n;
  if (gaussian_prior_ && n > 1) {
    Tensor x0 = Tensor::empty(batched(1, prior_->item_shape()), dev);
    first = prior_->linearize(ctx, xt.slice(0, 1), t, x0);
    at = first.get();
    rows = 1;
  }
  Tensor e = unit_probes(*op_, 0, p, rows, dev);
  Tensor back = op_->make_input(p * rows, dev), cov = op_->make_input(p * rows, dev), out = op_->make_output(p * rows, dev);
  op_->adjoint(ctx, e, back);
  covariance(ctx, *at, back, cov);
  op_->apply(ctx, cov, out);
  std::vector<float> h = out.to(Device::cpu()).to_vector<float>(), v(std::size_t(n * p));
  for (std::int64_t b = 0; b < n; ++b)
    for (std::int64_t j = 0; j < p; ++j) v[std::size_t(b * p + j)] = h[std::size_t((j * rows + b % rows) * p + j)];
  return Tensor::from_host(std::span<const float>(v), batched(n, op_->output().shape), dev);
}

Tensor CountPosterior::probe_variance(Context& ctx, double t, const DenoiserLinearization& lin, std::int64_t n) const {
  const std::int64_t k = options_.probes, p = op_->output().shape.numel();
  const Device dev = ctx.device();
  // Rademacher signs from Philox: key (seed, the bits of t), element index within the (k n, P) block.
  std::vector<float> signs(std::size_t(k * n * p));
  const std::uint64_t stream = std::bit_cast<std::uint64_t>(t);
  for (std::size_t i = 0; i < signs.size(); ++i) signs[i] = uniform_at(options_.seed, stream, i) < 0.5f ? -1.0f : 1.0f;
  Tensor r = Tensor::from_host(std::span<const float>(signs), batched(k * n, op_->output().shape), dev);
  Tensor back = op_->make_input(k * n, dev), cov = op_->make_input(k * n, dev), out = op_->make_output(k * n, dev);
  op_->adjoint(ctx, r, back);
  covariance(ctx, lin, back, cov);
  op_->apply(ctx, cov, out);
  mul(ctx, out, r, out);  // r_i (A C A^T r)_i, whose mean over probes is the diagonal
  Tensor v = op_->make_output(n, dev);
  fill(ctx, v, 0.0f);
  for (std::int64_t j = 0; j < k; ++j) axpby(ctx, float(1.0 / double(k)), out.slice(j * n, n), 1.0f, v);
  Tensor zero = op_->make_output(n, dev);
  fill(ctx, zero, 0.0f);
  binary(ctx, BinaryOp::maximum, v, zero, v);
  return v;
}

Tensor CountPosterior::output_variance(Context& ctx, const Tensor& xt, double t, const DenoiserLinearization& lin) const {
  const std::int64_t n = xt.dim(0);
  const Device dev = ctx.device();
  switch (variance_) {
    case VarianceKind::exact: return exact_variance(ctx, xt, t, lin);
    case VarianceKind::probes: return probe_variance(ctx, t, lin, n);
    case VarianceKind::heuristic: {
      if (gram_.empty()) gram_ = operator_gram_diagonal(ctx, *op_);
      const double a = process().alpha(t), s = process().sigma(t);
      Tensor gain = Tensor::from_host(std::span<const float>(gram_), op_->output().shape, dev);
      Tensor v = op_->make_output(n, dev);
      fill(ctx, v, float(s * s / (a * a + s * s)));
      multiply_repeated(ctx, v, gain, v);
      return v;
    }
    case VarianceKind::none: break;
  }
  Tensor v = op_->make_output(n, dev);
  fill(ctx, v, 0.0f);
  return v;
}

void CountPosterior::denoise(Context& ctx, const Tensor& xt, double t, Tensor& x0) const {
  if (!xt.defined() || xt.rank() < 1) throw ShapeError(cat(kName, ": x_t must be a batch (N, ", item_shape().str().substr(1)));
  const std::int64_t n = xt.dim(0);
  const Device dev = ctx.device();
  const Tensor y = observation_batch(ctx, *op_, y_, n, kName);
  if (model_.trials.per_entry.defined() && model_.trials.per_entry.device() != dev)
    throw DeviceError(cat(kName, ": the number of trials is on ", model_.trials.per_entry.device().str(), " but the context runs on ", dev.str()));

  if (options_.inference) {
    denoise_with_network(ctx, xt, t, y, x0);
    return;
  }
  auto lin = prior_->linearize(ctx, xt, t, x0);
  require_finite(ctx, x0, "the prior denoiser");
  Tensor mu = op_->make_output(n, dev);
  op_->apply(ctx, x0, mu);
  const Tensor v = output_variance(ctx, xt, t, *lin);
  const Tensor& seen = op_->observed();
  const double a = process().alpha(t), s = process().sigma(t);

  if (options_.method == "evidence") {
    // E[x | x_t, y] = E + (sigma^2 / alpha) J^T A^T d, d the per-entry evidence score in mu.
    Tensor d = op_->make_output(n, dev), back = op_->make_input(n, dev), grad = op_->make_input(n, dev);
    count_evidence(ctx, y, mu, v, model_, seen, n, d);
    op_->adjoint(ctx, d, back);
    prior_->vjp(ctx, *lin, back, grad);
    require_finite(ctx, grad, "the evidence gradient");
    clip_gradient(ctx, grad);
    axpby(ctx, float(s * s / a), grad, 1.0f, x0);
  } else {
    // (I + H A C A^T H) u = r / sqrt(h); E[x | x_t, y] = E + C A^T H u, accumulated from CG's products.
    Tensor root = op_->make_output(n, dev), pearson = op_->make_output(n, dev);
    count_newton(ctx, y, mu, v, model_, seen, n, root, pearson);
    Tensor hu = op_->make_output(n, dev), xa = op_->make_input(n, dev), xv = op_->make_input(n, dev);
    LinearMap m = [&](Context& c, const Tensor& u, Tensor& out) {
      mul(c, u, root, hu);
      op_->adjoint(c, hu, xa);
      covariance(c, *lin, xa, xv);
      op_->apply(c, xv, out);
      mul(c, out, root, out);
      axpby(c, 1.0f, u, 1.0f, out);
    };
    Tensor u = op_->make_output(n, dev);
    conjugate_gradient(ctx, m, pearson, u, options_.krylov,
                       [&](Context& c, const std::vector<double>& alpha) { axpy_rows(c, alpha, xv, x0); });
  }
  require_finite(ctx, x0, cat("the ", options_.method, " update of E[x | x_t, y]"));
  mirror_counters(*prior_);
}

void CountPosterior::clip_gradient(Context& ctx, Tensor& grad) const {
  if (options_.clip <= 0) return;
  Tensor bound = Tensor::empty(grad.shape(), ctx.device());
  fill(ctx, bound, float(options_.clip));
  binary(ctx, BinaryOp::minimum, grad, bound, grad);
  fill(ctx, bound, float(-options_.clip));
  binary(ctx, BinaryOp::maximum, grad, bound, grad);
}

void CountPosterior::denoise_with_network(Context& ctx, const Tensor& xt, double t, const Tensor& y, Tensor& x0) const {
  // E[x | x_t, y] = E + (sigma^2 / alpha) grad_{x_t} log p(y | zeta(x_t, t)), the gradient through the
  // inference network alone: it, not the prior, says how the evidence moves with x_t.
  const std::int64_t n = xt.dim(0), k = op_->output().shape.numel();
  const Device dev = ctx.device();
  prior_->denoise(ctx, xt, t, x0);
  require_finite(ctx, x0, "the prior denoiser");
  Tensor raw = Tensor::empty({n, 2, k}, dev), g_raw = Tensor::empty({n, 2, k}, dev), grad = op_->make_input(n, dev);
  auto lin = options_.inference->linearize(ctx, xt, {t}, raw);
  require_finite(ctx, raw, "the inference network");
  conjugate_evidence(ctx, raw, y.reshape({n, k}), model_, op_->observed().defined() ? op_->observed().reshape({k}) : Tensor(), n, g_raw);
  options_.inference->vjp(ctx, *lin, g_raw, grad);
  ++inference_calls_;
  require_finite(ctx, grad, "the evidence gradient");
  clip_gradient(ctx, grad);
  const double a = process().alpha(t), s = process().sigma(t);
  axpby(ctx, float(s * s / a), grad, 1.0f, x0);
  require_finite(ctx, x0, "the evidence update of E[x | x_t, y]");
  mirror_counters(*prior_, inference_calls_, inference_calls_);  // the inference network: a forward and a VJP per denoise
}



}  // namespace

std::unique_ptr<Denoiser> make_count_posterior(std::shared_ptr<const Denoiser> prior, std::shared_ptr<const Operator> op,
                                               std::shared_ptr<const NoiseModel> noise, Tensor y,
                                               const CountPosteriorOptions& options) {
  return std::make_unique<CountPosterior>(std::move(prior), std::move(op), std::move(noise), std::move(y), options);
}

}  // namespace tweedie::samplers
