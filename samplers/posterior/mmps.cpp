#include "samplers/posterior/mmps.h"

#include <cmath>

#include "kernels/axpby.h"
#include "kernels/broadcast.h"
#include "kernels/map.h"
#include "kernels/reduce.h"
#include "kernels/rows.h"
#include "runtime/error.h"
#include "runtime/memory.h"
#include "samplers/finite.h"
#include "samplers/gaussian_denoiser.h"
#include "samplers/posterior/observation_batch.h"

namespace tweedie::samplers {

namespace {

constexpr const char* kName = "mmps";

// Complex observations count as the real vectors of their parts (operator.h), so level-1 updates see
// them as f32 pairs.
Tensor real_view(const Tensor& t) { return t.dtype() == DType::c64 ? t.view_as_real() : t; }

// What stands for Cov[x | x_t] inside the solve (mmps.h): Tweedie's (gaussian is tweedie, checked),
// a multiple of the identity (sigma_t, pigdm), or the diagonal of Tweedie's row sums (tmpd).
enum class CovarianceKind { tweedie, sigma_t, pigdm, tmpd };

// Pi-GDM's and TMPD's corrections come back through J^T (the score of their Gaussian likelihood in
// x_t); MMPS's through V itself.
bool returns_through_jacobian(CovarianceKind k) { return k == CovarianceKind::pigdm || k == CovarianceKind::tmpd; }

class MmpsDenoiser final : public PosteriorDenoiser {
 public:
  // Sigma_y is a diagonal (variance) or a map (sigma_y); exactly one is given.
  MmpsDenoiser(std::shared_ptr<const Denoiser> prior, std::shared_ptr<const Operator> op, Tensor variance,
               std::shared_ptr<const NoiseCovariance> sigma_y, Tensor y, const MmpsOptions& options)
      : PosteriorDenoiser(kName), prior_(std::move(prior)), op_(std::move(op)), y_(std::move(y)), options_(options),
        sigma_y_(std::move(sigma_y)) {
    if (!prior_) throw ArgumentError(cat(kName, ": no prior denoiser"));
    if (!op_) throw ArgumentError(cat(kName, ": no operator"));
    const std::string name = cat("operator '", op_->describe(), "'");
    if (op_->input().dtype != DType::f32 || op_->input().shape != prior_->item_shape())
      throw ShapeError(cat(kName, ": ", name, " takes ", op_->input().str(), " but the prior's items are ",
                           prior_->item_shape().str(), " f32"));
    if (!y_.defined()) throw ArgumentError(cat(kName, ": y is undefined"));
    op_->check_observations(y_, kName);
    if (y_.dim(0) < 1) throw ShapeError(cat(kName, ": y is ", y_.str(), ", expected at least one observation"));
    if (options_.solver != "cg" && options_.solver != "gmres")
      throw ArgumentError(cat(kName, ": solver '", options_.solver, "' is not one of cg, gmres"));
    if (!(options_.sigma_t_factor > 0) || !std::isfinite(options_.sigma_t_factor))
      throw ArgumentError(cat(kName, ": sigma_t_factor must be positive and finite, not ", options_.sigma_t_factor));
    if (options_.covariance == "sigma_t") {
      covariance_ = CovarianceKind::sigma_t;
    } else if (options_.covariance == "pigdm") {
      covariance_ = CovarianceKind::pigdm;
    } else if (options_.covariance == "tmpd") {
      covariance_ = CovarianceKind::tmpd;
    } else if (options_.covariance == "gaussian") {
      // For a Gaussian prior the denoiser is affine and its Jacobian gives the exact Cov[x | x_t]
      // (S^-1 + (alpha/sigma)^2 I)^-1, so this is "tweedie" with a check that the prior allows it.
      if (!dynamic_cast<const GaussianDenoiser*>(prior_.get()))
        throw ArgumentError(cat(kName, ": covariance 'gaussian' needs a Gaussian prior denoiser"));
    } else if (options_.covariance != "tweedie") {
      throw ArgumentError(cat(kName, ": covariance '", options_.covariance, "' is not one of tweedie, sigma_t, gaussian, pigdm, tmpd"));
    }
    if (!sigma_y_) set_variance(variance);
  }

  const Process& process() const override { return prior_->process(); }
  Shape item_shape() const override { return prior_->item_shape(); }
  bool has_learned_variance() const override { return false; }

