#pragma once
// Row reductions run on the context's device: out[r] = the combination, over c in [0, cols), of
// reducer.element(r * cols + c). The reducer is a functor written once in the op's header:
//
//   struct R {
//     using Value = ...;                                    // double, or a small struct of doubles
//     TW_HD Value identity() const;
//     TW_HD Value element(std::int64_t i) const;
//     TW_HD static Value combine(const Value& a, const Value& b);
//     Value chunk(std::int64_t begin, std::int64_t end) const;   // optional, host only: a fast loop
//   };
//
// Each row is cut into chunks of kReduceChunk elements; chunks are reduced independently (on host
// threads or GPU blocks) and then merged in chunk order. The result therefore does not depend on the
// number of threads, only on the device's in-chunk order.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "runtime/context.h"
#include "runtime/hd.h"
#include "runtime/memory.h"
#include "runtime/parallel.h"
#include "runtime/workspace.h"
#if defined(__CUDACC__)
#include <cub/block/block_reduce.cuh>
#endif

namespace tweedie {

inline constexpr std::int64_t kReduceChunk = 4096;

namespace detail {

template <class R>
typename R::Value reduce_chunk_host(const R& r, std::int64_t begin, std::int64_t end) {
  if constexpr (requires { r.chunk(begin, end); }) {
    return r.chunk(begin, end);
  } else {
    typename R::Value v = r.identity();
    for (std::int64_t i = begin; i < end; ++i) v = R::combine(v, r.element(i));
    return v;
  }
}

#if defined(__CUDACC__)
inline constexpr int kReduceBlock = 256;

// One block per (row, chunk): partial[task] for task = row * chunks + chunk.
template <class R>
__global__ void reduce_chunks_kernel(R r, std::int64_t cols, std::int64_t chunks, typename R::Value* partial) {
  using Value = typename R::Value;
  using BlockReduce = cub::BlockReduce<Value, kReduceBlock>;
  __shared__ typename BlockReduce::TempStorage scratch;
  std::int64_t task = blockIdx.x;
  std::int64_t row = task / chunks, chunk = task % chunks;
  std::int64_t begin = chunk * kReduceChunk;
  std::int64_t end = begin + kReduceChunk < cols ? begin + kReduceChunk : cols;
  Value v = r.identity();
  for (std::int64_t c = begin + threadIdx.x; c < end; c += kReduceBlock) v = R::combine(v, r.element(row * cols + c));
  Value total = BlockReduce(scratch).Reduce(v, [](const Value& a, const Value& b) { return R::combine(a, b); });
  if (threadIdx.x == 0) partial[task] = total;
}

// One block per row merges that row's chunk partials.
template <class R>
__global__ void reduce_partials_kernel(R r, std::int64_t chunks, const typename R::Value* partial,
                                       typename R::Value* out) {
  using Value = typename R::Value;
  using BlockReduce = cub::BlockReduce<Value, kReduceBlock>;
  __shared__ typename BlockReduce::TempStorage scratch;
  std::int64_t row = blockIdx.x;
  Value v = r.identity();
  for (std::int64_t c = threadIdx.x; c < chunks; c += kReduceBlock) v = R::combine(v, partial[row * chunks + c]);
  Value total = BlockReduce(scratch).Reduce(v, [](const Value& a, const Value& b) { return R::combine(a, b); });
  if (threadIdx.x == 0) out[row] = total;
}
#endif

}  // namespace detail

// `out` has `rows` Values in ctx's device memory.
template <class R>
void reduce_rows(Context& ctx, std::int64_t rows, std::int64_t cols, const R& r, typename R::Value* out) {
  using Value = typename R::Value;
  if (rows <= 0) return;
  std::int64_t chunks = cols > 0 ? (cols + kReduceChunk - 1) / kReduceChunk : 1;
  if (ctx.on_cuda()) {
#if defined(__CUDACC__)
    Workspace::Scope scratch(ctx.workspace());
    Value* partial = scratch.take<Value>(rows * chunks);
    auto stream = static_cast<cudaStream_t>(ctx.stream());
    cuda::activate(ctx.device().index());
    detail::reduce_chunks_kernel<<<unsigned(rows * chunks), detail::kReduceBlock, 0, stream>>>(r, cols, chunks, partial);
    TW_CHECK(cudaGetLastError());
    detail::reduce_partials_kernel<<<unsigned(rows), detail::kReduceBlock, 0, stream>>>(r, chunks, partial, out);
    TW_CHECK(cudaGetLastError());
    return;
#else
    detail::not_compiled_for_cuda("reduce_rows");
#endif
  }
  std::vector<Value> partial(std::size_t(rows * chunks));
  // Threads only when there is enough work in all: each task is one chunk, and a few short rows (the
  // per-item dot products of a small batch) are cheaper than waking the team.
  const std::int64_t per_task = std::max<std::int64_t>(1, std::min(cols, kReduceChunk));
  const std::int64_t grain = std::max<std::int64_t>(1, kParallelGrain / per_task);
  parallel_for(
      ctx.threads(), rows * chunks,
      [&](std::int64_t task) {
        std::int64_t row = task / chunks, chunk = task % chunks;
        std::int64_t begin = row * cols + chunk * kReduceChunk;
        std::int64_t end = row * cols + std::min(cols, (chunk + 1) * kReduceChunk);
        partial[std::size_t(task)] = detail::reduce_chunk_host(r, begin, end);
      },
      grain);
  for (std::int64_t row = 0; row < rows; ++row) {
    Value v = r.identity();
    for (std::int64_t c = 0; c < chunks; ++c) v = R::combine(v, partial[std::size_t(row * chunks + c)]);
    out[row] = v;
  }
}

// reduce_rows with the results on the host, whatever ctx's device (through workspace scratch on a GPU).
template <class R>
std::vector<typename R::Value> reduce_rows_to_host(Context& ctx, std::int64_t rows, std::int64_t cols, const R& r) {
  using Value = typename R::Value;
  std::vector<Value> out(std::size_t(std::max<std::int64_t>(rows, 0)), Value{});
  if (!ctx.on_cuda()) {
    reduce_rows(ctx, rows, cols, r, out.data());
    return out;
  }
  Workspace::Scope scratch(ctx.workspace());
  Value* device_out = scratch.take<Value>(rows);
  reduce_rows(ctx, rows, cols, r, device_out);
  copy_bytes(out.data(), Device::cpu(), device_out, ctx.device(), out.size() * sizeof(Value));
  return out;
}

}  // namespace tweedie
