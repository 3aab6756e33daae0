// Non-Cartesian MRI, y = NUFFT(x) at a trajectory's points (single-coil, per channel) or y_k =
// NUFFT(S_k x) (multi-coil), with the centred orthonormal convention of the Cartesian operator
// (kernels/nufft.h), and the trajectories it is usually given: radial and spiral.
#include <algorithm>
#include <cmath>
#include <mutex>
#include <string_view>
#include <numbers>

#include "kernels/coil.h"
#include "runtime/error.h"
#include "samplers/operators/fourier_operators.h"

namespace tweedie::samplers {
namespace {

class NufftMriOperator final : public Operator {
 public:
  NufftMriOperator(const Signal& x, std::vector<double> coords, const NufftOptions& options, Tensor maps, std::string description,
                   Device device)
      : Operator(x, Signal{Shape{maps.defined() ? maps.dim(0) : x.shape[0], std::int64_t(coords.size() / 2)}, DType::c64}),
        plan_(make_nufft_plan(x.shape[1], x.shape[2], coords, options, device)), coords_(std::move(coords)), options_(options),
        maps_(std::move(maps)), description_(std::move(description)), device_(device) {}

  std::string describe() const override { return description_; }

  // x (N, C, H, W) -> y (N, K or C, P) c64.
  void apply(Context& ctx, const Tensor& x, Tensor& y) const override {
    const std::int64_t n = check_batches(ctx, x, y, "y");
    if (n == 0) return;
    nufft_forward(ctx, plan_, coil_images(ctx, x, n), y);
  }

  // y (N, K or C, P) -> x: sum_k conj(S_k) NUFFT^H(y_k), the real part for a real x.
  void adjoint(Context& ctx, const Tensor& y, Tensor& x) const override {
    const std::int64_t n = check_batches(ctx, x, y, "y");
    if (n == 0) return;
    Tensor image = Tensor::empty({n, output_.shape[0], plan_.h, plan_.w}, ctx.device(), DType::c64);
    nufft_adjoint(ctx, plan_, y, image);
    combine(ctx, image, x);
  }

  // A^H A x by the Toeplitz embedding (kernels/nufft.h), made on the first call: sum_k conj(S_k) T (S_k x),
  // or T per channel.
  void normal(Context& ctx, const Tensor& x, Tensor& out) const override {
    const std::int64_t n = check_batches(ctx, x, out, "out");
    if (n == 0) return;
    std::call_once(toeplitz_made_, [&] { toeplitz_ = make_nufft_toeplitz(ctx, plan_.h, plan_.w, coords_, options_); });
    const Tensor image = coil_images(ctx, x, n);
    Tensor product = Tensor::empty(image.shape(), ctx.device(), DType::c64);
    nufft_normal(ctx, toeplitz_, image, product);
    combine(ctx, product, out);
  }

 private:
  // x's batch size, after checking the context and that the other tensor agrees: y (N, output...), or
  // for the normal map `out` (N, input...).
  std::int64_t check_batches(const Context& ctx, const Tensor& x, const Tensor& other, const char* role) const {
    if (ctx.device() != device_)
      throw ArgumentError(cat("operator '", describe(), "' was built on ", device_.str(), " but the context is on ", ctx.device().str()));
    const std::int64_t n = batch_of_input(ctx, x);
    const std::int64_t m = std::string_view(role) == "y" ? batch_of_output(ctx, other) : batch_of_input(ctx, other, role);
    if (n != m)
      throw ShapeError(cat("operator '", describe(), "': x ", x.shape().str(), " and ", role, " ", other.shape().str(), " differ in batch size"));
    return n;
  }

  // The complex planes the NUFFT transforms: S_k x per coil, or x itself per channel (N, K or C, H, W).
  Tensor coil_images(Context& ctx, const Tensor& x, std::int64_t n) const {
    Tensor image = Tensor::empty({n, output_.shape[0], plan_.h, plan_.w}, ctx.device(), DType::c64);
    if (maps_.defined()) coil_expand(ctx, x, maps_, image);
    else if (x.dtype() == DType::f32) to_complex(ctx, x, image);
    else image.copy_from(x);
    return image;
  }
  // Their adjoint: sum_k conj(S_k) image_k, or the planes themselves (the real part for a real x).
  void combine(Context& ctx, const Tensor& image, Tensor& x) const {
    if (maps_.defined()) coil_combine(ctx, image, maps_, x);
    else if (x.dtype() == DType::f32) real_part(ctx, image, x);
    else x.copy_from(image);
  }

