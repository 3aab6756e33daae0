#include "bench/operator_bench.h"

#include <nlohmann/json.hpp>

#include <functional>
#include <memory>

#include "kernels/random.h"
#include "runtime/memory.h"
#include "samplers/operators/fourier_operators.h"
#include "samplers/operators/image_operators.h"

namespace tweedie::bench {
namespace {

using samplers::Operator;
using samplers::Signal;

// One operator on one batch size; the benchmark times apply and adjoint (or VJP).
struct Case {
  std::string name;
  std::int64_t batch;
  std::function<std::unique_ptr<Operator>(Device)> make;
};

Tensor noise(Context& ctx, const Signal& s, std::int64_t batch, std::uint64_t stream) {
  Tensor t = Tensor::empty(samplers::batched(batch, s.shape), ctx.device(), s.dtype);
  Tensor view = s.dtype == DType::c64 ? t.view_as_real() : t;
  fill_normal(ctx, view, {7, stream});
  return t;
}

std::unique_ptr<Operator> radial_knee(const Signal& knee, double tolerance, Device device) {
  return samplers::make_nufft_mri(knee, samplers::radial_trajectory(320, 320, 126, 640, true), {}, NufftOptions{tolerance, 2.0},
                                  cat("mri:traj=radial:spokes=126:readout=640:tol=", tolerance), device);
}

// fastMRI knee: 320 x 320, 15 coils; FFHQ-style images: 3 x 256 x 256.
std::vector<Case> cases() {
  const Signal knee{{1, 320, 320}, DType::c64}, face{{3, 256, 256}, DType::f32}, gray{{1, 256, 256}, DType::f32};
  auto coil_maps = [](Device device) {
    // Any maps do for timing; these have unit norm across coils at every pixel.
    std::vector<complex64> m(std::size_t(15 * 320 * 320), complex64{0.18257419f, 0.18257419f});  // 1/sqrt(30) each part
    return Tensor::from_host(std::span<const complex64>(m), {15, 320, 320}, device);
  };
  return {
      {"mri", 1, [=](Device d) { return samplers::make_mri(knee, samplers::mask_random_columns(320, 320, 4, 26, 1), {}, "mri:R=4", d); }},
      {"mri", 8, [=](Device d) { return samplers::make_mri(knee, samplers::mask_random_columns(320, 320, 4, 26, 1), {}, "mri:R=4", d); }},
      {"mri-coils", 1,
       [=](Device d) { return samplers::make_mri(knee, samplers::mask_random_columns(320, 320, 4, 26, 1), coil_maps(d), "mri:R=4:coils", d); }},
      {"inpaint", 8, [=](Device d) { return samplers::make_mask(face, samplers::random_pixel_mask(face.shape, 0.3, false, 1), "inpaint", d); }},
      {"sr4-bicubic", 8, [=](Device d) { return samplers::make_downsample(face, 4, samplers::DownsampleKind::bicubic, d); }},
      {"sr4-avg", 8, [=](Device d) { return samplers::make_downsample(face, 4, samplers::DownsampleKind::average, d); }},
      {"blur-circular", 8,
       [=](Device d) { return samplers::make_blur(face, samplers::gaussian_kernel(61, 3), samplers::BlurBoundary::circular, "blur", d); }},
      {"blur-reflect", 1,
       [=](Device d) { return samplers::make_blur(face, samplers::gaussian_kernel(61, 3), samplers::BlurBoundary::reflect, "blur", d); }},
      {"blur-reflect-3x3", 8,  // small enough for the direct loop
       [=](Device d) { return samplers::make_blur(face, samplers::gaussian_kernel(3, 1), samplers::BlurBoundary::reflect, "blur", d); }},
      {"phase", 8, [=](Device d) { return samplers::make_phase_retrieval(gray, 64, d); }},
      // Radial knee k-space at R = 4 against pi N / 2 spokes: 126 golden-angle spokes of 640 samples
      // (80,640 points), the NUFFT at two tolerances; tools/bench/finufft_nufft.py times finufft on it.
      {"mri-radial-1e-6", 1, [=](Device d) { return radial_knee(knee, 1e-6, d); }},
      {"mri-radial-1e-6", 8, [=](Device d) { return radial_knee(knee, 1e-6, d); }},
      {"mri-radial-1e-3", 1, [=](Device d) { return radial_knee(knee, 1e-3, d); }},
  };
}

std::vector<std::int64_t> shape_of(std::int64_t batch, const Shape& item) {
  std::vector<std::int64_t> s{batch};
  for (std::int64_t d : item.dims()) s.push_back(d);
  return s;
}

}  // namespace

void run_operator_benchmarks(const OperatorBenchOptions& options, std::ostream& out) {
  for (int threads : options.threads) {
    Context ctx(options.device, threads);
    for (const Case& c : cases()) {
      if (!options.filter.empty() && c.name.find(options.filter) == std::string::npos) continue;
      std::unique_ptr<Operator> op = c.make(ctx.device());
      Tensor x = noise(ctx, op->input(), c.batch, 1), y = noise(ctx, op->output(), c.batch, 2);
      Tensor ax = op->make_output(c.batch, ctx.device()), aty = op->make_input(c.batch, ctx.device());
      for (const char* which : {"apply", "adjoint"}) {
        reset_peak_memory(ctx.device());
        bool forward = std::string(which) == "apply";
        Measurement m = measure(
            ctx,
            [&] {
              if (forward) op->apply(ctx, x, ax);
              else op->vjp(ctx, x, y, aty);  // the adjoint for linear operators
            },
            options.measure);
        nlohmann::json line = {{"bench", "operators"}, {"impl", "tweedie"}, {"op", c.name + "." + which},
                               {"shape", shape_of(c.batch, op->input().shape)},  // the problem's x, both ways
                               {"device", ctx.device().str()}, {"threads", ctx.threads()}, {"median_ms", m.median_ms},
                               {"min_ms", m.min_ms}, {"runs", m.runs}, {"peak_bytes", memory_stats(ctx.device()).peak}};
        out << line.dump() << std::endl;
      }
    }
  }
}

}  // namespace tweedie::bench
