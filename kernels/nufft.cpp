#include "kernels/nufft.h"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "kernels/axpby.h"
#include "kernels/broadcast.h"
#include "kernels/coil.h"
#include "kernels/fft.h"
#include "runtime/check.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

namespace tweedie {
namespace {

constexpr std::int64_t kExactF32 = std::int64_t(1) << 24;  // integers an f32 holds exactly

// The smallest n >= target whose only prime factors are 2, 3 and 5 (FFTW and cuFFT are fastest there).
std::int64_t smooth_size(std::int64_t target) {
  for (std::int64_t n = std::max<std::int64_t>(target, 1);; ++n) {
    std::int64_t m = n;
    for (std::int64_t p : {2, 3, 5})
      while (m % p == 0) m /= p;
    if (m == 1) return n;
  }
}

// The number of (h, w) planes of x, checking its type, device and plane shape.
std::int64_t image_planes(const Context& ctx, const char* op, const NufftPlan& p, const Tensor& x) {
  expect_tensor(ctx, op, "x", x, DType::c64);
  if (x.rank() < 2 || x.dim(-2) != p.h || x.dim(-1) != p.w)
    throw ShapeError(cat(op, ": x is ", x.str(), ", expected planes of (", p.h, ",", p.w, ")"));
  return x.numel() / (p.h * p.w);
}

// y must be (leading axes of x..., points) c64.
void expect_points(const Context& ctx, const char* op, const NufftPlan& p, const Tensor& x, const Tensor& y) {
  expect_tensor(ctx, op, "y", y, DType::c64);
  bool ok = y.rank() == x.rank() - 1 && y.dim(-1) == p.points;
  for (int a = 0; ok && a < x.rank() - 2; ++a) ok = y.dim(a) == x.dim(a);
  if (!ok) throw ShapeError(cat(op, ": y is ", y.str(), " but x is ", x.str(), "; y must be x's leading axes and ", p.points, " points"));
}

// The interpolation from the oversampled grid to the points, and its adjoint gathered per grid cell,
// for `planes` planes.
void interpolate(Context& ctx, const NufftPlan& p, std::int64_t planes, const complex64* g, complex64* y) {
  for_each_2d(ctx, planes, p.points,
              nufft::Interpolate{g, y, p.base.data<float>(), p.taps.data<float>(), p.gh, p.gw, p.points, p.kernel.width});
}
void spread(Context& ctx, const NufftPlan& p, std::int64_t planes, const complex64* y, complex64* g) {
  for_each_2d(ctx, planes, p.gh * p.gw,
              nufft::Spread{y, g, p.base.data<float>(), p.taps.data<float>(), p.cell_start.data<float>(), p.cell_points.data<float>(), p.gh,
                            p.gw, p.points, p.kernel.width});
}

}  // namespace

NufftKernel nufft_kernel(const NufftOptions& o) {
  if (!(o.tolerance >= 1e-8 && o.tolerance <= 1e-1))
    throw ArgumentError(cat("nufft: tolerance ", o.tolerance, " is outside [1e-8, 1e-1]"));
  if (!(o.oversampling >= 1.25 && o.oversampling <= 2.0))
    throw ArgumentError(cat("nufft: oversampling ", o.oversampling, " is outside [1.25, 2]"));
  // Below sigma = 2 the deapodization spans a wider range (the band edge sits further out on the kernel's
  // transform) and amplifies the f32 rounding of the grid FFT: at sigma 1.25 errors stall near 1e-5
  // (measured 1.2e-5 at tolerance 1e-5, 2.3e-5 at 1e-6).
  if (o.oversampling < 2.0 && o.tolerance < 1e-4)
    throw ArgumentError(cat("nufft: tolerance ", o.tolerance, " needs oversampling 2 (", o.oversampling,
                            " reaches about 1e-5 in f32 at best; it takes tolerances from 1e-4 up)"));
  NufftKernel k;
  // finufft's rules (Barnett, Magland, af Klinteberg 2019), one tap wider: at sigma = 2, w = ceil(log10(1/eps))
  // + 1 and beta = 2.30 w; otherwise w from the kernel's exponential decay and beta = 0.97 pi w (1 - 1/(2
  // sigma)). Their widths gave errors up to 1.1 eps (sigma 2) and 3 eps (sigma 1.25) against the direct
  // transform (tests/kernels/test_nufft.cpp); with the extra tap, 0.1-0.3 eps.
  if (o.oversampling == 2.0) {
    k.width = int(std::ceil(std::log10(1 / o.tolerance))) + 2;
    k.beta = 2.30 * k.width;
  } else {
    k.width = int(std::ceil(-std::log(o.tolerance) / (std::numbers::pi * std::sqrt(1 - 1 / o.oversampling)))) + 1;
    k.beta = 0.97 * std::numbers::pi * k.width * (1 - 1 / (2 * o.oversampling));
  }
  k.width = std::max(k.width, 2);
  return k;
}

double nufft_kernel_value(const NufftKernel& k, double z) {
  const double u = 2 * z / k.width;
  if (!(std::fabs(u) < 1)) return 0;
  return std::exp(k.beta * (std::sqrt(1 - u * u) - 1));
}

// 2 int_0^{w/2} psi(z) cos(2 pi xi z) dz by Gauss-Legendre on [0, w/2] in 16 panels of 8 nodes: psi is
// smooth inside and vanishes to e^-beta at the edge, where its derivative is infinite but weightless.
double nufft_kernel_transform(const NufftKernel& k, double xi) {
  static constexpr double node[4] = {0.1834346424956498, 0.5255324099163290, 0.7966664774136267, 0.9602898564975363};
  static constexpr double weight[4] = {0.3626837833783620, 0.3137066458778873, 0.2223810344533745, 0.1012285362903763};
  const int panels = 16;
  const double half = k.width / 2.0, step = half / panels;
  double sum = 0;
  for (int p = 0; p < panels; ++p) {
    const double mid = (p + 0.5) * step, r = step / 2;
    for (int q = 0; q < 4; ++q)
      for (double s : {-1.0, 1.0}) {
        const double z = mid + s * r * node[q];
        sum += weight[q] * r * nufft_kernel_value(k, z) * std::cos(2 * std::numbers::pi * xi * z);
      }
  }
  return 2 * sum;
}

NufftPlan make_nufft_plan(std::int64_t h, std::int64_t w, const std::vector<double>& coords, const NufftOptions& options, Device device) {
  if (h < 2 || w < 2) throw ShapeError(cat("nufft: the image plane is (", h, ",", w, "), expected at least (2,2)"));
  if (coords.size() % 2 != 0) throw ShapeError(cat("nufft: ", coords.size(), " coordinates do not make (k_y, k_x) pairs"));
  NufftPlan p;
  p.h = h, p.w = w;
  p.points = std::int64_t(coords.size() / 2);
  p.kernel = nufft_kernel(options);
  const int width = p.kernel.width;
  // The grid is sigma times the image, smooth for the FFT, and at least two kernel widths so that no
  // support wraps onto itself.
  p.gh = smooth_size(std::max<std::int64_t>(std::int64_t(std::ceil(options.oversampling * double(h))), 2 * width));
  p.gw = smooth_size(std::max<std::int64_t>(std::int64_t(std::ceil(options.oversampling * double(w))), 2 * width));
  if (p.gh * p.gw + 1 >= kExactF32 || p.points * width * width >= kExactF32)
    throw ArgumentError(cat("nufft: a (", p.gh, ",", p.gw, ") grid with ", p.points, " points of ", width, " x ", width,
                            " taps is beyond the f32 index tables (2^24 entries)"));

  // Each point's support and weights, in double: nu = k gh / h on the grid, taps at m0 .. m0 + width - 1,
  // m0 = ceil(nu - width / 2).
  std::vector<float> base(std::size_t(2 * p.points)), taps(std::size_t(2 * width * p.points));
  std::vector<std::int64_t> count(std::size_t(p.gh * p.gw) + 1, 0);
  const std::int64_t sizes[2] = {h, w}, grids[2] = {p.gh, p.gw};
  for (std::int64_t j = 0; j < p.points; ++j)
    for (int axis = 0; axis < 2; ++axis) {
      const double k = coords[std::size_t(2 * j + axis)], n = double(sizes[axis]);
      if (!std::isfinite(k) || k < -n / 2 || k > n / 2)
        throw ArgumentError(cat("nufft: point ", j, " has k_", axis == 0 ? "y" : "x", " = ", k, ", outside [", -n / 2, ", ", n / 2,
                                "] (cycles per field of view for a ", h, " x ", w, " image)"));
      const double nu = k * double(grids[axis]) / n;
      const double m0 = std::ceil(nu - width / 2.0);
      base[std::size_t(2 * j + axis)] = float(nufft::wrap(std::int64_t(m0) % grids[axis], grids[axis]));
      for (int a = 0; a < width; ++a)
        taps[std::size_t(j * 2 * width + axis * width + a)] = float(nufft_kernel_value(p.kernel, nu - (m0 + a)));
    }
  // Cells -> points (a counting sort by cell, points ascending within a cell).
  for (std::int64_t j = 0; j < p.points; ++j)
    for (int a = 0; a < width; ++a)
      for (int b = 0; b < width; ++b) {
        const std::int64_t cy = nufft::wrap(std::int64_t(base[std::size_t(2 * j)]) + a, p.gh);
        const std::int64_t cx = nufft::wrap(std::int64_t(base[std::size_t(2 * j + 1)]) + b, p.gw);
        ++count[std::size_t(cy * p.gw + cx) + 1];
      }
  for (std::size_t c = 1; c < count.size(); ++c) count[c] += count[c - 1];
  std::vector<float> cell_points(std::size_t(p.points * width * width));
  std::vector<std::int64_t> next(count.begin(), count.end() - 1);
  for (std::int64_t j = 0; j < p.points; ++j)
    for (int a = 0; a < width; ++a)
      for (int b = 0; b < width; ++b) {
        const std::int64_t cy = nufft::wrap(std::int64_t(base[std::size_t(2 * j)]) + a, p.gh);
        const std::int64_t cx = nufft::wrap(std::int64_t(base[std::size_t(2 * j + 1)]) + b, p.gw);
        cell_points[std::size_t(next[std::size_t(cy * p.gw + cx)]++)] = float(j);
      }
  const std::vector<float> cell_start(count.begin(), count.end());

  // Deapodization with the orthonormal scale: 1 / (psi^(n / g) sqrt(size)) for n = index - size / 2.
  std::vector<float> deapodize(std::size_t(h + w));
  for (int axis = 0; axis < 2; ++axis)
    for (std::int64_t i = 0; i < sizes[axis]; ++i) {
      const double n = double(i - sizes[axis] / 2);
      deapodize[std::size_t((axis == 0 ? 0 : h) + i)] =
          float(1 / (nufft_kernel_transform(p.kernel, n / double(grids[axis])) * std::sqrt(double(sizes[axis]))));
    }

  auto upload = [&](const std::vector<float>& v, Shape s) { return Tensor::from_host(std::span<const float>(v), s, device); };
  p.base = upload(base, {std::max<std::int64_t>(p.points, 0), 2});
  p.taps = upload(taps, {p.points, 2 * width});
  p.deapodize = upload(deapodize, {h + w});
  p.cell_start = upload(cell_start, {p.gh * p.gw + 1});
  p.cell_points = upload(cell_points, {p.points * width * width});
  return p;
}

void nufft_forward(Context& ctx, const NufftPlan& p, const Tensor& x, Tensor& y) {
  const std::int64_t planes = image_planes(ctx, "nufft_forward", p, x);
  expect_points(ctx, "nufft_forward", p, x, y);
  if (planes == 0) return;
  Tensor g = Tensor::zeros({planes, p.gh, p.gw}, ctx.device(), DType::c64);
  for_each_2d(ctx, planes * p.h, p.w,
              nufft::PlaceImage{x.data<complex64>(), g.data<complex64>(), p.deapodize.data<float>(), p.h, p.w, p.gh, p.gw});
  fft2(ctx, g, g, FftNorm::backward);  // unnormalised, e^-i
  if (p.points == 0) return;
  interpolate(ctx, p, planes, g.data<complex64>(), y.data<complex64>());
}

void nufft_adjoint(Context& ctx, const NufftPlan& p, const Tensor& y, Tensor& x) {
  const std::int64_t planes = image_planes(ctx, "nufft_adjoint", p, x);
  expect_points(ctx, "nufft_adjoint", p, x, y);
  if (planes == 0) return;
  Tensor g = Tensor::empty({planes, p.gh, p.gw}, ctx.device(), DType::c64);
  spread(ctx, p, planes, y.data<complex64>(), g.data<complex64>());
  ifft2(ctx, g, g, FftNorm::forward);  // unnormalised, e^+i
  for_each_2d(ctx, planes * p.h, p.w,
              nufft::CropImage{g.data<complex64>(), x.data<complex64>(), p.deapodize.data<float>(), p.h, p.w, p.gh, p.gw});
}

Tensor nufft_density_compensation(Context& ctx, const NufftPlan& p, int iterations) {
  if (iterations < 1) throw ArgumentError(cat("nufft_density_compensation: iterations is ", iterations, ", expected at least 1"));
  const Device dev = ctx.device();
  // The weights stay on the device as complex (real part used), the type the spreading reads.
  const std::vector<complex64> ones(std::size_t(p.points), complex64{1.0f, 0.0f});
  Tensor w = Tensor::from_host(std::span<const complex64>(ones), {1, p.points}, dev), gw = Tensor::empty({1, p.points}, dev, DType::c64);
  Tensor g = Tensor::empty({1, p.gh, p.gw}, dev, DType::c64);
  for (int it = 0; it < iterations; ++it) {
    spread(ctx, p, 1, w.data<complex64>(), g.data<complex64>());
    interpolate(ctx, p, 1, g.data<complex64>(), gw.data<complex64>());
    for_each(ctx, p.points, nufft::PipeMenonUpdate{w.data<complex64>(), gw.data<complex64>()});
  }
  const double psi0 = nufft_kernel_transform(p.kernel, 0.0);
  const double area = std::pow(psi0, 4) / (double(p.gh) / double(p.h) * double(p.gw) / double(p.w));
  Tensor out = Tensor::empty({1, p.points}, dev, DType::f32);
  real_part(ctx, w, out);
  scale(ctx, out, float(area));
  return out.reshape({p.points});
}

NufftToeplitz make_nufft_toeplitz(Context& ctx, std::int64_t h, std::int64_t w, const std::vector<double>& coords,
                                  const NufftOptions& options, const Tensor& weights) {
  const std::int64_t points = std::int64_t(coords.size() / 2);
  // Points at 2 k on the (2h, 2w) grid: the adjoint there is (4 h w)^-1/2 sum_j v_j exp(+2 pi i k_j . n / (h, w))
  // at the centred n = index - (h, w), which is T[n] sqrt(h w) / 2.
  std::vector<double> doubled(coords.size());
  for (std::size_t i = 0; i < coords.size(); ++i) doubled[i] = 2 * coords[i];
  const NufftPlan plan = make_nufft_plan(2 * h, 2 * w, doubled, options, ctx.device());
  std::vector<complex64> v(std::size_t(points), complex64{1.0f, 0.0f});
  if (weights.defined()) {
    if (weights.dtype() != DType::f32 || weights.numel() != points)
      throw ShapeError(cat("nufft toeplitz: the weights are ", weights.str(), ", expected f32 with one per point (", points, ")"));
    const std::vector<float> wv = weights.to_host().to_vector<float>();
    for (std::size_t j = 0; j < v.size(); ++j) v[j].re = wv[j];
  }
  Tensor ones = Tensor::from_host(std::span<const complex64>(v), {1, points}, ctx.device());
  Tensor t = Tensor::empty({1, 2 * h, 2 * w}, ctx.device(), DType::c64), circulant = Tensor::empty({1, 2 * h, 2 * w}, ctx.device(), DType::c64);
  nufft_adjoint(ctx, plan, ones, t);
  // Circulant order puts d = 0 at index 0: ifftshift of the centred layout (2h is even, so it is exact).
  ifftshift2(ctx, t, circulant);
  fft2(ctx, circulant, circulant, FftNorm::backward);
  // T = adjoint * 2 / sqrt(h w), and the inverse FFT of the product is left unnormalised: 1 / (4 h w).
  Tensor kf = circulant.reshape({2 * h, 2 * w});
  Tensor kr = kf.view_as_real();
  scale(ctx, kr, float(2 / std::sqrt(double(h * w)) / double(4 * h * w)));
  return {h, w, kf};
}

void nufft_normal(Context& ctx, const NufftToeplitz& t, const Tensor& x, Tensor& out) {
  expect_tensor(ctx, "nufft_normal", "x", x, DType::c64);
  expect_tensor(ctx, "nufft_normal", "out", out, DType::c64);
  if (x.rank() < 2 || x.dim(-2) != t.h || x.dim(-1) != t.w || !(out.shape() == x.shape()))
    throw ShapeError(cat("nufft_normal: x is ", x.str(), " and out ", out.str(), ", expected the same planes of (", t.h, ",", t.w, ")"));
  const std::int64_t planes = x.numel() / (t.h * t.w);
  if (planes == 0) return;
  Tensor big = Tensor::empty({planes, 2 * t.h, 2 * t.w}, ctx.device(), DType::c64);
  pad_planes(ctx, x.reshape({planes, t.h, t.w}), 0, 0, big);
  fft2(ctx, big, big, FftNorm::backward);
  multiply_repeated_complex(ctx, big, t.kernel, big);
  ifft2(ctx, big, big, FftNorm::forward);
  Tensor o = out.reshape({planes, t.h, t.w});
  crop_planes(ctx, big, 0, 0, o);
}

}  // namespace tweedie
