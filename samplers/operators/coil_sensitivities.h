#pragma once
// Coil sensitivities from the data itself, for multi-coil MRI whose maps nobody measured:
//
// - ESPIRiT (Uecker et al., MRM 2014) from a fully sampled calibration region of k-space: the patches
//   of that region span a subspace; projecting k-space onto it is a convolution that leaves the data
//   unchanged, which in image space is a K x K matrix W(x) per pixel with the coil sensitivities as its
//   eigenvector of eigenvalue 1. Cartesian data have the region at their centre; non-Cartesian data get
//   it by a least-squares fit of their central samples onto a small Cartesian grid.
// - Root-sum-of-squares combination of coil images, and coil compression by the SVD of the coil axis.
//
// These run once per scan before a reconstruction, on the host, in double where it matters (the
// Gram matrix, the per-pixel eigenproblems); inputs may live on any device and outputs are host tensors.
#include <cstdint>
#include <vector>

#include "kernels/nufft.h"
#include "runtime/context.h"
#include "runtime/tensor.h"

namespace tweedie::samplers {

// The calibration region: centred Cartesian k-space of every coil, (K, cy, cx) c64.
struct Calibration {
  Tensor data;
  std::int64_t rows = 0, columns = 0;
};

// The centre of Cartesian k-space y (K, H, W) c64 (the centred convention of make_mri): the largest
// centred rectangle of at most size x size entries that the mask (H, W) samples entirely (an undefined
// mask: everything is sampled). ArgumentError when it is smaller than `kernel` on a side.
Calibration cartesian_calibration(const Tensor& kspace, const Tensor& mask, std::int64_t size, std::int64_t kernel);

// Non-Cartesian samples y (K, P) c64 at coords (P pairs (k_y, k_x), cycles per field of view, as
// make_nufft_mri): the samples inside the centre square |k_y|, |k_x| <= size / 2 are fitted by a
// size x size image per coil (conjugate gradient on the normal equations of the NUFFT onto that grid,
// `iterations` steps), whose centred FFT is the region. ArgumentError when fewer samples than grid
// points fall inside (the fit would be underdetermined).
Calibration nufft_calibration(Context& ctx, const Tensor& kspace, const std::vector<double>& coords, std::int64_t size,
                              const NufftOptions& nufft, int iterations = 30);

// Each pixel's maps are an eigenvector, so their common phase is free. `coil0` makes coil 0 real and
// non-negative (BART's habit); `image` makes the coil-combined low-resolution image of the calibration
// region, sum_k conj(S_k) m_k, real and non-negative, so that a real object stays real under the maps,
// as real-valued priors (x f32) need.
enum class EspiritPhase { coil0, image };

struct EspiritOptions {
  std::int64_t kernel = 6;  // side of the k-space patches
  double threshold = 0.02;  // keep the patch subspace's singular vectors with sigma > threshold sigma_max
  double crop = 0.95;       // maps are 0 where W(x)'s top eigenvalue is below crop (0 keeps every pixel)
  EspiritPhase phase = EspiritPhase::coil0;
};

struct EspiritMaps {
  Tensor maps;                          // (K, H, W) c64 on the host: unit norm over coils, phase as asked
  Tensor eigenvalues;                   // (H, W) f32: W(x)'s top eigenvalue, ~1 where the coils explain the data
  std::int64_t kernels = 0;             // singular vectors kept
  std::vector<double> singular_values;  // of the calibration matrix, descending
};

// Maps (K, h, w) from a calibration region (K, cy, cx) c64 (cy, cx <= h, w; the kernel fits in it).
EspiritMaps espirit(Context& ctx, const Calibration& calibration, std::int64_t h, std::int64_t w, const EspiritOptions& options);

// Smooth synthetic sensitivities (K, h, w) c64 for simulation studies: coils evenly spaced on a ring at
// 0.7 of the half field of view, each a broad Gaussian bump (variance 0.6 in units of the half field)
// with a smooth phase of its own, normalised so that sum_k |S_k|^2 = 1 at every pixel.
Tensor synthetic_coil_maps(std::int64_t coils, std::int64_t h, std::int64_t w);

// sqrt(sum_k |images_k|^2): (K, H, W) c64 -> (H, W) f32.
Tensor root_sum_of_squares(const Tensor& images);

// Coil compression: the V x K matrix U whose rows are the V leading left singular vectors of the
// coil-by-sample matrix of `kspace` (K, ...), conjugated, so that U y keeps the most energy any V
// combinations of the coils can. Linear in the coil index, it applies to data and maps alike.
struct CoilCompression {
  Tensor matrix;                        // (V, K) c64, host
  std::vector<double> singular_values;  // all K, descending
  double kept_energy = 0;               // sum of the V largest squared singular values over the total
};
CoilCompression coil_compression(const Tensor& kspace, std::int64_t virtual_coils);
// data (K, ...) c64 -> (V, ...) c64, out_v = sum_k U[v, k] data_k.
Tensor compress_coils(const Tensor& data, const CoilCompression& compression);

}  // namespace tweedie::samplers
