#include "kernels/map.h"

#include <cmath>
#include <functional>

#include "support.h"

using namespace tweedie;

namespace {

// Double-precision definitions, written independently of kernels/map.h.
double reference(UnaryOp op, double x) {
  double s = 1 / (1 + std::exp(-x));
  switch (op) {
    case UnaryOp::neg: return -x;
    case UnaryOp::abs: return std::abs(x);
    case UnaryOp::square: return x * x;
    case UnaryOp::sqrt: return std::sqrt(x);
    case UnaryOp::exp: return std::exp(x);
    case UnaryOp::log: return std::log(x);
    case UnaryOp::sigmoid: return s;
    case UnaryOp::tanh: return std::tanh(x);
    case UnaryOp::relu: return x > 0 ? x : 0;
    case UnaryOp::silu: return x * s;
    case UnaryOp::silu_grad: return s * (1 + x * (1 - s));
    case UnaryOp::softplus: return std::log1p(std::exp(x));
  }
  return 0;
}

double reference(BinaryOp op, double a, double b) {
  switch (op) {
    case BinaryOp::add: return a + b;
    case BinaryOp::sub: return a - b;
    case BinaryOp::mul: return a * b;
    case BinaryOp::div: return a / b;
    case BinaryOp::maximum: return std::max(a, b);
    case BinaryOp::minimum: return std::min(a, b);
  }
  return 0;
}

std::string name(UnaryOp op) {
  const char* names[] = {"neg", "abs", "square", "sqrt", "exp", "log", "sigmoid", "tanh", "relu", "silu", "silu_grad", "softplus"};
  return names[int(op)];
}

}  // namespace

TEST_CASE("every unary op matches its double-precision definition elementwise") {
  const UnaryOp ops[] = {UnaryOp::neg,     UnaryOp::abs,  UnaryOp::square, UnaryOp::sqrt,
                         UnaryOp::exp,     UnaryOp::log,  UnaryOp::sigmoid, UnaryOp::tanh,
                         UnaryOp::relu,    UnaryOp::silu, UnaryOp::silu_grad, UnaryOp::softplus};
  for (UnaryOp op : ops)
    for (std::int64_t n : test::kSizes) {
      CAPTURE(name(op));
      CAPTURE(n);
      bool positive = op == UnaryOp::sqrt || op == UnaryOp::log;
      std::vector<double> x = test::as_float(test::uniform(std::size_t(n), 3, positive ? 0.01 : -12, 12));
      Tensor X = test::upload(x, {n}), Y = Tensor::empty({n}, test::device());
      unary(test::context(), op, X, Y);
      std::vector<double> y = test::download(Y);
      for (std::int64_t i = 0; i < n; ++i) {
        double want = reference(op, x[i]);
        // f32 results: a few units in the last place of the larger of the value and its inputs' scale.
        CHECK(std::abs(y[i] - want) <= 4e-7 * std::max(1.0, std::abs(want)));
      }
    }
}

TEST_CASE("silu_grad is the derivative of silu (central differences in double)") {
  std::vector<double> x = test::as_float(test::uniform(1031, 4, -8, 8));
  Tensor X = test::upload(x, {1031}), G = Tensor::empty({1031}, test::device());
  silu_grad(test::context(), X, G);
  std::vector<double> g = test::download(G);
  auto silu64 = [](double v) { return v / (1 + std::exp(-v)); };
  for (std::size_t i = 0; i < x.size(); ++i) {
    double h = 1e-5, fd = (silu64(x[i] + h) - silu64(x[i] - h)) / (2 * h);
    CHECK(g[i] == doctest::Approx(fd).epsilon(1e-5).scale(1.0));
  }
}

TEST_CASE("unary ops stay finite at extreme inputs") {
  std::vector<double> x = {-1e4, -100, -88, 0, 88, 100, 1e4};
  Tensor X = test::upload(x, {7}), Y = Tensor::empty({7}, test::device());
  for (UnaryOp op : {UnaryOp::sigmoid, UnaryOp::silu, UnaryOp::silu_grad, UnaryOp::softplus, UnaryOp::tanh}) {
    CAPTURE(name(op));
    unary(test::context(), op, X, Y);
    for (double v : test::download(Y)) CHECK(std::isfinite(v));
  }
  unary(test::context(), UnaryOp::softplus, X, Y);
  CHECK(test::download(Y)[6] == 1e4);
}

TEST_CASE("binary ops match double arithmetic, including in place") {
  const BinaryOp ops[] = {BinaryOp::add, BinaryOp::sub, BinaryOp::mul, BinaryOp::div, BinaryOp::maximum, BinaryOp::minimum};
  for (BinaryOp op : ops)
    for (std::int64_t n : test::kSizes) {
      std::vector<double> a = test::as_float(test::uniform(std::size_t(n), 5)), b = test::as_float(test::uniform(std::size_t(n), 6, 0.5, 2));
      Tensor A = test::upload(a, {n}), B = test::upload(b, {n});
      binary(test::context(), op, A, B, A);  // in place into A
      std::vector<double> y = test::download(A);
      for (std::int64_t i = 0; i < n; ++i) CHECK(y[i] == doctest::Approx(reference(op, a[i], b[i])).epsilon(1e-6));
    }
}

TEST_CASE("map errors name the op, the argument and both shapes") {
  Tensor a = Tensor::zeros({2, 3}, test::device()), b = Tensor::zeros({3, 2}, test::device());
  CHECK_THROWS_WITH_AS(add(test::context(), a, b, a), doctest::Contains("binary: b is f32 (3,2)"), ShapeError);
  CHECK_THROWS_WITH_AS(silu(test::context(), a, b), doctest::Contains("expected shape (2,3) like x"), ShapeError);
  Tensor z = Tensor::zeros({2, 3}, test::device(), DType::c64);
  CHECK_THROWS_AS(silu(test::context(), z, z), DTypeError);
  if (test::device().is_cpu()) return;
  Tensor host = Tensor::zeros({2, 3});
  CHECK_THROWS_WITH_AS(silu(test::context(), host, a), doctest::Contains("but the context runs on cuda"), DeviceError);
}
