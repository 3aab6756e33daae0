#include "samplers/training/dsm.h"

#include <algorithm>
#include <cmath>

#include "kernels/concat.h"
#include "kernels/reduce.h"
#include "kernels/rows.h"
#include "runtime/check.h"
#include "runtime/error.h"
#include "samplers/operators/operator.h"

namespace tweedie::samplers {
namespace {

// The inverse of the standard normal cdf (Acklam's rational approximation refined by one Halley step:
// relative error near 1e-15), for the quantiles of the EDM grid.
double normal_quantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01,  -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00};
  double q, r, x;
  if (p < 0.02425) {
    q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p > 1 - 0.02425) {
    q = std::sqrt(-2 * std::log(1 - p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else {
    q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  double e = 0.5 * std::erfc(-x / std::sqrt(2.0)) - p, u = e * std::sqrt(2 * 3.14159265358979323846) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

// t at the noise level exp(p_mean + p_std n), held inside what the process reaches.
double edm_time(const Process& process, const TimeSampling& s, double n) {
  double lo = process.sigma(process.t_min()) / process.alpha(process.t_min());
  double hi = process.sigma(process.t_max()) / process.alpha(process.t_max());
  return time_of_noise_level(process, std::clamp(std::exp(s.p_mean + s.p_std * n), lo, hi));
}

double uniform_time(const Process& process, double u) {
  double lo = process.t_min(), hi = process.t_max();
  if (!process.continuous()) return std::min(hi, lo + std::floor(u * (hi - lo + 1)));
  return lo + u * (hi - lo);
}

}  // namespace

void TimeSampling::validate() const {
  if (kind != "uniform" && kind != "edm") throw ArgumentError(cat("--time '", kind, "': uniform or edm"));
  if (kind == "edm" && !(p_std > 0 && std::isfinite(p_mean)))
    throw ArgumentError(cat("--time edm: P_std ", p_std, " must be positive and P_mean ", p_mean, " finite"));
}

double training_time(const Process& process, const TimeSampling& sampling, double u, double n) {
  return sampling.kind == "edm" ? edm_time(process, sampling, n) : uniform_time(process, u);
}

std::vector<double> validation_times(const Process& process, const TimeSampling& sampling, int count) {
  std::vector<double> t;
  for (int k = 0; k < count; ++k) {
    double p = (k + 0.5) / count;
    t.push_back(sampling.kind == "edm" ? edm_time(process, sampling, normal_quantile(p)) : uniform_time(process, p));
  }
  return t;
}

DsmResult dsm_loss(Context& ctx, const NetworkDenoiser& model, const DsmBatch& batch, bool gradients) {
  const char* op = "dsm_loss";
  expect_tensor(ctx, op, "x0", batch.x0);
  expect_tensor(ctx, op, "noise", batch.noise);
  expect_same_shape(op, "x0", batch.x0, "noise", batch.noise);
  const Shape item = model.item_shape();
  if (batch.x0.rank() < 1 || batch.x0.dim(0) == 0 || batch.x0.shape() != batched(batch.x0.dim(0), item))
    throw ShapeError(cat(op, ": x0 is ", batch.x0.str(), ", not a batch of the model's ", item.str(), " items"));
  const std::int64_t n = batch.x0.dim(0), per = item.numel();
  if (std::int64_t(batch.t.size()) != n) throw ShapeError(cat(op, ": ", batch.t.size(), " times for ", n, " items"));
  if (!batch.labels.empty() && std::int64_t(batch.labels.size()) != n)
    throw ShapeError(cat(op, ": ", batch.labels.size(), " labels for ", n, " items"));
  if (batch.mean_over != 0 && batch.mean_over < n)
    throw ShapeError(cat(op, ": ", n, " items cannot be part of a batch of ", batch.mean_over));
  const std::int64_t whole = batch.mean_over > 0 ? batch.mean_over : n;

  // Per item: x_t = alpha x0 + sigma z, the network's input s x_t, and F* = (x0 - a x_t) / b.
  std::vector<double> alpha(n), sigma(n), s(n), a_over_b(n), minus_inv_b(n), zero(n, 0.0), one(n, 1.0);
  nn::Conditioning c;
  c.labels = batch.labels;
  const Process& process = model.process();
  for (std::int64_t i = 0; i < n; ++i) {
    double t = batch.t[std::size_t(i)];
    NetworkDenoiser::Coefficients k = model.coefficients(t);
    if (!(std::abs(k.b) > 0)) throw ArgumentError(cat(op, ": at t = ", t, " the network's output does not enter E[x | x_t] (b = 0)"));
    alpha[i] = process.alpha(t), sigma[i] = process.sigma(t), s[i] = k.s;
    a_over_b[i] = k.a / k.b, minus_inv_b[i] = -1 / k.b;
    c.t.push_back(k.net_time);
  }
  const Device dev = batch.x0.device();
  Tensor xt = batch.noise.clone();
  axpby_rows(ctx, alpha, batch.x0, sigma, xt);
  Tensor input = Tensor::empty(xt.shape(), dev);
  axpby_rows(ctx, s, xt, zero, input);

  const nn::Network& net = model.network();
  Tensor f = Tensor::empty(net.output_shape(xt.shape()), dev);
  std::unique_ptr<nn::Linearization> lin;
  if (gradients) lin = net.linearize(ctx, input, c, f);
  else net.forward(ctx, input, c, f);
  const bool two_parts = model.parameterisation().learned_variance;
  Tensor mean = f;
  std::vector<Tensor> parts;
  if (two_parts) {
    parts = {Tensor::empty(xt.shape(), dev), Tensor::empty(xt.shape(), dev)};
    split_channels(ctx, f, parts);
    mean = parts[0];
  }

  // diff = F - F* = F - x0 / b + (a / b) x_t, in place of F (needed no more).
  Tensor diff = mean;
  axpby_rows(ctx, minus_inv_b, batch.x0, one, diff);
  axpby_rows(ctx, a_over_b, xt, one, diff);
  model.forward_count += n;
  DsmResult r;
  r.item_losses = dot_rows(ctx, diff, diff, n);
  for (double& l : r.item_losses) l /= double(per), r.loss += l / double(whole);
  if (!gradients) return r;

  // d loss / d F = 2 (F - F*) / (N D) on the mean channels, 0 on the variance channels.
  std::vector<double> g(n, 2.0 / double(whole * per));
  axpby_rows(ctx, g, diff, zero, diff);
  Tensor gf = diff;
  if (two_parts) {
    gf = Tensor::empty(f.shape(), dev);
    Tensor none = Tensor::zeros(xt.shape(), dev);
    concat_channels(ctx, {diff, none}, gf);
  }
  Tensor gx = Tensor::empty(input.shape(), dev);
  net.vjp(ctx, *lin, gf, gx, /*param_grads=*/true);
  model.vjp_count += n;
  return r;
}

}  // namespace tweedie::samplers
