#include "nn/train/ema.h"

#include <algorithm>
#include <cmath>

#include "kernels/optimizer.h"
#include "runtime/error.h"

namespace tweedie::nn {

Ema::Ema(const ParameterSet& params, double decay) : decay_(decay) {
  if (!(decay >= 0 && decay < 1)) throw ArgumentError(cat("--ema ", decay, ": the decay must be in [0, 1)"));
  for (const Parameter* p : params.all()) {
    values_.push_back(Tensor::empty(p->value.shape(), p->value.device()));
    values_.back().copy_from(p->value);
  }
}

double Ema::decay_at(std::int64_t step) const { return std::min(decay_, (1.0 + double(step)) / (10.0 + double(step))); }

void Ema::update(Context& ctx, const ParameterSet& params, std::int64_t step) {
  const std::vector<Parameter*>& all = params.all();
  if (all.size() != values_.size()) throw ArgumentError(cat("EMA of ", values_.size(), " parameters updated from ", all.size()));
  float d = float(decay_at(step));
  for (std::size_t i = 0; i < all.size(); ++i) ema_update(ctx, d, all[i]->value, values_[i]);
}

}  // namespace tweedie::nn
