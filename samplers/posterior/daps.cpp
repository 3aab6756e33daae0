#include "samplers/posterior/daps.h"

#include <algorithm>
#include <cmath>

#include "kernels/axpby.h"
#include "kernels/reduce.h"
#include "kernels/rows.h"
#include "runtime/error.h"
#include "samplers/finite.h"
#include "samplers/posterior/method_loop.h"

namespace tweedie::samplers {

namespace {

constexpr const char* kName = "daps";

// The largest curvature |H v| / |v| of -log p(y | x) at x of each item, by power iteration on the
// change of the likelihood gradient along v: for Gaussian noise and a linear A the change over a
// step h v is exactly -h A^T Sigma_y^-1 A v, for a nonlinear A it is the Hessian's product to O(h).
// Each round adds a hundredth of a fixed random direction w to the unit v: a start nearly orthogonal
// to the top eigenvector (1 item in 1000 in 2-D, measured) would otherwise lose it to f32 cancellation
// in g1 - g0 and report 0, and a zero curvature makes the Langevin step diverge.
std::vector<double> curvature(Context& ctx, const Likelihood& lik, const Tensor& y, const Tensor& x, int iterations, MethodLoop& loop) {
  const std::int64_t n = x.dim(0);
  const std::size_t rows = std::size_t(n);
  Tensor v = Tensor::empty(x.shape(), ctx.device()), xh = Tensor::empty(x.shape(), ctx.device());
  Tensor g0 = Tensor::empty(x.shape(), ctx.device()), g1 = Tensor::empty(x.shape(), ctx.device());
  lik.gradient(ctx, y, x, g0);
  Tensor w = Tensor::empty(x.shape(), ctx.device());
  loop.normal(v);
  loop.normal(w);
  const std::vector<double> w_norm = norm2_rows(ctx, w, n);
  std::vector<double> norm = norm2_rows(ctx, v, n), lambda(rows, 0.0), nudge(rows);
  for (std::size_t i = 0; i < rows; ++i) nudge[i] = w_norm[i] > 0 ? 1e-2 / w_norm[i] : 0.0;
  const std::vector<double> size = norm2_rows(ctx, x, n);
  const double root = std::sqrt(double(x.numel() / n));
  for (int k = 0; k < iterations; ++k) {
    // v <- v / |v| + w / (100 |w|), then H v by the gradients at x and x + h v, h a hundredth of x's RMS
    // (at least 0.01).
    std::vector<double> unit(rows), h(rows), zero(rows, 0.0);
    for (std::size_t i = 0; i < unit.size(); ++i) {
      unit[i] = norm[i] > 0 ? 1.0 / norm[i] : 0.0;
      h[i] = 1e-2 * std::max(size[i] / root, 1.0);
    }
    axpby_rows(ctx, unit, v, zero, v);
    axpy_rows(ctx, nudge, w, v);
    const std::vector<double> u_norm = norm2_rows(ctx, v, n);
    xh.copy_from(x);
    axpy_rows(ctx, h, v, xh);
    lik.gradient(ctx, y, xh, g1);
    std::vector<double> inv_h(rows), minus(rows);
    for (std::size_t i = 0; i < h.size(); ++i) inv_h[i] = -1.0 / h[i], minus[i] = 1.0 / h[i];
    axpby_rows(ctx, inv_h, g1, zero, v);  // v = -(g1 - g0) / h
    axpy_rows(ctx, minus, g0, v);
    norm = norm2_rows(ctx, v, n);
    for (std::size_t i = 0; i < rows; ++i) lambda[i] = u_norm[i] > 0 ? norm[i] / u_norm[i] : 0.0;  // |H u| / |u|
  }
  return lambda;
}

}  // namespace

std::string daps_unsupported(const Likelihood& lik) {
  if (!lik.noise().gaussian_covariance())
    return cat("noise '", lik.noise().describe(), "' is not Gaussian; DAPS's Langevin step size comes from the curvature of a Gaussian likelihood");
  return {};
}

Tensor sample_daps(Context& ctx, const Denoiser& prior, const Likelihood& lik, const Tensor& y, const DapsOptions& o,
                   const SamplerOptions& sampler, std::int64_t count, std::uint64_t seed, std::int64_t first_index, const StepHook& hook) {
  if (const std::string why = daps_unsupported(lik); !why.empty()) throw ArgumentError(cat(kName, ": ", why));
  if (o.langevin_steps < 1) throw ArgumentError(cat(kName, ": langevin steps must be at least 1, not ", o.langevin_steps));
  if (!(o.lr > 0 && o.lr <= 1)) throw ArgumentError(cat(kName, ": lr must lie in (0, 1], not ", o.lr));
  if (o.ode_steps < 1) throw ArgumentError(cat(kName, ": ode steps must be at least 1, not ", o.ode_steps));
  if (o.power_iterations < 1) throw ArgumentError(cat(kName, ": power iterations must be at least 1, not ", o.power_iterations));
  if (lik.op().batch_of_output(ctx, y) != count)
    throw ShapeError(cat(kName, ": y has ", y.dim(0), " observations for ", count, " samples"));

  const Process& p = prior.process();
  MethodLoop loop(ctx, p, sampler, count, seed, first_index, kName);
  Tensor x = loop.initial_draw(prior.item_shape());
  const Device dev = ctx.device();
  Tensor x0hat = Tensor::empty(x.shape(), dev), x0 = Tensor::empty(x.shape(), dev), g = Tensor::empty(x.shape(), dev);
  Tensor z = Tensor::empty(x.shape(), dev), xo = Tensor::empty(x.shape(), dev);
  const double t_min = loop.grid().back();

  // x0^ by `ode_steps` DDIM (eta = 0) steps from t to t_min, evenly spaced in t.
  auto clean_estimate = [&](double t) {
    prior.denoise(ctx, x, t, x0hat);
    if (o.ode_steps == 1) return;
    xo.copy_from(x);
    for (int k = 0; k < o.ode_steps - 1; ++k) {
      const double ta = t + (t_min - t) * k / (o.ode_steps - 1), tb = t + (t_min - t) * (k + 1) / (o.ode_steps - 1);
      const double kk = p.sigma(tb) / p.sigma(ta);  // x_b = alpha_b x0 + sigma_b (x_a - alpha_a x0) / sigma_a
      axpby(ctx, float(p.alpha(tb) - kk * p.alpha(ta)), x0hat, float(kk), xo);
      prior.denoise(ctx, xo, tb, x0hat);
    }
  };

  loop.run(x, [&](int n, double t, double s) {
    clean_estimate(t);
    require_finite(ctx, x0hat, "the prior denoiser");
    const double r2 = std::pow(p.sigma(t) / p.alpha(t), 2);
    const std::vector<double> big_l = curvature(ctx, lik, y, x0hat, o.power_iterations, loop);
    std::vector<double> eta(big_l.size()), prior_pull(big_l.size()), noise(big_l.size());
    for (std::size_t i = 0; i < eta.size(); ++i) {
      eta[i] = o.lr / (1.0 / r2 + 1.1 * big_l[i]);  // 10% above the power iteration's estimate, which is a lower bound
      prior_pull[i] = eta[i] / r2;
      noise[i] = std::sqrt(2.0 * eta[i]);
    }
    // Langevin on x0 from x0^: x0 += eta (grad log p(y | x0) + (x0^ - x0) / r^2) + sqrt(2 eta) z.
    x0.copy_from(x0hat);
    for (int j = 0; j < o.langevin_steps; ++j) {
      lik.gradient(ctx, y, x0, g);
      axpy_rows(ctx, eta, g, x0);
      g.copy_from(x0hat);
      axpby(ctx, -1.0f, x0, 1.0f, g);  // x0^ - x0
      axpy_rows(ctx, prior_pull, g, x0);
      loop.normal(z);
      axpy_rows(ctx, noise, z, x0);
    }
    require_finite(ctx, x0, "the Langevin steps");
    if (hook) hook(StepInfo{n, loop.steps(), t, s, &x, &x0});
    // x_s = alpha_s x0 + sigma_s z
    loop.normal(z);
    x.copy_from(x0);
    axpby(ctx, float(p.sigma(s)), z, float(p.alpha(s)), x);
  });
  return x0;
}

}  // namespace tweedie::samplers
