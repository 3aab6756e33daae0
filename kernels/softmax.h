#pragma once
// Softmax over the last dimension: y[r, :] = exp(x[r, :] - max) / sum(exp(x[r, :] - max)).
#include <cstdint>
#include <limits>

#include "runtime/context.h"
#include "runtime/elementary.h"
#include "runtime/hd.h"
#include "runtime/tensor.h"

namespace tweedie {

// x and y have the same shape, rank >= 1; rows are all leading dimensions. In place allowed.
void softmax_rows(Context& ctx, const Tensor& x, Tensor& y);
// The derivative of softmax along the rows, given its output p: dy = p * (dx - sum(p * dx)). The
// Jacobian is symmetric, so the same map turns an output cotangent into an input cotangent. dy may be dx.
void softmax_rows_derivative(Context& ctx, const Tensor& p, const Tensor& dx, Tensor& dy);

// Unnormalised weight of one entry. The row's largest value is subtracted so that exp never overflows
// and the row sum is at least 1. Both devices store these, sum them in double, then scale by 1 / sum.
TW_HD inline float softmax_numerator(float x, float row_max) { return exp_f32(x - row_max); }

// One row on the host: the loop softmax_rows runs per row, and the fused attention per row of scores.
// Returns the row's maximum and 1 / sum, from which softmax_row_rebuild makes the same bits again.
struct SoftmaxRowStats {
  float max, inv_sum;
};
inline SoftmaxRowStats softmax_row(const float* x, float* y, std::int64_t cols) {
  float row_max = -std::numeric_limits<float>::infinity();
#pragma omp simd reduction(max : row_max)
  for (std::int64_t c = 0; c < cols; ++c) row_max = x[c] > row_max ? x[c] : row_max;
  double row_sum = 0;
#pragma omp simd reduction(+ : row_sum)
  for (std::int64_t c = 0; c < cols; ++c) {
    float e = softmax_numerator(x[c], row_max);
    y[c] = e;
    row_sum += e;
  }
  float inv = float(1.0 / row_sum);
#pragma omp simd
  for (std::int64_t c = 0; c < cols; ++c) y[c] *= inv;
  return {row_max, inv};
}
inline void softmax_row_rebuild(const float* x, float* y, std::int64_t cols, SoftmaxRowStats stats) {
#pragma omp simd
  for (std::int64_t c = 0; c < cols; ++c) y[c] = softmax_numerator(x[c], stats.max) * stats.inv_sum;
}
// dy = p * (dx - sum(p * dx)) on one row (dy may be dx).
inline void softmax_row_derivative(const float* p, const float* dx, float* dy, std::int64_t cols) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (std::int64_t c = 0; c < cols; ++c) s += double(p[c]) * dx[c];
  float fs = float(s);
#pragma omp simd
  for (std::int64_t c = 0; c < cols; ++c) dy[c] = p[c] * (dx[c] - fs);
}

namespace detail {
void softmax_rows_derivative_cuda(Context& ctx, const float* p, const float* dx, float* dy, std::int64_t rows, std::int64_t cols);
void softmax_rows_cuda(Context& ctx, const float* x, float* y, std::int64_t rows, std::int64_t cols);
}

}  // namespace tweedie
