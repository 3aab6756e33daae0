#pragma once
// Distances between two sets of samples (rows of n x d matrices), for judging samplers against exact
// draws.
#include <cstdint>
#include <vector>

namespace tweedie::test {

// Sliced 2-Wasserstein distance: the root mean over `directions` random unit directions (from
// std::mt19937_64(seed)) of the 1-D W2^2 between the projections, sorted. Sets of equal size.
double sliced_wasserstein(const std::vector<double>& a, const std::vector<double>& b, std::size_t d,
                          int directions = 200, std::uint64_t seed = 1);

// Largest absolute difference of the per-coordinate means and of the covariance entries.
double mean_error(const std::vector<double>& a, const std::vector<double>& b, std::size_t d);
double covariance_error(const std::vector<double>& a, const std::vector<double>& b, std::size_t d);

}  // namespace tweedie::test
