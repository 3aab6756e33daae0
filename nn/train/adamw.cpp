#include "nn/train/adamw.h"

#include <cmath>

#include "kernels/optimizer.h"
#include "kernels/reduce.h"
#include "runtime/error.h"

namespace tweedie::nn {

void AdamWOptions::validate() const {
  auto require = [](bool ok, const std::string& message) {
    if (!ok) throw ArgumentError(message);
  };
  require(lr > 0 && std::isfinite(lr), cat("--lr ", lr, ": the learning rate must be positive"));
  require(beta1 >= 0 && beta1 < 1 && beta2 >= 0 && beta2 < 1, cat("--betas ", beta1, ",", beta2, ": each must be in [0, 1)"));
  require(eps > 0, cat("--adam-eps ", eps, ": must be positive"));
  require(weight_decay >= 0 && lr * weight_decay < 1, cat("--weight-decay ", weight_decay, ": need 0 <= lr * weight decay < 1"));
  require(clip_norm >= 0, cat("--clip ", clip_norm, ": must be >= 0 (0: no clipping)"));
  require(warmup >= 0, cat("--warmup ", warmup, ": must be >= 0"));
  require(decay == "constant" || decay == "cosine", cat("--lr-decay '", decay, "': constant or cosine"));
  require(decay != "cosine" || total_steps > warmup, cat("--lr-decay cosine: needs more steps (", total_steps, ") than warm-up (", warmup, ")"));
}

double AdamWOptions::learning_rate(std::int64_t step) const {
  if (warmup > 0 && step <= warmup) return lr * double(step) / double(warmup);
  if (decay == "constant") return lr;
  double progress = double(step - warmup) / double(total_steps - warmup);
  return 0.5 * lr * (1 + std::cos(3.14159265358979323846 * std::min(progress, 1.0)));
}

AdamW::AdamW(ParameterSet& params, AdamWOptions options) : params_(params), options_(std::move(options)) {
  options_.validate();
  for (const Parameter* p : params_.all()) {
    m_.push_back(Tensor::zeros(p->value.shape(), p->value.device()));
    v_.push_back(Tensor::zeros(p->value.shape(), p->value.device()));
  }
}

double global_gradient_norm(Context& ctx, const ParameterSet& params) {
  double sum = 0;
  for (const Parameter* p : params.all())
    if (p->grad.defined()) {
      double n = norm2(ctx, p->grad);
      if (!std::isfinite(n)) throw NumericError(cat("the gradient of parameter ", p->name, " has NaN or infinite values"));
      sum += n * n;
    }
  return std::sqrt(sum);
}

StepReport AdamW::step(Context& ctx) {
  StepReport r;
  r.grad_norm = global_gradient_norm(ctx, params_);
  double scale = 1.0;
  // torch.nn.utils.clip_grad_norm_'s factor: max_norm / (norm + 1e-6) when below one.
  if (options_.clip_norm > 0 && r.grad_norm > options_.clip_norm) {
    scale = options_.clip_norm / (r.grad_norm + 1e-6);
    r.clipped = true;
  }
  ++step_;
  r.lr = options_.learning_rate(step_);
  AdamWStep s = AdamWStep::at(r.lr, options_.beta1, options_.beta2, options_.eps, options_.weight_decay, step_, scale);
  const std::vector<Parameter*>& all = params_.all();
  for (std::size_t i = 0; i < all.size(); ++i) {
    Parameter& p = *all[i];
    adamw_update(ctx, s, p.gradient(), p.value, m_[i], v_[i]);
  }
  return r;
}

}  // namespace tweedie::nn
