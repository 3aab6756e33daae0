#include "kernels/total_variation.h"

#include "runtime/check.h"
#include "runtime/parallel.h"

namespace tweedie {
namespace {

struct Planes {
  std::int64_t count, h, w;  // count planes of h x w
};

Planes expect_image(Context& ctx, const char* op, const char* name, const Tensor& x) {
  expect_tensor(ctx, op, name, x);
  if (x.rank() < 2) throw ShapeError(cat(op, ": ", name, " is ", x.str(), ", expected (..., H, W)"));
  std::int64_t h = x.dim(-2), w = x.dim(-1);
  return {h * w > 0 ? x.numel() / (h * w) : 0, h, w};
}

// (..., H, W) -> (..., 2, H, W)
Shape pair_shape(const Shape& s) {
  std::int64_t dims[kMaxRank];
  int rank = s.rank();
  if (rank + 1 > kMaxRank) throw ShapeError(cat("total variation: ", s.str(), " has too many dimensions for a gradient field"));
  for (int a = 0; a < rank - 2; ++a) dims[a] = s[a];
  dims[rank - 2] = 2;
  dims[rank - 1] = s[rank - 2];
  dims[rank] = s[rank - 1];
  return Shape(std::span<const std::int64_t>(dims, std::size_t(rank + 1)));
}

}  // namespace

void image_gradient(Context& ctx, const Tensor& x, Tensor& g) {
  Planes p = expect_image(ctx, "image_gradient", "x", x);
  expect_tensor(ctx, "image_gradient", "g", g);
  expect_shape("image_gradient", "g", g, pair_shape(x.shape()));
  expect_distinct("image_gradient", "x", x, "g", g);
  for_each_2d(ctx, p.count * p.h, p.w, ImageGradient{x.data<float>(), g.data<float>(), p.h, p.w});
}

void image_divergence(Context& ctx, const Tensor& g, Tensor& d) {
  Planes p = expect_image(ctx, "image_divergence", "d", d);
  expect_tensor(ctx, "image_divergence", "g", g);
  expect_shape("image_divergence", "g", g, pair_shape(d.shape()));
  expect_distinct("image_divergence", "g", g, "d", d);
  for_each_2d(ctx, p.count * p.h, p.w, ImageDivergence{g.data<float>(), d.data<float>(), p.h, p.w});
}

void gradient_magnitude(Context& ctx, const Tensor& x, Tensor& m) {
  Planes p = expect_image(ctx, "gradient_magnitude", "x", x);
  expect_tensor(ctx, "gradient_magnitude", "m", m);
  expect_same_shape("gradient_magnitude", "x", x, "m", m);
  expect_distinct("gradient_magnitude", "x", x, "m", m);
  for_each_2d(ctx, p.count * p.h, p.w, GradientMagnitude{x.data<float>(), m.data<float>(), p.h, p.w});
}

void tv_dual_step(Context& ctx, const Tensor& x, float step, float radius, Tensor& p) {
  Planes q = expect_image(ctx, "tv_dual_step", "x", x);
  expect_tensor(ctx, "tv_dual_step", "p", p);
  expect_shape("tv_dual_step", "p", p, pair_shape(x.shape()));
  expect_distinct("tv_dual_step", "x", x, "p", p);
  if (!(radius >= 0.0f) || !std::isfinite(step))
    throw ArgumentError(cat("tv_dual_step: radius ", radius, " must be >= 0 and step ", step, " finite"));
  for_each_2d(ctx, q.count * q.h, q.w, TvDualStep{x.data<float>(), p.data<float>(), q.h, q.w, step, radius});
}

}  // namespace tweedie