  NufftPlan plan_;
  std::vector<double> coords_;
  NufftOptions options_;
  mutable std::once_flag toeplitz_made_;
  mutable NufftToeplitz toeplitz_;
  Tensor maps_;  // (K, H, W) c64 on device_, or undefined
  std::string description_;
  Device device_;
};

}  // namespace

std::unique_ptr<Operator> make_nufft_mri(const Signal& x, const std::vector<double>& coords, const Tensor& sensitivities,
                                         const NufftOptions& options, std::string description, Device device) {
  if (x.shape.rank() != 3 || (x.dtype != DType::f32 && x.dtype != DType::c64))
    throw ShapeError(cat("mri (non-Cartesian): the image is ", x.str(), ", expected (C,H,W) f32 or c64"));
  const std::int64_t h = x.shape[1], w = x.shape[2];
  Tensor maps;
  if (sensitivities.defined()) {
    const Tensor& s = sensitivities;
    if (s.dtype() != DType::c64 || s.rank() != 3 || s.dim(1) != h || s.dim(2) != w || s.dim(0) < 1)
      throw ShapeError(cat("mri (non-Cartesian): the sensitivity maps are ", s.str(), ", expected c64 (K,", h, ",", w, ") to match the image ", x.str()));
    if (x.shape[0] != 1)
      throw ShapeError(cat("mri (non-Cartesian): multi-coil MRI takes a single-channel image (1,H,W), got ", x.str()));
    maps = s.device() == device ? s : s.to(device);
  }
  if (coords.empty()) throw ArgumentError("mri (non-Cartesian): the trajectory has no points");
  return std::make_unique<NufftMriOperator>(x, coords, options, std::move(maps), std::move(description), device);
}

std::vector<double> radial_trajectory(std::int64_t h, std::int64_t w, std::int64_t spokes, std::int64_t readout, bool golden) {
  if (spokes < 1 || readout < 2) throw ArgumentError(cat("radial trajectory: ", spokes, " spokes of ", readout, " samples; at least 1 spoke of 2"));
  // The golden angle of radial MRI, 180 degrees / phi (Winkelmann et al. 2007): every new spoke splits
  // the largest angular gap, so any run of consecutive spokes covers k-space nearly uniformly.
  const double golden_angle = std::numbers::pi * (std::sqrt(5.0) - 1) / 2;
  std::vector<double> k;
  k.reserve(std::size_t(2 * spokes * readout));
  for (std::int64_t s = 0; s < spokes; ++s) {
    const double theta = golden ? std::fmod(double(s) * golden_angle, 2 * std::numbers::pi) : std::numbers::pi * double(s) / double(spokes);
    for (std::int64_t r = 0; r < readout; ++r) {
      const double rho = (double(r) - double(readout) / 2) / double(readout);  // [-1/2, 1/2) of the band
      k.push_back(rho * double(h) * std::sin(theta));
      k.push_back(rho * double(w) * std::cos(theta));
    }
  }
  return k;
}

std::vector<double> spiral_trajectory(std::int64_t h, std::int64_t w, std::int64_t interleaves, std::int64_t samples, double turns) {
  if (interleaves < 1 || samples < 2 || !(turns > 0))
    throw ArgumentError(cat("spiral trajectory: ", interleaves, " interleaves of ", samples, " samples and ", turns, " turns; need >= 1, >= 2, > 0"));
  std::vector<double> k;
  k.reserve(std::size_t(2 * interleaves * samples));
  for (std::int64_t l = 0; l < interleaves; ++l)
    for (std::int64_t i = 0; i < samples; ++i) {
      // Archimedean: radius and angle grow together, r = t / 2 of the band at angle 2 pi (turns t + l / L).
      const double t = double(i) / double(samples), angle = 2 * std::numbers::pi * (turns * t + double(l) / double(interleaves));
      k.push_back(0.5 * t * double(h) * std::sin(angle));
      k.push_back(0.5 * t * double(w) * std::cos(angle));
    }
  return k;
}

}  // namespace tweedie::samplers
