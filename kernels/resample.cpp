#include "kernels/resample.h"

#include "runtime/check.h"
#include "runtime/parallel.h"

namespace tweedie {
namespace {

// Checks a (N,C,H,W) pair and returns (N, C, H, W) of `big`, the side with the larger planes.
struct Planes {
  std::int64_t n, c, H, W;
};

Planes check_pair(Context& ctx, const char* op, const char* big_name, const Tensor& big, const char* small_name,
                  const Tensor& small, bool exact_double) {
  expect_tensor(ctx, op, big_name, big);
  expect_tensor(ctx, op, small_name, small);
  expect_rank(op, big_name, big, 4);
  Planes p{big.dim(0), big.dim(1), big.dim(2), big.dim(3)};
  if (exact_double && (p.H % 2 || p.W % 2))
    throw ShapeError(cat(op, ": ", big_name, " is ", big.str(), ", expected even height and width"));
  expect_shape(op, small_name, small, {p.n, p.c, p.H / 2, p.W / 2});
  return p;
}

}  // namespace

void upsample2x(Context& ctx, const Tensor& x, Tensor& y) {
  expect_tensor(ctx, "upsample2x", "x", x);
  expect_rank("upsample2x", "x", x, 4);
  expect_tensor(ctx, "upsample2x", "y", y);
  expect_shape("upsample2x", "y", y, {x.dim(0), x.dim(1), 2 * x.dim(2), 2 * x.dim(3)});
  for_each_2d(ctx, y.numel() / y.dim(3), y.dim(3), Upsample2x{x.data<float>(), y.data<float>(), x.dim(3)});
}

void upsample2x_adjoint(Context& ctx, const Tensor& y, Tensor& x) {
  Planes p = check_pair(ctx, "upsample2x_adjoint", "y", y, "x", x, true);
  for_each_2d(ctx, p.n * p.c * (p.H / 2), p.W / 2, Pool2x{y.data<float>(), x.data<float>(), p.H, p.W, 1.0f});
}

void avgpool2x(Context& ctx, const Tensor& x, Tensor& y) {
  Planes p = check_pair(ctx, "avgpool2x", "x", x, "y", y, false);
  for_each_2d(ctx, p.n * p.c * (p.H / 2), p.W / 2, Pool2x{x.data<float>(), y.data<float>(), p.H, p.W, 0.25f});
}

void avgpool2x_adjoint(Context& ctx, const Tensor& y, Tensor& x) {
  Planes p = check_pair(ctx, "avgpool2x_adjoint", "x", x, "y", y, false);
  for_each_2d(ctx, p.n * p.c * p.H, p.W, Unpool2x{y.data<float>(), x.data<float>(), p.H, p.W, 0.25f});
}

namespace {
// Checks a (N, C, L) pair: `big` of length L, `small` of length L/2 (floor); returns N*C and L.
std::pair<std::int64_t, std::int64_t> check_pair_1d(Context& ctx, const char* op, const char* big_name, const Tensor& big,
                                                    const char* small_name, const Tensor& small, bool exact_double) {
  expect_tensor(ctx, op, big_name, big);
  expect_tensor(ctx, op, small_name, small);
  expect_rank(op, big_name, big, 3);
  std::int64_t len = big.dim(2);
  if (exact_double && len % 2) throw ShapeError(cat(op, ": ", big_name, " is ", big.str(), ", expected an even length"));
  expect_shape(op, small_name, small, {big.dim(0), big.dim(1), len / 2});
  return {big.dim(0) * big.dim(1), len};
}
}  // namespace

void upsample1d(Context& ctx, const Tensor& x, Tensor& y) {
  auto [rows, len] = check_pair_1d(ctx, "upsample1d", "y", y, "x", x, true);
  for_each_2d(ctx, rows, len, Upsample1d{x.data<float>(), y.data<float>(), len / 2});
}

void upsample1d_adjoint(Context& ctx, const Tensor& y, Tensor& x) {
  auto [rows, len] = check_pair_1d(ctx, "upsample1d_adjoint", "y", y, "x", x, true);
  for_each_2d(ctx, rows, len / 2, Pool1d{y.data<float>(), x.data<float>(), len, 1.0f});
}

void avgpool1d(Context& ctx, const Tensor& x, Tensor& y) {
  auto [rows, len] = check_pair_1d(ctx, "avgpool1d", "x", x, "y", y, false);
  for_each_2d(ctx, rows, len / 2, Pool1d{x.data<float>(), y.data<float>(), len, 0.5f});
}

void avgpool1d_adjoint(Context& ctx, const Tensor& y, Tensor& x) {
  auto [rows, len] = check_pair_1d(ctx, "avgpool1d_adjoint", "x", x, "y", y, false);
  for_each_2d(ctx, rows, len, Unpool1d{y.data<float>(), x.data<float>(), len, 0.5f});
}

}  // namespace tweedie
