#include "kernels/gemm.h"

#include <cblas.h>

#include <algorithm>

#include "runtime/check.h"
#include "runtime/parallel.h"

namespace tweedie {
namespace {

void check_args(const GemmArgs& g) {
  if (g.m < 0 || g.n < 0 || g.k < 0 || g.batch < 0)
    throw ArgumentError(cat("gemm: negative size m=", g.m, " n=", g.n, " k=", g.k, " batch=", g.batch));
  std::int64_t a_cols = g.trans_a ? g.m : g.k, b_cols = g.trans_b ? g.k : g.n;
  if (g.lda < std::max<std::int64_t>(1, a_cols) || g.ldb < std::max<std::int64_t>(1, b_cols) ||
      g.ldc < std::max<std::int64_t>(1, g.n))
    throw ArgumentError(cat("gemm: leading dimensions lda=", g.lda, " ldb=", g.ldb, " ldc=", g.ldc,
                            " too small for m=", g.m, " n=", g.n, " k=", g.k));
  constexpr std::int64_t kBlasIntMax = 2147483647;  // OpenBLAS and cuBLAS take 32-bit sizes
  for (std::int64_t v : {g.m, g.n, g.k, g.lda, g.ldb, g.ldc})
    if (v > kBlasIntMax) throw ArgumentError(cat("gemm: size ", v, " exceeds the 32-bit limit of BLAS"));
}

void gemm_host(Context& ctx, const GemmArgs& g) {
  auto one = [&](std::int64_t i) {
    cblas_sgemm(CblasRowMajor, g.trans_a ? CblasTrans : CblasNoTrans, g.trans_b ? CblasTrans : CblasNoTrans,
                int(g.m), int(g.n), int(g.k), g.alpha, g.a + i * g.stride_a, int(g.lda), g.b + i * g.stride_b,
                int(g.ldb), g.beta, g.c + i * g.stride_c, int(g.ldc));
  };
  // Products under 64 MFLOP (256x256x512, say) in a batch of at least two per thread go one per thread
  // (OpenBLAS runs single-threaded inside our OpenMP region): threading inside such small products
  // costs more than it gains (measured: 32 attention-sized products, 2 threads, 2.4 ms -> 1.9 ms).
  // Larger products get all threads each.
  double flops = 2.0 * double(g.m) * double(g.n) * double(g.k);
  if (g.batch >= 2 * ctx.threads() && flops < 6.4e7) {
    parallel_for(ctx.threads(), g.batch, one, /*grain=*/1);
  } else {
    openblas_set_num_threads(ctx.threads());
    for (std::int64_t i = 0; i < g.batch; ++i) one(i);
  }
}

// Rows, columns and batch of a matmul operand; 2-D operands have batch 0 (shared).
struct Operand {
  std::int64_t batch, rows, cols;
};

Operand operand(const char* name, const Tensor& t) {
  if (t.rank() == 2) return {0, t.dim(0), t.dim(1)};
  if (t.rank() == 3) return {t.dim(0), t.dim(1), t.dim(2)};
  throw ShapeError(cat("matmul: ", name, " is ", t.str(), ", expected 2 or 3 dimensions"));
}

}  // namespace

void gemm(Context& ctx, const GemmArgs& args) {
  check_args(args);
  if (args.batch == 0 || args.m == 0 || args.n == 0) return;
#if TWEEDIE_HAS_CUDA
  if (ctx.on_cuda()) return detail::gemm_cuda(ctx, args);
#endif
  gemm_host(ctx, args);
}

void matmul(Context& ctx, const Tensor& a, const Tensor& b, Tensor& c, MatmulOptions o) {
  expect_tensor(ctx, "matmul", "A", a);
  expect_tensor(ctx, "matmul", "B", b);
  expect_tensor(ctx, "matmul", "C", c);
  Operand A = operand("A", a), B = operand("B", b), C = operand("C", c);
  std::int64_t m = o.trans_a ? A.cols : A.rows, k = o.trans_a ? A.rows : A.cols;
  std::int64_t kb = o.trans_b ? B.cols : B.rows, n = o.trans_b ? B.rows : B.cols;
  std::int64_t batch = std::max({A.batch, B.batch, C.batch, std::int64_t(1)});
  bool batches_agree = (A.batch == 0 || A.batch == batch) && (B.batch == 0 || B.batch == batch) &&
                       (C.batch == batch || (C.batch == 0 && batch == 1));
  if (k != kb || C.rows != m || C.cols != n || !batches_agree)
    throw ShapeError(cat("matmul: shapes do not fit: A ", a.shape().str(), o.trans_a ? "^T" : "", ", B ",
                         b.shape().str(), o.trans_b ? "^T" : "", ", C ", c.shape().str()));
  expect_distinct("matmul", "A", a, "C", c);
  expect_distinct("matmul", "B", b, "C", c);
  GemmArgs g;
  g.trans_a = o.trans_a;
  g.trans_b = o.trans_b;
  g.m = m, g.n = n, g.k = k;
  g.alpha = o.alpha, g.beta = o.beta;
  g.a = a.data<float>(), g.lda = A.cols, g.stride_a = A.batch ? A.rows * A.cols : 0;
  g.b = b.data<float>(), g.ldb = B.cols, g.stride_b = B.batch ? B.rows * B.cols : 0;
  g.c = c.data<float>(), g.ldc = C.cols, g.stride_c = m * n;
  g.batch = batch;
  gemm(ctx, g);
}

}  // namespace tweedie
