// ESPIRiT coil maps from a calibration region.
//
// Let r_p be the patch of the region at corner p, r_p[(c, d)] = y_c(p + d) for coils c and offsets
// d in [0, k)^2. Its subspace, spanned by the leading eigenvectors v_j of G = sum_p r_p r_p^H, has the
// projector P = sum_j v_j v_j^H with r_p = P r_p. Reading that at every offset d0 of a patch and
// averaging over d0 gives, for every k-space point kappa,
//
//   y_c(kappa) = k^-2 sum_{d0, c', d} P[(c, d0), (c', d)] y_c'(kappa + d - d0),
//
// a convolution. A shift of k-space by Delta multiplies the image by exp(-2 pi i Delta x / N), so in
// image space m(x) = W(x) m(x) with the K x K matrix
//
//   W_cc'(x) = k^-2 sum_delta Q_cc'(delta) exp(+2 pi i delta x / N),  Q_cc'(delta) = sum_{d0 - d = delta} P[(c, d0), (c', d)],
//
// so the coil images m_c = S_c rho make S(x) an eigenvector of W(x) with eigenvalue 1 (and P being a
// projector, no eigenvalue exceeds 1 by more than rounding). Summing P over offset differences first
// leaves K (K + 1) / 2 inverse FFTs of (2k - 1)^2 taps, however many vectors the subspace keeps.
#include <algorithm>
#include <cmath>
#include <complex>

#include <cblas.h>

#include "kernels/coil.h"
#include "kernels/fft.h"
#include "runtime/error.h"
#include "samplers/linalg/hermitian_eigen.h"
#include "samplers/operators/coil_sensitivities.h"

