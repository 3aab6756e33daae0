#include "kernels/image_filter.h"

#include "runtime/check.h"
#include "runtime/parallel.h"

namespace tweedie {
namespace {

// s with the last two extents replaced.
Shape with_plane(const Shape& s, std::int64_t h, std::int64_t w) {
  std::int64_t dims[kMaxRank];
  for (int a = 0; a < s.rank(); ++a) dims[a] = s[a];
  dims[s.rank() - 2] = h;
  dims[s.rank() - 1] = w;
  return Shape(std::span<const std::int64_t>(dims, std::size_t(s.rank())));
}

void expect_planes(Context& ctx, const char* op, const char* name, const Tensor& t) {
  expect_tensor(ctx, op, name, t);
  if (t.rank() < 2) throw ShapeError(cat(op, ": ", name, " is ", t.str(), ", expected (..., H, W)"));
}

// The small side of a padding pair is x; returns nothing, throws on bad pads or shapes.
void check_pad(Context& ctx, const char* op, const Tensor& x, const Tensor& y, std::int64_t ph, std::int64_t pw) {
  expect_planes(ctx, op, "x", x);
  expect_tensor(ctx, op, "the padded tensor", y);
  if (ph < 0 || pw < 0 || ph > x.dim(-2) - 1 || pw > x.dim(-1) - 1)
    throw ArgumentError(cat(op, ": padding (", ph, ",", pw, ") of ", x.str(),
                            " must be at most the height and width less one (a reflection repeats no edge)"));
  expect_shape(op, "the padded tensor", y, with_plane(x.shape(), x.dim(-2) + 2 * ph, x.dim(-1) + 2 * pw));
  expect_distinct(op, "x", x, "the padded tensor", y);
}

void check_convolution(Context& ctx, const char* op, const Tensor& x, const Tensor& kernel, const Tensor& y) {
  expect_planes(ctx, op, "x", x);
  expect_tensor(ctx, op, "kernel", kernel);
  expect_tensor(ctx, op, "y", y);
  expect_rank(op, "kernel", kernel, 2);
  if (kernel.dim(0) > x.dim(-2) || kernel.dim(1) > x.dim(-1))
    throw ShapeError(cat(op, ": kernel ", kernel.shape().str(), " is larger than the planes of x ", x.str()));
  expect_shape(op, "y", y, with_plane(x.shape(), x.dim(-2) - kernel.dim(0) + 1, x.dim(-1) - kernel.dim(1) + 1));
  expect_distinct(op, "x", x, "y", y);
}

}  // namespace

void reflect_pad(Context& ctx, const Tensor& x, Tensor& y, std::int64_t pad_h, std::int64_t pad_w) {
  check_pad(ctx, "reflect_pad", x, y, pad_h, pad_w);
  std::int64_t wp = y.dim(-1);
  for_each_2d(ctx, y.numel() / wp, wp, ReflectPad{x.data<float>(), y.data<float>(), x.dim(-2), x.dim(-1), pad_h, pad_w});
}

void reflect_pad_adjoint(Context& ctx, const Tensor& y, Tensor& x, std::int64_t pad_h, std::int64_t pad_w) {
  check_pad(ctx, "reflect_pad_adjoint", x, y, pad_h, pad_w);
  std::int64_t w = x.dim(-1);
  for_each_2d(ctx, x.numel() / w, w, ReflectFold{y.data<float>(), x.data<float>(), x.dim(-2), w, pad_h, pad_w});
}

void convolve_valid(Context& ctx, const Tensor& x, const Tensor& kernel, Tensor& y) {
  check_convolution(ctx, "convolve_valid", x, kernel, y);
  std::int64_t wo = y.dim(-1);
  for_each_2d(ctx, y.numel() / wo, wo,
              ConvolveValid{x.data<float>(), kernel.data<float>(), y.data<float>(), y.dim(-2), wo, kernel.dim(0), kernel.dim(1)});
}

void convolve_valid_adjoint(Context& ctx, const Tensor& y, const Tensor& kernel, Tensor& x) {
  check_convolution(ctx, "convolve_valid_adjoint", x, kernel, y);
  std::int64_t wi = x.dim(-1);
  for_each_2d(ctx, x.numel() / wi, wi,
              ConvolveValidAdjoint{y.data<float>(), kernel.data<float>(), x.data<float>(), x.dim(-2), wi, kernel.dim(0), kernel.dim(1)});
}

}  // namespace tweedie
