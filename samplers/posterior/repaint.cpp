#include "samplers/posterior/repaint.h"

#include <cmath>

#include "kernels/axpby.h"
#include "kernels/broadcast.h"
#include "kernels/random.h"
#include "runtime/error.h"
#include "samplers/finite.h"
#include "samplers/operators/stacked_operator.h"
#include "samplers/posterior/method_loop.h"

namespace tweedie::samplers {

namespace {

constexpr const char* kName = "repaint";

// The 0/1 mask of an operator that acts as one (f32 in and out of the same shape, A x = m x), or an
// undefined tensor: checked on a probe, since masks come from several specs (inpaint, identity, each:).
Tensor mask_of(Context& ctx, const Operator& op) {
  if (!op.is_linear() || op.input().dtype != DType::f32 || op.output().dtype != DType::f32 || !(op.input().shape == op.output().shape))
    return {};
  const std::int64_t d = op.input().shape.numel();
  std::vector<float> m(std::size_t(d), 1.0f);
  if (op.observed().defined()) m = op.observed().to_vector<float>();
  std::vector<float> probe(static_cast<std::size_t>(d));
  for (std::int64_t i = 0; i < d; ++i) probe[std::size_t(i)] = 1.0f + float(i % 7);
  Tensor x = Tensor::from_host(std::span<const float>(probe), batched(1, op.input().shape), ctx.device());
  Tensor y = op.make_output(1, ctx.device());
  op.apply(ctx, x, y);
  ctx.synchronize();
  const std::vector<float> got = y.to_vector<float>();
  for (std::int64_t i = 0; i < d; ++i)
    if (got[std::size_t(i)] != m[std::size_t(i)] * probe[std::size_t(i)]) return {};
  return Tensor::from_host(std::span<const float>(m), op.input().shape, ctx.device());
}

}  // namespace

namespace {

// What RePaint needs of a likelihood, found once: the 0/1 mask and y's noise variance, or why not.
struct RepaintSetup {
  Tensor mask;
  double var_y = 0;
  std::string unsupported;
};

RepaintSetup repaint_setup(Context& ctx, const Likelihood& lik) {
  RepaintSetup r;
  if (dynamic_cast<const StackedOperator*>(&lik.op())) {
    r.unsupported = cat("operator '", lik.op().describe(), "' differs per observation, which RePaint does not handle yet");
    return r;
  }
  r.mask = mask_of(ctx, lik.op());
  if (!r.mask.defined()) {
    r.unsupported = cat("operator '", lik.op().describe(), "' is not a 0/1 mask; RePaint replaces the measured pixels and needs inpainting");
    return r;
  }
  const Tensor v = lik.noise().gaussian_variance(ctx, lik.op().output().shape);
  if (!v.defined()) {
    r.unsupported = independent_gaussian_refusal(ctx, lik.noise(), lik.op().output().shape, "RePaint noises y to each step's level");
    return r;
  }
  const std::vector<float> var = v.to_vector<float>();
  for (float e : var)
    if (e != var[0]) {
      r.unsupported = cat("noise '", lik.noise().describe(), "' has a variance that differs between pixels; RePaint takes one sigma");
      return r;
    }
  r.var_y = double(var[0]);
  return r;
}

}  // namespace

std::string repaint_unsupported(Context& ctx, const Likelihood& lik) { return repaint_setup(ctx, lik).unsupported; }

Tensor sample_repaint(Context& ctx, const Denoiser& prior, const Likelihood& lik, const Tensor& y, const RepaintOptions& o,
                      const SamplerOptions& sampler, std::int64_t count, std::uint64_t seed, std::int64_t first_index, const StepHook& hook) {
  const RepaintSetup setup = repaint_setup(ctx, lik);
  if (!setup.unsupported.empty()) throw ArgumentError(cat(kName, ": ", setup.unsupported));
  if (o.resamples < 1) throw ArgumentError(cat(kName, ": resamples must be at least 1, not ", o.resamples));
  if (lik.op().batch_of_output(ctx, y) != count)
    throw ShapeError(cat(kName, ": y has ", y.dim(0), " observations for ", count, " samples"));
  const Tensor& mask = setup.mask;
  const double var_y = setup.var_y;
  Tensor unmask = Tensor::empty(mask.shape(), ctx.device());
  fill(ctx, unmask, 1.0f);
  axpby(ctx, -1.0f, mask, 1.0f, unmask);

  const Process& p = prior.process();
  MethodLoop loop(ctx, p, sampler, count, seed, first_index, kName);
  Tensor x = loop.initial_draw(prior.item_shape());
  const Device dev = ctx.device();
  Tensor x0 = Tensor::empty(x.shape(), dev), z = Tensor::empty(x.shape(), dev), known = Tensor::empty(x.shape(), dev);
  loop.run(x, [&](int n, double t, double s) {
    const double at = p.alpha(t), st = p.sigma(t), as = p.alpha(s), ss = p.sigma(s);
    const double ats = at / as, s2ts = st * st - ats * ats * ss * ss;
    for (int u = 0; u < o.resamples; ++u) {
      prior.denoise(ctx, x, t, x0);
      require_finite(ctx, x0, "the prior denoiser");
      if (hook && u == 0) hook(StepInfo{n, loop.steps(), t, s, &x, &x0});
      // unknown: the DDPM step, mean + sqrt(posterior variance) z
      axpby(ctx, float(as * s2ts / (st * st)), x0, float(ats * ss * ss / (st * st)), x);
      loop.normal(z);
      axpby(ctx, float(std::sqrt(s2ts * ss * ss / (st * st))), z, 1.0f, x);
      // known: y noised to s
      loop.normal(z);
      known.copy_from(y);
      axpby(ctx, float(std::sqrt(std::max(ss * ss - as * as * var_y, 0.0))), z, float(as), known);
      multiply_repeated(ctx, known, mask, known);
      multiply_repeated(ctx, x, unmask, x);
      axpby(ctx, 1.0f, known, 1.0f, x);
      if (u + 1 == o.resamples) break;
      // back to t
      loop.normal(z);
      axpby(ctx, float(std::sqrt(std::max(s2ts, 0.0))), z, float(ats), x);
    }
  });
  if (!sampler.denoise_last) return x;
  prior.denoise(ctx, x, loop.grid().back(), x0);
  require_finite(ctx, x0, "the final denoise");
  return x0;
}

}  // namespace tweedie::samplers
