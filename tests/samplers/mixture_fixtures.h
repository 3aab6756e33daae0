#pragma once
// Gaussian mixture priors the sampler and posterior tests share.
#include <cstdint>
#include <vector>

#include "samplers/mixture_denoiser.h"

namespace tweedie::test {

// K = weights.size() components in d dimensions: means on a ring of radius 2 (in the first two
// coordinates, plus a small offset pattern in the others), covariances diag(0.05 .. 0.4) rotated by a
// fixed orthogonal matrix made with std::mt19937_64.
samplers::MixturePrior ring_mixture(std::int64_t d, std::vector<double> weights);

// The well-separated benchmark mixture of Cardoso et al. (2023, "Monte Carlo guided diffusion"), scaled
// to the VP process's unit data range: 25 components with means 0.5 (i, j, i, j, ...) for i, j in
// -2..2, covariance I / 256 (mean spacing 8 standard deviations, as theirs: 8 and I), and weights drawn
// once from U(0.2, 1) with std::mt19937_64(77), normalised.
samplers::MixturePrior grid_mixture(std::int64_t d);

// For each component k, the fraction of the samples x (N, D) whose most responsible component (at the
// process's smallest noise level) is k.
std::vector<double> component_fractions(const samplers::MixtureDenoiser& m, const Tensor& x);

}  // namespace tweedie::test
