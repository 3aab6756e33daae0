#pragma once
// Argument checks shared by ops. Each names the op and the argument, and shows what it got:
//   "axpby: y is f32 (3,2) on cpu, expected shape (2,3) like x"
#include "runtime/context.h"
#include "runtime/tensor.h"

namespace tweedie {

// t is defined, lives on ctx's device and holds `dtype` elements.
void expect_tensor(const Context& ctx, const char* op, const char* name, const Tensor& t, DType dtype = DType::f32);
// t has exactly `shape`.
void expect_shape(const char* op, const char* name, const Tensor& t, const Shape& shape);
// b has the same shape as a.
void expect_same_shape(const char* op, const char* name_a, const Tensor& a, const char* name_b, const Tensor& b);
// t has `rank` dimensions.
void expect_rank(const char* op, const char* name, const Tensor& t, int rank);
// The two tensors do not overlap in memory (for ops that cannot work in place).
void expect_distinct(const char* op, const char* name_a, const Tensor& a, const char* name_b, const Tensor& b);

}  // namespace tweedie
