#include "bench/operator_bench.h"

#include <nlohmann/json.hpp>

#include <cmath>
#include <complex>
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

// The non-uniform DFT summed directly, the naive loop the NUFFT replaces: O(P h w) per plane, with the
// phase split into row and column factors per point (precomputed in double, stored as f32), points
// in parallel. Host only.
class DirectNudft final : public Operator {
 public:
  DirectNudft(const Signal& x, const std::vector<double>& coords)
      : Operator(x, Signal{Shape{x.shape[0], std::int64_t(coords.size() / 2)}, DType::c64}), h_(x.shape[1]), w_(x.shape[2]),
        points_(std::int64_t(coords.size() / 2)) {
    rows_.resize(std::size_t(points_ * h_));
    columns_.resize(std::size_t(points_ * w_));
    const double tau = 2 * 3.14159265358979323846;
    for (std::int64_t j = 0; j < points_; ++j) {
      for (std::int64_t r = 0; r < h_; ++r) {
        const double a = -tau * coords[std::size_t(2 * j)] * double(r - h_ / 2) / double(h_);
        rows_[std::size_t(j * h_ + r)] = std::complex<float>(float(std::cos(a)), float(std::sin(a)));
      }
      for (std::int64_t c = 0; c < w_; ++c) {
        const double a = -tau * coords[std::size_t(2 * j + 1)] * double(c - w_ / 2) / double(w_);
        columns_[std::size_t(j * w_ + c)] = std::complex<float>(float(std::cos(a)), float(std::sin(a)));
      }
    }
  }
  std::string describe() const override { return "direct non-uniform DFT"; }

  void apply(Context& ctx, const Tensor& x, Tensor& y) const override {
    const auto* in = reinterpret_cast<const std::complex<float>*>(x.data<complex64>());
    auto* out = reinterpret_cast<std::complex<float>*>(y.data<complex64>());
    const std::int64_t planes = x.numel() / (h_ * w_), points = points_;
    const float norm = float(1 / std::sqrt(double(h_ * w_)));
#pragma omp parallel for collapse(2) schedule(static) num_threads(ctx.threads())
    for (std::int64_t p = 0; p < planes; ++p)
      for (std::int64_t j = 0; j < points; ++j) {
        std::complex<float> sum = 0;
        for (std::int64_t r = 0; r < h_; ++r) {
          std::complex<float> row = 0;
          const std::complex<float>* xr = in + (p * h_ + r) * w_;
          for (std::int64_t c = 0; c < w_; ++c) row += xr[c] * columns_[std::size_t(j * w_ + c)];
          sum += row * rows_[std::size_t(j * h_ + r)];
        }
        out[p * points_ + j] = sum * norm;
      }
  }
  void adjoint(Context& ctx, const Tensor& y, Tensor& x) const override {
    const auto* in = reinterpret_cast<const std::complex<float>*>(y.data<complex64>());
    auto* out = reinterpret_cast<std::complex<float>*>(x.data<complex64>());
    const std::int64_t planes = x.numel() / (h_ * w_);
    const float norm = float(1 / std::sqrt(double(h_ * w_)));
#pragma omp parallel for collapse(2) schedule(static) num_threads(ctx.threads())
    for (std::int64_t p = 0; p < planes; ++p)
      for (std::int64_t r = 0; r < h_; ++r) {
        std::vector<std::complex<float>> row(static_cast<std::size_t>(w_));
        for (std::int64_t j = 0; j < points_; ++j) {
          const std::complex<float> v = in[p * points_ + j] * std::conj(rows_[std::size_t(j * h_ + r)]);
          for (std::int64_t c = 0; c < w_; ++c) row[std::size_t(c)] += v * std::conj(columns_[std::size_t(j * w_ + c)]);
        }
        for (std::int64_t c = 0; c < w_; ++c) out[(p * h_ + r) * w_ + c] = row[std::size_t(c)] * norm;
      }
  }

 private:
  std::int64_t h_, w_, points_;
  std::vector<std::complex<float>> rows_, columns_;  // (points, h) and (points, w) phase factors
};

// fastMRI knee: 320 x 320, 15 coils; FFHQ-style images: 3 x 256 x 256.
std::vector<Case> cases() {
  const Signal knee{{1, 320, 320}, DType::c64}, face{{3, 256, 256}, DType::f32}, gray{{1, 256, 256}, DType::f32};
  const Signal small{{1, 96, 96}, DType::c64};
  const std::vector<double> radial_small = samplers::radial_trajectory(96, 96, 38, 192, true);
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
      // The NUFFT against the direct sum on a problem small enough for the latter: 96 x 96, R = 4
      // (38 golden-angle spokes of 192 samples).
      {"mri-radial-96-1e-6", 1, [=](Device d) { return samplers::make_nufft_mri(small, radial_small, {}, NufftOptions{1e-6, 2.0}, "mri:traj=radial:96", d); }},
      {"mri-radial-96-direct", 1, [=](Device) { return std::make_unique<DirectNudft>(small, radial_small); }},
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
      if (c.name.find("direct") != std::string::npos && !ctx.device().is_cpu()) continue;  // a host loop
      std::unique_ptr<Operator> op = c.make(ctx.device());
      Tensor x = noise(ctx, op->input(), c.batch, 1), y = noise(ctx, op->output(), c.batch, 2);
      Tensor ax = op->make_output(c.batch, ctx.device()), aty = op->make_input(c.batch, ctx.device());
      // Non-Cartesian MRI also times its normal map A^H A (Toeplitz) against apply then adjoint.
      const bool normal = c.name.find("radial") != std::string::npos && c.name.find("direct") == std::string::npos;
      std::vector<std::string> parts{"apply", "adjoint"};
      if (normal) parts.insert(parts.end(), {"normal", "apply+adjoint"});
      if (normal) op->normal(ctx, x, aty);  // the Toeplitz kernel is made on the first call, not timed
      for (const std::string& which : parts) {
        reset_peak_memory(ctx.device());
        Measurement m = measure(
            ctx,
            [&] {
              if (which == "apply") op->apply(ctx, x, ax);
              else if (which == "adjoint") op->vjp(ctx, x, y, aty);  // the adjoint for linear operators
              else if (which == "normal") op->normal(ctx, x, aty);
              else op->apply(ctx, x, ax), op->adjoint(ctx, ax, aty);
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
