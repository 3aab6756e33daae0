#include "kernels/map.h"

#include "runtime/check.h"
#include "runtime/parallel.h"

namespace tweedie {
namespace {

template <UnaryOp op>
void run(Context& ctx, const Tensor& x, Tensor& y) {
  for_each(ctx, x.numel(), UnaryMap<op>{x.data<float>(), y.data<float>()});
}

template <BinaryOp op>
void run(Context& ctx, const Tensor& a, const Tensor& b, Tensor& y) {
  for_each(ctx, a.numel(), BinaryMap<op>{a.data<float>(), b.data<float>(), y.data<float>()});
}

}  // namespace

void unary(Context& ctx, UnaryOp op, const Tensor& x, Tensor& y) {
  expect_tensor(ctx, "unary", "x", x);
  expect_tensor(ctx, "unary", "y", y);
  expect_same_shape("unary", "x", x, "y", y);
  switch (op) {
    case UnaryOp::neg: return run<UnaryOp::neg>(ctx, x, y);
    case UnaryOp::abs: return run<UnaryOp::abs>(ctx, x, y);
    case UnaryOp::square: return run<UnaryOp::square>(ctx, x, y);
    case UnaryOp::sqrt: return run<UnaryOp::sqrt>(ctx, x, y);
    case UnaryOp::exp: return run<UnaryOp::exp>(ctx, x, y);
    case UnaryOp::log: return run<UnaryOp::log>(ctx, x, y);
    case UnaryOp::sigmoid: return run<UnaryOp::sigmoid>(ctx, x, y);
    case UnaryOp::tanh: return run<UnaryOp::tanh>(ctx, x, y);
    case UnaryOp::relu: return run<UnaryOp::relu>(ctx, x, y);
    case UnaryOp::silu: return run<UnaryOp::silu>(ctx, x, y);
    case UnaryOp::silu_grad: return run<UnaryOp::silu_grad>(ctx, x, y);
    case UnaryOp::softplus: return run<UnaryOp::softplus>(ctx, x, y);
  }
}

void binary(Context& ctx, BinaryOp op, const Tensor& a, const Tensor& b, Tensor& y) {
  expect_tensor(ctx, "binary", "a", a);
  expect_tensor(ctx, "binary", "b", b);
  expect_tensor(ctx, "binary", "y", y);
  expect_same_shape("binary", "a", a, "b", b);
  expect_same_shape("binary", "a", a, "y", y);
  switch (op) {
    case BinaryOp::add: return run<BinaryOp::add>(ctx, a, b, y);
    case BinaryOp::sub: return run<BinaryOp::sub>(ctx, a, b, y);
    case BinaryOp::mul: return run<BinaryOp::mul>(ctx, a, b, y);
    case BinaryOp::div: return run<BinaryOp::div>(ctx, a, b, y);
    case BinaryOp::maximum: return run<BinaryOp::maximum>(ctx, a, b, y);
    case BinaryOp::minimum: return run<BinaryOp::minimum>(ctx, a, b, y);
  }
}

}  // namespace tweedie
