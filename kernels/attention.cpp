#include "kernels/attention.h"

#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/softmax.h"
#include "runtime/check.h"
#include "runtime/tensor.h"

namespace tweedie {
namespace {

void check_layout(const AttentionLayout& l) {
  if (l.items < 0 || l.heads < 0 || l.ch < 0 || l.tokens < 0)
    throw ArgumentError(cat("attention: negative size items=", l.items, " heads=", l.heads, " ch=", l.ch, " tokens=", l.tokens));
  // Every head's q, k and v must lie inside one item's qkv.
  std::int64_t block = l.ch * l.tokens;
  for (std::int64_t h = 0; h < l.heads; ++h)
    for (std::int64_t o : {std::int64_t(0), l.k_offset, l.v_offset})
      if (h * l.head_stride + o < 0 || h * l.head_stride + o + block > l.item_stride())
        throw ArgumentError(cat("attention: head ", h, " at offset ", h * l.head_stride + o, " leaves the item's qkv of ",
                                l.item_stride(), " values"));
}

// One head of one item: its q, k and v in qkv, and its (ch, T) block in an out-shaped tensor.
struct Head {
  const float *q, *k, *v;
};
Head head_of(const AttentionLayout& l, const float* qkv, std::int64_t item, std::int64_t h) {
  const float* q = qkv + item * l.item_stride() + h * l.head_stride;
  return {q, q + l.k_offset, q + l.v_offset};
}
std::int64_t out_offset(const AttentionLayout& l, std::int64_t item, std::int64_t h) { return (item * l.heads + h) * l.ch * l.tokens; }
std::int64_t stats_offset(const AttentionLayout& l, std::int64_t item, std::int64_t h, std::int64_t t) {
  return 2 * ((item * l.heads + h) * l.tokens + t);
}

// Row-major sgemm on the calling thread (OpenBLAS is set to one thread around the blocked loops).
void gemm1(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, float alpha, const float* a, const float* b,
           float beta, float* c, std::int64_t ld) {
  cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, int(m), int(n), int(k), alpha,
              a, int(ld), b, int(ld), beta, c, int(ld));
}

// s = scale q[:, t0 : t0 + rows]^T k: the block's rows of scores, rows x T.
void block_scores(const AttentionLayout& l, const float* q, const float* k, std::int64_t t0, std::int64_t rows, float* s) {
  gemm1(true, false, rows, l.tokens, l.ch, l.scale, q + t0, k, 0.0f, s, l.tokens);
}

// The block's rows of A, rebuilt from the scores and the forward pass's row statistics.
void block_weights(const AttentionLayout& l, Head hd, const float* stats, std::int64_t t0, std::int64_t rows, float* p) {
  block_scores(l, hd.q, hd.k, t0, rows, p);
  for (std::int64_t r = 0; r < rows; ++r)
    softmax_row_rebuild(p + r * l.tokens, p + r * l.tokens, l.tokens, {stats[2 * r], stats[2 * r + 1]});
}

// f(task, scratch) for task in [0, tasks) on the context's threads, each with `floats` of scratch.
// Tasks go to threads in fixed contiguous runs, and no result depends on which thread ran a task.
template <class F>
void for_tasks(Context& ctx, std::int64_t tasks, std::int64_t floats, const F& f) {
  int threads = int(std::max<std::int64_t>(1, std::min<std::int64_t>(ctx.threads(), tasks)));
  std::vector<float> scratch(std::size_t(threads * floats));  // allocated here: nothing throws inside the region
  // One OpenBLAS thread per call also when our team has one thread (OpenBLAS would thread a call made
  // outside a parallel region, and picks other kernels for small products then: other bits).
  openblas_set_num_threads(1);
#pragma omp parallel num_threads(threads)
  {
    float* mine = scratch.data() + std::int64_t(omp_get_thread_num()) * floats;
#pragma omp for schedule(static)
    for (std::int64_t task = 0; task < tasks; ++task) f(task, mine);
  }
}

void attend_host(Context& ctx, const AttentionLayout& l, const float* qkv, float* out, float* row_stats) {
  const std::int64_t T = l.tokens, B = kAttentionQueryBlock, blocks = (T + B - 1) / B;
  for_tasks(ctx, l.items * l.heads * blocks, B * T, [&](std::int64_t task, float* s) {
    std::int64_t b = task % blocks, h = task / blocks % l.heads, i = task / (blocks * l.heads);
    std::int64_t t0 = b * B, rows = std::min(B, T - t0);
    Head hd = head_of(l, qkv, i, h);
    block_scores(l, hd.q, hd.k, t0, rows, s);
    for (std::int64_t r = 0; r < rows; ++r) {
      SoftmaxRowStats st = softmax_row(s + r * T, s + r * T, T);
      if (row_stats) {
        float* dst = row_stats + stats_offset(l, i, h, t0 + r);
        dst[0] = st.max, dst[1] = st.inv_sum;
      }
    }
    gemm1(false, true, l.ch, rows, T, 1.0f, hd.v, s, 0.0f, out + out_offset(l, i, h) + t0, T);  // v A^T
  });
}

// Per query block of tangent b (item b % items): A from the row statistics,
// dS = scale (dq^T k + q^T dk), dA = softmax'(dS), dout = dv A^T + v dA^T.
void attend_jvp_host(Context& ctx, const AttentionLayout& l, const float* qkv, const float* row_stats, const float* dqkv,
                     std::int64_t tangents, float* dout) {
  const std::int64_t T = l.tokens, B = kAttentionQueryBlock, blocks = (T + B - 1) / B;
  for_tasks(ctx, tangents * l.heads * blocks, 2 * B * T, [&](std::int64_t task, float* scratch) {
    std::int64_t b = task % blocks, h = task / blocks % l.heads, j = task / (blocks * l.heads), i = j % l.items;
    std::int64_t t0 = b * B, rows = std::min(B, T - t0);
    Head hd = head_of(l, qkv, i, h), dh = head_of(l, dqkv, j, h);
    float *p = scratch, *ds = scratch + B * T;
    block_weights(l, hd, row_stats + stats_offset(l, i, h, t0), t0, rows, p);
    gemm1(true, false, rows, T, l.ch, l.scale, dh.q + t0, hd.k, 0.0f, ds, T);
    gemm1(true, false, rows, T, l.ch, l.scale, hd.q + t0, dh.k, 1.0f, ds, T);
    for (std::int64_t r = 0; r < rows; ++r) softmax_row_derivative(p + r * T, ds + r * T, ds + r * T, T);
    float* o = dout + out_offset(l, j, h) + t0;
    gemm1(false, true, l.ch, rows, T, 1.0f, dh.v, p, 0.0f, o, T);
    gemm1(false, true, l.ch, rows, T, 1.0f, hd.v, ds, 1.0f, o, T);
  });
}

// Query blocks per VJP task. gk and gv sum over all query positions; each task sums its positions and
// the tasks of one head are added in a fixed order afterwards, so that the bits do not depend on the
// threads. 16 blocks (1024 positions): 4 tasks per head at T = 4096, one (no extra sum) up to 32x32.
constexpr std::int64_t kVjpTaskBlocks = 16;

// Per query block: A from the row statistics, gA = ga^T v, gS = softmax'(gA), then gq = scale k gS^T
// for the block's columns, and this task's parts of gv = ga A and gk = scale q gS.
void attend_vjp_host(Context& ctx, const AttentionLayout& l, const float* qkv, const float* row_stats, const float* gout,
                     float* gqkv) {
  const std::int64_t T = l.tokens, B = kAttentionQueryBlock, blocks = (T + B - 1) / B;
  const std::int64_t parts = (blocks + kVjpTaskBlocks - 1) / kVjpTaskBlocks, pairs = l.items * l.heads, kv = 2 * l.ch * T;
  // The first part of every head writes gk and gv in place; the others into `partial`, added below.
  std::vector<float> partial(std::size_t(pairs * (parts - 1) * kv));
  for_tasks(ctx, pairs * parts, 2 * B * T, [&](std::int64_t task, float* scratch) {
    std::int64_t part = task % parts, pair = task / parts, i = pair / l.heads, h = pair % l.heads;
    Head hd = head_of(l, qkv, i, h);
    float* gq = gqkv + i * l.item_stride() + h * l.head_stride;
    float *gk = gq + l.k_offset, *gv = gq + l.v_offset;
    if (part > 0) gk = partial.data() + (pair * (parts - 1) + part - 1) * kv, gv = gk + l.ch * T;
    const float* ga = gout + out_offset(l, i, h);
    float *p = scratch, *gs = scratch + B * T;
    std::int64_t first = part * kVjpTaskBlocks, last = std::min(blocks, first + kVjpTaskBlocks);
    for (std::int64_t b = first; b < last; ++b) {
      std::int64_t t0 = b * B, rows = std::min(B, T - t0);
      float beta = b == first ? 0.0f : 1.0f;
      block_weights(l, hd, row_stats + stats_offset(l, i, h, t0), t0, rows, p);
      gemm1(true, false, rows, T, l.ch, 1.0f, ga + t0, hd.v, 0.0f, gs, T);
      for (std::int64_t r = 0; r < rows; ++r) softmax_row_derivative(p + r * T, gs + r * T, gs + r * T, T);
      gemm1(false, true, l.ch, rows, T, l.scale, hd.k, gs, 0.0f, gq + t0, T);
      gemm1(false, false, l.ch, T, rows, 1.0f, ga + t0, p, beta, gv, T);
      gemm1(false, false, l.ch, T, rows, l.scale, hd.q + t0, gs, beta, gk, T);
    }
  });
  if (parts == 1) return;
  for_tasks(ctx, pairs * 2 * l.ch, 0, [&](std::int64_t row, float*) {  // one channel row of gk or gv
    std::int64_t pair = row / (2 * l.ch), r = row % (2 * l.ch), i = pair / l.heads, h = pair % l.heads;
    float* g = gqkv + i * l.item_stride() + h * l.head_stride + (r < l.ch ? l.k_offset : l.v_offset) + r % l.ch * T;
    for (std::int64_t part = 1; part < parts; ++part) {
      const float* add = partial.data() + (pair * (parts - 1) + part - 1) * kv + r * T;
#pragma omp simd
      for (std::int64_t t = 0; t < T; ++t) g[t] += add[t];
    }
  });
}

}  // namespace

