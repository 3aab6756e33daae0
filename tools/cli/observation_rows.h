#pragma once
// Posterior sampling draws `per` items for each observation: the sampler's item g is conditioned on
// observation g / per, so the observation batch handed to a posterior method has one row per item.
#include <cstdint>

#include "runtime/tensor.h"

namespace tweedie::cli {

// Rows of y (observations, ...) for sampler items first .. first + n - 1, item g belonging to
// observation g / per.
Tensor observations_for(const Tensor& y, std::int64_t first, std::int64_t n, std::int64_t per);

}  // namespace tweedie::cli
