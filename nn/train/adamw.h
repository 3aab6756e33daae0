#pragma once
// AdamW over a network's parameters (Loshchilov and Hutter 2019; the arithmetic of torch.optim.AdamW,
// kernels/optimizer.h), with gradient clipping by the global norm and a learning-rate schedule: linear
// warm-up, then constant or a cosine decay to zero at the last step.
//
// The moments m and v are f32, one pair of tensors per parameter on the parameters' device, as in
// PyTorch. step() reads the gradients the network's VJPs accumulated; it does not zero them.
#include <cstdint>
#include <string>
#include <vector>

#include "nn/parameter.h"
#include "runtime/context.h"

namespace tweedie::nn {

struct AdamWOptions {
  double lr = 2e-4;
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  double weight_decay = 0.0;
  double clip_norm = 0.0;        // rescale g to this global 2-norm when it is larger; 0: no clipping
  std::int64_t warmup = 0;       // steps of linear warm-up from lr / warmup to lr
  std::string decay = "constant";  // after warm-up: "constant" or "cosine" (to 0 at total_steps)
  std::int64_t total_steps = 0;  // cosine: the step where lr reaches 0

  // ArgumentError naming the option (as --lr, --betas, ... of `tweedie train`).
  void validate() const;
  // The learning rate of step s (counted from 1).
  double learning_rate(std::int64_t step) const;
};

// What one step did.
struct StepReport {
  double lr = 0;
  double grad_norm = 0;  // before clipping
  bool clipped = false;
};

class AdamW {
 public:
  AdamW(ParameterSet& params, AdamWOptions options);

  // Step steps() + 1 from the accumulated gradients. A gradient that is NaN or infinite anywhere
  // (its global norm is not finite) throws NumericError naming the parameter, before anything changes.
  StepReport step(Context& ctx);

  std::int64_t steps() const { return step_; }
  const AdamWOptions& options() const { return options_; }
  // The moments, in the parameter set's order (for saving and resuming a run).
  std::vector<Tensor>& first_moments() { return m_; }
  std::vector<Tensor>& second_moments() { return v_; }
  void set_steps(std::int64_t s) { step_ = s; }

 private:
  ParameterSet& params_;
  AdamWOptions options_;
  std::vector<Tensor> m_, v_;
  std::int64_t step_ = 0;
};

// sqrt(sum over parameters of |grad|^2) in double; parameters without a gradient count as zero.
double global_gradient_norm(Context& ctx, const ParameterSet& params);

}  // namespace tweedie::nn