namespace detail {

// Each item's heads at once through a heads x T x T buffer of weights, with the context's GEMMs and
// softmax kernels: the GPU's algorithm (tested on the host too).
struct Materialized {
  Context& ctx;
  const AttentionLayout& l;
  Tensor a;  // A of one item: (heads, T, T)

  Materialized(Context& c, const AttentionLayout& layout)
      : ctx(c), l(layout), a(Tensor::empty({layout.heads, layout.tokens, layout.tokens}, c.device())) {}
  std::int64_t TT() const { return l.tokens * l.tokens; }

  // s = scale q^T k (+ beta s) for every head of one item.
  void scores(const float* q, const float* k, float* s, float beta) {
    gemm(ctx, {.trans_a = true, .m = l.tokens, .n = l.tokens, .k = l.ch, .alpha = l.scale, .a = q, .lda = l.tokens,
               .stride_a = l.head_stride, .b = k, .ldb = l.tokens, .stride_b = l.head_stride, .beta = beta, .c = s,
               .ldc = l.tokens, .stride_c = TT(), .batch = l.heads});
  }
  // o = v w^T (+ beta o) for every head: o is (heads ch, T).
  void mix(const float* v, const float* w, float* o, float beta) {
    gemm(ctx, {.trans_b = true, .m = l.ch, .n = l.tokens, .k = l.tokens, .a = v, .lda = l.tokens, .stride_a = l.head_stride,
               .b = w, .ldb = l.tokens, .stride_b = TT(), .beta = beta, .c = o, .ldc = l.tokens,
               .stride_c = l.ch * l.tokens, .batch = l.heads});
  }
  // A of item i into `a`.
  void weights(const float* qkv, std::int64_t i) {
    const float* q = qkv + i * l.item_stride();
    scores(q, q + l.k_offset, a.data<float>(), 0.0f);
    softmax_rows(ctx, a, a);
  }
};

void attend_materialized(Context& ctx, const AttentionLayout& l, const float* qkv, float* out) {
  Materialized m(ctx, l);
  for (std::int64_t i = 0; i < l.items; ++i) {
    m.weights(qkv, i);
    m.mix(qkv + i * l.item_stride() + l.v_offset, m.a.data<float>(), out + i * l.out_item_stride(), 0.0f);
  }
}

void attend_jvp_materialized(Context& ctx, const AttentionLayout& l, const float* qkv, const float* dqkv,
                             std::int64_t tangents, float* dout) {
  Materialized m(ctx, l);
  Tensor ds = Tensor::empty(m.a.shape(), ctx.device());
  for (std::int64_t j = 0; j < tangents; ++j) {
    std::int64_t i = j % l.items;
    const float *q = qkv + i * l.item_stride(), *dq = dqkv + j * l.item_stride();
    float* o = dout + j * l.out_item_stride();
    m.weights(qkv, i);
    m.scores(dq, q + l.k_offset, ds.data<float>(), 0.0f);
    m.scores(q, dq + l.k_offset, ds.data<float>(), 1.0f);
    softmax_rows_derivative(ctx, m.a, ds, ds);
    m.mix(dq + l.v_offset, m.a.data<float>(), o, 0.0f);
    m.mix(q + l.v_offset, ds.data<float>(), o, 1.0f);
  }
}

void attend_vjp_materialized(Context& ctx, const AttentionLayout& l, const float* qkv, const float* gout, float* gqkv) {
  Materialized m(ctx, l);
  Tensor gs = Tensor::empty(m.a.shape(), ctx.device());
  const std::int64_t T = l.tokens, hs = l.head_stride;
  for (std::int64_t i = 0; i < l.items; ++i) {
    const float *q = qkv + i * l.item_stride(), *ga = gout + i * l.out_item_stride(), *w = m.a.data<float>();
    float *gq = gqkv + i * l.item_stride(), *pgs = gs.data<float>();
    m.weights(qkv, i);
    // gv = ga A;  gA = ga^T v, gS = softmax'(gA);  gq = scale k gS^T;  gk = scale q gS
    gemm(ctx, {.m = l.ch, .n = T, .k = T, .a = ga, .lda = T, .stride_a = l.ch * T, .b = w, .ldb = T, .stride_b = m.TT(),
               .c = gq + l.v_offset, .ldc = T, .stride_c = hs, .batch = l.heads});
    gemm(ctx, {.trans_a = true, .m = T, .n = T, .k = l.ch, .a = ga, .lda = T, .stride_a = l.ch * T, .b = q + l.v_offset,
               .ldb = T, .stride_b = hs, .c = pgs, .ldc = T, .stride_c = m.TT(), .batch = l.heads});
    softmax_rows_derivative(ctx, m.a, gs, gs);
    gemm(ctx, {.trans_b = true, .m = l.ch, .n = T, .k = T, .alpha = l.scale, .a = q + l.k_offset, .lda = T, .stride_a = hs,
               .b = pgs, .ldb = T, .stride_b = m.TT(), .c = gq, .ldc = T, .stride_c = hs, .batch = l.heads});
    gemm(ctx, {.m = l.ch, .n = T, .k = T, .alpha = l.scale, .a = q, .lda = T, .stride_a = hs, .b = pgs, .ldb = T,
               .stride_b = m.TT(), .c = gq + l.k_offset, .ldc = T, .stride_c = hs, .batch = l.heads});
  }
}

}  // namespace detail

