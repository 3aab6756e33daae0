#pragma once
// Argument checks shared by ops. Each names the op and the argument, and shows what it got:
//   "axpby: y is f32 (3,2) on cpu, expected shape (2,3) like x"
#include <string>

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
// Every value of the batch (N, ...) is finite (f32, or c64 part by part; any device), else ArgumentError
// "<what>: item 3 has nan at (0, 5, 7) of its (1,64,64) values; <why>".
void expect_finite_items(const Tensor& batch, const std::string& what, const std::string& why);

}  // namespace tweedie
