// DDRM and DDNM sampling loops (ddrm.h). The state is kept in spectral coordinates on the host in
// double, one row of D coefficients per sample; the denoiser sees x_t = alpha_t V xbar on the device.
#include "samplers/posterior/ddrm.h"

#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include "kernels/random.h"
#include "runtime/error.h"
#include "samplers/finite.h"
#include "samplers/operators/svd.h"

namespace tweedie::samplers {
namespace {

constexpr const char* kName = "ddrm";

// The one noise standard deviation of the likelihood's observed entries, or why there is none.
struct NoiseLevel {
  double sigma = 0;
  std::string problem;
};

NoiseLevel noise_level(Context& ctx, const Likelihood& likelihood) {
  const Operator& op = likelihood.op();
  const std::string noise = likelihood.noise().describe();
  Tensor variance = likelihood.noise().gaussian_variance(ctx, op.output().shape);
  if (!variance.defined())
    return {0, independent_gaussian_refusal(ctx, likelihood.noise(), op.output().shape,
                                            "DDRM and DDNM need Gaussian noise with one standard deviation")};
  ctx.synchronize();
  const std::vector<float> v = variance.to_vector<float>();
  std::vector<float> seen(v.size(), 1.0f);
  if (op.observed().defined()) seen = op.observed().to(Device::cpu()).to_vector<float>();
  double lo = INFINITY, hi = -INFINITY;
  for (std::size_t i = 0; i < v.size(); ++i)
    if (seen[i] != 0) lo = std::min(lo, double(v[i])), hi = std::max(hi, double(v[i]));
  if (!(lo <= hi)) return {0, cat("operator '", op.describe(), "' observes no entry")};
  // The variances are f32 copies of one double sigma^2, so equal ones agree to rounding.
  if (hi - lo > 1e-6 * hi)
    return {0, cat("noise '", noise, "' has standard deviations from ", std::sqrt(lo), " to ", std::sqrt(hi),
                   " over the observed entries; DDRM and DDNM need one standard deviation")};
  return {std::sqrt(hi), ""};
}

std::string operator_problem(const Operator& op) {
  if (op.svd()) return "";
  return cat("operator '", op.describe(),
             "' has no SVD here; DDRM and DDNM need a mask, average-pool super-resolution (sr:f:avg) or a dense matrix");
}

// Noise for (step, sample) as sample() draws it (sample_noise_stream).
std::vector<float> normal_rows(Context& ctx, std::uint64_t seed, std::uint64_t step_id, std::int64_t first_index, std::int64_t count,
                               std::int64_t d) {
  Tensor z = Tensor::empty({count, d}, ctx.device());
  fill_normal(ctx, z, sample_noise_stream(seed, step_id, first_index), 0.0f, 1.0f, count);
  ctx.synchronize();
  return z.to_vector<float>();
}

Tensor upload_rows(Context& ctx, const std::vector<double>& rows, double scale, std::int64_t count, std::int64_t d) {
  std::vector<float> f(rows.size());
  for (std::size_t i = 0; i < rows.size(); ++i) f[i] = float(scale * rows[i]);
  return Tensor::from_host(std::span<const float>(f), Shape{count, d}, ctx.device());
}

// One update of component i from noise level `sigma` to `next` (ddrm.h). x0 and y are the spectral
// x0bar and ybar, s the singular value, sy the noise standard deviation, z fresh noise. `clean`: the
// final estimate, the same rule at the last grid level without the noise and eps terms.
double ddrm_update(const DdrmOptions& o, double x, double x0, double y, double s, double sy, double sigma, double next, double z,
                   bool clean) {
  const double eps = (x - x0) / sigma;
  if (s == 0) return clean ? x0 : x0 + std::sqrt(1 - o.eta * o.eta) * next * eps + o.eta * next * z;
  const double r = sy / s;  // the noise level of ybar
  if (next < r) return clean ? x0 : x0 + std::sqrt(1 - o.eta * o.eta) * next * (y - x0) / r + o.eta * next * z;
  const double blend = (1 - o.eta_b) * x0 + o.eta_b * y;
  return clean ? blend : blend + std::sqrt(std::max(next * next - o.eta_b * o.eta_b * r * r, 0.0)) * z;
}

double ddnm_update(const DdrmOptions& o, double x, double x0, double y, double s, double sy, double sigma, double next, double z,
                   bool clean) {
  const double eps = (x - x0) / sigma;
  double rectified = x0, gamma = next;
  if (s > 0) {
    const double r = sy / s;
    const double lambda = next >= r ? 1.0 : next / r;
    rectified = x0 + lambda * (y - x0);
    gamma = std::sqrt(std::max(next * next - lambda * lambda * r * r, 0.0));
  }
  return clean ? rectified : rectified + gamma * (std::sqrt(1 - o.eta * o.eta) * eps + o.eta * z);
}

void check_options(const DdrmOptions& o, const SamplerOptions& sampler, std::int64_t count) {
  if (o.variant != "ddrm" && o.variant != "ddnm")
    throw ArgumentError(cat(kName, ": unknown variant '", o.variant, "' (known: ddrm, ddnm)"));
  if (!(o.eta >= 0 && o.eta <= 1)) throw ArgumentError(cat(o.variant, ": eta must lie in [0, 1], not ", o.eta));
  if (!(o.eta_b >= 0 && o.eta_b <= 1)) throw ArgumentError(cat(o.variant, ": eta_b must lie in [0, 1], not ", o.eta_b));
  if (sampler.steps < 1) throw ArgumentError(cat(o.variant, ": sampler steps must be at least 1, not ", sampler.steps));
  if (count < 1) throw ArgumentError(cat(o.variant, ": the number of samples must be at least 1, not ", count));
}

}  // namespace

std::string ddrm_unsupported(const Likelihood& likelihood) {
  std::string problem = operator_problem(likelihood.op());
  if (!problem.empty()) return problem;
  Context host(Device::cpu(), 1);
  return noise_level(host, likelihood).problem;
}

Tensor sample_ddrm(Context& ctx, const Denoiser& prior, const Likelihood& likelihood, const Tensor& y, const DdrmOptions& o,
                   const SamplerOptions& sampler, std::int64_t count, std::uint64_t seed, std::int64_t first_index,
                   const StepHook& hook) {
  check_options(o, sampler, count);
  const Operator& op = likelihood.op();
  if (std::string problem = operator_problem(op); !problem.empty()) throw ArgumentError(cat(o.variant, ": ", problem));
  const NoiseLevel noise = noise_level(ctx, likelihood);
  if (!noise.problem.empty()) throw ArgumentError(cat(o.variant, ": ", noise.problem));
  if (!(op.input().shape == prior.item_shape()) || op.input().dtype != DType::f32)
    throw ShapeError(cat(o.variant, ": operator '", op.describe(), "' takes ", op.input().str(), " but the prior's items are ",
                         prior.item_shape().str(), " f32"));
  if (op.batch_of_output(ctx, y) != count)
    throw ShapeError(cat(o.variant, ": y has ", y.dim(0), " observations, ", y.shape().str(), ", but ", count,
                         " samples were asked for; give one observation per sample"));
  likelihood.validate(ctx, y, cat(o.variant, ": y"));

  const SpectralForm& svd = *op.svd();
  const Process& p = prior.process();
  const std::int64_t d = svd.dim();
  const std::vector<double>& sv = svd.singular_values();
  const double sy = noise.sigma;
  const bool ddrm = o.variant == "ddrm";
  const std::vector<float> ybar_f = svd.y_spectral(ctx, y).to_vector<float>();
  const std::vector<double> ybar(ybar_f.begin(), ybar_f.end());

  const std::vector<double> grid = p.time_grid(sampler.steps);
  const int steps = int(grid.size()) - 1;
  auto level = [&](double t) { return p.sigma(t) / p.alpha(t); };

  // x_T: DDRM starts consistent with y on the directions y measures better than sigma_T.
  std::vector<double> x(std::size_t(count * d));
  {
    const double top = level(grid.front());
    const std::vector<float> z = normal_rows(ctx, seed, 0, first_index, count, d);
    for (std::int64_t r = 0; r < count; ++r)
      for (std::int64_t i = 0; i < d; ++i) {
        const std::size_t k = std::size_t(r * d + i);
        const double s = sv[std::size_t(i)];
        x[k] = top * z[k];
        if (ddrm && s > 0 && top * s > sy) x[k] = ybar[k] + std::sqrt(top * top - sy * sy / (s * s)) * z[k];
      }
  }

  Tensor xt, x0 = Tensor::empty(batched(count, prior.item_shape()), ctx.device());
  // One step from time t (noise level `sigma`) to the noise level of t_next; `clean` for the final
  // estimate (no noise drawn, no hook).
  auto step = [&](int n, double t, double t_next, bool clean) {
    const double next = level(t_next);
    const double sigma = level(t);
    xt = svd.from_spectral(ctx, upload_rows(ctx, x, p.alpha(t), count, d));
    prior.denoise(ctx, xt, t, x0);
    require_finite(ctx, x0, "the denoiser");
    if (hook && !clean) hook(StepInfo{n, steps, t, t_next, &xt, &x0});
    const std::vector<float> x0bar = svd.to_spectral(ctx, x0).to_vector<float>();
    const std::vector<float> z = !clean ? normal_rows(ctx, seed, std::uint64_t(n) + 1, first_index, count, d)
                                       : std::vector<float>(x.size(), 0.0f);
    for (std::int64_t r = 0; r < count; ++r)
      for (std::int64_t i = 0; i < d; ++i) {
        const std::size_t k = std::size_t(r * d + i);
        const double s = sv[std::size_t(i)];
        x[k] = ddrm ? ddrm_update(o, x[k], x0bar[k], ybar[k], s, sy, sigma, next, z[k], clean)
                    : ddnm_update(o, x[k], x0bar[k], ybar[k], s, sy, sigma, next, z[k], clean);
      }
  };

  for (int n = 0; n < steps; ++n) {
    try {
      step(n, grid[n], grid[n + 1], false);
    } catch (const NumericError& e) {
      throw NumericError(cat(o.variant, " stopped at step ", n + 1, "/", steps, " (t = ", grid[n], ") of samples ", first_index, "-",
                             first_index + count - 1, ": ", e.what()));
    }
  }
  if (!sampler.denoise_last) return svd.from_spectral(ctx, upload_rows(ctx, x, p.alpha(grid.back()), count, d));
  try {
    step(steps, grid.back(), grid.back(), true);
  } catch (const NumericError& e) {
    throw NumericError(cat(o.variant, " stopped at the final denoise of samples ", first_index, "-", first_index + count - 1, ": ",
                           e.what()));
  }
  return svd.from_spectral(ctx, upload_rows(ctx, x, 1.0, count, d));
}

}  // namespace tweedie::samplers
