#pragma once
// Matrix products on f32, row-major: C = alpha * op(A) op(B) + beta * C, op = identity or transpose.
// OpenBLAS on the host, cuBLAS on the GPU (full f32: TF32 tensor cores stay off unless asked for).
#include <cstdint>

#include "runtime/context.h"
#include "runtime/tensor.h"

namespace tweedie {

// The raw form, on pointers in ctx's device memory: `batch` independent products, matrix i of each
// operand starting at stride_* * i elements (stride 0 shares one matrix across the batch).
// op(A) is m x k, op(B) is k x n, C is m x n; lda/ldb/ldc are row strides of the stored matrices.
struct GemmArgs {
  bool trans_a = false, trans_b = false;
  std::int64_t m = 0, n = 0, k = 0;
  float alpha = 1.0f;
  const float* a = nullptr;
  std::int64_t lda = 0, stride_a = 0;
  const float* b = nullptr;
  std::int64_t ldb = 0, stride_b = 0;
  float beta = 0.0f;
  float* c = nullptr;
  std::int64_t ldc = 0, stride_c = 0;
  std::int64_t batch = 1;
};
void gemm(Context& ctx, const GemmArgs& args);

// On tensors: A is (m,k) or (batch,m,k) (transposed: (k,m) / (batch,k,m)), likewise B; C is (m,n) or
// (batch,m,n). A 2-D operand is shared by every product of a batched call.
struct MatmulOptions {
  bool trans_a = false, trans_b = false;
  float alpha = 1.0f, beta = 0.0f;
};
void matmul(Context& ctx, const Tensor& a, const Tensor& b, Tensor& c, MatmulOptions options = {});

namespace detail {
void gemm_cuda(Context& ctx, const GemmArgs& args);
}

}  // namespace tweedie
