// Softmax over rows on the GPU: one block per row, block-wide max and sum with CUB.
#include <cub/block/block_reduce.cuh>

#include "kernels/softmax.h"
#include "runtime/cuda_backend.h"
#include "runtime/cuda_check.h"

namespace tweedie::detail {
namespace {

constexpr int kBlock = 256;

__global__ void softmax_rows_kernel(const float* x, float* y, std::int64_t cols) {
  using MaxReduce = cub::BlockReduce<float, kBlock>;
  using SumReduce = cub::BlockReduce<double, kBlock>;
  __shared__ union {
    typename MaxReduce::TempStorage max;
    typename SumReduce::TempStorage sum;
  } scratch;
  __shared__ float row_max, inv_sum;
  const float* xr = x + std::int64_t(blockIdx.x) * cols;
  float* yr = y + std::int64_t(blockIdx.x) * cols;

  float m = -INFINITY;
  for (std::int64_t c = threadIdx.x; c < cols; c += kBlock) m = fmaxf(m, xr[c]);
  m = MaxReduce(scratch.max).Reduce(m, [](float a, float b) { return fmaxf(a, b); });
  if (threadIdx.x == 0) row_max = m;
  __syncthreads();

  // Each thread later rescales exactly the entries it wrote, so no barrier is needed between the two.
  double s = 0;
  for (std::int64_t c = threadIdx.x; c < cols; c += kBlock) {
    float e = softmax_numerator(xr[c], row_max);
    yr[c] = e;
    s += e;
  }
  s = SumReduce(scratch.sum).Sum(s);
  if (threadIdx.x == 0) inv_sum = float(1.0 / s);
  __syncthreads();

  for (std::int64_t c = threadIdx.x; c < cols; c += kBlock) yr[c] *= inv_sum;
}

__global__ void softmax_rows_derivative_kernel(const float* p, const float* dx, float* dy, std::int64_t cols) {
  using SumReduce = cub::BlockReduce<double, kBlock>;
  __shared__ typename SumReduce::TempStorage scratch;
  __shared__ float row_sum;
  std::int64_t base = std::int64_t(blockIdx.x) * cols;
  double s = 0;
  for (std::int64_t c = threadIdx.x; c < cols; c += kBlock) s += double(p[base + c]) * dx[base + c];
  s = SumReduce(scratch).Sum(s);
  if (threadIdx.x == 0) row_sum = float(s);
  __syncthreads();
  for (std::int64_t c = threadIdx.x; c < cols; c += kBlock) dy[base + c] = p[base + c] * (dx[base + c] - row_sum);
}

}  // namespace

void softmax_rows_derivative_cuda(Context& ctx, const float* p, const float* dx, float* dy, std::int64_t rows, std::int64_t cols) {
  cuda::activate(ctx.device().index());
  softmax_rows_derivative_kernel<<<unsigned(rows), kBlock, 0, static_cast<cudaStream_t>(ctx.stream())>>>(p, dx, dy, cols);
  TW_CHECK(cudaGetLastError());
}

void softmax_rows_cuda(Context& ctx, const float* x, float* y, std::int64_t rows, std::int64_t cols) {
  cuda::activate(ctx.device().index());
  softmax_rows_kernel<<<unsigned(rows), kBlock, 0, static_cast<cudaStream_t>(ctx.stream())>>>(x, y, cols);
  TW_CHECK(cudaGetLastError());
}

}  // namespace tweedie::detail
