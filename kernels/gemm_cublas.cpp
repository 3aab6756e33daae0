// GEMM on the GPU through cuBLAS. cuBLAS is column-major; a row-major C = op(A) op(B) is the
// column-major C^T = op(B)^T op(A)^T, so the operands are passed swapped.
#include <cublas_v2.h>

#include "kernels/gemm.h"
#include "runtime/cuda_backend.h"
#include "runtime/cuda_check.h"

namespace tweedie {
namespace {

// One cuBLAS handle per context, bound to the context's stream, full f32 math (CUBLAS_DEFAULT_MATH never uses TF32).
struct CublasHandle {
  cublasHandle_t handle = nullptr;
  explicit CublasHandle(Context& ctx) {
    cuda::activate(ctx.device().index());
    TW_CHECK(cublasCreate(&handle));
    TW_CHECK(cublasSetStream(handle, static_cast<cudaStream_t>(ctx.stream())));
    TW_CHECK(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH));
  }
  ~CublasHandle() { cublasDestroy(handle); }
};

}  // namespace

void detail::gemm_cuda(Context& ctx, const GemmArgs& g) {
  cublasHandle_t h = ctx.state<CublasHandle>().handle;
  cuda::activate(ctx.device().index());
  cublasOperation_t op_a = g.trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
  cublasOperation_t op_b = g.trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
  if (g.batch == 1) {
    TW_CHECK(cublasSgemm(h, op_b, op_a, int(g.n), int(g.m), int(g.k), &g.alpha, g.b, int(g.ldb), g.a, int(g.lda),
                         &g.beta, g.c, int(g.ldc)));
  } else {
    TW_CHECK(cublasSgemmStridedBatched(h, op_b, op_a, int(g.n), int(g.m), int(g.k), &g.alpha, g.b, int(g.ldb),
                                       g.stride_b, g.a, int(g.lda), g.stride_a, &g.beta, g.c, int(g.ldc),
                                       g.stride_c, int(g.batch)));
  }
}

}  // namespace tweedie
