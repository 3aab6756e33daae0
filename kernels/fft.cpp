#include "kernels/fft.h"

#include <cmath>
#include <cstdint>

#include "kernels/axpby.h"
#include "runtime/check.h"
#include "runtime/parallel.h"

namespace tweedie {
namespace {

// Over the last `axes` (2 or 3) dimensions.
void transform(Context& ctx, const char* op, const Tensor& x, Tensor& y, FftNorm norm, bool inverse, int axes) {
  expect_tensor(ctx, op, "x", x, DType::c64);
  expect_tensor(ctx, op, "y", y, DType::c64);
  expect_same_shape(op, "x", x, "y", y);
  if (x.rank() < axes) throw ShapeError(cat(op, ": x is ", x.str(), ", expected at least ", axes, " dimensions"));
  std::int64_t d = axes == 3 ? x.dim(-3) : 1, h = x.dim(-2), w = x.dim(-1), n = d * h * w;
  if (n == 0) return;
  std::int64_t batch = x.numel() / n;
  if (n > INT32_MAX || batch > INT32_MAX)
    throw ShapeError(cat(op, ": x is ", x.str(), "; FFTW and cuFFT take 32-bit plane sizes and batch counts"));
  const complex64* px = x.data<complex64>();
  complex64* py = y.data<complex64>();
  if (ctx.on_cuda()) {
#if TWEEDIE_HAS_CUDA
    detail::fft_cufft(ctx, px, py, batch, d, h, w, inverse);
#endif
  } else {
    detail::fft_fftw(ctx, px, py, batch, d, h, w, inverse);
  }

  double s = 1.0;
  if (norm == FftNorm::ortho) s = 1.0 / std::sqrt(double(n));
  if (norm == FftNorm::backward && inverse) s = 1.0 / double(n);
  if (norm == FftNorm::forward && !inverse) s = 1.0 / double(n);
  if (s != 1.0) for_each(ctx, 2 * y.numel(), ScaleMap{float(s), reinterpret_cast<float*>(py)});
}

void roll(Context& ctx, const char* op, const Tensor& x, Tensor& y, bool inverse, int axes) {
  DType dtype = x.dtype() == DType::c64 ? DType::c64 : DType::f32;
  expect_tensor(ctx, op, "x", x, dtype);
  expect_tensor(ctx, op, "y", y, dtype);
  expect_same_shape(op, "x", x, "y", y);
  expect_distinct(op, "x", x, "y", y);
  if (x.rank() < axes) throw ShapeError(cat(op, ": x is ", x.str(), ", expected at least ", axes, " dimensions"));
  std::int64_t h = x.dim(-2), w = x.dim(-1);
  // fftshift rolls forward by floor(n/2); ifftshift rolls back by the same, i.e. forward by n - floor(n/2).
  std::int64_t sr = inverse ? h - h / 2 : h / 2, sc = inverse ? w - w / 2 : w / 2;
  std::int64_t rows = w ? x.numel() / w : 0;
  if (axes == 3) {
    std::int64_t d = x.dim(-3), ss = inverse ? d - d / 2 : d / 2;
    if (dtype == DType::c64)
      for_each_2d(ctx, rows, w, Roll3<complex64>{x.data<complex64>(), y.data<complex64>(), d, h, w, ss, sr, sc});
    else
      for_each_2d(ctx, rows, w, Roll3<float>{x.data<float>(), y.data<float>(), d, h, w, ss, sr, sc});
    return;
  }
  if (dtype == DType::c64)
    for_each_2d(ctx, rows, w, Roll2<complex64>{x.data<complex64>(), y.data<complex64>(), h, w, sr, sc});
  else
    for_each_2d(ctx, rows, w, Roll2<float>{x.data<float>(), y.data<float>(), h, w, sr, sc});
}

}  // namespace

void fft2(Context& ctx, const Tensor& x, Tensor& y, FftNorm norm) { transform(ctx, "fft2", x, y, norm, false, 2); }
void ifft2(Context& ctx, const Tensor& x, Tensor& y, FftNorm norm) { transform(ctx, "ifft2", x, y, norm, true, 2); }
void fft3(Context& ctx, const Tensor& x, Tensor& y, FftNorm norm) { transform(ctx, "fft3", x, y, norm, false, 3); }
void ifft3(Context& ctx, const Tensor& x, Tensor& y, FftNorm norm) { transform(ctx, "ifft3", x, y, norm, true, 3); }
void fftshift2(Context& ctx, const Tensor& x, Tensor& y) { roll(ctx, "fftshift2", x, y, false, 2); }
void ifftshift2(Context& ctx, const Tensor& x, Tensor& y) { roll(ctx, "ifftshift2", x, y, true, 2); }
void fftshift3(Context& ctx, const Tensor& x, Tensor& y) { roll(ctx, "fftshift3", x, y, false, 3); }
void ifftshift3(Context& ctx, const Tensor& x, Tensor& y) { roll(ctx, "ifftshift3", x, y, true, 3); }

}  // namespace tweedie
