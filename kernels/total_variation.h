#pragma once
// The pieces of isotropic total variation on f32 images (..., H, W): every (H, W) plane (each channel
// of each item) on its own.
//
//   image_gradient      x (..., H, W) -> g (..., 2, H, W)   forward differences with Neumann boundary:
//                         g[0, i, j] = x[i, j+1] - x[i, j]  (0 in the last column)
//                         g[1, i, j] = x[i+1, j] - x[i, j]  (0 in the last row)
//   image_divergence    g (..., 2, H, W) -> d (..., H, W)   d = -grad^T g exactly, so that
//                                                           <grad x, g> = -<x, div g>
//   gradient_magnitude  x -> m (..., H, W)                  m = |grad x| per pixel; TV(x) is its sum
//   tv_dual_step        p <- P(p + step grad x)             P projects each pixel's pair (p0, p1) onto the
//                                                           disc of radius `radius`: the dual update of
//                                                           Chambolle-Pock for radius * TV
//
// The pair of a pixel lives in two planes (not interleaved) so that the divergence and the dual step
// read along contiguous rows like every other plane op.
#include <cmath>
#include <cstdint>

#include "runtime/context.h"
#include "runtime/hd.h"
#include "runtime/tensor.h"

namespace tweedie {

void image_gradient(Context& ctx, const Tensor& x, Tensor& g);
void image_divergence(Context& ctx, const Tensor& g, Tensor& d);
void gradient_magnitude(Context& ctx, const Tensor& x, Tensor& m);
void tv_dual_step(Context& ctx, const Tensor& x, float step, float radius, Tensor& p);

// ---- the math ------------------------------------------------------------------------------------
// Row indices r count the rows of all planes together (plane r / h, row r % h); a plane of x has
// h * w values and a plane pair of g has 2 h w.

// The forward differences of x at (i, j) of the plane that starts at `x`.
TW_HD inline float difference_x(const float* x, std::int64_t w, std::int64_t i, std::int64_t j) {
  return j + 1 < w ? x[i * w + j + 1] - x[i * w + j] : 0.0f;
}
TW_HD inline float difference_y(const float* x, std::int64_t h, std::int64_t w, std::int64_t i, std::int64_t j) {
  return i + 1 < h ? x[(i + 1) * w + j] - x[i * w + j] : 0.0f;
}

// The adjoint of a forward difference with a zero last entry, negated: g[k] - g[k-1], where g[-1] and
// g[n-1] count as 0 (the last entry of g never enters the gradient, so it must not enter here).
TW_HD inline float backward_difference(float here, float before, std::int64_t k, std::int64_t n) {
  float a = k + 1 < n ? here : 0.0f;
  float b = k > 0 ? before : 0.0f;
  return a - b;
}

struct ImageGradient {
  const float* x;
  float* g;
  std::int64_t h, w;
  TW_HD void operator()(std::int64_t r, std::int64_t j) const {
    std::int64_t plane = r / h, i = r % h;
    const float* xp = x + plane * h * w;
    float* gp = g + plane * 2 * h * w;
    gp[i * w + j] = difference_x(xp, w, i, j);
    gp[h * w + i * w + j] = difference_y(xp, h, w, i, j);
  }
};

struct ImageDivergence {
  const float* g;
  float* d;
  std::int64_t h, w;
  TW_HD void operator()(std::int64_t r, std::int64_t j) const {
    std::int64_t plane = r / h, i = r % h;
    const float* gx = g + plane * 2 * h * w;
    const float* gy = gx + h * w;
    float dx = backward_difference(gx[i * w + j], j > 0 ? gx[i * w + j - 1] : 0.0f, j, w);
    float dy = backward_difference(gy[i * w + j], i > 0 ? gy[(i - 1) * w + j] : 0.0f, i, h);
    d[r * w + j] = dx + dy;
  }
};

struct GradientMagnitude {
  const float* x;
  float* m;
  std::int64_t h, w;
  TW_HD void operator()(std::int64_t r, std::int64_t j) const {
    std::int64_t plane = r / h, i = r % h;
    const float* xp = x + plane * h * w;
    float a = difference_x(xp, w, i, j), b = difference_y(xp, h, w, i, j);
    m[r * w + j] = sqrtf(a * a + b * b);
  }
};

// Scaling the pair by radius / |pair| when it lies outside the disc; a zero radius sends every pair to 0.
struct TvDualStep {
  const float* x;
  float* p;
  std::int64_t h, w;
  float step, radius;
  TW_HD void operator()(std::int64_t r, std::int64_t j) const {
    std::int64_t plane = r / h, i = r % h;
    const float* xp = x + plane * h * w;
    float* px = p + plane * 2 * h * w + i * w + j;
    float* py = px + h * w;
    float a = *px + step * difference_x(xp, w, i, j), b = *py + step * difference_y(xp, h, w, i, j);
    float norm = sqrtf(a * a + b * b);
    float shrink = norm > radius ? radius / norm : 1.0f;
    *px = a * shrink;
    *py = b * shrink;
  }
};

}  // namespace tweedie
