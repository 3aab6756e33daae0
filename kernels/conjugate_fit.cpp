#include "kernels/conjugate_fit.h"

#include "runtime/check.h"
#include "runtime/parallel.h"
#include "runtime/parallel_reduce.h"

namespace tweedie {
namespace {

// raw (items, 2, K) and other (items, K) f32 on ctx's device, grad like raw, observed K values.
ConjugateEntries entries_of(Context& ctx, const char* op, const Tensor& raw, const char* other_name, const Tensor& other,
                            CountFamily family, const EntryParameter& trials, const Tensor& observed, std::int64_t items,
                            const Tensor& grad, bool evidence) {
  expect_tensor(ctx, op, "raw", raw);
  expect_tensor(ctx, op, other_name, other);
  expect_tensor(ctx, op, "grad_raw", grad);
  expect_same_shape(op, "raw", raw, "grad_raw", grad);
  if (items < 1 || other.numel() % items != 0 || raw.numel() != 2 * other.numel())
    throw ShapeError(cat(op, ": raw ", raw.str(), " must hold two values per entry of ", other_name, " ", other.str(), " in ", items, " items"));
  const std::int64_t k = other.numel() / items;
  if (observed.defined()) {
    expect_tensor(ctx, op, "observed", observed);
    if (observed.numel() != k) throw ShapeError(cat(op, ": observed is ", observed.str(), " but an item has ", k, " entries"));
  }
  EntryValues n{nullptr, trials.value};
  if (trials.per_entry.defined()) {
    expect_tensor(ctx, op, "trials", trials.per_entry);
    if (trials.per_entry.numel() != k) throw ShapeError(cat(op, ": trials is ", trials.per_entry.str(), " but an item has ", k, " entries"));
    n.values = trials.per_entry.data<float>();
  }
  NoiseRows rows{k, 0, observed.defined() ? observed.data<float>() : nullptr};
  return {raw.data<float>(), other.data<float>(), family, n, rows, evidence};
}

std::vector<double> run(Context& ctx, const ConjugateEntries& e, std::int64_t items, Tensor& grad) {
  for_each_2d(ctx, items, e.rows.cols, ConjugateGradient{e, grad.data<float>()});
  return reduce_rows_to_host(ctx, items, e.rows.cols, ConjugateValue{e});
}

}  // namespace

std::vector<double> conjugate_nll(Context& ctx, const Tensor& raw, const Tensor& theta, CountFamily family, const Tensor& observed,
                                  std::int64_t items, Tensor& grad_raw) {
  ConjugateEntries e = entries_of(ctx, "conjugate_nll", raw, "theta", theta, family, {}, observed, items, grad_raw, false);
  return run(ctx, e, items, grad_raw);
}

std::vector<double> conjugate_evidence(Context& ctx, const Tensor& raw, const Tensor& y, const CountModel& model,
                                       const Tensor& observed, std::int64_t items, Tensor& grad_raw) {
  ConjugateEntries e = entries_of(ctx, "conjugate_evidence", raw, "y", y, model.law.family, model.trials, observed, items, grad_raw, true);
  return run(ctx, e, items, grad_raw);
}

}  // namespace tweedie
