#pragma once
// Observations that each come with their own operator: every image its own random mask, every vector
// its own random projection (the setting of learning a prior from observations, samplers/em/). Item i
// of a batch goes through operator i, so a batch must hold exactly one item per operator; a sampler that
// draws K samples per observation gets the operators repeated by `select`.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "samplers/operators/operator.h"

namespace tweedie::samplers {

class StackedOperator final : public Operator {
 public:
  // All operators must take and give the same signals. `description` is the spec that builds them
  // ("each:inpaint:p=0.25:channels=shared:seed=3").
  StackedOperator(std::vector<std::shared_ptr<const Operator>> items, std::string description);

  std::string describe() const override { return description_; }
  bool is_linear() const override { return linear_; }
  std::int64_t count() const { return std::int64_t(items_.size()); }
  const Operator& item(std::int64_t i) const { return *items_.at(std::size_t(i)); }

  // The operators of `indices` in that order (repeats allowed); out-of-range indices throw.
  std::shared_ptr<StackedOperator> select(const std::vector<std::int64_t>& indices) const;

  void apply(Context& ctx, const Tensor& x, Tensor& y) const override;
  void adjoint(Context& ctx, const Tensor& y, Tensor& x) const override;
  void jvp(Context& ctx, const Tensor& x, const Tensor& dx, Tensor& dy) const override;
  void vjp(Context& ctx, const Tensor& x, const Tensor& dy, Tensor& dx) const override;

 private:
  // Throws unless the batch holds one item per operator.
  void check_batch(std::int64_t n, const char* role) const;

  std::vector<std::shared_ptr<const Operator>> items_;
  std::string description_;
  bool linear_ = true;
};

// The operator for sampler items first .. first + n - 1 when item g belongs to observation g / per:
// `op` itself when it is shared by every observation, the selected operators when it is stacked.
std::shared_ptr<const Operator> operator_for_rows(const std::shared_ptr<const Operator>& op, std::int64_t first, std::int64_t n,
                                                  std::int64_t per);

}  // namespace tweedie::samplers
