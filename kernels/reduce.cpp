#include "kernels/reduce.h"

#include <cmath>

#include "runtime/check.h"
#include "runtime/memory.h"
#include "runtime/parallel_reduce.h"

namespace tweedie {
namespace {

std::int64_t row_length(const char* op, const Tensor& x, std::int64_t rows) {
  if (rows < 1 || x.numel() % rows != 0)
    throw ShapeError(cat(op, ": cannot split ", x.str(), " into ", rows, " equal rows"));
  return x.numel() / rows;
}

}  // namespace

std::vector<double> sum_rows(Context& ctx, const Tensor& x, std::int64_t rows) {
  expect_tensor(ctx, "sum", "x", x);
  return reduce_rows_to_host(ctx, rows, row_length("sum", x, rows), SumReducer{x.data<float>()});
}

std::vector<double> dot_rows(Context& ctx, const Tensor& x, const Tensor& y, std::int64_t rows) {
  expect_tensor(ctx, "dot", "x", x);
  expect_tensor(ctx, "dot", "y", y);
  expect_same_shape("dot", "x", x, "y", y);
  return reduce_rows_to_host(ctx, rows, row_length("dot", x, rows), DotReducer{x.data<float>(), y.data<float>()});
}

std::vector<double> norm2_rows(Context& ctx, const Tensor& x, std::int64_t rows) {
  std::vector<double> out = dot_rows(ctx, x, x, rows);
  for (double& v : out) v = std::sqrt(v);
  return out;
}

double sum(Context& ctx, const Tensor& x) { return sum_rows(ctx, x, 1)[0]; }
double dot(Context& ctx, const Tensor& x, const Tensor& y) { return dot_rows(ctx, x, y, 1)[0]; }
double norm2(Context& ctx, const Tensor& x) { return norm2_rows(ctx, x, 1)[0]; }

void group_moments(Context& ctx, const Tensor& x, std::int64_t groups, Tensor& mean, Tensor& var) {
  expect_tensor(ctx, "group_moments", "x", x);
  expect_tensor(ctx, "group_moments", "mean", mean);
  expect_tensor(ctx, "group_moments", "var", var);
  std::int64_t per_group = row_length("group_moments", x, groups);
  expect_shape("group_moments", "mean", mean, {groups});
  expect_shape("group_moments", "var", var, {groups});
  Workspace::Scope scratch(ctx.workspace());
  Moments* moments = scratch.take<Moments>(groups);
  reduce_rows(ctx, groups, per_group, MomentsReducer{x.data<float>()}, moments);
  for_each(ctx, groups, MomentsToMeanVar{moments, mean.data<float>(), var.data<float>()});
}

}  // namespace tweedie