void attend(Context& ctx, const AttentionLayout& l, const float* qkv, float* out, float* row_stats) {
  check_layout(l);
  if (l.items == 0 || l.heads == 0 || l.tokens == 0) return;
  if (ctx.on_cuda()) return detail::attend_materialized(ctx, l, qkv, out);
  attend_host(ctx, l, qkv, out, row_stats);
}

void attend_jvp(Context& ctx, const AttentionLayout& l, const float* qkv, const float* row_stats, const float* dqkv,
                std::int64_t tangents, float* dout) {
  check_layout(l);
  if (tangents < 0 || (l.items == 0 && tangents > 0))
    throw ArgumentError(cat("attend_jvp: ", tangents, " tangents for ", l.items, " items"));
  if (tangents == 0 || l.heads == 0 || l.tokens == 0) return;
  if (ctx.on_cuda()) return detail::attend_jvp_materialized(ctx, l, qkv, dqkv, tangents, dout);
  attend_jvp_host(ctx, l, qkv, row_stats, dqkv, tangents, dout);
}

void attend_vjp(Context& ctx, const AttentionLayout& l, const float* qkv, const float* row_stats, const float* gout,
                float* gqkv) {
  check_layout(l);
  if (l.items == 0 || l.heads == 0 || l.tokens == 0) return;
  if (ctx.on_cuda()) return detail::attend_vjp_materialized(ctx, l, qkv, gout, gqkv);
  attend_vjp_host(ctx, l, qkv, row_stats, gout, gqkv);
}

}  // namespace tweedie
