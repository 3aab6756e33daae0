#pragma once
// The likelihood of an inverse problem, p(y | x) = p(y | A(x)): a forward operator and a noise model
// bound together. Posterior methods need its value and its gradient in x; simulations draw y from it.
//
//   grad_x log p(y | x) = J_A(x)^T grad_z log p(y | z) at z = A(x)
//
// (A^T for linear operators). Batches: x is (N, operator input...), y is (N, operator output...).
#include <memory>
#include <string_view>
#include <vector>

#include "samplers/noise/noise_model.h"
#include "samplers/operators/operator.h"

namespace tweedie::samplers {

class Likelihood {
 public:
  Likelihood(std::shared_ptr<const Operator> op, std::shared_ptr<const NoiseModel> noise);

  const Operator& op() const { return *op_; }
  const NoiseModel& noise() const { return *noise_; }

  // y ~ p(y | A(x)); noise of batch item r from stream rng.stream + r.
  void simulate(Context& ctx, const Tensor& x, RandomStream rng, Tensor& y) const;
  // log p(y | x) of each batch item.
  std::vector<double> log_likelihood(Context& ctx, const Tensor& y, const Tensor& x) const;
  // g = grad_x log p(y | x) (x's shape); returns log p(y | x) of each item, which comes for free.
  std::vector<double> gradient(Context& ctx, const Tensor& y, const Tensor& x, Tensor& g) const;
  // Throws if y does not fit the operator's output (shape, type) or the noise model (counts, NaN);
  // messages start with `where`.
  void validate(Context& ctx, const Tensor& y, std::string_view where) const;

 private:
  std::shared_ptr<const Operator> op_;
  std::shared_ptr<const NoiseModel> noise_;
};

}  // namespace tweedie::samplers
