#include "samplers/posterior/baselines.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>

#include "kernels/axpby.h"
#include "kernels/map.h"
#include "kernels/random.h"
#include "kernels/reduce.h"
#include "kernels/rows.h"
#include "kernels/total_variation.h"
#include "runtime/error.h"
#include "samplers/linalg/krylov.h"

namespace tweedie::samplers {
namespace {

// An (N, K) f32 view of an (N, ...) f32 or c64 tensor: reductions and level-1 updates see a complex
// value as its two real parts, the inner product under which the operators' adjoints are adjoints.
Tensor flat(const Tensor& t) {
  Tensor r = t.dtype() == DType::c64 ? t.view_as_real() : t;
  std::int64_t n = t.dim(0);
  return r.reshape({n, n > 0 ? r.numel() / n : 0});
}

Tensor zeros_like(const Tensor& t) { return Tensor::zeros(t.shape(), t.device(), t.dtype()); }

std::vector<double> dots(Context& ctx, const Tensor& a, const Tensor& b) { return dot_rows(ctx, flat(a), flat(b), a.dim(0)); }
std::vector<double> norms(Context& ctx, const Tensor& a) { return norm2_rows(ctx, flat(a), a.dim(0)); }

// y = a x + b y on tensors of any (matching) type.
void update(Context& ctx, double a, const Tensor& x, double b, Tensor& y) {
  Tensor yf = flat(y);
  axpby(ctx, float(a), flat(x), float(b), yf);
}

double total(const std::vector<double>& v) {
  double s = 0;
  for (double e : v) s += e;
  return s;
}

void check_options(const char* method, const BaselineOptions& o) {
  auto refuse = [&](const char* field, double value, const char* want) {
    throw ArgumentError(cat(method, ": ", field, " = ", value, " ", want));
  };
  if (!(o.lambda >= 0) || !std::isfinite(o.lambda)) refuse("lambda", o.lambda, "must be finite and >= 0");
  if (o.iterations < 1) refuse("iterations", o.iterations, "must be at least 1");
  if (!(o.step >= 0) || !std::isfinite(o.step)) refuse("step", o.step, "must be finite and >= 0 (0: automatic)");
  if (!(o.noise_level > 0) || !std::isfinite(o.noise_level)) refuse("noise_level", o.noise_level, "must be finite and > 0");
  if (!(o.rho > 0) || !std::isfinite(o.rho)) refuse("rho", o.rho, "must be finite and > 0");
  if (o.inner_iterations < 1) refuse("inner_iterations", o.inner_iterations, "must be at least 1");
  if (!(o.tolerance >= 0)) refuse("tolerance", o.tolerance, "must be >= 0");
}

// The data term -log p(y | x) with its gradient, and for Gaussian noise with a linear operator its
// Hessian H = A^T W A (W: inverse variances, zero where nothing is observed). H v is taken as
// -grad log p(0 | v): with zero observations the gradient is exactly -H v, free of the cancellation
// against A^T W y that differencing two gradients would suffer in f32.
class DataTerm {
 public:
  DataTerm(const Likelihood& likelihood, const Tensor& y) : lik_(likelihood), y_(y) {
    quadratic_ = likelihood.op().is_linear() && likelihood.noise().gaussian_covariance();
  }
  bool quadratic() const { return quadratic_; }

