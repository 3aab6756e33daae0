#pragma once
// The 2-D non-uniform FFT between an image plane (h, w) and P points of k-space at arbitrary
// coordinates k = (k_y, k_x), in units of cycles per field of view (k_y in [-h/2, h/2), as sigpy's and
// BART's trajectories), with the centred orthonormal convention of the Cartesian MRI operator:
//
//   type 2 (forward)  y_j = (h w)^-1/2 sum_n x_n exp(-2 pi i (k_y,j n_y / h + k_x,j n_x / w)),
//   type 1 (adjoint)  x_n = (h w)^-1/2 sum_j y_j exp(+2 pi i (...)),   n = (row - h/2, column - w/2),
//
// so that integer coordinates reproduce fftshift . fft2(ortho) . ifftshift exactly (up to the
// tolerance). Computed as: image / kernel's Fourier transform (deapodization), zero padding onto an
// oversampled grid (gh, gw) ~ sigma (h, w), an unnormalised FFT, and interpolation with the
// "exponential of semicircle" kernel psi(z) = exp(beta (sqrt(1 - (2z/width)^2) - 1)) (Barnett et al.,
// finufft) of `width` taps per axis; the adjoint runs the same steps transposed.
//
// Both directions gather (each output element summed by one thread in a fixed order): the adjoint's
// spreading reads, for each grid cell, the list of points whose kernel covers it, built once with the
// plan. So results are deterministic and the same loops run on the host and the GPU. Kernel weights are
// evaluated once per point, in double, and stored.
#include <cstdint>
#include <vector>

#include "kernels/coil.h"
#include "runtime/context.h"
#include "runtime/hd.h"
#include "runtime/tensor.h"

