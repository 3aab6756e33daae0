// GroupNorm + modulation + SiLU on the GPU: one block per (item, group), block-wide sums in double
// with CUB, and the per-element math of nn/norm_act.h.
#include <cub/block/block_reduce.cuh>

#include "nn/norm_act.h"
#include "runtime/cuda_backend.h"
#include "runtime/cuda_check.h"

namespace tweedie::nn::detail {
namespace {

constexpr int kBlock = 256;

struct Pair {
  double a, b;
  __device__ Pair operator+(const Pair& o) const { return {a + o.a, b + o.b}; }
};

using PairReduce = cub::BlockReduce<Pair, kBlock>;

// Sums a pair over the block and hands the total to every thread.
__device__ Pair block_sum(Pair v, typename PairReduce::TempStorage& scratch, Pair& shared) {
  Pair total = PairReduce(scratch).Sum(v);
  if (threadIdx.x == 0) shared = total;
  __syncthreads();
  Pair out = shared;
  __syncthreads();
  return out;
}

template <bool silu>
__global__ void forward_kernel(NormActGeometry g, float eps, const float* x, const float* w, const float* b,
                               const float* mod, float* y, float* mean_out, float* rstd_out) {
  __shared__ typename PairReduce::TempStorage scratch;
  __shared__ Pair shared;
  std::int64_t task = blockIdx.x, cg = g.channels / g.groups, M = g.per_group();
  std::int64_t n = task / g.groups, c0 = task % g.groups * cg, base = (n * g.channels + c0) * g.spatial;
  Pair s{0, 0};
  for (std::int64_t i = threadIdx.x; i < M; i += kBlock) s.a += x[base + i];
  double mu = block_sum(s, scratch, shared).a / double(M);
  Pair q{0, 0};
  for (std::int64_t i = threadIdx.x; i < M; i += kBlock) q.a += (x[base + i] - mu) * (x[base + i] - mu);
  double var = block_sum(q, scratch, shared).a / double(M);
  float mean = float(mu), rstd = float(1.0 / sqrt(var + double(eps)));
  if (threadIdx.x == 0) mean_out[task] = mean, rstd_out[task] = rstd;
  for (std::int64_t i = threadIdx.x; i < M; i += kBlock) {
    ChannelAffine k = channel_affine(w, b, mod, g.channels, n, c0 + i / g.spatial);
    y[base + i] = norm_act_value((x[base + i] - mean) * rstd * k.a + k.b, silu);
  }
}

template <bool silu>
__global__ void jvp_kernel(NormActGeometry g, const float* x, const float* mean, const float* rstd, const float* w,
                           const float* b, const float* mod, const float* dx, float* dy) {
  __shared__ typename PairReduce::TempStorage scratch;
  __shared__ Pair shared;
  std::int64_t task = blockIdx.x, cg = g.channels / g.groups, M = g.per_group();
  std::int64_t bt = task / g.groups, grp = task % g.groups, n = bt % g.items, c0 = grp * cg;
  std::int64_t xbase = (n * g.channels + c0) * g.spatial, dbase = (bt * g.channels + c0) * g.spatial;
  float mu = mean[n * g.groups + grp], r = rstd[n * g.groups + grp];
  Pair s{0, 0};
  for (std::int64_t i = threadIdx.x; i < M; i += kBlock) {
    s.a += dx[dbase + i];
    s.b += double(dx[dbase + i]) * ((x[xbase + i] - mu) * r);
  }
  Pair total = block_sum(s, scratch, shared);
  float m1 = float(total.a / double(M)), m2 = float(total.b / double(M));
  for (std::int64_t i = threadIdx.x; i < M; i += kBlock) {
    ChannelAffine k = channel_affine(w, b, mod, g.channels, n, c0 + i / g.spatial);
    float xh = (x[xbase + i] - mu) * r;
    float dxh = r * (dx[dbase + i] - m1 - xh * m2);
    dy[dbase + i] = norm_act_slope(xh * k.a + k.b, silu) * k.a * dxh;
  }
}

template <bool silu>
__global__ void vjp_kernel(NormActGeometry g, const float* x, const float* mean, const float* rstd, const float* w,
                           const float* b, const float* mod, const float* gy, float* gx, bool accumulate, float* g_mod,
                           double* gw_nc, double* gb_nc) {
  __shared__ typename PairReduce::TempStorage scratch;
  __shared__ Pair shared;
  std::int64_t task = blockIdx.x, cg = g.channels / g.groups, M = g.per_group(), S = g.spatial, C = g.channels;
  std::int64_t n = task / g.groups, c0 = task % g.groups * cg, base = (n * C + c0) * S;
  float mu = mean[task], r = rstd[task];
  double s1 = 0, s2 = 0;  // meaningful in every thread: block_sum broadcasts
  for (std::int64_t c = 0; c < cg; ++c) {
    ChannelAffine k = channel_affine(w, b, mod, C, n, c0 + c);
    Pair pq{0, 0};
    for (std::int64_t s = threadIdx.x; s < S; s += kBlock) {
      float xh = (x[base + c * S + s] - mu) * r;
      float gu = gy[base + c * S + s] * norm_act_slope(xh * k.a + k.b, silu);
      pq.a += double(gu) * xh;
      pq.b += gu;
    }
    Pair t = block_sum(pq, scratch, shared);
    s1 += k.a * t.b;
    s2 += k.a * t.a;
    if (threadIdx.x == 0) {
      std::int64_t nc = n * C + c0 + c;
      if (gw_nc) gw_nc[nc] = k.one_plus_scale * t.a, gb_nc[nc] = k.one_plus_scale * t.b;
      if (g_mod) {
        g_mod[n * 2 * C + c0 + c] = float(w[c0 + c] * t.a + b[c0 + c] * t.b);
        g_mod[n * 2 * C + C + c0 + c] = float(t.b);
      }
    }
  }
  float m1 = float(s1 / double(M)), m2 = float(s2 / double(M));
  for (std::int64_t i = threadIdx.x; i < M; i += kBlock) {
    ChannelAffine k = channel_affine(w, b, mod, C, n, c0 + i / S);
    float xh = (x[base + i] - mu) * r;
    float gxh = gy[base + i] * norm_act_slope(xh * k.a + k.b, silu) * k.a;
    float v = r * (gxh - m1 - xh * m2);
    gx[base + i] = accumulate ? gx[base + i] + v : v;
  }
}

cudaStream_t stream_of(Context& ctx) {
  cuda::activate(ctx.device().index());
  return static_cast<cudaStream_t>(ctx.stream());
}

}  // namespace

void norm_act_forward_cuda(Context& ctx, const NormActGeometry& g, const NormActSpec& s, const float* x, const float* w,
                           const float* b, const float* mod, float* y, float* mean, float* rstd) {
  unsigned blocks = unsigned(g.batch * g.groups);
  if (s.silu) forward_kernel<true><<<blocks, kBlock, 0, stream_of(ctx)>>>(g, s.eps, x, w, b, mod, y, mean, rstd);
  else forward_kernel<false><<<blocks, kBlock, 0, stream_of(ctx)>>>(g, s.eps, x, w, b, mod, y, mean, rstd);
  TW_CHECK(cudaGetLastError());
}

void norm_act_jvp_cuda(Context& ctx, const NormActGeometry& g, const NormActSpec& s, const float* x, const float* mean,
                       const float* rstd, const float* w, const float* b, const float* mod, const float* dx, float* dy) {
  unsigned blocks = unsigned(g.batch * g.groups);
  if (s.silu) jvp_kernel<true><<<blocks, kBlock, 0, stream_of(ctx)>>>(g, x, mean, rstd, w, b, mod, dx, dy);
  else jvp_kernel<false><<<blocks, kBlock, 0, stream_of(ctx)>>>(g, x, mean, rstd, w, b, mod, dx, dy);
  TW_CHECK(cudaGetLastError());
}

void norm_act_vjp_cuda(Context& ctx, const NormActGeometry& g, const NormActSpec& s, const float* x, const float* mean,
                       const float* rstd, const float* w, const float* b, const float* mod, const float* gy, float* gx,
                       bool accumulate, float* g_mod, double* gw_nc, double* gb_nc) {
  unsigned blocks = unsigned(g.items * g.groups);
  if (s.silu)
    vjp_kernel<true><<<blocks, kBlock, 0, stream_of(ctx)>>>(g, x, mean, rstd, w, b, mod, gy, gx, accumulate, g_mod, gw_nc, gb_nc);
  else
    vjp_kernel<false><<<blocks, kBlock, 0, stream_of(ctx)>>>(g, x, mean, rstd, w, b, mod, gy, gx, accumulate, g_mod, gw_nc, gb_nc);
  TW_CHECK(cudaGetLastError());
}

}  // namespace tweedie::nn::detail
