#include "nn/parameter.h"

#include "kernels/axpby.h"
#include "runtime/error.h"

namespace tweedie::nn {

Tensor& Parameter::gradient() {
  if (!grad.defined()) grad = Tensor::zeros(value.shape(), value.device());
  return grad;
}

Parameter* ParameterSet::add(const std::string& name, const Shape& shape) {
  if (by_name_.count(name)) throw ArgumentError(cat("parameter '", name, "' defined twice"));
  Parameter& p = storage_.emplace_back();
  p.name = name;
  p.value = Tensor::zeros(shape, device_);
  ordered_.push_back(&p);
  by_name_[name] = &p;
  return &p;
}

Parameter* ParameterSet::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

std::int64_t ParameterSet::count_values() const {
  std::int64_t n = 0;
  for (const Parameter* p : ordered_) n += p->value.numel();
  return n;
}

void ParameterSet::zero_gradients(Context& ctx) {
  for (Parameter* p : ordered_)
    if (p->grad.defined()) fill(ctx, p->grad, 0.0f);
}

}  // namespace tweedie::nn
