#pragma once
// Loops over an index space, run on the context's device. The loop body is a functor with a TW_HD
// call operator, written once in the op's header: the host runs it in an OpenMP loop, the GPU in a
// grid-stride kernel. Kernel sources that use for_each are compiled by nvcc when the CUDA backend is
// on (see tweedie_single_source in tools/cmake), which is what creates the GPU loop.
#include <algorithm>
#include <cstdint>

#include "runtime/context.h"
#include "runtime/error.h"
#include "runtime/hd.h"
#if defined(__CUDACC__)
#include "runtime/cuda_backend.h"
#include "runtime/cuda_check.h"
#endif

namespace tweedie {

// Below this many iterations a host loop stays on one thread: waking the team costs more than it saves.
inline constexpr std::int64_t kParallelGrain = 16384;

// f(i) for i in [0, n) on up to `threads` host threads; `grain` is the fewest iterations worth
// splitting (pass 1 when each iteration is itself heavy, such as a whole row).
template <class F>
void parallel_for(int threads, std::int64_t n, const F& f, std::int64_t grain = kParallelGrain) {
#pragma omp parallel for num_threads(threads) schedule(static) if (n >= 2 * grain && threads > 1)
  for (std::int64_t i = 0; i < n; ++i) f(i);
}

namespace detail {
[[noreturn]] void not_compiled_for_cuda(const char* loop);  // a loop on a CUDA context in a g++-compiled file
}

#if defined(__CUDACC__)
namespace detail {
template <class F>
__global__ void for_each_kernel(std::int64_t n, F f) {
  std::int64_t stride = std::int64_t(gridDim.x) * blockDim.x;
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) f(i);
}

// Threads along x cover columns (adjacent threads, adjacent addresses), along y rows; both loops
// stride, so any grid covers any shape.
template <class F>
__global__ void for_each_2d_kernel(std::int64_t rows, std::int64_t cols, F f) {
  for (std::int64_t r = std::int64_t(blockIdx.y) * blockDim.y + threadIdx.y; r < rows; r += std::int64_t(gridDim.y) * blockDim.y)
    for (std::int64_t c = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; c < cols; c += std::int64_t(gridDim.x) * blockDim.x)
      f(r, c);
}

inline unsigned grid_size(std::int64_t n, int block) {
  std::int64_t blocks = (n + block - 1) / block;
  return unsigned(blocks < 65536 ? blocks : 65536);  // grid-stride covers the rest; keeps launches cheap
}
}  // namespace detail
#endif

// f(i) for i in [0, n) on ctx's device.
template <class F>
void for_each(const Context& ctx, std::int64_t n, const F& f) {
  if (n <= 0) return;
  if (ctx.on_cuda()) {
#if defined(__CUDACC__)
    cuda::activate(ctx.device().index());
    detail::for_each_kernel<<<detail::grid_size(n, 256), 256, 0, static_cast<cudaStream_t>(ctx.stream())>>>(n, f);
    TW_CHECK(cudaGetLastError());
    return;
#else
    detail::not_compiled_for_cuda("for_each");
#endif
  }
  parallel_for(ctx.threads(), n, f);
}

// f(r, c) for r in [0, rows), c in [0, cols): the shape of most tensor loops (rows of an image, items of
// a batch). Host threads split the rows and each row's columns run as an inner loop that the compiler
// vectorizes, with no index division per element; on the GPU every (r, c) is one thread.
template <class F>
void for_each_2d(const Context& ctx, std::int64_t rows, std::int64_t cols, const F& f) {
  if (rows <= 0 || cols <= 0) return;
  if (ctx.on_cuda()) {
#if defined(__CUDACC__)
    // 256 threads per block, as wide as the rows need (short rows get several per block).
    unsigned bx = 1;
    while (bx < 256 && std::int64_t(bx) < cols) bx *= 2;
    unsigned by = 256 / bx;
    auto blocks = [](std::int64_t n, unsigned per) { return unsigned(std::min<std::int64_t>((n + per - 1) / per, 65535)); };
    cuda::activate(ctx.device().index());
    detail::for_each_2d_kernel<<<dim3(blocks(cols, bx), blocks(rows, by)), dim3(bx, by), 0,
                                 static_cast<cudaStream_t>(ctx.stream())>>>(rows, cols, f);
    TW_CHECK(cudaGetLastError());
    return;
#else
    detail::not_compiled_for_cuda("for_each_2d");
#endif
  }
  // Host tasks are (row, piece of a row): whole rows when there are enough of them, otherwise each row
  // is cut into as many pieces as there are threads.
  int threads = ctx.threads();
  std::int64_t pieces = rows >= threads ? 1 : std::min<std::int64_t>((threads + rows - 1) / rows, (cols + 1023) / 1024);
  std::int64_t piece = (cols + pieces - 1) / pieces;
  std::int64_t grain = std::max<std::int64_t>(1, kParallelGrain / std::max<std::int64_t>(piece, 1));
  parallel_for(
      threads, rows * pieces,
      [&](std::int64_t task) {
        const F body = f;  // a local copy: its fields provably do not change in the loop, which vectorizes
        std::int64_t r = task / pieces, begin = task % pieces * piece, end = std::min(cols, begin + piece);
        for (std::int64_t c = begin; c < end; ++c) body(r, c);
      },
      grain);
}

}  // namespace tweedie
