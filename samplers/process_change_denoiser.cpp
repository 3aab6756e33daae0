#include "samplers/process_change_denoiser.h"

#include <algorithm>

#include "kernels/axpby.h"
#include "runtime/error.h"

namespace tweedie::samplers {
namespace {

struct Change {
  double t = 0;      // the trained process's time
  double scale = 1;  // alpha'(t') / alpha(t)
};

struct ChangeLinearization final : DenoiserLinearization {
  std::unique_ptr<DenoiserLinearization> inner;
  double scale = 1;
};

class ProcessChangeDenoiser final : public Denoiser {
 public:
  ProcessChangeDenoiser(std::shared_ptr<const Denoiser> trained, std::unique_ptr<Process> process)
      : trained_(std::move(trained)), process_(std::move(process)) {}

  const Process& process() const override { return *process_; }
  Shape item_shape() const override { return trained_->item_shape(); }

  void denoise(Context& ctx, const Tensor& xt, double t, Tensor& x0) const override {
    const Change c = change(t);
    trained_->denoise(ctx, rescaled(ctx, xt, c), c.t, x0);
    mirror_counters(*trained_);
  }
  std::unique_ptr<DenoiserLinearization> linearize(Context& ctx, const Tensor& xt, double t, Tensor& x0) const override {
    const Change c = change(t);
    auto lin = std::make_unique<ChangeLinearization>();
    lin->inner = trained_->linearize(ctx, rescaled(ctx, xt, c), c.t, x0);
    lin->scale = c.scale;
    lin->batch = xt.dim(0);
    lin->t = t;
    mirror_counters(*trained_);
    return lin;
  }
  void jvp(Context& ctx, const DenoiserLinearization& lin, const Tensor& v, Tensor& jv) const override {
    const auto& l = dynamic_cast<const ChangeLinearization&>(lin);
    trained_->jvp(ctx, *l.inner, v, jv);
    scale(ctx, jv, float(l.scale));
    mirror_counters(*trained_);
  }
  void vjp(Context& ctx, const DenoiserLinearization& lin, const Tensor& u, Tensor& ju) const override {
    const auto& l = dynamic_cast<const ChangeLinearization&>(lin);
    trained_->vjp(ctx, *l.inner, u, ju);
    scale(ctx, ju, float(l.scale));
    mirror_counters(*trained_);
  }

 private:
  Change change(double t) const {
    const Process& q = trained_->process();
    const double level = process_->sigma(t) / process_->alpha(t);
    const double low = q.sigma(q.t_min()) / q.alpha(q.t_min()), high = q.sigma(q.t_max()) / q.alpha(q.t_max());
    Change c;
    c.t = time_of_noise_level(q, std::clamp(level, low, high));
    c.scale = q.alpha(c.t) / process_->alpha(t);
    return c;
  }
  static Tensor rescaled(Context& ctx, const Tensor& xt, const Change& c) {
    Tensor x = Tensor::empty(xt.shape(), xt.device());
    x.copy_from(xt);
    scale(ctx, x, float(c.scale));
    return x;
  }

  std::shared_ptr<const Denoiser> trained_;
  std::unique_ptr<Process> process_;
};

}  // namespace

std::unique_ptr<Denoiser> make_process_change_denoiser(std::shared_ptr<const Denoiser> trained, std::unique_ptr<Process> process) {
  if (!trained || !process) throw ArgumentError("process change: no denoiser or no process");
  return std::make_unique<ProcessChangeDenoiser>(std::move(trained), std::move(process));
}

}  // namespace tweedie::samplers
