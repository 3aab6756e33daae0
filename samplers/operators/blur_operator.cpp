// Deblurring: every channel of (C, H, W) convolved with one kernel (kh, kw), odd sizes, centred.
//   circular  y = F^-1(T . F x) with T the DFT of the kernel wrapped around (0, 0), made once here
//   reflect   y = valid convolution of x reflect-padded by (kh/2, kw/2), as DPS's Blurkernel does
// Adjoints: F^-1(conj(T) . F y), and the valid convolution's transpose followed by the pad's fold.
//
// The reflect blur's valid convolution runs as a direct loop for small kernels and through the FFT for
// large ones: the padded image (Hp, Wp) = (H + 2 ph, W + 2 pw) is zero-embedded in a larger (Hf, Wf)
// grid at (eh, ew) and circularly convolved there. Output pixel i of the grid reads rows i - d with
// |d| <= ph; for the (H, W) window at (eh + ph, ew + pw) those rows all lie in the embedded image, so
// nothing wraps and the window is exactly the valid convolution.
#include <algorithm>
#include <cmath>
#include <complex>
#include <vector>

#include "kernels/broadcast.h"
#include "kernels/coil.h"
#include "kernels/fft.h"
#include "kernels/image_filter.h"
#include "kernels/random.h"
#include "samplers/operators/image_operators.h"

namespace tweedie::samplers {
namespace {

// Reflect kernels with at most this many taps take the direct loop, larger ones the FFT. The loop's
// cost grows with the taps, the FFT's hardly at all. Measured on the host, one thread, apply (ms,
// direct / FFT; adjoints alike):
//   kernel   8x3x256x256    1x1x64x64
//   3x3       17  /  35     0.045 / 0.057
//   5x5       34  /  33     0.084 / 0.058
//   7x7       62  /  33     0.16  / 0.08
//   15x15    333  /  45     0.85  / 0.05
//   61x61   5900  /  40       -
// so the break-even lies between 9 and 25 taps (nearer 15 for small images). Two threads move it
// little. Not measured on a GPU.
constexpr std::int64_t kDirectMaxTaps = 15;

// The smallest n >= m with no prime factor above 7 (sizes FFTW and cuFFT transform fast) and n - m
// even, so that the embedded image can sit in the middle of the grid.
std::int64_t fft_size(std::int64_t m) {
  for (std::int64_t n = m;; n += 2) {
    std::int64_t r = n;
    for (std::int64_t p : {2, 3, 5, 7})
      while (r % p == 0) r /= p;
    if (r == 1) return n;
  }
}

class Blur final : public Operator {
 public:
  Blur(const Signal& x, Tensor kernel, BlurBoundary boundary, std::string description, Device device)
      : Operator(x, x), boundary_(boundary), description_(std::move(description)), kernel_size_{kernel.dim(0), kernel.dim(1)} {
    std::int64_t h = x.shape[1], w = x.shape[2], kh = kernel.dim(0), kw = kernel.dim(1);
    if (boundary == BlurBoundary::circular) {
      transfer_ = transfer_function(kernel, h, w).to(device);
    } else if (kh * kw <= kDirectMaxTaps) {
      kernel_ = kernel.to(device);
    } else {
      std::int64_t hp = h + kh - 1, wp = w + kw - 1, hf = fft_size(hp), wf = fft_size(wp);
      eh_ = (hf - hp) / 2, ew_ = (wf - wp) / 2;
      transfer_ = transfer_function(kernel, hf, wf).to(device);
    }
  }
  std::string describe() const override { return description_; }
  void apply(Context& ctx, const Tensor& x, Tensor& y) const override { run(ctx, x, "x", y, "y", false); }
  void adjoint(Context& ctx, const Tensor& y, Tensor& x) const override { run(ctx, y, "y", x, "x", true); }

