#pragma once
// Softmax over the last dimension: y[r, :] = exp(x[r, :] - max) / sum(exp(x[r, :] - max)).
#include <cstdint>

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

namespace detail {
void softmax_rows_derivative_cuda(Context& ctx, const float* p, const float* dx, float* dy, std::int64_t rows, std::int64_t cols);
void softmax_rows_cuda(Context& ctx, const float* x, float* y, std::int64_t rows, std::int64_t cols);
}

}  // namespace tweedie
