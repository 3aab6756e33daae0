#include "samplers/denoiser.h"

#include "kernels/axpby.h"
#include "runtime/error.h"

namespace tweedie::samplers {

void Denoiser::denoise_with_variance(Context&, const Tensor&, double, Tensor&, Tensor&) const {
  throw ArgumentError("this denoiser does not predict a variance (no learned-range output)");
}

void PosteriorDenoiser::no_derivatives() const {
  throw ArgumentError(cat(name_, ": the posterior denoiser has no JVP or VJP (samplers and rmp use only denoise)"));
}

void tweedie_covariance(Context& ctx, const Denoiser& d, const DenoiserLinearization& lin, const Tensor& v, Tensor& out,
                        bool by_vjp) {
  if (by_vjp) d.vjp(ctx, lin, v, out);
  else d.jvp(ctx, lin, v, out);
  const Process& p = d.process();
  double s = p.sigma(lin.t), a = p.alpha(lin.t);
  scale(ctx, out, float(s * s / a));
}

}  // namespace tweedie::samplers
