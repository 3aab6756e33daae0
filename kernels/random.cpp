#include "kernels/random.h"

#include "runtime/check.h"
#include "runtime/parallel.h"

namespace tweedie {
namespace {

void random_fill(Context& ctx, const char* op, Tensor& x, RandomStream rng, float a, float b, std::int64_t items,
                 bool normal) {
  expect_tensor(ctx, op, "x", x);
  if (items < 1 || x.numel() % items != 0)
    throw ShapeError(cat(op, ": cannot split ", x.str(), " into ", items, " equal rows"));
  std::int64_t per_item = x.numel() / items;
  float* data = x.data<float>();
  if (normal) for_each_2d(ctx, items, per_item / 4, RandomBlocks<true>{data, rng.seed, rng.stream, per_item, a, b});
  else for_each_2d(ctx, items, per_item / 4, RandomBlocks<false>{data, rng.seed, rng.stream, per_item, a, b});
  for_each_2d(ctx, items, per_item % 4, RandomTail{data, rng.seed, rng.stream, per_item, a, b, normal});
}

}  // namespace

void fill_uniform(Context& ctx, Tensor& x, RandomStream rng, float lo, float hi, std::int64_t items) {
  random_fill(ctx, "fill_uniform", x, rng, lo, hi - lo, items, false);
}

void fill_normal(Context& ctx, Tensor& x, RandomStream rng, float mean, float stddev, std::int64_t items) {
  random_fill(ctx, "fill_normal", x, rng, mean, stddev, items, true);
}

}  // namespace tweedie
