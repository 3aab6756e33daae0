#pragma once
// 2-D (and 3-D) discrete Fourier transforms over the last two (three) dimensions of c64 tensors (leading dimensions are
// a batch), with numpy's normalisation conventions, and the shifts that move the zero frequency to the
// centre. FFTW on the host, cuFFT on the GPU; plans are made once per shape (the first call of a new
// shape pays for planning: FFTW measures, up to a few hundred ms; see fft_fftw.cpp for the knobs that
// trade this against run-to-run reproducibility).
#include <cstdint>

#include "runtime/context.h"
#include "runtime/hd.h"
#include "runtime/tensor.h"

namespace tweedie {

// Who carries the 1/N: backward (inverse divides by N), ortho (both by sqrt N), forward (forward by N).
enum class FftNorm { backward, ortho, forward };

// Y[k,l] = s * sum_{m,n} X[m,n] exp(-2 pi i (k m / H + l n / W)); ifft2 uses +i. x and y are c64 of the
// same shape, rank >= 2; y may be x (in place).
void fft2(Context& ctx, const Tensor& x, Tensor& y, FftNorm norm = FftNorm::ortho);
void ifft2(Context& ctx, const Tensor& x, Tensor& y, FftNorm norm = FftNorm::ortho);

// The same over the last three dimensions (volumes (D, H, W); rank >= 3).
void fft3(Context& ctx, const Tensor& x, Tensor& y, FftNorm norm = FftNorm::ortho);
void ifft3(Context& ctx, const Tensor& x, Tensor& y, FftNorm norm = FftNorm::ortho);

// numpy.fft.fftshift / ifftshift over the last two axes: a circular roll by floor(n/2), and back (they
// differ for odd n). x and y are c64 or f32 of the same shape and must not overlap.
void fftshift2(Context& ctx, const Tensor& x, Tensor& y);
void ifftshift2(Context& ctx, const Tensor& x, Tensor& y);
// ... and over the last three.
void fftshift3(Context& ctx, const Tensor& x, Tensor& y);
void ifftshift3(Context& ctx, const Tensor& x, Tensor& y);

// y[.., (r + shift_r) mod h, (c + shift_c) mod w] = x[.., r, c], for elements of type T; for_each_2d
// over the rows of all planes (planes * h rows of w).
template <class T>
struct Roll2 {
  const T* x;
  T* y;
  std::int64_t h, w, shift_r, shift_c;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t plane = r / h, row = r % h;
    std::int64_t src_row = row - shift_r, src_col = c - shift_c;
    if (src_row < 0) src_row += h;
    if (src_col < 0) src_col += w;
    y[r * w + c] = x[(plane * h + src_row) * w + src_col];
  }
};

// y[.., (s + shift_s) mod d, (r + shift_r) mod h, (c + shift_c) mod w] = x[.., s, r, c]; for_each_2d over
// the rows of all volumes (volumes * d * h rows of w).
template <class T>
struct Roll3 {
  const T* x;
  T* y;
  std::int64_t d, h, w, shift_s, shift_r, shift_c;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    std::int64_t volume = r / (d * h), slice = r / h % d, row = r % h;
    std::int64_t src_slice = slice - shift_s, src_row = row - shift_r, src_col = c - shift_c;
    if (src_slice < 0) src_slice += d;
    if (src_row < 0) src_row += h;
    if (src_col < 0) src_col += w;
    y[r * w + c] = x[((volume * d + src_slice) * h + src_row) * w + src_col];
  }
};

namespace detail {
// Unnormalised transforms in the backend's native sign convention (forward: -i).
// Over (d, h, w) volumes, or (h, w) planes when d = 1.
void fft_fftw(Context& ctx, const complex64* x, complex64* y, std::int64_t batch, std::int64_t d, std::int64_t h, std::int64_t w,
              bool inverse);
void fft_cufft(Context& ctx, const complex64* x, complex64* y, std::int64_t batch, std::int64_t d, std::int64_t h, std::int64_t w,
               bool inverse);
}  // namespace detail

}  // namespace tweedie
