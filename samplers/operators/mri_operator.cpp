// Cartesian MRI: y = M . F x (single-coil, per channel) or y_k = M . F (S_k x) (multi-coil), with the
// centred orthonormal transform F = fftshift . fft2 . ifftshift. Since the shifts are permutations and
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

// The shape of the k-space a (C, H, W) input gives: (K, H, W) with coils, else the input's.
Signal kspace_signal(const Signal& x, const Tensor& sensitivities) {
  Shape shape = sensitivities.defined() ? Shape{sensitivities.dim(0), x.shape[1], x.shape[2]} : x.shape;
  return Signal{shape, DType::c64};
}

void check_arguments(const Signal& x, const Tensor& mask, const Tensor& sensitivities) {
  if (x.shape.rank() != 3 || (x.dtype != DType::f32 && x.dtype != DType::c64))
    throw ShapeError(cat("mri: the image is ", x.str(), ", expected (C,H,W) f32 or c64"));
  std::int64_t h = x.shape[1], w = x.shape[2];
  if (!mask.defined() || mask.dtype() != DType::f32 || mask.rank() != 2 || mask.dim(0) != h || mask.dim(1) != w)
    throw ShapeError(cat("mri: the mask is ", mask.defined() ? mask.str() : std::string("undefined"), ", expected f32 (", h, ",", w,
                         ") to match the image ", x.str()));
  if (!sensitivities.defined()) return;
  const Tensor& s = sensitivities;
  if (s.dtype() != DType::c64 || s.rank() != 3 || s.dim(1) != h || s.dim(2) != w || s.dim(0) < 1)
    throw ShapeError(cat("mri: the sensitivity maps are ", s.str(), ", expected c64 (K,", h, ",", w, ") to match the image ", x.str()));
  if (x.shape[0] != 1)
    throw ShapeError(cat("mri: multi-coil MRI takes a single-channel image (1,H,W), got ", x.str(), " with ",
                         s.dim(0), " sensitivity maps"));
}

class MriOperator final : public Operator {
 public:
  MriOperator(const Signal& x, const Tensor& mask, const Tensor& sensitivities, std::string description, Device device)
      : Operator(x, kspace_signal(x, sensitivities)), description_(std::move(description)), device_(device) {
    mask_ = mask.device() == device ? mask : mask.to(device);
    if (sensitivities.defined()) maps_ = sensitivities.device() == device ? sensitivities : sensitivities.to(device);
    // Every channel or coil is measured where the mask is nonzero; a full mask leaves observed_
    // undefined, as operator.h asks, so that noise models take the cheaper path.
    std::vector<float> m = mask.to_host().to_vector<float>();
    if (std::all_of(m.begin(), m.end(), [](float v) { return v != 0.0f; })) return;
    std::vector<float> seen(static_cast<std::size_t>(output_.shape.numel()));
    for (std::size_t i = 0; i < seen.size(); ++i) seen[i] = m[i % m.size()] != 0.0f ? 1.0f : 0.0f;
    observed_ = Tensor::from_host(std::span<const float>(seen), output_.shape, device);
  }

  std::string describe() const override { return description_; }

  // x (N, C, H, W) -> y (N, K or C, H, W) c64.
  void apply(Context& ctx, const Tensor& x, Tensor& y) const override {
    if (check_batches(ctx, x, y) == 0) return;
    // The complex image (times each coil map) goes into y, unless x already is it; the centred FFT
    // then runs through one scratch tensor.
    const Tensor* image = &x;
    if (maps_.defined()) {
      coil_expand(ctx, x, maps_, y);
      image = &y;
    } else if (x.dtype() == DType::f32) {
      to_complex(ctx, x, y);
      image = &y;
    }
    Tensor t = Tensor::empty(y.shape(), ctx.device(), DType::c64);
    ifftshift2(ctx, *image, t);
    fft2(ctx, t, t, FftNorm::ortho);
    fftshift2(ctx, t, y);
    multiply_repeated(ctx, y, mask_, y);
  }

  // y (N, K or C, H, W) c64 -> x (N, C, H, W): sum_k conj(S_k) F^H (M . y_k), real part for real x.
  void adjoint(Context& ctx, const Tensor& y, Tensor& x) const override {
    if (check_batches(ctx, x, y) == 0) return;
    Tensor t = Tensor::empty(y.shape(), ctx.device(), DType::c64), u = Tensor::empty(y.shape(), ctx.device(), DType::c64);
    multiply_repeated(ctx, y, mask_, t);
    ifftshift2(ctx, t, u);
    ifft2(ctx, u, u, FftNorm::ortho);
    bool direct = !maps_.defined() && x.dtype() == DType::c64;  // the last shift can write x itself
    fftshift2(ctx, u, direct ? x : t);
    if (maps_.defined()) coil_combine(ctx, t, maps_, x);
    else if (!direct) real_part(ctx, t, x);
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

  std::string description_;
  Device device_;
  Tensor mask_;  // (H, W) f32, on device_
  Tensor maps_;  // (K, H, W) c64 on device_, or undefined for single-coil
};

}  // namespace

std::unique_ptr<Operator> make_mri(const Signal& x, const Tensor& mask, const Tensor& sensitivities, std::string description,
                                   Device device) {
  check_arguments(x, mask, sensitivities);
  return std::make_unique<MriOperator>(x, mask, sensitivities, std::move(description), device);
}

}  // namespace tweedie::samplers
