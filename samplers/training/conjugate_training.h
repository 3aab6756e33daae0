#pragma once
// Training an inference network (samplers/posterior/inference_network.h) by the amortised objective of
// the evidence-trick paper (arXiv 2502.05994): for x0 drawn from the training data, t uniform on
// [t_min, t_max] of the process and x_t = alpha_t x0 + sigma_t eps, minimise the conjugate prior's
// negative log density of the true theta = s g(A x0), entry by entry (kernels/conjugate_fit.h):
//
//   L = E [ -sum_k log Conj(theta_k; zeta_k(x_t, t)) ] / K.
//
// Its minimiser over all functions is the conjugate law closest in KL to the true law of theta_k given
// x_t, which is what moment matching approximates. AdamW with the EMA of the weights, as the DSM
// trainer; batches are Philox draws keyed by (seed, step, item), so a run depends only on its options.
// theta is formed on the host in double (the operator on the device, then the link).
#include <cstdint>
#include <memory>

#include "nn/train/adamw.h"
#include "nn/train/ema.h"
#include "samplers/operators/operator.h"
#include "samplers/posterior/inference_network.h"

namespace tweedie::samplers {

struct ConjugateTrainOptions {
  std::int64_t batch = 64;
  std::uint64_t seed = 0;
  nn::AdamWOptions adam;
  double ema = 0.999;
};

class ConjugateTrainer {
 public:
  // data: (N, item...) f32 on the host, prior draws of x0; the operator maps them to the K entries.
  ConjugateTrainer(std::shared_ptr<InferenceNetwork> network, Tensor data, std::shared_ptr<const Operator> op,
                   ConjugateTrainOptions options);

  // One optimizer step; returns the batch's loss (mean over items and measured entries) before it.
  double step(Context& ctx);
  std::int64_t steps_done() const { return adam_.steps(); }
  // The loss of the EMA weights on `data` at `times` evenly spaced times, noise fixed per item.
  double validate(Context& ctx, const Tensor& data, int times = 8);
  // Exchanges the network's weights with the EMA's (twice restores them).
  void swap_ema();

 private:
  // x_t, t and theta of a batch of items of data.
  struct Batch {
    Tensor xt, theta;
    std::vector<double> t;
  };
  Batch make_batch(Context& ctx, const Tensor& data, const std::vector<std::int64_t>& rows, const std::vector<double>& t,
                   std::uint64_t noise_seed, std::uint64_t first_stream) const;
  double loss(Context& ctx, const Batch& b, bool gradients);

  std::shared_ptr<InferenceNetwork> network_;
  Tensor data_;
  std::shared_ptr<const Operator> op_;
  ConjugateTrainOptions options_;
  std::int64_t measured_ = 0;
  nn::AdamW adam_;
  nn::Ema ema_;
};

}  // namespace tweedie::samplers
