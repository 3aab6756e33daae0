#include "samplers/posterior/guided_denoiser.h"

#include <cmath>

#include "kernels/axpby.h"
#include "runtime/error.h"
#include "samplers/finite.h"
#include "samplers/posterior/observation_batch.h"

namespace tweedie::samplers {
namespace {

constexpr const char* kName = "guided denoiser";

class GuidedDenoiser final : public PosteriorDenoiser {
 public:
  GuidedDenoiser(std::shared_ptr<const Denoiser> prior, std::shared_ptr<const Likelihood> likelihood, Tensor y, double gamma)
      : PosteriorDenoiser(kName), prior_(std::move(prior)), likelihood_(std::move(likelihood)), y_(std::move(y)), gamma_(gamma) {}

  const Process& process() const override { return prior_->process(); }
  Shape item_shape() const override { return prior_->item_shape(); }

  void denoise(Context& ctx, const Tensor& xt, double t, Tensor& x0) const override {
    const Operator& op = likelihood_->op();
    const std::int64_t n = xt.dim(0);
    const Tensor y = observation_batch(ctx, op, y_, n, kName);
    auto lin = prior_->linearize(ctx, xt, t, x0);
    require_finite(ctx, x0, "the prior denoiser");
    if (gamma_ > 0) {
      Tensor g = op.make_input(n, ctx.device()), jg = Tensor::empty(x0.shape(), ctx.device());
      likelihood_->gradient(ctx, y, x0, g);
      prior_->vjp(ctx, *lin, g, jg);
      require_finite(ctx, jg, "the likelihood gradient");
      const double a = process().alpha(t), s = process().sigma(t);
      axpby(ctx, float(gamma_ * s * s / a), jg, 1.0f, x0);
    }
    mirror_counters(*prior_);
  }


 private:

  std::shared_ptr<const Denoiser> prior_;
  std::shared_ptr<const Likelihood> likelihood_;
  Tensor y_;
  double gamma_;
};

}  // namespace

std::unique_ptr<Denoiser> make_guided_denoiser(Context& ctx, std::shared_ptr<const Denoiser> prior,
                                               std::shared_ptr<const Likelihood> likelihood, Tensor y, double gamma) {
  if (!prior) throw ArgumentError(cat(kName, ": no prior denoiser"));
  if (!likelihood) throw ArgumentError(cat(kName, ": no likelihood"));
  if (!(gamma >= 0) || !std::isfinite(gamma)) throw ArgumentError(cat(kName, ": gamma ", gamma, ": need a finite value >= 0"));
  const Operator& op = likelihood->op();
  if (op.input().dtype != DType::f32 || op.input().shape != prior->item_shape())
    throw ShapeError(cat(kName, ": operator '", op.describe(), "' takes ", op.input().str(), " but the prior's items are ",
                         prior->item_shape().str(), " f32"));
  if (!y.defined()) throw ArgumentError(cat(kName, ": y is undefined"));
  op.check_observations(y, kName);
  likelihood->validate(ctx, y, cat(kName, ": y"));
  return std::make_unique<GuidedDenoiser>(std::move(prior), std::move(likelihood), std::move(y), gamma);
}

}  // namespace tweedie::samplers