 private:
  void run(Context& ctx, const Tensor& from, const char* from_role, Tensor& to, const char* to_role, bool transpose) const {
    std::int64_t n = batch_of_input(ctx, from, from_role);
    if (batch_of_input(ctx, to, to_role) != n)
      throw ShapeError(cat("operator '", description_, "': ", to_role, " is ", to.shape().str(), " for ", from_role, " ", from.shape().str()));
    if (boundary_ == BlurBoundary::circular) {
      // With ortho transforms, ifft(fft(x) . T) is x circularly convolved with the kernel exactly
      // when T is the kernel's unnormalised DFT (the two sqrt(HW) factors cancel).
      Tensor z = Tensor::empty(from.shape(), ctx.device(), DType::c64);
      to_complex(ctx, from, z);
      fft2(ctx, z, z, FftNorm::ortho);
      multiply_repeated_complex(ctx, z, transfer_, z, transpose);
      ifft2(ctx, z, z, FftNorm::ortho);
      real_part(ctx, z, to);
      return;
    }
    std::int64_t ph = kernel_size_[0] / 2, pw = kernel_size_[1] / 2;
    Tensor padded = Tensor::empty({n, input_.shape[0], input_.shape[1] + 2 * ph, input_.shape[2] + 2 * pw}, ctx.device());
    if (kernel_.defined()) {
      if (!transpose) {
        reflect_pad(ctx, from, padded, ph, pw);
        convolve_valid(ctx, padded, kernel_, to);
      } else {
        convolve_valid_adjoint(ctx, from, kernel_, padded);
        reflect_pad_adjoint(ctx, padded, to, ph, pw);
      }
      return;
    }
    // Through the grid (see the top of the file); the adjoint runs the same steps transposed, in reverse.
    Tensor z = Tensor::empty({n, input_.shape[0], transfer_.dim(0), transfer_.dim(1)}, ctx.device(), DType::c64);
    if (!transpose) {
      reflect_pad(ctx, from, padded, ph, pw);
      pad_planes(ctx, padded, eh_, ew_, z);
    } else {
      pad_planes(ctx, from, eh_ + ph, ew_ + pw, z);
    }
    fft2(ctx, z, z, FftNorm::ortho);
    multiply_repeated_complex(ctx, z, transfer_, z, transpose);
    ifft2(ctx, z, z, FftNorm::ortho);
    if (!transpose) {
      crop_planes(ctx, z, eh_ + ph, ew_ + pw, to);
    } else {
      crop_planes(ctx, z, eh_, ew_, padded);
      reflect_pad_adjoint(ctx, padded, to, ph, pw);
    }
  }

  // The kernel placed on an (h, w) grid with its centre at (0, 0) (the rest wrapped to the far
  // edges), transformed: the DFT a circular convolution multiplies by. Computed on the host.
  static Tensor transfer_function(const Tensor& kernel, std::int64_t h, std::int64_t w) {
    std::vector<float> k = kernel.to_vector<float>();
    std::int64_t kh = kernel.dim(0), kw = kernel.dim(1);
    std::vector<complex64> grid(std::size_t(h * w), complex64{0.0f, 0.0f});
    for (std::int64_t a = 0; a < kh; ++a)
      for (std::int64_t b = 0; b < kw; ++b) {
        std::int64_t r = ((a - kh / 2) % h + h) % h, c = ((b - kw / 2) % w + w) % w;
        grid[std::size_t(r * w + c)].re = k[std::size_t(a * kw + b)];
      }
    Context host(Device::cpu());
    Tensor t = Tensor::from_host(std::span<const complex64>(grid), {h, w});
    fft2(host, t, t, FftNorm::backward);  // unnormalised
    return t;
  }

