#pragma once
// Distances between two sets of samples (rows of n x d matrices), for judging samplers against exact
// draws.
#include <cstdint>
#include <vector>

#include "samplers/metrics.h"

namespace tweedie::test {

// Sliced 2-Wasserstein distance (samplers/metrics.h).
using samplers::sliced_wasserstein;

// Largest absolute difference of the per-coordinate means and of the covariance entries.
double mean_error(const std::vector<double>& a, const std::vector<double>& b, std::size_t d);
double covariance_error(const std::vector<double>& a, const std::vector<double>& b, std::size_t d);

}  // namespace tweedie::test