  void denoise(Context& ctx, const Tensor& xt, double t, Tensor& x0) const override;
  // Items whose Tweedie covariance showed negative curvature and took the sigma_t one (running total).
  std::int64_t fallbacks() const { return fallbacks_; }

 private:
  void set_variance(const Tensor& variance);
  // x0 += V A^T v with (Sigma_y + A C A^T) v = r, A the operator's Jacobian at e = E[x | x_t]; C is V
  // from the linearization (kind tweedie), a multiple of I (sigma_t, pigdm) or diag(V 1) (tmpd, given as
  // row_sums), and the correction V A^T v is accumulated from CG's products except for pigdm and tmpd,
  // which return (sigma^2/alpha) J^T A^T v. `indefinite`, when given, flags the items for which some
  // product showed u^T A V A^T u < 0.
  void solve(Context& ctx, const DenoiserLinearization* lin, const Tensor& e, const Tensor& r, CovarianceKind kind,
             const Tensor& row_sums, double alpha, double sigma, Tensor& x0, std::vector<char>* indefinite) const;

  std::shared_ptr<const Denoiser> prior_;
  std::shared_ptr<const Operator> op_;
  Tensor y_;
  MmpsOptions options_;
  CovarianceKind covariance_ = CovarianceKind::tweedie;
  Tensor variance_;  // Sigma_y's diagonal where observed, 1 elsewhere (output item shape, f32)
  std::shared_ptr<const NoiseCovariance> sigma_y_;  // or Sigma_y as a map, for correlated noise
  mutable std::int64_t fallbacks_ = 0;
};

// Unobserved entries carry no data: the right-hand side is 0 there and M acts there as the identity
// (variance 1, and A V A^T is masked on both sides), so CG stays in the measured subspace and the
// solution is 0 there. Observed entries need a positive, finite variance.
void MmpsDenoiser::set_variance(const Tensor& variance) {
  const Signal& out = op_->output();
  if (!variance.defined() || variance.dtype() != DType::f32 || variance.shape() != out.shape)
    throw ShapeError(cat(kName, ": the noise variance is ", variance.defined() ? variance.str() : "undefined",
                         ", expected f32 of the output item shape ", out.shape.str(), " of operator '", op_->describe(),
                         "' (a Gaussian noise model's gaussian_variance)"));
  std::vector<float> v = variance.to_vector<float>();
  std::vector<float> seen = op_->observed().defined() ? op_->observed().to_vector<float>() : std::vector<float>(v.size(), 1.0f);
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (seen[i] == 0) {
      v[i] = 1;
    } else if (!(v[i] > 0) || !std::isfinite(v[i])) {
      throw ArgumentError(cat(kName, ": the noise variance at entry ", i, " is ", v[i], "; MMPS needs positive variances"));
    }
  }
  variance_ = Tensor::from_host(std::span<const float>(v), out.shape, variance.device());
}

void MmpsDenoiser::denoise(Context& ctx, const Tensor& xt, double t, Tensor& x0) const {
  if (!xt.defined() || xt.rank() < 1) throw ShapeError(cat(kName, ": x_t must be a batch (N, ", item_shape().str().substr(1)));
  const std::int64_t n = xt.dim(0);
  const Device dev = ctx.device();
  const Tensor y = observation_batch(ctx, *op_, y_, n, kName);
  if (variance_.defined() && variance_.device() != dev)
    throw DeviceError(cat(kName, ": the noise variance is on ", variance_.device().str(), " but the context runs on ", dev.str()));
  const Tensor& seen = op_->observed();

  const double a = prior_->process().alpha(t), s = prior_->process().sigma(t);
  CovarianceKind kind = covariance_;
  if (kind == CovarianceKind::tweedie && s / a > options_.tweedie_max_noise) kind = CovarianceKind::sigma_t;
  const bool tweedie = kind == CovarianceKind::tweedie;

  // One linearization of the prior at x_t serves every network product below; the sigma_t covariance
  // makes none, so it needs only the forward pass.
  std::unique_ptr<DenoiserLinearization> lin;
  if (kind == CovarianceKind::sigma_t) prior_->denoise(ctx, xt, t, x0);
  else lin = prior_->linearize(ctx, xt, t, x0);
  require_finite(ctx, x0, "the prior denoiser");

  // r = y - A(E) on the measured entries; a nonlinear A is linearized at E = e.
  const Tensor e = x0.clone();
  Tensor r = op_->make_output(n, dev);
  op_->apply(ctx, e, r);
  {
    Tensor rr = real_view(r);
    axpby(ctx, 1.0f, real_view(y), -1.0f, rr);
  }
  if (seen.defined()) multiply_repeated(ctx, r, seen, r);

  Tensor row_sums;
  if (kind == CovarianceKind::tmpd) {
    // diag(V 1): one JVP with a vector of ones. A network's row sums can be negative; a negative
    // variance would make M indefinite, so they are clipped at 0 (no prior information there).
    Tensor ones = Tensor::empty(x0.shape(), dev);
    fill(ctx, ones, 1.0f);
    row_sums = Tensor::empty(x0.shape(), dev);
    tweedie_covariance(ctx, *prior_, *lin, ones, row_sums, options_.by_vjp);
    unary(ctx, UnaryOp::relu, row_sums, row_sums);
  }
  std::vector<char> indefinite(static_cast<std::size_t>(n), 0);
  solve(ctx, lin.get(), e, r, kind, row_sums, a, s, x0, tweedie ? &indefinite : nullptr);
  // A network's Jacobian need not be positive semi-definite; where A V A^T showed negative curvature
  // the solve is no Gaussian conditioning and can be off by orders of magnitude, so those items take
  // the sigma_t covariance instead (cheap: no network products).
  std::int64_t flagged = 0;
  for (char f : indefinite) flagged += f;
  if (flagged > 0) {
    Tensor alt = e.clone();
    solve(ctx, lin.get(), e, r, CovarianceKind::sigma_t, Tensor(), a, s, alt, nullptr);
    for (std::int64_t i = 0; i < n; ++i)
      if (indefinite[std::size_t(i)]) {
        Tensor row = x0.slice(i, 1);
        row.copy_from(alt.slice(i, 1));
      }
    fallbacks_ += flagged;
  }
  require_finite(ctx, x0, cat("the ", options_.solver, " solve of E[x | x_t, y]"));

  mirror_counters(*prior_);
}

void MmpsDenoiser::solve(Context& ctx, const DenoiserLinearization* lin, const Tensor& e, const Tensor& r, CovarianceKind kind,
                         const Tensor& row_sums, double alpha, double sigma, Tensor& x0, std::vector<char>* indefinite) const {
  const std::int64_t n = x0.dim(0);
  const Device dev = ctx.device();
  const Tensor& seen = op_->observed();
  // sigma_t: V = (sigma / alpha)^2 I, the covariance of x given x_t under a flat prior (x = (x_t - sigma z) /
  // alpha); it is also Tweedie's with J = I / alpha, the high-noise limit. No network products.
  // pigdm: r^2 I, the posterior variance of N(0, I) data, which the flat one approaches at low noise.
  const double ratio2 = (sigma / alpha) * (sigma / alpha);
  const float flat = float(kind == CovarianceKind::pigdm ? ratio2 / (1.0 + ratio2) : ratio2 * options_.sigma_t_factor);
  Tensor xa = op_->make_input(n, dev), xv = op_->make_input(n, dev);
  const std::vector<double> rhs = indefinite ? dot_rows(ctx, real_view(r), real_view(r), n) : std::vector<double>();
  auto covariance = [&](Context& c, const Tensor& in, Tensor& out) {
    if (kind == CovarianceKind::tweedie) tweedie_covariance(c, *prior_, *lin, in, out, options_.by_vjp);
    else if (kind == CovarianceKind::tmpd) mul(c, in, row_sums, out);
    else axpby(c, flat, in, 0.0f, out);
  };
  // M u = Sigma_y u + P A V A^T P u, P the projection onto measured entries. The map leaves V A^T P u
  // in xv: CG's solution is v = sum alpha_i p_i, so V A^T P v accumulates from the products already
  // made (k products in all); GMRES forms v only at the end and pays one more product for it.
  Tensor pu = op_->make_output(n, dev), su = op_->make_output(n, dev);
  LinearMap m = [&](Context& c, const Tensor& u, Tensor& out) {
    const Tensor* in = &u;
    if (seen.defined()) {
      multiply_repeated(c, u, seen, pu);
      in = &pu;
    }
    op_->vjp(c, e, *in, xa);
    covariance(c, xa, xv);
    op_->jvp(c, e, xv, out);
    if (seen.defined()) multiply_repeated(c, out, seen, out);
    if (sigma_y_) sigma_y_->apply(c, u, seen, su);
    else multiply_repeated(c, u, variance_, su);
    if (indefinite) {
      // u^T P A V A^T P u: a PSD V never makes it negative. Negative beyond rounding (relative to |u|
      // |A V A^T u|, f32 products) and beyond a small part of the noise's u^T Sigma_y u, which it
      // cancels: then M's curvature along u is the noise's or less, and CG's step along it blows up.
      const Tensor ur = real_view(u), outr = real_view(out);
      const std::vector<double> curvature = dot_rows(c, ur, outr, n), noise = dot_rows(c, ur, real_view(su), n),
                                uu = dot_rows(c, ur, ur, n), oo = dot_rows(c, outr, outr, n);
      for (std::int64_t i = 0; i < n; ++i) {
        const std::size_t k = std::size_t(i);
        // Directions a millionth of the right-hand side's size come after CG has converged to f32
        // precision: their products are rounding, whatever their sign.
        if (uu[k] < 1e-12 * rhs[k]) continue;
        if (curvature[k] < -(1e-3 * noise[k] + 1e-5 * std::sqrt(uu[k] * oo[k]))) (*indefinite)[k] = 1;
      }
    }
    Tensor o = real_view(out);
    axpby(c, 1.0f, real_view(su), 1.0f, o);
  };
  Tensor v = op_->make_output(n, dev);
  if (returns_through_jacobian(kind)) {
    // E + (sigma^2 / alpha) J^T A^T v: one VJP of the prior after the solve.
    if (options_.solver == "gmres") gmres(ctx, m, r, v, options_.krylov);
    else conjugate_gradient(ctx, m, r, v, options_.krylov);
    if (seen.defined()) multiply_repeated(ctx, v, seen, v);
    op_->vjp(ctx, e, v, xa);
    prior_->vjp(ctx, *lin, xa, xv);
    axpby(ctx, float(sigma * sigma / alpha), xv, 1.0f, x0);
    return;
  }
  // E[x | x_t, y] = E + V A^T v.
  if (options_.solver == "gmres") {
    gmres(ctx, m, r, v, options_.krylov);
    if (seen.defined()) multiply_repeated(ctx, v, seen, v);
    op_->vjp(ctx, e, v, xa);
    covariance(ctx, xa, xv);
    axpby(ctx, 1.0f, xv, 1.0f, x0);
  } else {
    conjugate_gradient(ctx, m, r, v, options_.krylov,
                       [&](Context& c, const std::vector<double>& alpha_i) { axpy_rows(c, alpha_i, xv, x0); });
  }
}

}  // namespace

