#pragma once
// The exponential moving average of a network's weights, the copy that is usually sampled from.
//
// After step s the average moves toward the weights by 1 - d_s with d_s = min(decay, (1 + s) / (10 + s)):
// the warm-up of TensorFlow's ExponentialMovingAverage (num_updates), so that a short run's average is
// not dominated by its random initial weights. decay = 0 makes the average the weights themselves.
#include <cstdint>
#include <vector>

#include "nn/parameter.h"
#include "runtime/context.h"

namespace tweedie::nn {

class Ema {
 public:
  // Starts as a copy of the weights.
  Ema(const ParameterSet& params, double decay);

  double decay() const { return decay_; }
  double decay_at(std::int64_t step) const;
  void update(Context& ctx, const ParameterSet& params, std::int64_t step);
  // The averaged values, in the parameter set's order.
  std::vector<Tensor>& values() { return values_; }
  const std::vector<Tensor>& values() const { return values_; }

 private:
  double decay_;
  std::vector<Tensor> values_;
};

}  // namespace tweedie::nn