namespace tweedie {

struct NufftOptions {
  double tolerance = 1e-6;    // relative l2 error of a transform, 1e-2 .. 1e-7 (f32 data bounds it below)
  double oversampling = 2.0;  // sigma, 1.25 .. 2: a smaller grid needs a wider kernel
};

// The kernel shape a tolerance and oversampling call for (finufft's rules): width taps, beta.
struct NufftKernel {
  int width = 0;
  double beta = 0;
};
NufftKernel nufft_kernel(const NufftOptions& options);
// psi(z) of that kernel, 0 outside |z| < width / 2; and its Fourier transform int psi(z) exp(-2 pi i xi z) dz
// (real, even) by quadrature, in double.
double nufft_kernel_value(const NufftKernel& k, double z);
double nufft_kernel_transform(const NufftKernel& k, double xi);

// Everything about one trajectory on one image size, on one device. Integer tables are f32 holding
// exact integers (Tensor has no integer type), checked below 2^24.
struct NufftPlan {
  std::int64_t h = 0, w = 0;    // image plane
  std::int64_t gh = 0, gw = 0;  // oversampled grid
  std::int64_t points = 0;
  NufftKernel kernel;
  Tensor base;         // (points, 2): the first grid row and column of each point's support, wrapped
  Tensor taps;         // (points, 2 width): kernel weights along y, then along x
  Tensor deapodize;    // (h + w): 1 / (psi^(n / gh) sqrt(h)) by row, then the same by column
  Tensor cell_start;   // (gh gw + 1): cell c's points are cell_points[cell_start[c] .. cell_start[c+1])
  Tensor cell_points;  // (points width^2): point indices, ascending within a cell
};

// coords: P pairs (k_y, k_x), row-major, each in [-h/2, h/2] x [-w/2, w/2] (ArgumentError naming the
// first point outside, or a non-finite one).
NufftPlan make_nufft_plan(std::int64_t h, std::int64_t w, const std::vector<double>& coords, const NufftOptions& options, Device device);

// x (..., h, w) c64 planes -> y (..., points) c64, and back. Leading axes of x and y must agree.
void nufft_forward(Context& ctx, const NufftPlan& plan, const Tensor& x, Tensor& y);
void nufft_adjoint(Context& ctx, const NufftPlan& plan, const Tensor& y, Tensor& x);

// Density compensation weights w (points) f32 by Pipe and Menon's fixed point (1999): w <- w / (G G^T w),
// G the interpolation from the oversampled grid to the points (the plan's kernel, no FFT), from w = 1,
// `iterations` times; then scaled to k-space area per point (cycles per field of view, squared), so
// that sum_j w_j is the area the trajectory covers and A^H diag(w) A is close to the identity on images
// whose spectrum lies inside it (gridding reconstruction). The scale follows from the fixed point
// (sum_l w_l (psi * psi)(nu_j - nu_l) = 1 per point, whose integral is psi^(0)^4 per grid area).
Tensor nufft_density_compensation(Context& ctx, const NufftPlan& plan, int iterations = 20);

// The normal operator A^H diag(v) A of the NUFFT (v = 1, or weights such as the density compensation)
// as a convolution (Toeplitz embedding): (A^H diag(v) A x)[n] = sum_m T[n - m] x[m] with
// T[d] = (h w)^-1 sum_j v_j exp(+2 pi i k_j . (d_y / h, d_x / w)) for |d| < (h, w). A (2h, 2w) circulant
// holds T without wrap-around, so each product is a zero-padded FFT, a multiplication and an inverse
// FFT on twice the image in each axis: no interpolation, and cheaper than A then A^H (one FFT pair on
// a grid the size of sigma = 2's, against an FFT pair plus interpolation and spreading). T itself
// comes from the NUFFT's adjoint on the doubled grid (points at 2 k), so it carries the tolerance of
// `options`.
struct NufftToeplitz {
  std::int64_t h = 0, w = 0;
  Tensor kernel;  // (2h, 2w) c64: the unnormalised FFT of T in circulant order, divided by 4 h w
};
// coords as make_nufft_plan's; weights (P) f32 or undefined (all 1).
NufftToeplitz make_nufft_toeplitz(Context& ctx, std::int64_t h, std::int64_t w, const std::vector<double>& coords,
                                  const NufftOptions& options, const Tensor& weights = {});
// out = A^H diag(v) A x for x (..., h, w) c64 planes; out has x's shape (may not be x).
void nufft_normal(Context& ctx, const NufftToeplitz& toeplitz, const Tensor& x, Tensor& out);

// ---- the math ------------------------------------------------------------------------------------

namespace nufft {

TW_HD inline std::int64_t wrap(std::int64_t i, std::int64_t n) { return i < 0 ? i + n : (i >= n ? i - n : i); }

// Image plane -> zeroed grid: g[plane, n_y mod gh, n_x mod gw] = x[plane, row, col] d_y[row] d_x[col].
// for_each_2d over (planes h, w).
struct PlaceImage {
  const complex64* x;
  complex64* g;
  const float* deapodize;  // (h + w)
  std::int64_t h, w, gh, gw;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    const std::int64_t plane = r / h, row = r % h;
    const std::int64_t gy = wrap(row - h / 2, gh), gx = wrap(c - w / 2, gw);
    const float d = deapodize[row] * deapodize[h + c];
    const complex64 v = x[r * w + c];
    g[(plane * gh + gy) * gw + gx] = complex64{v.re * d, v.im * d};
  }
};

// The adjoint: x[plane, row, col] = g[plane, n_y mod gh, n_x mod gw] d_y[row] d_x[col].
struct CropImage {
  const complex64* g;
  complex64* x;
  const float* deapodize;
  std::int64_t h, w, gh, gw;
  TW_HD void operator()(std::int64_t r, std::int64_t c) const {
    const std::int64_t plane = r / h, row = r % h;
    const std::int64_t gy = wrap(row - h / 2, gh), gx = wrap(c - w / 2, gw);
    const float d = deapodize[row] * deapodize[h + c];
    const complex64 v = g[(plane * gh + gy) * gw + gx];
    x[r * w + c] = complex64{v.re * d, v.im * d};
  }
};

// y[plane, j] = sum_a sum_b taps_y[j, a] taps_x[j, b] g[plane, base_y + a, base_x + b] (wrapped).
// for_each_2d over (planes, points).
struct Interpolate {
  const complex64* g;
  complex64* y;
  const float* base;
  const float* taps;
  std::int64_t gh, gw, points;
  int width;
  TW_HD void operator()(std::int64_t plane, std::int64_t j) const {
    const std::int64_t by = std::int64_t(base[2 * j]), bx = std::int64_t(base[2 * j + 1]);
    const float* ty = taps + j * 2 * width;
    const float* tx = ty + width;
    const complex64* gp = g + plane * gh * gw;
    float re = 0, im = 0;
    for (int a = 0; a < width; ++a) {
      const complex64* row = gp + wrap(by + a, gh) * gw;
      float rr = 0, ri = 0;
      for (int b = 0; b < width; ++b) {
        const complex64 v = row[wrap(bx + b, gw)];
        rr += tx[b] * v.re, ri += tx[b] * v.im;
      }
      re += ty[a] * rr, im += ty[a] * ri;
    }
    y[plane * points + j] = complex64{re, im};
  }
};

// The adjoint, gathered per grid cell: g[plane, cell] = sum over the points j covering the cell of
// taps_y[j, a] taps_x[j, b] y[plane, j], (a, b) the cell's offset in j's support. for_each_2d over
// (planes, gh gw).
struct Spread {
  const complex64* y;
  complex64* g;
  const float* base;
  const float* taps;
  const float* cell_start;
  const float* cell_points;
  std::int64_t gh, gw, points;
  int width;
  TW_HD void operator()(std::int64_t plane, std::int64_t cell) const {
    const std::int64_t cy = cell / gw, cx = cell % gw;
    const std::int64_t first = std::int64_t(cell_start[cell]), last = std::int64_t(cell_start[cell + 1]);
    float re = 0, im = 0;
    for (std::int64_t e = first; e < last; ++e) {
      const std::int64_t j = std::int64_t(cell_points[e]);
      const std::int64_t a = wrap(cy - std::int64_t(base[2 * j]), gh), b = wrap(cx - std::int64_t(base[2 * j + 1]), gw);
      const float t = taps[j * 2 * width + a] * taps[j * 2 * width + width + b];
      const complex64 v = y[plane * points + j];
      re += t * v.re, im += t * v.im;
    }
    g[plane * gh * gw + cell] = complex64{re, im};
  }
};

// One Pipe-Menon step, w_j <- w_j / (G G^T w)_j on the real parts; every point covers itself, so the
// divisor is positive unless it underflowed, which leaves w_j as it was. for_each over the points.
struct PipeMenonUpdate {
  complex64* w;
  const complex64* d;
  TW_HD void operator()(std::int64_t j) const {
    if (d[j].re > 0) w[j].re /= d[j].re;
  }
};

}  // namespace nufft
}  // namespace tweedie
