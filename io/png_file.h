#pragma once
// 8-bit PNG images of tensors, for looking at samples, means and uncertainty maps. Written atomically
// (io/atomic_output.h) with libpng.
#include <string>

#include "runtime/tensor.h"

namespace tweedie {

// One image from a (C, H, W) tensor with C = 1 (grey) or 3 (RGB), values mapped linearly from
// [lo, hi] to [0, 255] and clipped.
void write_png(const std::string& path, const Tensor& image, float lo = -1.0f, float hi = 1.0f);

// A batch (N, C, H, W) tiled row-major into a grid of `columns` images (0: a near-square grid) with a
// `gap`-pixel border of black between them.
void write_png_grid(const std::string& path, const Tensor& images, float lo = -1.0f, float hi = 1.0f, int columns = 0,
                    int gap = 2);

// A batch (N, C, H, W), f32 or c64, as a grid to look at: complex values as |z| (or log(1 + |z|), for
// k-space), mapped from [-1, 1], or from the batch's own range when own_range (or when complex).
void write_png_view(const std::string& path, const Tensor& images, bool own_range, bool log_magnitude = false);

}  // namespace tweedie
