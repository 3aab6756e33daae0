#pragma once
// Procedural MRI-like phantoms and the stationary Gaussian prior fitted to them: the built-in problem
// of `tweedie demo`, and the training data of its learned prior (train_phantom_prior.sh). Images are
// (1, size, size) in [-1, 1].
//
// A random phantom is a head: an outer ellipse, a darker rim inside it, and 3 to 8 smaller ellipses of
// random size, position, angle and contrast, everything drawn from Philox (seed, index) so a phantom
// set is the same on every machine. The test image is the modified Shepp-Logan phantom (Toft's
// contrasts), which the random set never contains.
#include <cstdint>
#include <vector>

#include "samplers/gaussian_denoiser.h"

namespace tweedie::demo {

// One size x size phantom, row-major, values in [-1, 1].
std::vector<double> random_phantom(std::int64_t size, std::uint64_t seed, std::uint64_t index);
std::vector<double> shepp_logan(std::int64_t size);

// The stationary Gaussian prior (samplers/gaussian_denoiser.h) of `count` random phantoms: their mean
// image and the average power spectrum of their deviations from it (unitary 2-D DFT), floored at
// 1e-6 of its largest value so that the covariance is positive definite.
samplers::GaussianPrior fit_stationary_prior(std::int64_t size, std::int64_t count, std::uint64_t seed);

}  // namespace tweedie::demo
