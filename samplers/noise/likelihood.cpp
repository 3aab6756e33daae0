#include "samplers/noise/likelihood.h"

#include "runtime/error.h"
#include "samplers/operators/stacked_operator.h"

namespace tweedie::samplers {

Likelihood::Likelihood(std::shared_ptr<const Operator> op, std::shared_ptr<const NoiseModel> noise)
    : op_(std::move(op)), noise_(std::move(noise)) {
  if (!op_ || !noise_) throw ArgumentError("Likelihood needs an operator and a noise model");
}

namespace {

// One operator per observation (stacked_operator.h) measures different entries per item; its observed()
// is their union, so the noise model runs item by item with each item's own entries. Null otherwise.
const StackedOperator* measuring_per_item(const Operator& op) {
  auto* s = dynamic_cast<const StackedOperator*>(&op);
  return s && s->observed().defined() ? s : nullptr;
}

}  // namespace

void Likelihood::simulate(Context& ctx, const Tensor& x, RandomStream rng, Tensor& y) const {
  std::int64_t n = op_->batch_of_input(ctx, x);
  Tensor z = op_->make_output(n, ctx.device());
  op_->apply(ctx, x, z);
  if (const StackedOperator* s = measuring_per_item(*op_)) {
    for (std::int64_t i = 0; i < n; ++i) {  // item i's noise from stream + i, as in one call
      Tensor yi = y.slice(i, 1);
      noise_->sample(ctx, z.slice(i, 1), s->item(i).observed(), RandomStream{rng.seed, rng.stream + std::uint64_t(i)}, yi);
    }
    return;
  }
  noise_->sample(ctx, z, op_->observed(), rng, y);
}

std::vector<double> Likelihood::log_likelihood(Context& ctx, const Tensor& y, const Tensor& x) const {
  std::int64_t n = op_->batch_of_input(ctx, x);
  if (op_->batch_of_output(ctx, y) != n)
    throw ShapeError(cat("likelihood: y has ", y.dim(0), " items but x has ", n));
  Tensor z = op_->make_output(n, ctx.device());
  op_->apply(ctx, x, z);
  if (const StackedOperator* s = measuring_per_item(*op_)) {
    std::vector<double> logp;
    for (std::int64_t i = 0; i < n; ++i) logp.push_back(noise_->log_likelihood(ctx, y.slice(i, 1), z.slice(i, 1), s->item(i).observed())[0]);
    return logp;
  }
  return noise_->log_likelihood(ctx, y, z, op_->observed());
}

std::vector<double> Likelihood::gradient(Context& ctx, const Tensor& y, const Tensor& x, Tensor& g) const {
  std::int64_t n = op_->batch_of_input(ctx, x);
  if (op_->batch_of_output(ctx, y) != n)
    throw ShapeError(cat("likelihood: y has ", y.dim(0), " items but x has ", n));
  op_->batch_of_input(ctx, g, "gradient");
  Tensor z = op_->make_output(n, ctx.device());
  op_->apply(ctx, x, z);
  Tensor gz = op_->make_output(n, ctx.device());
  std::vector<double> logp;
  if (const StackedOperator* s = measuring_per_item(*op_)) {
    for (std::int64_t i = 0; i < n; ++i) {
      const Tensor yi = y.slice(i, 1), zi = z.slice(i, 1);
      logp.push_back(noise_->log_likelihood(ctx, yi, zi, s->item(i).observed())[0]);
      Tensor gi = gz.slice(i, 1);
      noise_->gradient(ctx, yi, zi, s->item(i).observed(), gi);
    }
  } else {
    logp = noise_->log_likelihood(ctx, y, z, op_->observed());
    noise_->gradient(ctx, y, z, op_->observed(), gz);
  }
  op_->vjp(ctx, x, gz, g);
  return logp;
}

void Likelihood::validate(Context& ctx, const Tensor& y, std::string_view where) const {
  op_->check_observations(y, std::string(where));
  noise_->validate(ctx, y, op_->observed(), where);
}

}  // namespace tweedie::samplers
