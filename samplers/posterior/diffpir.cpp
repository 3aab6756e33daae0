#include "samplers/posterior/diffpir.h"

#include <cmath>

#include "kernels/axpby.h"
#include "kernels/random.h"
#include "runtime/error.h"
#include "samplers/finite.h"
#include "samplers/posterior/mmps.h"
#include "samplers/posterior/method_loop.h"

namespace tweedie::samplers {

namespace {
constexpr const char* kName = "diffpir";
}  // namespace

std::string diffpir_unsupported(const Likelihood& lik) {
  if (!lik.op().is_linear())
    return cat("operator '", lik.op().describe(), "' is nonlinear; DiffPIR's data step is the proximal map of a linear Gaussian likelihood");
  if (!lik.noise().gaussian_covariance())
    return cat("noise '", lik.noise().describe(), "' is not Gaussian; DiffPIR's data step is the proximal map of a Gaussian likelihood");
  return {};
}

Tensor sample_diffpir(Context& ctx, const Denoiser& prior, const Likelihood& lik, const Tensor& y, const DiffpirOptions& o,
                      const SamplerOptions& sampler, std::int64_t count, std::uint64_t seed, std::int64_t first_index,
                      const StepHook& hook) {
  if (const std::string why = diffpir_unsupported(lik); !why.empty()) throw ArgumentError(cat(kName, ": ", why));
  if (!(o.lambda > 0) || !std::isfinite(o.lambda)) throw ArgumentError(cat(kName, ": lambda must be positive and finite, not ", o.lambda));
  if (!(o.zeta >= 0 && o.zeta <= 1)) throw ArgumentError(cat(kName, ": zeta must lie in [0, 1], not ", o.zeta));
  if (lik.op().batch_of_output(ctx, y) != count)
    throw ShapeError(cat(kName, ": y has ", y.dim(0), " observations for ", count, " samples"));

  // The data step: MMPS's solve with V = (sigma/alpha)^2 / lambda I around the prior's x0.
  MmpsOptions data_step;
  data_step.covariance = "sigma_t";
  data_step.sigma_t_factor = 1.0 / o.lambda;
  data_step.krylov = o.krylov;
  // That denoiser lives only inside this call, so it borrows the prior and the operator (no-op deleters)
  // rather than asking every caller for shared ownership.
  std::shared_ptr<const Denoiser> borrowed(&prior, [](const Denoiser*) {});
  auto shared_op = std::shared_ptr<const Operator>(&lik.op(), [](const Operator*) {});
  const std::unique_ptr<Denoiser> consistent = make_mmps_denoiser(borrowed, shared_op, ctx, lik.noise(), y, data_step);

  MethodLoop loop(ctx, prior.process(), sampler, count, seed, first_index, kName);
  Tensor x = loop.initial_draw(prior.item_shape());
  Tensor x0 = Tensor::empty(x.shape(), ctx.device()), z = Tensor::empty(x.shape(), ctx.device());
  loop.run(x, [&](int n, double t, double s) {
    consistent->denoise(ctx, x, t, x0);
    require_finite(ctx, x0, "the data step");
    if (hook) hook(StepInfo{n, loop.steps(), t, s, &x, &x0});
    const Process& p = prior.process();
    const double at = p.alpha(t), st = p.sigma(t), as = p.alpha(s), ss = p.sigma(s);
    // x_s = alpha_s x0^ + sigma_s sqrt(1 - zeta) (x_t - alpha_t x0^) / sigma_t + sigma_s sqrt(zeta) z
    const double k = ss * std::sqrt(1.0 - o.zeta) / st;
    axpby(ctx, float(as - k * at), x0, float(k), x);
    if (o.zeta > 0) {
      loop.normal(z);
      axpby(ctx, float(ss * std::sqrt(o.zeta)), z, 1.0f, x);
    }
  });
  if (!sampler.denoise_last) return x;
  consistent->denoise(ctx, x, loop.grid().back(), x0);
  require_finite(ctx, x0, "the final data step");
  return x0;
}

}  // namespace tweedie::samplers
