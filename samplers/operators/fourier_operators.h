#pragma once
// Operators built on the 2-D FFT (FFTW on the host, cuFFT on the GPU; plans cached per shape):
// Cartesian MRI, single- and multi-coil, with k-space mask generators, and Fourier phase retrieval.
#include <cstdint>
#include <memory>
#include <string>

#include <vector>

#include "kernels/nufft.h"
#include "samplers/operators/operator.h"

namespace tweedie::samplers {

// MRI with the centred orthonormal transform F = fftshift . fft2(norm=ortho) . ifftshift.
// Single-coil (sensitivities undefined): x (C, H, W), f32 or c64, each channel separately:
//   y = M . F x, y (C, H, W) c64.
// Multi-coil with sensitivity maps S (K, H, W) c64: x (1, H, W), f32 or c64:
//   y_k = M . F (S_k x), y (K, H, W) c64.
// The mask M (H, W) f32 (0/1, or sampling weights) is shared by channels and coils; observed() marks
// the sampled entries. For a real x the adjoint returns Re(A^H y). Volumes work the same way with the
// 3-D transform (fftshift . fft3 . ifftshift over (D, H, W)): x (C, D, H, W), mask (D, H, W), maps
// (K, D, H, W), y (C or K, D, H, W).
std::unique_ptr<Operator> make_mri(const Signal& x, const Tensor& mask, const Tensor& sensitivities, std::string description,
                                   Device device);

// Non-Cartesian MRI by the NUFFT (kernels/nufft.h: coordinates in cycles per field of view, (k_y, k_x)
// in [-H/2, H/2] x [-W/2, W/2], the centred orthonormal convention of make_mri, so that integer
// coordinates give the same numbers). coords holds P pairs. Single-coil: x (C, H, W) f32 or c64 ->
// y (C, P) c64, each channel separately; with maps S (K, H, W) c64: x (1, H, W) -> y (K, P), y_k =
// NUFFT(S_k x). Every point is measured (observed() is undefined). For a real x the adjoint returns
// Re(A^H y).
std::unique_ptr<Operator> make_nufft_mri(const Signal& x, const std::vector<double>& coords, const Tensor& sensitivities,
                                         const NufftOptions& options, std::string description, Device device);

// Trajectories as (k_y, k_x) pairs for an H x W image. Radial: `spokes` lines through the centre,
// `readout` samples each from -1/2 to 1/2 of the band (exclusive), at golden-angle increments (180
// degrees / golden ratio) or equally spaced over 180 degrees. Spiral: `interleaves` Archimedean arms of
// `samples` points, each making `turns` turns from the centre to the band's edge (radius t/2, angle
// 2 pi (turns t + l / interleaves), t in [0, 1)); constant angular speed, not gradient-limited.
// Fully sampled ("Nyquist") counts for an N x N image: pi N / 2 spokes; N / (2 turns) interleaves.
std::vector<double> radial_trajectory(std::int64_t h, std::int64_t w, std::int64_t spokes, std::int64_t readout, bool golden);
std::vector<double> spiral_trajectory(std::int64_t h, std::int64_t w, std::int64_t interleaves, std::int64_t samples, double turns);

// k-space masks (H, W) f32 on the host, 1 where sampled. Column masks sample whole phase-encoding
// columns (all rows of a column): the `centre` columns around W/2 always, the others at random with
// overall fraction 1/acceleration, or equispaced. 2-D masks sample single points with a density that
// falls off from the centre: Poisson-disc (points no closer than a radius growing with distance from
// the centre) or independent Gaussian-density draws; a centre square of `centre` x `centre` is full.
Tensor mask_random_columns(std::int64_t h, std::int64_t w, double acceleration, std::int64_t centre, std::uint64_t seed);
Tensor mask_equispaced_columns(std::int64_t h, std::int64_t w, double acceleration, std::int64_t centre);
Tensor mask_poisson_disc(std::int64_t h, std::int64_t w, double acceleration, std::int64_t centre, std::uint64_t seed);
Tensor mask_gaussian(std::int64_t h, std::int64_t w, double acceleration, std::int64_t centre, std::uint64_t seed);

// Phase retrieval y = |F(pad(x))|, x (C, H, W) f32, zero-padded by `pad` pixels on every side,
// F the orthonormal 2-D FFT: y (C, H + 2 pad, W + 2 pad) f32. Nonlinear: JVP and VJP at x (where
// F(pad(x)) = 0 the modulus is not differentiable; both take the derivative there to be 0).
std::unique_ptr<Operator> make_phase_retrieval(const Signal& x, std::int64_t pad, Device device);

}  // namespace tweedie::samplers
