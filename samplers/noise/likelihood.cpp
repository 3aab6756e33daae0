#include "samplers/noise/likelihood.h"

#include "runtime/error.h"

namespace tweedie::samplers {

Likelihood::Likelihood(std::shared_ptr<const Operator> op, std::shared_ptr<const NoiseModel> noise)
    : op_(std::move(op)), noise_(std::move(noise)) {
  if (!op_ || !noise_) throw ArgumentError("Likelihood needs an operator and a noise model");
}

void Likelihood::simulate(Context& ctx, const Tensor& x, RandomStream rng, Tensor& y) const {
  std::int64_t n = op_->batch_of_input(ctx, x);
  Tensor z = op_->make_output(n, ctx.device());
  op_->apply(ctx, x, z);
  noise_->sample(ctx, z, op_->observed(), rng, y);
}

std::vector<double> Likelihood::log_likelihood(Context& ctx, const Tensor& y, const Tensor& x) const {
  std::int64_t n = op_->batch_of_input(ctx, x);
  if (op_->batch_of_output(ctx, y) != n)
    throw ShapeError(cat("likelihood: y has ", y.dim(0), " items but x has ", n));
  Tensor z = op_->make_output(n, ctx.device());
  op_->apply(ctx, x, z);
  return noise_->log_likelihood(ctx, y, z, op_->observed());
}

std::vector<double> Likelihood::gradient(Context& ctx, const Tensor& y, const Tensor& x, Tensor& g) const {
  std::int64_t n = op_->batch_of_input(ctx, x);
  if (op_->batch_of_output(ctx, y) != n)
    throw ShapeError(cat("likelihood: y has ", y.dim(0), " items but x has ", n));
  op_->batch_of_input(ctx, g, "gradient");
  Tensor z = op_->make_output(n, ctx.device());
  op_->apply(ctx, x, z);
  std::vector<double> logp = noise_->log_likelihood(ctx, y, z, op_->observed());
  Tensor gz = op_->make_output(n, ctx.device());
  noise_->gradient(ctx, y, z, op_->observed(), gz);
  op_->vjp(ctx, x, gz, g);
  return logp;
}

void Likelihood::validate(Context& ctx, const Tensor& y, std::string_view where) const {
  op_->check_observations(y, std::string(where));
  noise_->validate(ctx, y, op_->observed(), where);
}

}  // namespace tweedie::samplers
