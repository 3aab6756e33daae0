// Fourier phase retrieval: y = |F P x| with P the zero padding and F the orthonormal 2-D FFT.
// With z = F P x the derivatives are
//   JVP  dy = Re(conj(z) . F P dx) / |z|
//   VJP  dx = Re(P^T F^H ((z / |z|) . dy))
// (P^T crops; the real part because x is real), both 0 where z = 0.
#include "kernels/coil.h"
#include "kernels/fft.h"
#include "runtime/error.h"
#include "samplers/operators/fourier_operators.h"

namespace tweedie::samplers {
namespace {

Signal padded_signal(const Signal& x, std::int64_t pad) {
  return Signal{Shape{x.shape[0], x.shape[1] + 2 * pad, x.shape[2] + 2 * pad}, DType::f32};
}

class PhaseRetrieval final : public Operator {
 public:
  PhaseRetrieval(const Signal& x, std::int64_t pad, Device device) : Operator(x, padded_signal(x, pad)), pad_(pad), device_(device) {}

  std::string describe() const override { return cat("phase:pad=", pad_); }
  bool is_linear() const override { return false; }

  void apply(Context& ctx, const Tensor& x, Tensor& y) const override {
    if (check_batches(ctx, x, y, "y") == 0) return;
    complex_modulus(ctx, spectrum(ctx, x), y);
  }

  void jvp(Context& ctx, const Tensor& x, const Tensor& dx, Tensor& dy) const override {
    std::int64_t n = check_batches(ctx, x, dy, "dy");
    if (batch_of_input(ctx, dx, "dx") != n) throw ShapeError(cat("operator '", describe(), "': dx and x differ in batch size"));
    if (n == 0) return;
    modulus_jvp(ctx, spectrum(ctx, x), spectrum(ctx, dx), dy);
  }

  void vjp(Context& ctx, const Tensor& x, const Tensor& dy, Tensor& dx) const override {
    std::int64_t n = check_batches(ctx, x, dy, "dy");
    if (batch_of_input(ctx, dx, "dx") != n) throw ShapeError(cat("operator '", describe(), "': dx and x differ in batch size"));
    if (n == 0) return;
    Tensor z = spectrum(ctx, x);
    modulus_vjp(ctx, z, dy, z);  // elementwise, so in place
    ifft2(ctx, z, z, FftNorm::ortho);
    crop_planes(ctx, z, pad_, dx);
  }

 private:
  // F P x: (N, C, H + 2 pad, W + 2 pad) c64, a new tensor.
  Tensor spectrum(Context& ctx, const Tensor& x) const {
    Tensor z = Tensor::empty(batched(x.dim(0), output_.shape), ctx.device(), DType::c64);
    pad_planes(ctx, x, pad_, z);
    fft2(ctx, z, z, FftNorm::ortho);
    return z;
  }

  // The batch size, after checking the context, the shapes and that x and the output-shaped tensor agree.
  std::int64_t check_batches(const Context& ctx, const Tensor& x, const Tensor& y, const char* role) const {
    if (ctx.device() != device_)
      throw ArgumentError(cat("operator '", describe(), "' was built on ", device_.str(), " but the context is on ", ctx.device().str()));
    std::int64_t n = batch_of_input(ctx, x), m = batch_of_output(ctx, y, role);
    if (n != m) throw ShapeError(cat("operator '", describe(), "': x ", x.shape().str(), " and ", role, " ", y.shape().str(), " differ in batch size"));
    return n;
  }

  std::int64_t pad_;
  Device device_;
};

}  // namespace

std::unique_ptr<Operator> make_phase_retrieval(const Signal& x, std::int64_t pad, Device device) {
  if (x.shape.rank() != 3 || x.dtype != DType::f32)
    throw ShapeError(cat("phase retrieval: the image is ", x.str(), ", expected (C,H,W) f32"));
  if (pad < 0) throw ArgumentError(cat("phase retrieval: pad is ", pad, ", expected at least 0"));
  return std::make_unique<PhaseRetrieval>(x, pad, device);
}

}  // namespace tweedie::samplers