std::int64_t mmps_fallbacks(const Denoiser& denoiser) {
  auto* m = dynamic_cast<const MmpsDenoiser*>(&denoiser);
  return m ? m->fallbacks() : 0;
}

std::unique_ptr<Denoiser> make_mmps_denoiser(std::shared_ptr<const Denoiser> prior, std::shared_ptr<const Operator> op,
                                             Tensor noise_variance, Tensor y, const MmpsOptions& options) {
  return std::make_unique<MmpsDenoiser>(std::move(prior), std::move(op), std::move(noise_variance), nullptr, std::move(y), options);
}

std::unique_ptr<Denoiser> make_mmps_denoiser(std::shared_ptr<const Denoiser> prior, std::shared_ptr<const Operator> op,
                                             std::shared_ptr<const NoiseCovariance> noise_covariance, Tensor y,
                                             const MmpsOptions& options) {
  if (!noise_covariance) throw ArgumentError(cat(kName, ": no noise covariance"));
  return std::make_unique<MmpsDenoiser>(std::move(prior), std::move(op), Tensor(), std::move(noise_covariance), std::move(y), options);
}

std::unique_ptr<Denoiser> make_mmps_denoiser(std::shared_ptr<const Denoiser> prior, std::shared_ptr<const Operator> op,
                                             Context& ctx, const NoiseModel& noise, Tensor y, const MmpsOptions& options) {
  // Diagonal models take the one-multiply path; correlated ones their map.
  Tensor variance = noise.gaussian_variance(ctx, op->output().shape);
  if (variance.defined()) return make_mmps_denoiser(std::move(prior), std::move(op), std::move(variance), std::move(y), options);
  if (!noise.gaussian_covariance())
    throw ArgumentError(cat(kName, ": needs Gaussian noise, not '", noise.describe(), "'"));
  return make_mmps_denoiser(std::move(prior), std::move(op), noise.gaussian_covariance(), std::move(y), options);
}

}  // namespace tweedie::samplers
