#include "kernels/resize.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "runtime/check.h"
#include "runtime/parallel.h"

namespace tweedie {
namespace {

// x's shape with the extent of `axis` (negative: from the end) replaced.
Shape with_extent(const Shape& s, int axis, std::int64_t extent) {
  std::int64_t dims[kMaxRank];
  for (int a = 0; a < s.rank(); ++a) dims[a] = s[a];
  dims[s.rank() + axis] = extent;
  return Shape(std::span<const std::int64_t>(dims, std::size_t(s.rank())));
}

// The large side of a pooling pair: rank >= 2, H and W divisible by the factor.
void check_pool(Context& ctx, const char* op, const Tensor& big, const Tensor& small, std::int64_t f) {
  expect_tensor(ctx, op, "the full-size tensor", big);
  expect_tensor(ctx, op, "the pooled tensor", small);
  if (big.rank() < 2) throw ShapeError(cat(op, ": the full-size tensor is ", big.str(), ", expected (..., H, W)"));
  if (f < 1) throw ArgumentError(cat(op, ": factor ", f, " must be at least 1"));
  if (big.dim(-2) % f || big.dim(-1) % f)
    throw ShapeError(cat(op, ": ", big.str(), " has height and width not divisible by the factor ", f));
  expect_shape(op, "the pooled tensor", small, with_extent(with_extent(big.shape(), -2, big.dim(-2) / f), -1, big.dim(-1) / f));
}

// MATLAB's cubic convolution kernel with a = -0.5 (Keys), support [-2, 2].
double cubic(double t) {
  double a = std::fabs(t), a2 = a * a, a3 = a2 * a;
  if (a <= 1) return 1.5 * a3 - 2.5 * a2 + 1;
  if (a <= 2) return -0.5 * a3 + 2.5 * a2 - 4 * a + 2;
  return 0;
}

// imresize's 'symmetric' extension: the index sequence 0..n-1, n-1..0 repeated.
std::int64_t mirror(std::int64_t i, std::int64_t n) {
  std::int64_t period = 2 * n, m = ((i % period) + period) % period;
  return m < n ? m : period - 1 - m;
}

}  // namespace

void block_pool(Context& ctx, const Tensor& x, Tensor& y, std::int64_t factor) {
  check_pool(ctx, "block_pool", x, y, factor);
  std::int64_t h = y.dim(-2), w = y.dim(-1);
  float scale = 1.0f / float(factor * factor);
  for_each_2d(ctx, y.numel() / w, w, BlockPool{x.data<float>(), y.data<float>(), h, w, factor, scale});
}

void block_pool_adjoint(Context& ctx, const Tensor& y, Tensor& x, std::int64_t factor) {
  check_pool(ctx, "block_pool_adjoint", x, y, factor);
  std::int64_t H = x.dim(-2), W = x.dim(-1);
  float scale = 1.0f / float(factor * factor);
  for_each_2d(ctx, x.numel() / W, W / factor, BlockUnpool{y.data<float>(), x.data<float>(), H, W, factor, scale});
}

ResampleTable upload(const HostResampleTable& t, Device device) {
  if (t.n_in >= (std::int64_t(1) << 24))
    throw ArgumentError(cat("resample table: input length ", t.n_in, " is too long for f32 indices (at most 2^24)"));
  std::vector<float> index(t.index.begin(), t.index.end()), weight(t.weight.begin(), t.weight.end());
  Shape shape{t.n_out, t.taps};
  return ResampleTable{t.n_in, t.n_out, t.taps, Tensor::from_host(std::span<const float>(index), shape, device),
                       Tensor::from_host(std::span<const float>(weight), shape, device)};
}

HostResampleTable transposed(const HostResampleTable& t) {
  std::vector<std::map<std::int64_t, double>> sources(std::size_t(t.n_in));  // input -> (output, weight)
  for (std::int64_t o = 0; o < t.n_out; ++o)
    for (std::int64_t k = 0; k < t.taps; ++k) {
      double w = t.weight[std::size_t(o * t.taps + k)];
      if (w != 0) sources[std::size_t(t.index[std::size_t(o * t.taps + k)])][o] += w;
    }
  HostResampleTable r{t.n_out, t.n_in, 1, {}, {}};
  for (const auto& s : sources) r.taps = std::max<std::int64_t>(r.taps, std::int64_t(s.size()));
  r.index.assign(std::size_t(r.n_out * r.taps), 0);
  r.weight.assign(std::size_t(r.n_out * r.taps), 0.0);
  for (std::int64_t i = 0; i < t.n_in; ++i) {
    std::int64_t k = 0;
    for (auto [o, w] : sources[std::size_t(i)]) {
      r.index[std::size_t(i * r.taps + k)] = o;
      r.weight[std::size_t(i * r.taps + k)] = w;
      ++k;
    }
  }
  return r;
}

HostResampleTable bicubic_downscale_table(std::int64_t n_in, std::int64_t factor) {
  if (factor < 1 || n_in < 1 || n_in % factor)
    throw ShapeError(cat("bicubic_downscale_table: length ", n_in, " is not divisible by the factor ", factor));
  // In input coordinates the kernel is cubic(t / f) / f, 4 f wide; imresize's window of taps starts
  // at floor(centre - 2 f) and is two pixels longer than the kernel, so no pixel it touches is missed.
  double f = double(factor), width = 4 * f;
  std::int64_t taps = std::int64_t(std::ceil(width)) + 2;
  HostResampleTable t{n_in, n_in / factor, taps, {}, {}};
  t.index.resize(std::size_t(t.n_out * taps));
  t.weight.resize(std::size_t(t.n_out * taps));
  for (std::int64_t o = 0; o < t.n_out; ++o) {
    double centre = (double(o) + 0.5) * f - 0.5;  // maps pixel edges to pixel edges
    std::int64_t first = std::int64_t(std::floor(centre - width / 2));
    double sum = 0;
    for (std::int64_t k = 0; k < taps; ++k) {
      double w = cubic((centre - double(first + k)) / f) / f;
      t.weight[std::size_t(o * taps + k)] = w;
      sum += w;
    }
    // Normalising before mirroring, as imresize does: the mirrored taps keep their weights.
    for (std::int64_t k = 0; k < taps; ++k) {
      t.weight[std::size_t(o * taps + k)] /= sum;
      t.index[std::size_t(o * taps + k)] = mirror(first + k, n_in);
    }
  }
  return t;
}

void resample(Context& ctx, const ResampleTable& t, const Tensor& x, Tensor& y, int axis) {
  expect_tensor(ctx, "resample", "x", x);
  expect_tensor(ctx, "resample", "y", y);
  expect_tensor(ctx, "resample", "the table's index", t.index);
  expect_tensor(ctx, "resample", "the table's weight", t.weight);
  if (axis != -1 && axis != -2) throw ArgumentError(cat("resample: axis ", axis, " must be -1 or -2"));
  if (x.rank() < 2) throw ShapeError(cat("resample: x is ", x.str(), ", expected rank 2 or more"));
  if (x.dim(axis) != t.n_in)
    throw ShapeError(cat("resample: x is ", x.str(), " but the table maps length ", t.n_in, " along axis ", axis));
  expect_shape("resample", "y", y, with_extent(x.shape(), axis, t.n_out));
  expect_distinct("resample", "x", x, "y", y);
  const float *index = t.index.data<float>(), *weight = t.weight.data<float>();
  if (axis == -1) {
    for_each_2d(ctx, y.numel() / t.n_out, t.n_out, ResampleLast{x.data<float>(), y.data<float>(), index, weight, t.n_in, t.n_out, t.taps});
  } else {
    std::int64_t w = x.dim(-1);
    for_each_2d(ctx, y.numel() / w, w, ResampleMiddle{x.data<float>(), y.data<float>(), index, weight, t.n_in, t.n_out, t.taps, w});
  }
}

}  // namespace tweedie
