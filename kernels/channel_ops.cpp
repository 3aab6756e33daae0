#include "kernels/channel_ops.h"

#include "kernels/reduce.h"
#include "runtime/check.h"
#include "runtime/parallel.h"
#include "runtime/parallel_reduce.h"

namespace tweedie {
namespace {

// Checks v against y's (N, C) and says whether it is per item.
bool per_item_vector(const char* op, const char* name, const Tensor& y, const Tensor& v) {
  if (y.rank() < 2) throw ShapeError(cat(op, ": ", y.str(), " needs at least (N, C)"));
  if (v.shape() == Shape{y.dim(1)}) return false;
  if (v.shape() == Shape{y.dim(0), y.dim(1)}) return true;
  throw ShapeError(cat(op, ": ", name, " is ", v.str(), ", expected (", y.dim(1), ") or (", y.dim(0), ",", y.dim(1),
                       ") for ", y.str()));
}

}  // namespace

void add_channel_vector(Context& ctx, Tensor& y, const Tensor& v, float alpha) {
  expect_tensor(ctx, "add_channel_vector", "y", y);
  expect_tensor(ctx, "add_channel_vector", "v", v);
  bool per_item = per_item_vector("add_channel_vector", "v", y, v);
  std::int64_t rows = y.dim(0) * y.dim(1), spatial = y.shape().stride(1);
  for_each_2d(ctx, rows, spatial, AddChannelVector{y.data<float>(), v.data<float>(), y.dim(1), spatial, per_item, alpha});
}

void accumulate_channel_sums(Context& ctx, const Tensor& g, Tensor& out) {
  expect_tensor(ctx, "accumulate_channel_sums", "g", g);
  expect_tensor(ctx, "accumulate_channel_sums", "out", out);
  bool per_item = per_item_vector("accumulate_channel_sums", "out", g, out);
  std::int64_t items = g.dim(0), channels = g.dim(1), rows = items * channels;
  Workspace::Scope scratch(ctx.workspace());
  double* sums = scratch.take<double>(rows);
  reduce_rows(ctx, rows, g.shape().stride(1), SumReducer{g.data<float>()}, sums);
  for_each(ctx, per_item ? rows : channels, AddChannelSums{sums, out.data<float>(), items, channels, per_item});
}

}  // namespace tweedie