namespace tweedie::samplers {
namespace {

using cd = std::complex<double>;

std::vector<cd> complex_values(const Tensor& t) {
  std::vector<complex64> v = t.to_host().to_vector<complex64>();
  std::vector<cd> out(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) out[i] = cd(v[i].re, v[i].im);
  return out;
}

// The kept eigenvectors of the patch Gram matrix, as columns of an L x n column-major block, with the
// calibration matrix's singular values (descending) on the side.
struct Subspace {
  std::vector<cd> vectors;
  std::int64_t count = 0;
  std::vector<double> singular_values;
};

Subspace patch_subspace(Context& ctx, const std::vector<cd>& y, std::int64_t coils, std::int64_t rows, std::int64_t columns, std::int64_t k,
                        double threshold) {
  const std::int64_t length = coils * k * k, pr = rows - k + 1, pc = columns - k + 1;
  auto entry = [&](std::int64_t patch, std::int64_t a) {
    const std::int64_t c = a / (k * k), dy = a / k % k, dx = a % k, py = patch / pc, px = patch % pc;
    return y[std::size_t((c * rows + py + dy) * columns + px + dx)];
  };
  // G[a, b] = sum_p r_p[a] conj(r_p[b]), column-major; zheev reads the upper triangle (a <= b).
  std::vector<cd> g(static_cast<std::size_t>(length * length));
#pragma omp parallel for schedule(dynamic, 4) num_threads(ctx.threads())
  for (std::int64_t b = 0; b < length; ++b)
    for (std::int64_t a = 0; a <= b; ++a) {
      cd sum = 0;
      for (std::int64_t p = 0; p < pr * pc; ++p) sum += entry(p, a) * std::conj(entry(p, b));
      g[std::size_t(a + b * length)] = sum;
    }
  std::vector<double> values(static_cast<std::size_t>(length));
  hermitian_eigen(length, g.data(), values.data());
  Subspace s;
  const double top = std::max(values.back(), 0.0);
  for (auto it = values.rbegin(); it != values.rend(); ++it) s.singular_values.push_back(std::sqrt(std::max(*it, 0.0)));
  // sigma_j > threshold sigma_max, i.e. lambda_j > threshold^2 lambda_max; the largest come last.
  for (std::int64_t j = length - 1; j >= 0 && values[std::size_t(j)] > threshold * threshold * top && top > 0; --j) ++s.count;
  s.vectors.assign(g.end() - std::ptrdiff_t(s.count * length), g.end());
  return s;
}

}  // namespace

EspiritMaps espirit(Context& ctx, const Calibration& calibration, std::int64_t h, std::int64_t w, const EspiritOptions& options) {
  const Tensor& region = calibration.data;
  if (!region.defined() || region.dtype() != DType::c64 || region.rank() != 3)
    throw ShapeError(cat("espirit: the calibration region is ", region.defined() ? region.str() : std::string("undefined"), ", expected (K, rows, columns) c64"));
  const std::int64_t coils = region.dim(0), rows = region.dim(1), columns = region.dim(2), k = options.kernel;
  if (k < 1 || k > std::min(rows, columns))
    throw ArgumentError(cat("espirit: a ", k, " x ", k, " kernel does not fit the ", rows, " x ", columns, " calibration region"));
  if (2 * k - 1 > std::min(h, w))
    throw ArgumentError(cat("espirit: a ", k, " x ", k, " kernel needs images of at least ", 2 * k - 1, " pixels a side, not ", h, " x ", w));
  if (rows > h || columns > w)
    throw ArgumentError(cat("espirit: the ", rows, " x ", columns, " calibration region is larger than the ", h, " x ", w, " image"));
  if (!(options.threshold > 0 && options.threshold < 1)) throw ArgumentError(cat("espirit: threshold ", options.threshold, " is not in (0, 1)"));
  if (!(options.crop >= 0 && options.crop <= 1)) throw ArgumentError(cat("espirit: crop ", options.crop, " is not in [0, 1]"));

  const std::vector<cd> y = complex_values(region);
  // (Also keeps LAPACK's failures out of the parallel loops below, where an exception cannot leave.)
  if (!std::all_of(y.begin(), y.end(), [](cd v) { return std::isfinite(v.real()) && std::isfinite(v.imag()); }))
    throw ArgumentError("espirit: the calibration region holds NaN or infinite values");
  Subspace sub = patch_subspace(ctx, y, coils, rows, columns, k, options.threshold);
  EspiritMaps out;
  out.kernels = sub.count;
  out.singular_values = sub.singular_values;
  if (sub.count == 0) throw ArgumentError("espirit: the calibration region is all zeros (was the k-space centre sampled?)");

  // Q for the coil pairs c <= c', placed at the centred index delta + floor(N / 2) of an (h, w) plane.
  const std::int64_t length = coils * k * k, pairs = coils * (coils + 1) / 2, taps = 2 * k - 1;
  auto pair_index = [&](std::int64_t c, std::int64_t c2) { return c * coils - c * (c - 1) / 2 + (c2 - c); };
  std::vector<cd> projector(static_cast<std::size_t>(length * length));  // P[a, b], row-major
#pragma omp parallel for schedule(static) num_threads(ctx.threads())
  for (std::int64_t a = 0; a < length; ++a)
    for (std::int64_t b = 0; b < length; ++b) {
      cd sum = 0;
      for (std::int64_t j = 0; j < sub.count; ++j) sum += sub.vectors[std::size_t(a + j * length)] * std::conj(sub.vectors[std::size_t(b + j * length)]);
      projector[std::size_t(a * length + b)] = sum;
    }
  std::vector<complex64> q(static_cast<std::size_t>(pairs * h * w), complex64{0.0f, 0.0f});
  const double scale = 1.0 / double(k * k);
  for (std::int64_t c = 0; c < coils; ++c)
    for (std::int64_t c2 = c; c2 < coils; ++c2) {
      std::vector<cd> sum(static_cast<std::size_t>(taps * taps));
      for (std::int64_t d0 = 0; d0 < k * k; ++d0)
        for (std::int64_t d = 0; d < k * k; ++d) {
          const std::int64_t dy = d0 / k - d / k + k - 1, dx = d0 % k - d % k + k - 1;
          sum[std::size_t(dy * taps + dx)] += projector[std::size_t((c * k * k + d0) * length + c2 * k * k + d)];
        }
      complex64* plane = q.data() + pair_index(c, c2) * h * w;
      for (std::int64_t dy = 0; dy < taps; ++dy)
        for (std::int64_t dx = 0; dx < taps; ++dx) {
          const cd v = sum[std::size_t(dy * taps + dx)] * scale;
          plane[(dy - (k - 1) + h / 2) * w + dx - (k - 1) + w / 2] = complex64{float(v.real()), float(v.imag())};
        }
    }
  // W = the centred, unscaled inverse DFT of Q (exp(+2 pi i delta x / N)).
  Context host(Device::cpu(), ctx.threads());
  Tensor planes = Tensor::from_host(std::span<const complex64>(q), {pairs, h, w}), shifted = Tensor::empty({pairs, h, w}, Device::cpu(), DType::c64);
  ifftshift2(host, planes, shifted);
  ifft2(host, shifted, shifted, FftNorm::forward);
  fftshift2(host, shifted, planes);
  const std::vector<complex64> wx = planes.to_vector<complex64>();

  // The calibration region's coil images at full size, for EspiritPhase::image: its k-space under a
  // triangular (Bartlett) window, zero-padded. The window's transform, the Fejer kernel, is non-negative,
  // so a non-negative object gives a low-resolution image without negative ringing lobes, whose phase
  // is the maps' alone (a plain truncation flips the sign next to edges: 2 dB lost in the test).
  std::vector<cd> low;
  if (options.phase == EspiritPhase::image) {
    std::vector<complex64> windowed(y.size());
    const std::int64_t ny = (rows + 1) / 2, nx = (columns + 1) / 2;
    for (std::int64_t c = 0; c < coils; ++c)
      for (std::int64_t r = 0; r < rows; ++r)
        for (std::int64_t q = 0; q < columns; ++q) {
          const double a = std::max(0.0, 1 - double(std::abs(r - rows / 2)) / double(ny)) * std::max(0.0, 1 - double(std::abs(q - columns / 2)) / double(nx));
          const cd v = y[std::size_t((c * rows + r) * columns + q)] * a;
          windowed[std::size_t((c * rows + r) * columns + q)] = complex64{float(v.real()), float(v.imag())};
        }
    Tensor padded = Tensor::empty({coils, h, w}, Device::cpu(), DType::c64), scratch = Tensor::empty({coils, h, w}, Device::cpu(), DType::c64);
    pad_planes(host, Tensor::from_host(std::span<const complex64>(windowed), {coils, rows, columns}), h / 2 - rows / 2, w / 2 - columns / 2, padded);
    ifftshift2(host, padded, scratch);
    ifft2(host, scratch, scratch, FftNorm::ortho);
    fftshift2(host, scratch, padded);
    low = complex_values(padded);
  }

  std::vector<complex64> maps(static_cast<std::size_t>(coils * h * w), complex64{0.0f, 0.0f});
  std::vector<float> top(static_cast<std::size_t>(h * w));
  // One OpenBLAS thread inside the per-pixel eigensolves: a team of one thread is not "in parallel" to
  // OpenMP, so OpenBLAS would thread each tiny call itself (measured: 320 x 320 with 15 coils took 72 s
  // at 1 thread, mostly in the kernel, against 1.75 s at 2). Threading is set per call elsewhere
  // (kernels/gemm.cpp), so nothing depends on this setting.
  openblas_set_num_threads(1);
#pragma omp parallel num_threads(ctx.threads())
  {
    std::vector<cd> m(static_cast<std::size_t>(coils * coils));
    std::vector<double> values(static_cast<std::size_t>(coils));
#pragma omp for schedule(static)
    for (std::int64_t x = 0; x < h * w; ++x) {
      for (std::int64_t c = 0; c < coils; ++c)
        for (std::int64_t c2 = c; c2 < coils; ++c2) {
          const complex64 v = wx[std::size_t(pair_index(c, c2) * h * w + x)];
          m[std::size_t(c + c2 * coils)] = cd(v.re, v.im);
        }
      hermitian_eigen(coils, m.data(), values.data());
      const double lambda = values[std::size_t(coils - 1)];
      top[std::size_t(x)] = float(lambda);
      if (lambda < options.crop) continue;
      const cd* v = m.data() + (coils - 1) * coils;
      // The phase is free per pixel: coil 0 real and non-negative, or the combined image (below).
      cd reference = v[0];
      if (options.phase == EspiritPhase::image) {
        reference = 0;
        for (std::int64_t c = 0; c < coils; ++c) reference += std::conj(v[c]) * low[std::size_t(c * h * w + x)];
        reference = std::conj(reference);  // rotating v by conj(reference) / |.| makes sum conj(v) m real
      }
      const double a0 = std::abs(reference);
      const cd phase = a0 > 0 ? std::conj(reference) / a0 : cd(1.0);
      for (std::int64_t c = 0; c < coils; ++c) {
        const cd s = v[c] * phase;
        maps[std::size_t(c * h * w + x)] = complex64{float(s.real()), float(s.imag())};
      }
    }
  }
  out.maps = Tensor::from_host(std::span<const complex64>(maps), {coils, h, w});
  out.eigenvalues = Tensor::from_host(std::span<const float>(top), {h, w});
  return out;
}

}  // namespace tweedie::samplers
