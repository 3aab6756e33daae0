#include "kernels/coil.h"

#include "runtime/check.h"
#include "runtime/error.h"
#include "runtime/parallel.h"

namespace tweedie {
namespace {

DType real_or_complex(const Tensor& t) { return t.dtype() == DType::c64 ? DType::c64 : DType::f32; }

// The number of (h, w) planes t holds; t must end in (h, w).
std::int64_t planes_of(const char* op, const char* name, const Tensor& t, std::int64_t h, std::int64_t w) {
  if (t.rank() < 2 || t.dim(-2) != h || t.dim(-1) != w)
    throw ShapeError(cat(op, ": ", name, " is ", t.str(), ", expected planes of (", h, ",", w, ")"));
  return h * w == 0 ? 0 : t.numel() / (h * w);
}

// s is (K, H, W) c64 on ctx's device; returns K.
std::int64_t coils_of(const Context& ctx, const char* op, const Tensor& s) {
  expect_tensor(ctx, op, "s", s, DType::c64);
  expect_rank(op, "s", s, 3);
  return s.dim(0);
}

// x and y have the same leading axes and planes of (h, w) and (h + 2 pad, w + 2 pad).
void expect_padded(const char* op, const Tensor& small, const Tensor& big, std::int64_t pad) {
  if (pad < 0) throw ArgumentError(cat(op, ": pad is ", pad, ", expected at least 0"));
  bool ok = small.rank() >= 2 && small.rank() == big.rank();
  for (int a = 0; ok && a < small.rank(); ++a) ok = big.dim(a) == small.dim(a) + (a >= small.rank() - 2 ? 2 * pad : 0);
  if (!ok)
    throw ShapeError(cat(op, ": padded ", big.str(), " does not match ", small.str(), " with pad ", pad, " on each side"));
}

// big's planes hold small's at (top, left): same leading axes, and the window inside the plane.
void expect_window(const char* op, const Tensor& small, const Tensor& big, std::int64_t top, std::int64_t left) {
  if (top < 0 || left < 0) throw ArgumentError(cat(op, ": offset (", top, ",", left, ") is negative"));
  bool ok = small.rank() >= 2 && small.rank() == big.rank();
  for (int a = 0; ok && a < small.rank() - 2; ++a) ok = big.dim(a) == small.dim(a);
  if (!ok || small.dim(-2) + top > big.dim(-2) || small.dim(-1) + left > big.dim(-1))
    throw ShapeError(cat(op, ": ", small.str(), " at offset (", top, ",", left, ") does not fit inside ", big.str()));
}

}  // namespace

void coil_expand(Context& ctx, const Tensor& x, const Tensor& s, Tensor& y) {
  std::int64_t coils = coils_of(ctx, "coil_expand", s), h = s.dim(1), w = s.dim(2), plane = h * w;
  expect_tensor(ctx, "coil_expand", "x", x, real_or_complex(x));
  expect_tensor(ctx, "coil_expand", "y", y, DType::c64);
  std::int64_t items = planes_of("coil_expand", "x", x, h, w);
  if (planes_of("coil_expand", "y", y, h, w) != items * coils)
    throw ShapeError(cat("coil_expand: y is ", y.str(), ", expected ", items, " x ", coils, " planes for x ", x.str(), " and s ", s.str()));
  if (x.dtype() == DType::c64)
    for_each_2d(ctx, items * coils, plane, CoilExpand<complex64>{x.data<complex64>(), s.data<complex64>(), y.data<complex64>(), coils, plane});
  else
    for_each_2d(ctx, items * coils, plane, CoilExpand<float>{x.data<float>(), s.data<complex64>(), y.data<complex64>(), coils, plane});
}

void coil_combine(Context& ctx, const Tensor& y, const Tensor& s, Tensor& x) {
  std::int64_t coils = coils_of(ctx, "coil_combine", s), h = s.dim(1), w = s.dim(2), plane = h * w;
  expect_tensor(ctx, "coil_combine", "y", y, DType::c64);
  expect_tensor(ctx, "coil_combine", "x", x, real_or_complex(x));
  std::int64_t items = planes_of("coil_combine", "x", x, h, w);
  if (planes_of("coil_combine", "y", y, h, w) != items * coils)
    throw ShapeError(cat("coil_combine: y is ", y.str(), ", expected ", items, " x ", coils, " planes for x ", x.str(), " and s ", s.str()));
  if (x.dtype() == DType::c64)
    for_each_2d(ctx, items, plane, CoilCombine<complex64>{y.data<complex64>(), s.data<complex64>(), x.data<complex64>(), coils, plane});
  else
    for_each_2d(ctx, items, plane, CoilCombine<float>{y.data<complex64>(), s.data<complex64>(), x.data<float>(), coils, plane});
}

void to_complex(Context& ctx, const Tensor& x, Tensor& y) {
  expect_tensor(ctx, "to_complex", "x", x, DType::f32);
  expect_tensor(ctx, "to_complex", "y", y, DType::c64);
  expect_same_shape("to_complex", "x", x, "y", y);
  for_each(ctx, x.numel(), ToComplex{x.data<float>(), y.data<complex64>()});
}

void real_part(Context& ctx, const Tensor& x, Tensor& y) {
  expect_tensor(ctx, "real_part", "x", x, DType::c64);
  expect_tensor(ctx, "real_part", "y", y, DType::f32);
  expect_same_shape("real_part", "x", x, "y", y);
  for_each(ctx, x.numel(), RealPart{x.data<complex64>(), y.data<float>()});
}

void complex_modulus(Context& ctx, const Tensor& z, Tensor& m) {
  expect_tensor(ctx, "complex_modulus", "z", z, DType::c64);
  expect_tensor(ctx, "complex_modulus", "m", m, DType::f32);
  expect_same_shape("complex_modulus", "z", z, "m", m);
  for_each(ctx, z.numel(), ComplexModulus{z.data<complex64>(), m.data<float>()});
}

void modulus_jvp(Context& ctx, const Tensor& z, const Tensor& dz, Tensor& dm) {
  expect_tensor(ctx, "modulus_jvp", "z", z, DType::c64);
  expect_tensor(ctx, "modulus_jvp", "dz", dz, DType::c64);
  expect_tensor(ctx, "modulus_jvp", "dm", dm, DType::f32);
  expect_same_shape("modulus_jvp", "z", z, "dz", dz);
  expect_same_shape("modulus_jvp", "z", z, "dm", dm);
  for_each(ctx, z.numel(), ModulusJvp{z.data<complex64>(), dz.data<complex64>(), dm.data<float>()});
}

void modulus_vjp(Context& ctx, const Tensor& z, const Tensor& dm, Tensor& dz) {
  expect_tensor(ctx, "modulus_vjp", "z", z, DType::c64);
  expect_tensor(ctx, "modulus_vjp", "dm", dm, DType::f32);
  expect_tensor(ctx, "modulus_vjp", "dz", dz, DType::c64);
  expect_same_shape("modulus_vjp", "z", z, "dm", dm);
  expect_same_shape("modulus_vjp", "z", z, "dz", dz);
  for_each(ctx, z.numel(), ModulusVjp{z.data<complex64>(), dm.data<float>(), dz.data<complex64>()});
}

void pad_planes(Context& ctx, const Tensor& x, std::int64_t pad, Tensor& y) {
  expect_padded("pad_planes", x, y, pad);
  pad_planes(ctx, x, pad, pad, y);
}

void crop_planes(Context& ctx, const Tensor& x, std::int64_t pad, Tensor& y) {
  expect_padded("crop_planes", y, x, pad);
  crop_planes(ctx, x, pad, pad, y);
}

void pad_planes(Context& ctx, const Tensor& x, std::int64_t top, std::int64_t left, Tensor& y) {
  expect_tensor(ctx, "pad_planes", "x", x, real_or_complex(x));
  expect_tensor(ctx, "pad_planes", "y", y, DType::c64);
  expect_window("pad_planes", x, y, top, left);
  std::int64_t h = x.dim(-2), w = x.dim(-1), hp = y.dim(-2), wp = y.dim(-1);
  std::int64_t rows = wp ? y.numel() / wp : 0;
  if (x.dtype() == DType::c64)
    for_each_2d(ctx, rows, wp, PadPlanes<complex64>{x.data<complex64>(), y.data<complex64>(), h, w, hp, wp, top, left});
  else
    for_each_2d(ctx, rows, wp, PadPlanes<float>{x.data<float>(), y.data<complex64>(), h, w, hp, wp, top, left});
}

void crop_planes(Context& ctx, const Tensor& x, std::int64_t top, std::int64_t left, Tensor& y) {
  expect_tensor(ctx, "crop_planes", "x", x, DType::c64);
  expect_tensor(ctx, "crop_planes", "y", y, real_or_complex(y));
  expect_window("crop_planes", y, x, top, left);
  std::int64_t h = y.dim(-2), w = y.dim(-1), hp = x.dim(-2), wp = x.dim(-1);
  std::int64_t rows = w ? y.numel() / w : 0;
  if (y.dtype() == DType::c64)
    for_each_2d(ctx, rows, w, CropPlanes<complex64>{x.data<complex64>(), y.data<complex64>(), h, w, hp, wp, top, left});
  else
    for_each_2d(ctx, rows, w, CropPlanes<float>{x.data<complex64>(), y.data<float>(), h, w, hp, wp, top, left});
}

}  // namespace tweedie
