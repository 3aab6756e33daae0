#include "kernels/attention.h"

#include <cmath>

#include "runtime/memory.h"
#include "support.h"

using namespace tweedie;

namespace {

// q, k, v of every head in guided-diffusion's legacy order (per head: q, k, v) or the new one.
AttentionLayout layout(std::int64_t items, std::int64_t heads, std::int64_t ch, std::int64_t tokens, bool legacy) {
  std::int64_t block = ch * tokens;
  return {.items = items, .heads = heads, .ch = ch, .tokens = tokens, .head_stride = legacy ? 3 * block : block,
          .k_offset = legacy ? block : heads * block, .v_offset = legacy ? 2 * block : 2 * heads * block,
          .scale = float(1.0 / std::sqrt(double(ch)))};
}

std::size_t qkv_size(const AttentionLayout& l, std::int64_t items) { return std::size_t(items * l.item_stride()); }
std::size_t out_size(const AttentionLayout& l, std::int64_t items) { return std::size_t(items * l.out_item_stride()); }

// out = v softmax(scale q^T k)^T per head of `items` items, from the definition in double.
std::vector<double> reference(const AttentionLayout& l, const std::vector<double>& qkv, std::int64_t items) {
  std::int64_t T = l.tokens;
  std::vector<double> out(out_size(l, items)), w(static_cast<std::size_t>(T));
  for (std::int64_t i = 0; i < items; ++i)
    for (std::int64_t h = 0; h < l.heads; ++h) {
      const double* q = qkv.data() + i * l.item_stride() + h * l.head_stride;
      const double *k = q + l.k_offset, *v = q + l.v_offset;
      double* o = out.data() + (i * l.heads + h) * l.ch * T;
      for (std::int64_t t = 0; t < T; ++t) {
        double mx = -INFINITY, z = 0;
        for (std::int64_t s = 0; s < T; ++s) {
          double d = 0;
          for (std::int64_t c = 0; c < l.ch; ++c) d += q[c * T + t] * k[c * T + s];
          mx = std::max(mx, w[s] = double(l.scale) * d);
        }
        for (double& e : w) z += (e = std::exp(e - mx));
        for (std::int64_t c = 0; c < l.ch; ++c) {
          double a = 0;
          for (std::int64_t s = 0; s < T; ++s) a += v[c * T + s] * w[s];
          o[c * T + t] = a / z;
        }
      }
    }
  return out;
}

// The JVP of the reference at qkv along the tangents (tangent j at item j % items), by central
// differences in double.
std::vector<double> reference_jvp(const AttentionLayout& l, const std::vector<double>& qkv, const std::vector<double>& dqkv,
                                  std::int64_t tangents) {
  const double h = 1e-5;
  std::vector<double> jv(out_size(l, tangents));
  for (std::int64_t j = 0; j < tangents; ++j) {
    std::vector<double> plus(qkv.begin() + (j % l.items) * l.item_stride(), qkv.begin() + (j % l.items + 1) * l.item_stride());
    std::vector<double> minus = plus;
    for (std::size_t e = 0; e < plus.size(); ++e) {
      plus[e] += h * dqkv[j * l.item_stride() + e];
      minus[e] -= h * dqkv[j * l.item_stride() + e];
    }
    std::vector<double> fp = reference(l, plus, 1), fm = reference(l, minus, 1);
    for (std::size_t e = 0; e < fp.size(); ++e) jv[j * l.out_item_stride() + e] = (fp[e] - fm[e]) / (2 * h);
  }
  return jv;
}

struct Run {
  std::vector<double> out, jvp, vjp;
};

// attend, its JVP along dqkv and its VJP of gout on `ctx`, by the blocked host loops or by the GPU's
// materialized algorithm.
Run run(Context& ctx, const AttentionLayout& l, const Tensor& qkv, const Tensor& dqkv, const Tensor& gout, bool materialized) {
  std::int64_t tangents = dqkv.dim(0);
  Device dev = qkv.device();
  Tensor out = Tensor::empty(gout.shape(), dev), stats = Tensor::empty({l.items, l.heads, l.tokens, 2}, dev);
  Tensor jv = Tensor::empty({tangents, l.heads * l.ch, l.tokens}, dev), vj = Tensor::empty(qkv.shape(), dev);
  const float *x = qkv.data<float>(), *dx = dqkv.data<float>(), *g = gout.data<float>();
  if (materialized) {
    detail::attend_materialized(ctx, l, x, out.data<float>());
    detail::attend_jvp_materialized(ctx, l, x, dx, tangents, jv.data<float>());
    detail::attend_vjp_materialized(ctx, l, x, g, vj.data<float>());
  } else {
    attend(ctx, l, x, out.data<float>(), stats.data<float>());
    attend_jvp(ctx, l, x, stats.data<float>(), dx, tangents, jv.data<float>());
    attend_vjp(ctx, l, x, stats.data<float>(), g, vj.data<float>());
  }
  return {test::download(out), test::download(jv), test::download(vj)};
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

}  // namespace

TEST_CASE("attention, its JVP and its VJP match double precision, for query blocks that do not divide the positions") {
  const AttentionLayout cases[] = {
      layout(1, 1, 8, 5, true),      // fewer positions than one block
      layout(2, 3, 16, 300, true),   // 4 blocks of 64 and one of 44
      layout(1, 2, 8, 1100, false),  // two VJP parts per head (1024 positions and 76): their sum
      layout(3, 1, 4, 1025, false),  // the last block one position
  };
  for (const AttentionLayout& l : cases)
    for (bool materialized : {false, true}) {
      CAPTURE(l.tokens);
      CAPTURE(l.heads);
      CAPTURE(materialized);
      std::int64_t tangents = 2 * l.items;  // two per item, as MMPS pushes them
      // Entries up to 1.5 give logits of size up to ~10: the softmax is far from uniform.
      std::vector<double> qkv = test::as_float(test::uniform(qkv_size(l, l.items), 31, -1.5, 1.5));
      std::vector<double> dqkv = test::as_float(test::uniform(qkv_size(l, tangents), 32));
      std::vector<double> gout = test::as_float(test::uniform(out_size(l, l.items), 33));
      Tensor X = test::upload(qkv, {l.items, 3 * l.heads * l.ch, l.tokens});
      Tensor V = test::upload(dqkv, {tangents, 3 * l.heads * l.ch, l.tokens});
      Tensor G = test::upload(gout, {l.items, l.heads * l.ch, l.tokens});
      Run got = run(test::context(), l, X, V, G, materialized);
      CHECK(test::max_relative_error(got.out, reference(l, qkv, l.items)) < 2e-6);
      std::vector<double> jv = reference_jvp(l, qkv, dqkv, tangents);
      CHECK(test::max_relative_error(got.jvp, jv) < 1e-5);
      // <gout, J v> = <J^T gout, v> for the tangents of the first batch (one per item).
      std::vector<double> first_v(dqkv.begin(), dqkv.begin() + std::ptrdiff_t(qkv_size(l, l.items)));
      std::vector<double> first_jv(jv.begin(), jv.begin() + std::ptrdiff_t(out_size(l, l.items)));
      double want = dot(gout, first_jv), scale = std::sqrt(dot(gout, gout) * dot(first_jv, first_jv));
      CHECK(std::abs(dot(got.vjp, first_v) - want) < 1e-5 * scale);
      // ... and entry by entry, through the transpose of the reference JVP taken along unit tangents.
      if (l.tokens * l.heads * l.items <= 30) {
        for (std::size_t e = 0; e < qkv.size(); ++e) {
          std::vector<double> unit(qkv.size());
          unit[e] = 1;
          CHECK(got.vjp[e] == doctest::Approx(dot(gout, reference_jvp(l, qkv, unit, l.items))).epsilon(1e-5).scale(1));
        }
      }
    }
}

TEST_CASE("the blocked attention gives the same bits on one thread and on several, and keeps no weights") {
  if (test::device().is_cuda()) return;
  AttentionLayout l = layout(2, 2, 8, 1500, true);
  Tensor X = test::upload(test::uniform(qkv_size(l, 2), 34, -2, 2), {2, 3 * 16, 1500});
  Tensor V = test::upload(test::uniform(qkv_size(l, 4), 35), {4, 3 * 16, 1500});
  Tensor G = test::upload(test::uniform(out_size(l, 2), 36), {2, 16, 1500});
  Context one(Device::cpu(), 1), three(Device::cpu(), 3);
  reset_peak_memory(Device::cpu());
  std::int64_t before = memory_stats(Device::cpu()).current;
  Run a = run(one, l, X, V, G, false);
  // Tensors of this run: out, stats, jvp and vjp; the VJP's parts of gk and gv live in its own vector.
  std::int64_t outputs = 4 * std::int64_t(out_size(l, 2) + 2 * l.heads * l.tokens * 2 + out_size(l, 4) + qkv_size(l, 2));
  CHECK(memory_stats(Device::cpu()).peak - before <= outputs);
  Run b = run(three, l, X, V, G, false);
  CHECK(a.out == b.out);
  CHECK(a.jvp == b.jvp);
  CHECK(a.vjp == b.vjp);
}

TEST_CASE("attention refuses negative sizes and heads outside the item") {
  float buf[64] = {};
  AttentionLayout bad = layout(1, 2, 2, 2, true);
  bad.heads = -1;
  CHECK_THROWS_AS(attend(test::context(), bad, buf, buf), ArgumentError);
  AttentionLayout outside = layout(1, 2, 2, 2, true);
  outside.head_stride = 13;  // head 1's v would end past the item's 24 values
  CHECK_THROWS_WITH_AS(attend(test::context(), outside, buf, buf), doctest::Contains("head 1"), ArgumentError);
  CHECK_THROWS_AS(attend_jvp(test::context(), layout(1, 1, 2, 2, true), buf, buf, buf, -1, buf), ArgumentError);
}