  BlurBoundary boundary_;
  std::string description_;
  std::int64_t kernel_size_[2];
  Tensor kernel_;    // reflect, direct: (kh, kw) f32 on the operator's device
  Tensor transfer_;  // circular: (H, W) c64; reflect through the FFT: (Hf, Wf) c64; on the operator's device
  std::int64_t eh_ = 0, ew_ = 0;  // reflect through the FFT: where the padded image sits in the grid
};

}  // namespace

std::unique_ptr<Operator> make_blur(const Signal& x, const Tensor& kernel, BlurBoundary boundary, std::string description, Device device) {
  if (x.dtype != DType::f32)
    throw DTypeError(cat(description, ": the signal x is ", x.str(), "; this operator takes real (f32) items"));
  if (x.shape.rank() != 3) throw ShapeError(cat(description, ": item shape ", x.shape.str(), " is not an image (C, H, W)"));
  if (!kernel.defined() || kernel.dtype() != DType::f32 || kernel.rank() != 2)
    throw ShapeError(cat(description, ": the kernel must be a 2-D f32 tensor (kh, kw), not ", kernel.defined() ? kernel.str() : "undefined"));
  std::int64_t kh = kernel.dim(0), kw = kernel.dim(1);
  if (kh % 2 == 0 || kw % 2 == 0)
    throw ShapeError(cat(description, ": kernel ", kernel.shape().str(), " must have odd sizes so that it has a centre pixel"));
  if (kh > x.shape[1] || kw > x.shape[2])
    throw ShapeError(cat(description, ": kernel ", kernel.shape().str(), " is larger than the image ", x.shape.str()));
  return std::make_unique<Blur>(x, kernel, boundary, std::move(description), device);
}

Tensor gaussian_kernel(std::int64_t size, double sigma) {
  if (size < 1 || size % 2 == 0) throw ArgumentError(cat("gaussian_kernel: size ", size, " must be odd and positive"));
  if (!(sigma > 0)) throw ArgumentError(cat("gaussian_kernel: sigma ", sigma, " must be positive"));
  std::vector<double> k(std::size_t(size * size));
  double centre = double(size / 2), sum = 0;
  for (std::int64_t a = 0; a < size; ++a)
    for (std::int64_t b = 0; b < size; ++b) {
      double da = double(a) - centre, db = double(b) - centre;
      sum += k[std::size_t(a * size + b)] = std::exp(-(da * da + db * db) / (2 * sigma * sigma));
    }
  std::vector<float> out(k.size());
  for (std::size_t i = 0; i < k.size(); ++i) out[i] = float(k[i] / sum);
  return Tensor::from_host(std::span<const float>(out), {size, size});
}

// A camera shake: a point moving with inertia. Its velocity keeps unit length; each step it turns
// by a push from an acceleration that is itself a smoothed random walk (so paths curve rather than
// jitter), and the push scales with `intensity`: 0 draws a straight streak, 1 a wandering, looping
// path. The path is then centred and scaled so that its longer side spans size - 1 pixels, and
// rasterised with bilinear splatting (each of its many points spreads weight 1 over the 4 pixels
// around it). Every random number is Philox element (seed, stream 0, index), so a seed always gives
// the same kernel.
Tensor motion_kernel(std::int64_t size, double intensity, std::uint64_t seed) {
  if (size < 1 || size % 2 == 0) throw ArgumentError(cat("motion_kernel: size ", size, " must be odd and positive"));
  if (!(intensity >= 0 && intensity <= 1)) throw ArgumentError(cat("motion_kernel: intensity ", intensity, " must be in [0, 1]"));
  const std::int64_t steps = 64 * size;
  constexpr double kPi = 3.14159265358979323846;
  double angle = 2 * kPi * double(uniform_at(seed, 0, 0));
  std::complex<double> position{0, 0}, velocity = std::polar(1.0, angle), acceleration{0, 0};
  std::vector<std::complex<double>> path(static_cast<std::size_t>(steps));
  for (std::int64_t t = 0; t < steps; ++t) {
    std::complex<double> kick{normal_at(seed, 0, std::uint64_t(2 + 2 * t)), normal_at(seed, 0, std::uint64_t(3 + 2 * t))};
    acceleration = 0.9 * acceleration + 0.1 * kick;
    velocity += 2.0 * intensity * acceleration;
    velocity /= std::max(std::abs(velocity), 1e-12);
    position += velocity;
    path[std::size_t(t)] = position;
  }
  double lo_x = 1e300, hi_x = -1e300, lo_y = 1e300, hi_y = -1e300;
  for (auto p : path) {
    lo_x = std::min(lo_x, p.real()), hi_x = std::max(hi_x, p.real());
    lo_y = std::min(lo_y, p.imag()), hi_y = std::max(hi_y, p.imag());
  }
  double extent = std::max({hi_x - lo_x, hi_y - lo_y, 1e-12}), scale = double(size - 1) / extent;
  double half = double(size - 1) / 2;
  std::vector<double> k(std::size_t(size * size), 0.0);
  for (auto p : path) {
    double cx = half + (p.real() - (lo_x + hi_x) / 2) * scale, cy = half + (p.imag() - (lo_y + hi_y) / 2) * scale;
    std::int64_t x0 = std::int64_t(std::floor(cx)), y0 = std::int64_t(std::floor(cy));
    double fx = cx - double(x0), fy = cy - double(y0);
    for (int dy = 0; dy < 2; ++dy)
      for (int dx = 0; dx < 2; ++dx) {
        std::int64_t xi = x0 + dx, yi = y0 + dy;
        if (xi < 0 || yi < 0 || xi >= size || yi >= size) continue;  // only weight-0 corners at the far edge
        k[std::size_t(yi * size + xi)] += (dx ? fx : 1 - fx) * (dy ? fy : 1 - fy);
      }
  }
  double sum = 0;
  for (double v : k) sum += v;
  std::vector<float> out(k.size());
  for (std::size_t i = 0; i < k.size(); ++i) out[i] = float(k[i] / sum);
  return Tensor::from_host(std::span<const float>(out), {size, size});
}

}  // namespace tweedie::samplers
