#include "bench/kernel_bench.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <functional>

#include "kernels/axpby.h"
#include "kernels/concat.h"
#include "kernels/fft.h"
#include "kernels/gemm.h"
#include "kernels/map.h"
#include "kernels/random.h"
#include "kernels/reduce.h"
#include "kernels/resample.h"
#include "kernels/softmax.h"
#include "runtime/memory.h"

namespace tweedie::bench {
namespace {

// One benchmark case: an op on fixed shapes, with its work in floating-point operations or bytes.
struct Case {
  std::string op;
  std::vector<std::int64_t> shape;
  double flops = 0;  // > 0: report GFLOP/s
  double bytes = 0;  // > 0: report GB/s (bytes read plus written)
  std::function<std::function<void()>(Context&)> setup;  // allocates inputs, returns the timed call
};

Tensor noise(Context& ctx, const Shape& shape, std::uint64_t stream) {
  Tensor t = Tensor::empty(shape, ctx.device());
  fill_normal(ctx, t, {99, stream});
  return t;
}

Tensor complex_noise(Context& ctx, std::int64_t batch, std::int64_t h, std::int64_t w) {
  Tensor t = Tensor::empty({batch, h, w}, ctx.device(), DType::c64);
  Tensor view = Tensor::empty({batch, h, 2 * w}, ctx.device());
  fill_normal(ctx, view, {99, 1});
  copy_bytes(t.raw_data(), ctx.device(), view.raw_data(), ctx.device(), t.nbytes());
  return t;
}

Case gemm_case(std::int64_t m, std::int64_t n, std::int64_t k) {
  return {"gemm", {m, n, k}, 2.0 * m * n * k, 0, [=](Context& ctx) {
            Tensor a = noise(ctx, {m, k}, 1), b = noise(ctx, {k, n}, 2), c = Tensor::empty({m, n}, ctx.device());
            return std::function<void()>([=, &ctx]() mutable { matmul(ctx, a, b, c); });
          }};
}

Case batched_gemm_case(std::int64_t batch, std::int64_t m, std::int64_t n, std::int64_t k) {
  return {"gemm_batched", {batch, m, n, k}, 2.0 * batch * m * n * k, 0, [=](Context& ctx) {
            Tensor a = noise(ctx, {batch, m, k}, 1), b = noise(ctx, {batch, k, n}, 2);
            Tensor c = Tensor::empty({batch, m, n}, ctx.device());
            return std::function<void()>([=, &ctx]() mutable { matmul(ctx, a, b, c); });
          }};
}

Case fft_case(std::int64_t batch, std::int64_t h, std::int64_t w) {
  // The usual FFT operation count: 5 N log2 N per transform of N points.
  double n = double(h * w);
  return {"fft2", {batch, h, w}, 5.0 * batch * n * std::log2(n), 0, [=](Context& ctx) {
            Tensor x = complex_noise(ctx, batch, h, w);
            return std::function<void()>([=, &ctx]() mutable { fft2(ctx, x, x); });
          }};
}

std::vector<Case> cases() {
  const std::int64_t n16 = 1 << 24;  // 16M elements: far beyond any cache
  std::vector<Case> all = {
      gemm_case(128, 128, 128),
      gemm_case(256, 256, 256),
      gemm_case(512, 512, 512),
      gemm_case(1024, 1024, 1024),
      gemm_case(256, 4096, 2304),  // a 3x3 convolution, 256 -> 256 channels on 64x64, as im2col GEMM
      batched_gemm_case(64, 64, 64, 64),
      batched_gemm_case(32, 256, 256, 64),  // attention scores: 256 tokens, 64 channels per head
      fft_case(8, 256, 256),
      fft_case(1, 320, 320),
      fft_case(1, 1024, 1024),
      {"silu", {n16}, 0, 8.0 * n16, [=](Context& ctx) {
         Tensor x = noise(ctx, {n16}, 1), y = Tensor::empty({n16}, ctx.device());
         return std::function<void()>([=, &ctx]() mutable { silu(ctx, x, y); });
       }},
      {"axpby", {n16}, 0, 12.0 * n16, [=](Context& ctx) {
         Tensor x = noise(ctx, {n16}, 1), y = noise(ctx, {n16}, 2);
         return std::function<void()>([=, &ctx]() mutable { axpby(ctx, 0.5f, x, 0.5f, y); });
       }},
      {"dot", {n16}, 0, 8.0 * n16, [=](Context& ctx) {
         Tensor x = noise(ctx, {n16}, 1), y = noise(ctx, {n16}, 2);
         return std::function<void()>([=, &ctx]() { (void)dot(ctx, x, y); });
       }},
      {"group_moments", {8, 256, 64, 64}, 0, 4.0 * 8 * 256 * 64 * 64, [=](Context& ctx) {
         Tensor x = noise(ctx, {8, 256, 64, 64}, 1);
         Tensor mean = Tensor::empty({8 * 32}, ctx.device()), var = Tensor::empty({8 * 32}, ctx.device());
         return std::function<void()>([=, &ctx]() mutable { group_moments(ctx, x, 8 * 32, mean, var); });
       }},
      {"softmax_rows", {4096, 4096}, 0, 8.0 * 4096 * 4096, [=](Context& ctx) {
         Tensor x = noise(ctx, {4096, 4096}, 1), y = Tensor::empty({4096, 4096}, ctx.device());
         return std::function<void()>([=, &ctx]() mutable { softmax_rows(ctx, x, y); });
       }},
      {"upsample2x", {8, 128, 64, 64}, 0, 4.0 * 8 * 128 * 64 * 64 * 5, [=](Context& ctx) {
         Tensor x = noise(ctx, {8, 128, 64, 64}, 1), y = Tensor::empty({8, 128, 128, 128}, ctx.device());
         return std::function<void()>([=, &ctx]() mutable { upsample2x(ctx, x, y); });
       }},
      {"avgpool2x", {8, 128, 128, 128}, 0, 4.0 * 8 * 128 * 128 * 128 * 1.25, [=](Context& ctx) {
         Tensor x = noise(ctx, {8, 128, 128, 128}, 1), y = Tensor::empty({8, 128, 64, 64}, ctx.device());
         return std::function<void()>([=, &ctx]() mutable { avgpool2x(ctx, x, y); });
       }},
      {"concat_channels", {8, 256, 64, 64}, 0, 8.0 * 8 * 256 * 64 * 64, [=](Context& ctx) {
         Tensor a = noise(ctx, {8, 128, 64, 64}, 1), b = noise(ctx, {8, 128, 64, 64}, 2);
         Tensor y = Tensor::empty({8, 256, 64, 64}, ctx.device());
         return std::function<void()>([=, &ctx]() mutable { concat_channels(ctx, {a, b}, y); });
       }},
      {"fill_normal", {n16}, 0, 4.0 * n16, [=](Context& ctx) {
         Tensor x = Tensor::empty({n16}, ctx.device());
         return std::function<void()>([=, &ctx]() mutable { fill_normal(ctx, x, {1, 2}); });
       }},
  };
  return all;
}

}  // namespace

void run_kernel_benchmarks(const KernelBenchOptions& options, std::ostream& out) {
  for (int threads : options.threads) {
    Context ctx(options.device, threads);
    for (const Case& c : cases()) {
      if (!options.filter.empty() && c.op.find(options.filter) == std::string::npos) continue;
      reset_peak_memory(ctx.device());
      std::function<void()> run = c.setup(ctx);
      Measurement m = measure(ctx, run, options.measure);
      nlohmann::json line = {{"bench", "kernels"}, {"impl", "tweedie"},  {"op", c.op}, {"shape", c.shape},
                             {"device", ctx.device().str()}, {"threads", ctx.threads()},
                             {"median_ms", m.median_ms}, {"min_ms", m.min_ms}, {"runs", m.runs}};
      if (c.flops > 0) line["gflops"] = c.flops / (m.median_ms * 1e6);
      if (c.bytes > 0) line["gbps"] = c.bytes / (m.median_ms * 1e6);
      line["peak_bytes"] = memory_stats(ctx.device()).peak;
      out << line.dump() << std::endl;
    }
  }
}

}  // namespace tweedie::bench
