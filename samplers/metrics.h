#pragma once
// Image quality against a reference, computed on the host in double: what `tweedie solve` reports and
// what benchmarks of posterior methods compare. Inputs are one item each, (C, H, W) or any shape for
// PSNR, as host vectors or tensors on any device.
#include <cstdint>
#include <vector>

#include "runtime/tensor.h"

namespace tweedie::samplers {

// 10 log10(range^2 / mean squared error); +infinity for identical inputs. range: the data's dynamic
// range (2 for images in [-1, 1]).
double psnr(const std::vector<double>& x, const std::vector<double>& reference, double range);

// Structural similarity (Wang et al. 2004) with the usual constants: an 11 x 11 Gaussian window of
// standard deviation 1.5, K1 = 0.01, K2 = 0.03, L = range; local statistics over windows that fit
// inside the image (no padding), averaged over positions and channels. Images (C, H, W), H and W >= 11;
// smaller images use a window as large as fits.
double ssim(const std::vector<double>& x, const std::vector<double>& reference, const Shape& item, double range);

// Mean and sample standard deviation (divided by K - 1; 0 for a single sample) of each group of K
// consecutive items of samples (groups * K, item...), accumulated in double: host tensors (groups, item...).
struct SampleMoments {
  Tensor mean, std;
};
SampleMoments sample_moments(const Tensor& samples, std::int64_t groups);

// Sliced 2-Wasserstein distance between two sets of points (rows of n x d matrices, row-major, the same
// n): the root mean over `directions` random unit directions (from std::mt19937_64(seed), so the same
// on every machine) of the 1-D W2^2 between the sorted projections. What `tweedie em` reports for
// vector data against the truth, and the tests' measure of samplers against exact draws.
double sliced_wasserstein(const std::vector<double>& a, const std::vector<double>& b, std::size_t d, int directions = 200,
                          std::uint64_t seed = 1);
// The same between the first min(N_a, N_b) rows of two f32 tensors (N, D) on any device.
double sliced_wasserstein(const Tensor& a, const Tensor& b);

// Item i of a batch (N, ...) as host doubles (the real part for c64).
std::vector<double> item_values(const Tensor& batch, std::int64_t i);

}  // namespace tweedie::samplers