  // g = -grad log p(y | x); returns -log p(y | x) per item.
  std::vector<double> gradient(Context& ctx, const Tensor& x, Tensor& g) const {
    std::vector<double> v = lik_.gradient(ctx, y_, x, g);
    Tensor gf = flat(g);
    scale(ctx, gf, -1.0f);
    for (double& e : v) e = -e;
    return v;
  }
  std::vector<double> value(Context& ctx, const Tensor& x) const {
    std::vector<double> v = lik_.log_likelihood(ctx, y_, x);
    for (double& e : v) e = -e;
    return v;
  }
  // out = H v for a batch v of any size up to y's. With independent noise of one variance s^2 on every
  // entry, H = A^T A / s^2 through the operator's normal map, which some operators do faster than A and
  // A^T (non-Cartesian MRI: a Toeplitz embedding).
  void hessian(Context& ctx, const Tensor& v, Tensor& out) const {
    if (precision_ < 0) precision_ = uniform_precision(ctx);
    if (precision_ > 0) {
      lik_.op().normal(ctx, v, out);
      Tensor of = flat(out);
      scale(ctx, of, float(precision_));
      return;
    }
    if (!zero_y_.defined()) zero_y_ = zeros_like(y_);
    lik_.gradient(ctx, zero_y_.slice(0, v.dim(0)), v, out);
    Tensor of = flat(out);
    scale(ctx, of, -1.0f);
  }
  // An upper estimate of |H| by power iteration on one item: the Rayleigh quotient approaches |H| from
  // below, hence the 10% margin, which the step rules' slack (Condat's condition, 2/L for gradient
  // descent) absorbs.
  double lipschitz(Context& ctx) const {
    Tensor v = lik_.op().make_input(1, ctx.device()), hv = lik_.op().make_input(1, ctx.device());
    Tensor vf = flat(v);
    fill_normal(ctx, vf, RandomStream{0x7eed1e, 0});
    double rayleigh = 0;
    for (int k = 0; k < 40; ++k) {
      double n = norm2(ctx, vf);
      if (n == 0) break;
      scale(ctx, vf, float(1 / n));
      hessian(ctx, v, hv);
      rayleigh = dot(ctx, vf, flat(hv));
      v.copy_from(hv);
    }
    if (!(rayleigh > 0) || !std::isfinite(rayleigh))
      throw ArgumentError(cat("baselines: the data term of ", lik_.op().describe(),
                              " has no curvature to take a step from (|A^T W A| = ", rayleigh, "); give a step"));
    return 1.1 * rayleigh;
  }

 private:
  // 1 / s^2 when every output entry is observed with independent Gaussian noise of variance s^2, else 0.
  double uniform_precision(Context& ctx) const {
    if (!quadratic_ || lik_.op().observed().defined()) return 0;
    const Tensor var = lik_.noise().gaussian_variance(ctx, lik_.op().output().shape);
    if (!var.defined()) return 0;
    const std::vector<float> v = var.to_host().to_vector<float>();
    if (v.empty() || !(v[0] > 0) || std::any_of(v.begin(), v.end(), [&](float e) { return e != v[0]; })) return 0;
    return 1.0 / double(v[0]);
  }

