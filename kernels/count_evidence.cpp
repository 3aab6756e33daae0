#include "kernels/count_evidence.h"

#include "runtime/check.h"
#include "runtime/parallel.h"
#include "runtime/parallel_reduce.h"

namespace tweedie {
namespace {

// The checks both ops start with: y, mean and var f32 of one shape on ctx's device, split into `items`
// rows; observed and the trials one f32 per entry of a row.
CountEntries entries_of(Context& ctx, const char* op, const Tensor& y, const Tensor& mean, const Tensor& var,
                        const CountModel& model, const Tensor& observed, std::int64_t items) {
  expect_tensor(ctx, op, "mean", mean);
  expect_tensor(ctx, op, "y", y);
  expect_tensor(ctx, op, "var", var);
  expect_same_shape(op, "mean", mean, "y", y);
  expect_same_shape(op, "mean", mean, "var", var);
  if (items < 1 || mean.numel() % items != 0)
    throw ShapeError(cat(op, ": cannot split mean ", mean.str(), " into ", items, " equal items"));
  const std::int64_t cols = mean.numel() / items;
  if (observed.defined()) {
    expect_tensor(ctx, op, "observed", observed);
    if (observed.numel() != cols)
      throw ShapeError(cat(op, ": observed is ", observed.str(), " but items of mean ", mean.str(), " have ", cols, " entries"));
  }
  EntryValues trials{nullptr, model.trials.value};
  if (model.law.family == CountFamily::binomial) {
    if (model.law.link != CountLink::sigmoid) throw ArgumentError(cat(op, ": Binomial data take the sigmoid link"));
    if (model.trials.per_entry.defined()) {
      expect_tensor(ctx, op, "trials", model.trials.per_entry);
      if (model.trials.per_entry.numel() != cols)
        throw ShapeError(cat(op, ": trials is ", model.trials.per_entry.str(), " but an item has ", cols, " entries"));
      trials.values = model.trials.per_entry.data<float>();
    }
  } else if (model.law.link == CountLink::sigmoid) {
    throw ArgumentError(cat(op, ": Poisson data take the exp or softplus link"));
  }
  NoiseRows rows{cols, 0, observed.defined() ? observed.data<float>() : nullptr};
  return {y.data<float>(), mean.data<float>(), var.data<float>(), model.law, trials, rows};
}

}  // namespace

std::vector<double> count_evidence(Context& ctx, const Tensor& y, const Tensor& mean, const Tensor& var, const CountModel& model,
                                   const Tensor& observed, std::int64_t items, Tensor& score) {
  const char* op = "count_evidence";
  CountEntries e = entries_of(ctx, op, y, mean, var, model, observed, items);
  expect_tensor(ctx, op, "score", score);
  expect_same_shape(op, "mean", mean, "score", score);
  for_each_2d(ctx, items, e.rows.cols, CountEvidenceScore{e, score.data<float>()});
  return reduce_rows_to_host(ctx, items, e.rows.cols, CountEvidenceValue{e});
}

void count_newton(Context& ctx, const Tensor& y, const Tensor& mean, const Tensor& var, const CountModel& model,
                  const Tensor& observed, std::int64_t items, Tensor& root_weight, Tensor& pearson) {
  const char* op = "count_newton";
  CountEntries e = entries_of(ctx, op, y, mean, var, model, observed, items);
  expect_tensor(ctx, op, "root_weight", root_weight);
  expect_tensor(ctx, op, "pearson", pearson);
  expect_same_shape(op, "mean", mean, "root_weight", root_weight);
  expect_same_shape(op, "mean", mean, "pearson", pearson);
  for_each_2d(ctx, items, e.rows.cols, CountNewton{e, root_weight.data<float>(), pearson.data<float>()});
}

}  // namespace tweedie
