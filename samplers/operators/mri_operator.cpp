// Cartesian MRI: y = M . F x (single-coil, per channel) or y_k = M . F (S_k x) (multi-coil), with the
// centred orthonormal transform F = fftshift . fft2 . ifftshift (fft3 over (D, H, W) for volumes). Since the shifts are permutations and
// fft2 (ortho) is unitary, F^H = ifftshift^-1 . ifft2 . fftshift^-1 = fftshift . ifft2 . ifftshift.
#include <algorithm>
#include <vector>

#include "kernels/broadcast.h"
#include "kernels/coil.h"
#include "kernels/fft.h"
#include "runtime/error.h"
#include "samplers/operators/fourier_operators.h"

namespace tweedie::samplers {
namespace {

// The shape of the k-space a (C, ...) input gives: (K, ...) with coils, else the input's.
Signal kspace_signal(const Signal& x, const Tensor& sensitivities) {
  std::vector<std::int64_t> dims(x.shape.dims().begin(), x.shape.dims().end());
  if (sensitivities.defined()) dims[0] = sensitivities.dim(0);
  return Signal{Shape(std::span<const std::int64_t>(dims)), DType::c64};
}

// The image's spatial axes: (H, W), or (D, H, W) for volumes.
Shape spatial(const Signal& x) { return Shape(x.shape.dims().subspan(1)); }

void check_arguments(const Signal& x, const Tensor& mask, const Tensor& sensitivities) {
  if ((x.shape.rank() != 3 && x.shape.rank() != 4) || (x.dtype != DType::f32 && x.dtype != DType::c64))
    throw ShapeError(cat("mri: the image is ", x.str(), ", expected (C,H,W) or a volume (C,D,H,W), f32 or c64"));
  const Shape space = spatial(x);
  if (!mask.defined() || mask.dtype() != DType::f32 || !(mask.shape() == space))
    throw ShapeError(cat("mri: the mask is ", mask.defined() ? mask.str() : std::string("undefined"), ", expected f32 ", space.str(),
                         " to match the image ", x.str()));
  if (!sensitivities.defined()) return;
  const Tensor& s = sensitivities;
  if (s.dtype() != DType::c64 || s.rank() != space.rank() + 1 || !(Shape(s.shape().dims().subspan(1)) == space) || s.dim(0) < 1)
    throw ShapeError(cat("mri: the sensitivity maps are ", s.str(), ", expected c64 (K,", space.str().substr(1), " to match the image ", x.str()));
  if (x.shape[0] != 1)
    throw ShapeError(cat("mri: multi-coil MRI takes a single-channel image (1,", space.str().substr(1), ", got ", x.str(), " with ",
                         s.dim(0), " sensitivity maps"));
}

class MriOperator final : public Operator {
 public:
  MriOperator(const Signal& x, const Tensor& mask, const Tensor& sensitivities, std::string description, Device device)
      : Operator(x, kspace_signal(x, sensitivities)), description_(std::move(description)), device_(device) {
    volume_ = x.shape.rank() == 4;
    depth_rows_ = volume_ ? x.shape[1] * x.shape[2] : 0;
    mask_ = mask.device() == device ? mask : mask.to(device);
    if (sensitivities.defined()) {
      maps_ = sensitivities.device() == device ? sensitivities : sensitivities.to(device);
      maps_planes_ = volume_ ? maps_.reshape({maps_.dim(0), depth_rows_, x.shape[3]}) : maps_;
    }
    // Every channel or coil is measured where the mask is nonzero; a full mask leaves observed_
    // undefined, as operator.h asks, so that noise models take the cheaper path.
    std::vector<float> m = mask.to_host().to_vector<float>();
    if (std::all_of(m.begin(), m.end(), [](float v) { return v != 0.0f; })) return;
    std::vector<float> seen(static_cast<std::size_t>(output_.shape.numel()));
    for (std::size_t i = 0; i < seen.size(); ++i) seen[i] = m[i % m.size()] != 0.0f ? 1.0f : 0.0f;
    observed_ = Tensor::from_host(std::span<const float>(seen), output_.shape, device);
  }

  std::string describe() const override { return description_; }