  const Likelihood& lik_;
  Tensor y_;
  bool quadratic_ = false;
  mutable Tensor zero_y_;
  mutable double precision_ = -1;  // uniform_precision, once known
};

// Solves (H + shift I) x = b for every item by conjugate gradients (samplers/linalg/krylov.h) from
// x = 0, with at most `iterations` products; an item stops once |r| <= tolerance |b|. Returns |r| / |b|
// per item; `used` the products.
std::vector<double> solve_shifted(Context& ctx, const DataTerm& data, double shift, const Tensor& b, Tensor& x, int iterations,
                                  double tolerance, int* used = nullptr) {
  LinearMap m = [&](Context& c, const Tensor& v, Tensor& out) {
    data.hessian(c, v, out);
    if (shift != 0) update(c, shift, v, 1, out);
  };
  KrylovOptions o;
  o.max_iterations = iterations;
  o.tolerance = tolerance;
  KrylovReport report = conjugate_gradient(ctx, m, b, x, o);
  if (used) *used = report.iterations;
  return report.residual;
}

constexpr double kRounding = 1e-6;  // relative; some ulps of f32

// A smooth objective, F per item; with g given, also its gradient into g.
using Smooth = std::function<std::vector<double>(Context& ctx, const Tensor& x, Tensor* g)>;

// Gradient descent on every item's F from x: with a fixed step (> 0), or with per-item backtracking
// (step = 0): a trial x - s g is accepted when F drops by at least s |g|^2 / 2 (Armijo with c = 1/2,
// which accepts every s <= 1/L on an L-smooth F), else s is halved; after an acceptance the next
// iteration first tries 2 s. F comes from f32 arithmetic, so near the minimum the decrease Armijo asks
// for sinks below F's rounding and every step would be refused. Hence also accepted: a trial whose F
// is no more than rounding (kRounding |F|) above and whose gradient g' still has <g', g> >= 0, that is
// it has not passed the minimum along the line; inner products of gradients do not cancel as
// differences of F do (Hager and Zhang's approximate Wolfe test, in the form that matches c = 1/2).
// `steps` carries the per-item s across calls (start it at any guess).
// The stopping test of the iterative baselines: gap[i] = |a_i - b_i| / |reference_i| per item (scratch
// takes a - b). True when a tolerance is set and every item is below it.
bool relative_gap(Context& ctx, const Tensor& a, const Tensor& b, const Tensor& reference, Tensor& scratch, double tolerance,
                  std::vector<double>& gap) {
  sub(ctx, a, b, scratch);
  std::vector<double> distance = norms(ctx, scratch), size = norms(ctx, reference);
  for (std::size_t i = 0; i < gap.size(); ++i) gap[i] = distance[i] / std::max(size[i], 1e-30);
  return tolerance > 0 && *std::max_element(gap.begin(), gap.end()) < tolerance;
}

// Returns the last iteration's relative change of each item; adds to the report.
std::vector<double> descend(Context& ctx, const Smooth& f, Tensor& x, int iterations, double step, double tolerance,
                            std::vector<double>& steps, BaselineReport* report) {
  std::int64_t n = x.dim(0);
  Tensor g = zeros_like(x), trial = zeros_like(x), trial_g = zeros_like(x), next_g = zeros_like(x);
  std::vector<double> value = f(ctx, x, &g), change(n, 0.0), moved(n), coef(n);
  for (int k = 0; k < iterations; ++k) {
    std::vector<double> gg = dots(ctx, g, g);
    if (step > 0) {
      std::fill(moved.begin(), moved.end(), step);
    } else {
      std::fill(moved.begin(), moved.end(), 0.0);
      next_g.copy_from(g);
      std::vector<bool> pending(n, true);
      for (int tries = 0; tries < 60 && std::find(pending.begin(), pending.end(), true) != pending.end(); ++tries) {
        for (std::int64_t i = 0; i < n; ++i) coef[i] = pending[i] ? -steps[i] : 0.0;
        trial.copy_from(x);
        axpy_rows(ctx, coef, g, trial);
        std::vector<double> tried = f(ctx, trial, &trial_g), slope = dots(ctx, trial_g, g);
        for (std::int64_t i = 0; i < n; ++i) {
          if (!pending[i]) continue;
          bool armijo = tried[i] <= value[i] - 0.5 * steps[i] * gg[i];
          bool flat_within_rounding = tried[i] <= value[i] + kRounding * std::abs(value[i]) && slope[i] >= 0;
          if (std::isfinite(tried[i]) && (armijo || flat_within_rounding)) {
            moved[i] = steps[i];
            pending[i] = false;
            steps[i] *= 2;
            value[i] = tried[i];
            Tensor row = next_g.slice(i, 1);  // the item's next gradient is the trial's
            row.copy_from(trial_g.slice(i, 1));
          } else {
            steps[i] *= 0.5;
          }
        }
      }
    }
    // The same arithmetic as the accepted trials, so x lands exactly where they were evaluated.
    for (std::int64_t i = 0; i < n; ++i) coef[i] = -moved[i];
    axpy_rows(ctx, coef, g, x);
    std::vector<double> size = norms(ctx, x);
    for (std::int64_t i = 0; i < n; ++i) change[i] = moved[i] * std::sqrt(gg[i]) / std::max(size[i], 1e-30);
    if (step > 0)
      value = f(ctx, x, &g);
    else
      std::swap(g, next_g);
    if (report) report->objective.push_back(total(value));
    if (tolerance > 0 && *std::max_element(change.begin(), change.end()) < tolerance) break;
  }
  return change;
}

void expect_linear(const char* method, const Likelihood& likelihood) {
  if (!likelihood.op().is_linear())
    throw ArgumentError(cat(method, ": needs a linear operator; '", likelihood.op().describe(), "' is not"));
}

void expect_gaussian(const char* method, const Likelihood& likelihood) {
  if (!likelihood.noise().gaussian_covariance())
    throw ArgumentError(cat(method, ": needs Gaussian noise; '", likelihood.noise().describe(), "' is not"));
}

// The denoiser must take the operator's input items.
void expect_prior_fits(const char* method, const Denoiser& prior, const Likelihood& likelihood) {
  const Signal& in = likelihood.op().input();
  if (!(prior.item_shape() == in.shape) || in.dtype != DType::f32)
    throw ShapeError(cat(method, ": the prior's items ", prior.item_shape().str(), " f32 do not match the operator's input ",
                         in.str()));
}

}  // namespace

Tensor map_tikhonov(Context& ctx, const Likelihood& likelihood, const Tensor& y, const BaselineOptions& options,
                    BaselineReport* report) {
  const char* kMethod = "map_tikhonov";
  check_options(kMethod, options);
  std::int64_t n = likelihood.op().batch_of_output(ctx, y);
  if (n == 0) return likelihood.op().make_input(0, ctx.device());
  DataTerm data(likelihood, y);
  const Signal& in = likelihood.op().input();
  Tensor x = Tensor::zeros(batched(n, in.shape), ctx.device(), in.dtype);
  double lambda = options.lambda;
  if (report) *report = {};
  if (data.quadratic() && options.step == 0) {
    // b = A^T W y = grad log p(y | 0), the gradient at zero.
    Tensor b = zeros_like(x);
    data.gradient(ctx, x, b);
    Tensor bf = flat(b);
    scale(ctx, bf, -1.0f);
    int used = 0;
    std::vector<double> residual = solve_shifted(ctx, data, lambda, b, x, options.iterations, options.tolerance, &used);
    if (report) {
      report->iterations = used;
      std::vector<double> v = data.value(ctx, x), xx = dots(ctx, x, x);
      for (std::int64_t i = 0; i < n; ++i) v[i] += 0.5 * lambda * xx[i];
      report->objective.push_back(total(v));
      report->residual = residual;
    }
    return x;
  }
  Smooth f = [&](Context& c, const Tensor& v, Tensor* g) {
    std::vector<double> out = g ? data.gradient(c, v, *g) : data.value(c, v), vv = dots(c, v, v);
    for (std::size_t i = 0; i < out.size(); ++i) out[i] += 0.5 * lambda * vv[i];
    if (g) update(c, lambda, v, 1, *g);
    return out;
  };
  std::vector<double> steps(n, 1.0);
  std::vector<double> change = descend(ctx, f, x, options.iterations, options.step, options.tolerance, steps, report);
  if (report) report->iterations = int(report->objective.size()), report->residual = change;
  return x;
}

Tensor map_tv(Context& ctx, const Likelihood& likelihood, const Tensor& y, const BaselineOptions& options,
              BaselineReport* report) {
  const char* kMethod = "map_tv";
  check_options(kMethod, options);
  const Signal& in = likelihood.op().input();
  if (in.shape.rank() != 3 || in.dtype != DType::f32)
    throw ShapeError(cat(kMethod, ": total variation needs real images (C, H, W); the operator's input is ", in.str()));
  expect_linear(kMethod, likelihood);
  expect_gaussian(kMethod, likelihood);
  std::int64_t n = likelihood.op().batch_of_output(ctx, y);
  if (n == 0) return likelihood.op().make_input(0, ctx.device());
  DataTerm data(likelihood, y);
  double tau, sigma;
  if (options.step > 0) {
    tau = options.step, sigma = 1 / (16 * tau);
  } else {
    double lip = data.lipschitz(ctx);
    tau = 0.99 / lip, sigma = lip / 16;
  }
  Device dev = ctx.device();
  Tensor x = Tensor::zeros(batched(n, in.shape), dev), previous = Tensor::zeros(x.shape(), dev);
  Tensor xbar = Tensor::zeros(x.shape(), dev), g = Tensor::zeros(x.shape(), dev), div = Tensor::zeros(x.shape(), dev);
  Tensor p = Tensor::zeros({n, in.shape[0], 2, in.shape[1], in.shape[2]}, dev);
  if (report) *report = {};
  std::vector<double> change(n, 0.0);
  auto objective = [&](const std::vector<double>& data_value) {
    gradient_magnitude(ctx, x, div);  // div is free until the divergence below
    std::vector<double> tv = sum_rows(ctx, div, n);
    double s = 0;
    for (std::int64_t i = 0; i < n; ++i) s += data_value[i] + options.lambda * tv[i];
    return s;
  };
  int k = 0;
  for (; k < options.iterations; ++k) {
    tv_dual_step(ctx, xbar, float(sigma), float(options.lambda), p);
    std::vector<double> value = data.gradient(ctx, x, g);
    if (report) report->objective.push_back(objective(value));  // of the iterate x_k
    image_divergence(ctx, p, div);
    previous.copy_from(x);
    axpby(ctx, float(-tau), g, 1.0f, x);
    axpby(ctx, float(tau), div, 1.0f, x);
    xbar.copy_from(x);
    axpby(ctx, -1.0f, previous, 2.0f, xbar);
    if ((options.tolerance > 0 || report || k + 1 == options.iterations) &&
        relative_gap(ctx, x, previous, x, g, options.tolerance, change)) {
      ++k;
      break;
    }
  }
  if (report) report->iterations = k, report->residual = change;
  return x;
}

Tensor pnp_admm(Context& ctx, const Denoiser& prior, const Likelihood& likelihood, const Tensor& y,
                const BaselineOptions& options, BaselineReport* report) {
  const char* kMethod = "pnp_admm";
  check_options(kMethod, options);
  expect_prior_fits(kMethod, prior, likelihood);
  std::int64_t n = likelihood.op().batch_of_output(ctx, y);
  if (n == 0) return likelihood.op().make_input(0, ctx.device());
  double t = time_of_noise_level(prior.process(), options.noise_level), a = prior.process().alpha(t), rho = options.rho;
  DataTerm data(likelihood, y);
  Device dev = ctx.device();
  Shape shape = batched(n, likelihood.op().input().shape);
  Tensor x = Tensor::zeros(shape, dev), z = Tensor::zeros(shape, dev), u = Tensor::zeros(shape, dev);
  Tensor v = Tensor::zeros(shape, dev), g = Tensor::zeros(shape, dev), d = Tensor::zeros(shape, dev);
  Tensor dx = Tensor::zeros(shape, dev);
  bool by_cg = data.quadratic() && options.step == 0;
  std::vector<double> steps(n, 1.0), residual(n, 0.0);
  // The x-update's objective when it is not solved by CG: -log p(y | x) + rho/2 |x - v|^2.
  Smooth f = [&](Context& c, const Tensor& w, Tensor* grad) {
    std::vector<double> out = grad ? data.gradient(c, w, *grad) : data.value(c, w);
    sub(c, w, v, d);
    std::vector<double> dd = dots(c, d, d);
    for (std::int64_t i = 0; i < n; ++i) out[i] += 0.5 * rho * dd[i];
    if (grad) update(c, rho, d, 1, *grad);
    return out;
  };
  if (report) *report = {};
  int k = 0;
  for (; k < options.iterations; ++k) {
    sub(ctx, z, u, v);
    if (by_cg) {
      // x + dx with (H + rho) dx = -grad of the x-objective at x = -(H x - b) - rho (x - v).
      data.gradient(ctx, x, g);
      sub(ctx, v, x, d);
      update(ctx, -1, g, rho, d);
      solve_shifted(ctx, data, rho, d, dx, options.inner_iterations, 0);
      update(ctx, 1, dx, 1, x);
    } else {
      descend(ctx, f, x, options.inner_iterations, options.step, 0, steps, nullptr);
    }
    // z = D(x + u): the denoiser sees alpha (x + u), noise of sigma/alpha = noise_level already inside.
    add(ctx, x, u, v);
    Tensor vf = flat(v);
    scale(ctx, vf, float(a));
    prior.denoise(ctx, v, t, z);
    update(ctx, 1, x, 1, u);
    update(ctx, -1, z, 1, u);
    if ((options.tolerance > 0 || report || k + 1 == options.iterations) &&
        relative_gap(ctx, x, z, z, d, options.tolerance, residual)) {
      ++k;
      break;
    }
  }
  if (report) report->iterations = k, report->residual = residual;
  return x;
}

Tensor red(Context& ctx, const Denoiser& prior, const Likelihood& likelihood, const Tensor& y, const BaselineOptions& options,
           BaselineReport* report) {
  const char* kMethod = "red";
  check_options(kMethod, options);
  expect_prior_fits(kMethod, prior, likelihood);
  std::int64_t n = likelihood.op().batch_of_output(ctx, y);
  if (n == 0) return likelihood.op().make_input(0, ctx.device());
  double t = time_of_noise_level(prior.process(), options.noise_level), a = prior.process().alpha(t), lambda = options.lambda;
  DataTerm data(likelihood, y);
  Device dev = ctx.device();
  Shape shape = batched(n, likelihood.op().input().shape);
  Tensor x = Tensor::zeros(shape, dev), scaled = Tensor::zeros(shape, dev), denoised = Tensor::zeros(shape, dev);
  double step = options.step;
  if (step == 0 && data.quadratic()) step = 1 / (data.lipschitz(ctx) + lambda);
  // F = -log p(y | x) + lambda/2 x^T (x - D(x)); its gradient taken as RED's -grad log p + lambda (x - D(x)).
  Smooth f = [&](Context& c, const Tensor& w, Tensor* grad) {
    axpby(c, float(a), w, 0.0f, scaled);
    prior.denoise(c, scaled, t, denoised);
    sub(c, w, denoised, denoised);  // now x - D(x)
    std::vector<double> out = grad ? data.gradient(c, w, *grad) : data.value(c, w), xr = dots(c, w, denoised);
    for (std::int64_t i = 0; i < n; ++i) out[i] += 0.5 * lambda * xr[i];
    if (grad) update(c, lambda, denoised, 1, *grad);
    return out;
  };
  if (report) *report = {};
  std::vector<double> steps(n, 1.0);
  std::vector<double> change = descend(ctx, f, x, options.iterations, step, options.tolerance, steps, report);
  if (report) report->iterations = int(report->objective.size()), report->residual = change;
  return x;
}

}  // namespace tweedie::samplers
