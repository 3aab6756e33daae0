#include "samplers/operators/stacked_operator.h"

#include <vector>

#include "runtime/error.h"

namespace tweedie::samplers {
namespace {

// Entries observed by any item: what a noise model may leave alone is what no item measures. Undefined
// (everything observed) when some item observes everything.
Tensor union_of_observed(const std::vector<std::shared_ptr<const Operator>>& items) {
  std::vector<float> seen;
  for (const auto& op : items) {
    if (!op->observed().defined()) return Tensor();
    std::vector<float> o = op->observed().to_vector<float>();
    if (seen.empty()) seen.assign(o.size(), 0.0f);
    for (std::size_t i = 0; i < o.size(); ++i) seen[i] = (seen[i] != 0.0f || o[i] != 0.0f) ? 1.0f : 0.0f;
  }
  return Tensor::from_host(std::span<const float>(seen), items.front()->output().shape, items.front()->observed().device());
}

}  // namespace

StackedOperator::StackedOperator(std::vector<std::shared_ptr<const Operator>> items, std::string description)
    : Operator(items.empty() ? Signal{} : items.front()->input(), items.empty() ? Signal{} : items.front()->output()),
      items_(std::move(items)),
      description_(std::move(description)) {
  if (items_.empty()) throw ArgumentError(cat("operator '", description_, "': no operators (one per observation)"));
  for (std::size_t i = 0; i < items_.size(); ++i) {
    const Operator& op = *items_[i];
    if (!(op.input().shape == input_.shape) || op.input().dtype != input_.dtype || !(op.output().shape == output_.shape) ||
        op.output().dtype != output_.dtype)
      throw ShapeError(cat("operator '", description_, "': item ", i, " maps ", op.input().str(), " to ", op.output().str(), " but item 0 maps ",
                           input_.str(), " to ", output_.str()));
    linear_ = linear_ && op.is_linear();
  }
  observed_ = union_of_observed(items_);
}

std::shared_ptr<StackedOperator> StackedOperator::select(const std::vector<std::int64_t>& indices) const {
  std::vector<std::shared_ptr<const Operator>> chosen;
  chosen.reserve(indices.size());
  for (std::int64_t i : indices) {
    if (i < 0 || i >= count()) throw ShapeError(cat("operator '", description_, "': observation ", i, " of ", count()));
    chosen.push_back(items_[std::size_t(i)]);
  }
  return std::make_shared<StackedOperator>(std::move(chosen), description_);
}

void StackedOperator::check_batch(std::int64_t n, const char* role) const {
  if (n != count())
    throw ShapeError(cat("operator '", description_, "' holds one operator per observation (", count(), ") and maps batches of exactly that ",
                         "many items; ", role, " has ", n));
}

void StackedOperator::apply(Context& ctx, const Tensor& x, Tensor& y) const {
  const std::int64_t n = batch_of_input(ctx, x);
  check_batch(n, "x");
  if (batch_of_output(ctx, y) != n) throw ShapeError(cat("operator '", description_, "': y is ", y.shape().str(), " for x ", x.shape().str()));
  for (std::int64_t i = 0; i < n; ++i) {
    Tensor yi = y.slice(i, 1);
    items_[std::size_t(i)]->apply(ctx, x.slice(i, 1), yi);
  }
}

void StackedOperator::adjoint(Context& ctx, const Tensor& y, Tensor& x) const {
  if (!linear_) Operator::adjoint(ctx, y, x);  // throws, naming the operator
  const std::int64_t n = batch_of_output(ctx, y);
  check_batch(n, "y");
  if (batch_of_input(ctx, x) != n) throw ShapeError(cat("operator '", description_, "': x is ", x.shape().str(), " for y ", y.shape().str()));
  for (std::int64_t i = 0; i < n; ++i) {
    Tensor xi = x.slice(i, 1);
    items_[std::size_t(i)]->adjoint(ctx, y.slice(i, 1), xi);
  }
}

void StackedOperator::jvp(Context& ctx, const Tensor& x, const Tensor& dx, Tensor& dy) const {
  const std::int64_t n = batch_of_input(ctx, x);
  check_batch(n, "x");
  for (std::int64_t i = 0; i < n; ++i) {
    Tensor dyi = dy.slice(i, 1);
    items_[std::size_t(i)]->jvp(ctx, x.slice(i, 1), dx.slice(i, 1), dyi);
  }
}

void StackedOperator::vjp(Context& ctx, const Tensor& x, const Tensor& dy, Tensor& dx) const {
  const std::int64_t n = batch_of_input(ctx, x);
  check_batch(n, "x");
  for (std::int64_t i = 0; i < n; ++i) {
    Tensor dxi = dx.slice(i, 1);
    items_[std::size_t(i)]->vjp(ctx, x.slice(i, 1), dy.slice(i, 1), dxi);
  }
}

std::shared_ptr<const Operator> operator_for_rows(const std::shared_ptr<const Operator>& op, std::int64_t first, std::int64_t n,
                                                  std::int64_t per) {
  auto stacked = std::dynamic_pointer_cast<const StackedOperator>(op);
  if (!stacked) return op;
  std::vector<std::int64_t> rows(static_cast<std::size_t>(n));
  for (std::int64_t g = 0; g < n; ++g) rows[std::size_t(g)] = (first + g) / per;
  return stacked->select(rows);
}

}  // namespace tweedie::samplers