  // x (N, C, [D,] H, W) -> y (N, K or C, [D,] H, W) c64.
  void apply(Context& ctx, const Tensor& x, Tensor& y) const override {
    const std::int64_t n = check_batches(ctx, x, y);
    if (n == 0) return;
    // The complex image (times each coil map) goes into y, unless x already is it; the centred FFT
    // then runs through one scratch tensor.
    const Tensor* image = &x;
    if (maps_.defined()) {
      Tensor yp = as_planes(y);
      coil_expand(ctx, as_planes(x), maps_planes_, yp);
      image = &y;
    } else if (x.dtype() == DType::f32) {
      to_complex(ctx, x, y);
      image = &y;
    }
    Tensor t = Tensor::empty(y.shape(), ctx.device(), DType::c64);
    centred_fft(ctx, *image, t, y, /*inverse=*/false);
    multiply_repeated(ctx, y, mask_, y);
  }

  // y (N, K or C, [D,] H, W) c64 -> x: sum_k conj(S_k) F^H (M . y_k), the real part for a real x.
  void adjoint(Context& ctx, const Tensor& y, Tensor& x) const override {
    if (check_batches(ctx, x, y) == 0) return;
    Tensor t = Tensor::empty(y.shape(), ctx.device(), DType::c64), u = Tensor::empty(y.shape(), ctx.device(), DType::c64);
    multiply_repeated(ctx, y, mask_, t);
    bool direct = !maps_.defined() && x.dtype() == DType::c64;  // the last shift can write x itself
    centred_fft(ctx, t, u, direct ? x : t, /*inverse=*/true);
    if (maps_.defined()) {
      Tensor xp = as_planes(x);
      coil_combine(ctx, as_planes(t), maps_planes_, xp);
    } else if (!direct) {
      real_part(ctx, t, x);
    }
  }

 private:
  // The batch size, after checking the context, the shapes and that x and y agree on it.
  std::int64_t check_batches(const Context& ctx, const Tensor& x, const Tensor& y) const {
    if (ctx.device() != device_)
      throw ArgumentError(cat("operator '", describe(), "' was built on ", device_.str(), " but the context is on ", ctx.device().str()));
    std::int64_t n = batch_of_input(ctx, x), m = batch_of_output(ctx, y);
    if (n != m) throw ShapeError(cat("operator '", describe(), "': x ", x.shape().str(), " and y ", y.shape().str(), " differ in batch size"));
    return n;
  }

  // out = shift . (i)fft (ortho) . ishift of in, over (H, W) or (D, H, W); scratch is in's shape.
  void centred_fft(Context& ctx, const Tensor& in, Tensor& scratch, Tensor& out, bool inverse) const {
    if (volume_) {
      ifftshift3(ctx, in, scratch);
      inverse ? ifft3(ctx, scratch, scratch, FftNorm::ortho) : fft3(ctx, scratch, scratch, FftNorm::ortho);
      fftshift3(ctx, scratch, out);
    } else {
      ifftshift2(ctx, in, scratch);
      inverse ? ifft2(ctx, scratch, scratch, FftNorm::ortho) : fft2(ctx, scratch, scratch, FftNorm::ortho);
      fftshift2(ctx, scratch, out);
    }
  }
  // Volumes as planes of (D H, W) for the per-pixel coil maps (they act on each voxel alike).
  Tensor as_planes(const Tensor& t) const {
    if (!volume_) return t;
    const std::int64_t w = t.dim(-1), planes = t.numel() / (depth_rows_ * w);
    return t.reshape({planes, depth_rows_, w});
  }

  std::string description_;
  Device device_;
  bool volume_ = false;           // x (C, D, H, W)
  std::int64_t depth_rows_ = 0;   // D H for volumes
  Tensor mask_;                   // (H, W) or (D, H, W) f32, on device_
  Tensor maps_;                   // (K, H, W) or (K, D, H, W) c64 on device_, or undefined for single-coil
  Tensor maps_planes_;            // maps_ as (K, D H, W) planes (maps_ itself for images)
};

}  // namespace

std::unique_ptr<Operator> make_mri(const Signal& x, const Tensor& mask, const Tensor& sensitivities, std::string description,
                                   Device device) {
  check_arguments(x, mask, sensitivities);
  return std::make_unique<MriOperator>(x, mask, sensitivities, std::move(description), device);
}

}  // namespace tweedie::samplers
