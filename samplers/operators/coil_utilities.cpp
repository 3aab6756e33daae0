// Calibration regions for ESPIRiT (Cartesian and non-Cartesian), root-sum-of-squares and coil
// compression; see coil_sensitivities.h.
#include <algorithm>
#include <cmath>
#include <complex>
#include <numbers>

#include "kernels/fft.h"
#include "runtime/error.h"
#include "samplers/linalg/hermitian_eigen.h"
#include "samplers/linalg/krylov.h"
#include "samplers/operators/coil_sensitivities.h"

namespace tweedie::samplers {
namespace {

using cd = std::complex<double>;

void expect_complex(const Tensor& t, std::int64_t rank, const char* what, const char* expected) {
  if (!t.defined() || t.dtype() != DType::c64 || t.rank() < rank || (rank == 3 && t.rank() != 3))
    throw ShapeError(cat(what, " is ", t.defined() ? t.str() : std::string("undefined"), ", expected ", expected));
}

}  // namespace

Calibration cartesian_calibration(const Tensor& kspace, const Tensor& mask, std::int64_t size, std::int64_t kernel) {
  expect_complex(kspace, 3, "cartesian_calibration: k-space", "(K, H, W) c64");
  const std::int64_t coils = kspace.dim(0), h = kspace.dim(1), w = kspace.dim(2);
  const std::vector<complex64> y = kspace.to_host().to_vector<complex64>();
  // Which entries were sampled: the mask's nonzeros, or (no mask) those where any coil is nonzero,
  // since unsampled k-space is stored as zeros.
  std::vector<char> sampled(static_cast<std::size_t>(h * w), 0);
  if (mask.defined()) {
    if (mask.dtype() != DType::f32 || mask.rank() != 2 || mask.dim(0) != h || mask.dim(1) != w)
      throw ShapeError(cat("cartesian_calibration: the mask is ", mask.str(), ", expected f32 (", h, ",", w, ") to match k-space ", kspace.str()));
    const std::vector<float> m = mask.to_host().to_vector<float>();
    for (std::size_t i = 0; i < m.size(); ++i) sampled[i] = m[i] != 0.0f;
  } else {
    for (std::int64_t c = 0; c < coils; ++c)
      for (std::int64_t i = 0; i < h * w; ++i) {
        const complex64 v = y[std::size_t(c * h * w + i)];
        if (v.re != 0.0f || v.im != 0.0f) sampled[std::size_t(i)] = 1;
      }
  }
  auto full = [&](std::int64_t rows, std::int64_t columns) {
    for (std::int64_t r = h / 2 - rows / 2; r < h / 2 - rows / 2 + rows; ++r)
      for (std::int64_t c = w / 2 - columns / 2; c < w / 2 - columns / 2 + columns; ++c)
        if (!sampled[std::size_t(r * w + c)]) return false;
    return true;
  };
  // The largest fully sampled centred square, then each side grown on its own as far as it stays full.
  std::int64_t rows = std::min({size, h, w});
  while (rows > 0 && !full(rows, rows)) --rows;
  std::int64_t columns = rows;
  while (rows < std::min(size, h) && full(rows + 1, columns)) ++rows;
  while (columns < std::min(size, w) && full(rows, columns + 1)) ++columns;
  if (rows < kernel || columns < kernel)
    throw ArgumentError(cat("the k-space centre is fully sampled over ", rows, " x ", columns, " entries only; ESPIRiT's ", kernel, " x ", kernel,
                            " kernel needs at least that much (sample the centre, or take a smaller kernel)"));
  std::vector<complex64> region(static_cast<std::size_t>(coils * rows * columns));
  for (std::int64_t c = 0; c < coils; ++c)
    for (std::int64_t r = 0; r < rows; ++r)
      for (std::int64_t q = 0; q < columns; ++q)
        region[std::size_t((c * rows + r) * columns + q)] = y[std::size_t((c * h + h / 2 - rows / 2 + r) * w + w / 2 - columns / 2 + q)];
  return {Tensor::from_host(std::span<const complex64>(region), {coils, rows, columns}), rows, columns};
}

Calibration nufft_calibration(Context& ctx, const Tensor& kspace, const std::vector<double>& coords, std::int64_t size,
                              const NufftOptions& nufft, int iterations) {
  expect_complex(kspace, 2, "nufft_calibration: k-space", "(K, P) c64");
  if (kspace.rank() != 2) throw ShapeError(cat("nufft_calibration: k-space is ", kspace.str(), ", expected (K, P) c64"));
  const std::int64_t coils = kspace.dim(0), points = kspace.dim(1);
  if (std::int64_t(coords.size()) != 2 * points)
    throw ShapeError(cat("nufft_calibration: ", coords.size() / 2, " trajectory points for k-space ", kspace.str()));
  if (size < 2) throw ArgumentError(cat("nufft_calibration: a ", size, " x ", size, " calibration grid is too small"));
  const double half = double(size) / 2;
  std::vector<double> inside;
  std::vector<std::int64_t> index;
  for (std::int64_t p = 0; p < points; ++p) {
    const double ky = coords[std::size_t(2 * p)], kx = coords[std::size_t(2 * p + 1)];
    if (std::abs(ky) <= half && std::abs(kx) <= half) {
      inside.insert(inside.end(), {ky, kx});
      index.push_back(p);
    }
  }
  const std::int64_t kept = std::int64_t(index.size());
  if (kept < size * size)
    throw ArgumentError(cat("only ", kept, " k-space samples lie in the centre ", size, " x ", size, " square, fewer than its ", size * size,
                            " grid points; take a smaller calibration region"));
  const std::vector<complex64> y = kspace.to_host().to_vector<complex64>();
  std::vector<complex64> centre(static_cast<std::size_t>(coils * kept));
  for (std::int64_t c = 0; c < coils; ++c)
    for (std::int64_t j = 0; j < kept; ++j) centre[std::size_t(c * kept + j)] = y[std::size_t(c * points + index[std::size_t(j)])];

  // Least squares min |A m - y|^2 per coil on the size x size grid (same field of view, coarser pixels)
  // by CG on A^H A m = A^H y; the normal matrix is well conditioned where the centre is densely sampled.
  const Device device = ctx.device();
  const NufftPlan plan = make_nufft_plan(size, size, inside, nufft, device);
  Tensor data = Tensor::from_host(std::span<const complex64>(centre), {coils, kept}, device);
  Tensor b = Tensor::empty({coils, size, size}, device, DType::c64), image = Tensor::empty({coils, size, size}, device, DType::c64);
  nufft_adjoint(ctx, plan, data, b);
  const NufftToeplitz toeplitz = make_nufft_toeplitz(ctx, size, size, inside, nufft);
  LinearMap normal = [&](Context& c, const Tensor& v, Tensor& out) { nufft_normal(c, toeplitz, v, out); };
  conjugate_gradient(ctx, normal, b, image, KrylovOptions{iterations, 1e-6});
  Tensor shifted = Tensor::empty({coils, size, size}, device, DType::c64);
  ifftshift2(ctx, image, shifted);
  fft2(ctx, shifted, shifted, FftNorm::ortho);
  fftshift2(ctx, shifted, image);
  return {image.to_host(), size, size};
}

Tensor synthetic_coil_maps(std::int64_t coils, std::int64_t h, std::int64_t w) {
  if (coils < 1 || h < 1 || w < 1) throw ArgumentError(cat("synthetic coil maps: ", coils, " coils of ", h, " x ", w, "; need at least 1 of 1 x 1"));
  std::vector<cd> s(static_cast<std::size_t>(coils * h * w));
  for (std::int64_t c = 0; c < coils; ++c) {
    const double a = 2 * std::numbers::pi * double(c) / double(coils), py = 0.7 * std::sin(a), px = 0.7 * std::cos(a);
    for (std::int64_t r = 0; r < h; ++r)
      for (std::int64_t q = 0; q < w; ++q) {
        const double y = 2 * double(r) / double(h) - 1, x = 2 * double(q) / double(w) - 1;
        const double d2 = (y - py) * (y - py) + (x - px) * (x - px);
        s[std::size_t((c * h + r) * w + q)] = std::polar(std::exp(-d2 / 1.2), 0.8 * (y * std::cos(a) - x * std::sin(a)) + double(c));
      }
  }
  std::vector<complex64> out(s.size());
  for (std::int64_t p = 0; p < h * w; ++p) {
    double e = 0;
    for (std::int64_t c = 0; c < coils; ++c) e += std::norm(s[std::size_t(c * h * w + p)]);
    for (std::int64_t c = 0; c < coils; ++c) {
      const cd v = s[std::size_t(c * h * w + p)] / std::sqrt(e);
      out[std::size_t(c * h * w + p)] = complex64{float(v.real()), float(v.imag())};
    }
  }
  return Tensor::from_host(std::span<const complex64>(out), {coils, h, w});
}

Tensor root_sum_of_squares(const Tensor& images) {
  expect_complex(images, 3, "root_sum_of_squares: the coil images", "(K, H, W) c64");
  const std::int64_t coils = images.dim(0), plane = images.dim(1) * images.dim(2);
  const std::vector<complex64> v = images.to_host().to_vector<complex64>();
  std::vector<float> out(static_cast<std::size_t>(plane));
  for (std::int64_t i = 0; i < plane; ++i) {
    double sum = 0;
    for (std::int64_t c = 0; c < coils; ++c) {
      const complex64 z = v[std::size_t(c * plane + i)];
      sum += double(z.re) * z.re + double(z.im) * z.im;
    }
    out[std::size_t(i)] = float(std::sqrt(sum));
  }
  return Tensor::from_host(std::span<const float>(out), {images.dim(1), images.dim(2)});
}

CoilCompression coil_compression(const Tensor& kspace, std::int64_t virtual_coils) {
  expect_complex(kspace, 2, "coil_compression: k-space", "(K, ...) c64");
  const std::int64_t coils = kspace.dim(0), samples = kspace.numel() / coils;
  if (virtual_coils < 1 || virtual_coils > coils)
    throw ArgumentError(cat("coil compression to ", virtual_coils, " virtual coils: choose 1 to ", coils, " (the data has ", coils, " coils)"));
  const std::vector<complex64> y = kspace.to_host().to_vector<complex64>();
  // C = D D^H (K x K, column-major upper triangle): its eigenvectors are D's left singular vectors.
  std::vector<cd> c(static_cast<std::size_t>(coils * coils));
  for (std::int64_t a = 0; a < coils; ++a)
    for (std::int64_t b = a; b < coils; ++b) {
      cd sum = 0;
      for (std::int64_t m = 0; m < samples; ++m) {
        const complex64 u = y[std::size_t(a * samples + m)], v = y[std::size_t(b * samples + m)];
        sum += cd(u.re, u.im) * cd(v.re, -v.im);
      }
      c[std::size_t(a + b * coils)] = sum;
    }
  std::vector<double> values(static_cast<std::size_t>(coils));
  hermitian_eigen(coils, c.data(), values.data());
  CoilCompression out;
  double total = 0, kept = 0;
  for (std::int64_t j = coils - 1; j >= 0; --j) {
    const double e = std::max(values[std::size_t(j)], 0.0);
    out.singular_values.push_back(std::sqrt(e));
    total += e;
    if (j >= coils - virtual_coils) kept += e;
  }
  out.kept_energy = total > 0 ? kept / total : 1.0;
  std::vector<complex64> u(static_cast<std::size_t>(virtual_coils * coils));
  for (std::int64_t v = 0; v < virtual_coils; ++v)
    for (std::int64_t k = 0; k < coils; ++k) {
      const cd e = std::conj(c[std::size_t(k + (coils - 1 - v) * coils)]);
      u[std::size_t(v * coils + k)] = complex64{float(e.real()), float(e.imag())};
    }
  out.matrix = Tensor::from_host(std::span<const complex64>(u), {virtual_coils, coils});
  return out;
}

Tensor compress_coils(const Tensor& data, const CoilCompression& compression) {
  expect_complex(data, 1, "compress_coils: the data", "(K, ...) c64");
  const Tensor& u = compression.matrix;
  const std::int64_t coils = data.dim(0), virtual_coils = u.dim(0), samples = data.numel() / coils;
  if (u.dim(1) != coils)
    throw ShapeError(cat("compress_coils: the compression matrix is ", u.str(), " but the data ", data.str(), " has ", coils, " coils"));
  const std::vector<complex64> y = data.to_host().to_vector<complex64>(), m = u.to_host().to_vector<complex64>();
  std::vector<complex64> out(static_cast<std::size_t>(virtual_coils * samples));
  for (std::int64_t v = 0; v < virtual_coils; ++v)
    for (std::int64_t s = 0; s < samples; ++s) {
      cd sum = 0;
      for (std::int64_t k = 0; k < coils; ++k) {
        const complex64 a = m[std::size_t(v * coils + k)], b = y[std::size_t(k * samples + s)];
        sum += cd(a.re, a.im) * cd(b.re, b.im);
      }
      out[std::size_t(v * samples + s)] = complex64{float(sum.real()), float(sum.imag())};
    }
  std::vector<std::int64_t> dims(data.shape().dims().begin(), data.shape().dims().end());
  dims[0] = virtual_coils;
  return Tensor::from_host(std::span<const complex64>(out), Shape(std::span<const std::int64_t>(dims)));
}

}  // namespace tweedie::samplers
