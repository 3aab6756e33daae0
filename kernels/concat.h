#pragma once
// Concatenation along dimension 1 (channels of (N, C, ...) tensors), and its adjoint, the split.
// U-Net skip connections are made of these.
#include <cstdint>
#include <vector>

#include "runtime/context.h"
#include "runtime/hd.h"
#include "runtime/tensor.h"

namespace tweedie {

// y = [parts[0], parts[1], ...] along dimension 1. Every part has y's shape except in dimension 1,
// whose extents add up to y's.
void concat_channels(Context& ctx, const std::vector<Tensor>& parts, Tensor& y);
// The inverse: each part receives its slab of y.
void split_channels(Context& ctx, const Tensor& y, std::vector<Tensor>& parts);

// Copies between a part, seen as (N, c * inner), and its slab of y, seen as (N, C * inner) from column
// `offset`: for_each_2d over (n, j) in (N, c * inner).
struct ChannelSlab {
  const float* src;
  float* dst;
  std::int64_t part_row, full_row, offset;  // part_row = c * inner, full_row = C * inner
  bool to_full;                             // part -> y (concat) or y -> part (split)
  TW_HD void operator()(std::int64_t n, std::int64_t j) const {
    std::int64_t full = n * full_row + offset + j, part = n * part_row + j;
    if (to_full) dst[full] = src[part];
    else dst[part] = src[full];
  }
};

}  // namespace tweedie
