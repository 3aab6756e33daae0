#pragma once
// Points on a smooth closed curve in D dimensions: the low-dimensional manifold of the first experiment
// of learning a prior from observations (Rozet et al. 2024 use a 1-D manifold in 5-D). Data whose
// truth is known exactly and whose support is thin, so a prior that blurs it shows in the sliced W2.
//
//   x(s) = sum_{k=1..3} (a_k cos(2 pi k s) + b_k sin(2 pi k s)) / k,   s ~ U(0, 1)
//
// with a_k, b_k in R^D drawn once, N(0, 0.6^2) per entry, from a fixed Philox key: the curve is the same
// for every call and machine; the seed chooses the points on it.
#include <cstdint>
#include <vector>

namespace tweedie::demo {

// count x dim values, row-major.
std::vector<double> curve_points(std::int64_t count, std::int64_t dim, std::uint64_t seed);

}  // namespace tweedie::demo
