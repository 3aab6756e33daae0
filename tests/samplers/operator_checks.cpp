#include "samplers/operator_checks.h"

#include <algorithm>
#include <cmath>
#include <complex>
#include <vector>

#include "support.h"

namespace tweedie::test {

using samplers::Operator;
using samplers::Signal;

static std::vector<double> components(const Tensor& t) {
  if (t.dtype() == DType::c64) {
    std::vector<double> out;
    for (auto z : download_complex(t)) {
      out.push_back(z.real());
      out.push_back(z.imag());
    }
    return out;
  }
  return download(t);
}

double real_dot(const Tensor& a, const Tensor& b) {
  std::vector<double> x = components(a), y = components(b);
  double s = 0;
  for (std::size_t i = 0; i < x.size(); ++i) s += x[i] * y[i];
  return s;
}

static double norm(const Tensor& t) { return std::sqrt(real_dot(t, t)); }

static Tensor random_signal(const Signal& s, std::int64_t batch, std::uint64_t seed) {
  Shape shape = samplers::batched(batch, s.shape);
  std::size_t n = std::size_t(shape.numel());
  if (s.dtype == DType::c64) return upload(complex_uniform(n, seed), shape);
  return upload(uniform(n, seed), shape);
}

Tensor random_input(const Operator& op, std::int64_t batch, std::uint64_t seed) { return random_signal(op.input(), batch, seed); }
Tensor random_output(const Operator& op, std::int64_t batch, std::uint64_t seed) { return random_signal(op.output(), batch, seed); }

double adjoint_mismatch(Context& ctx, const Operator& op, std::int64_t batch, std::uint64_t seed) {
  Tensor x = random_input(op, batch, seed), y = random_output(op, batch, seed + 1);
  Tensor ax = op.make_output(batch, ctx.device()), aty = op.make_input(batch, ctx.device());
  op.apply(ctx, x, ax);
  op.adjoint(ctx, y, aty);
  double lhs = real_dot(ax, y), rhs = real_dot(x, aty);
  return std::abs(lhs - rhs) / std::max(norm(ax) * norm(y), 1e-300);
}

double jvp_error(Context& ctx, const Operator& op, const Tensor& x, std::uint64_t seed, double h) {
  std::int64_t batch = x.dim(0);
  Tensor dx = random_input(op, batch, seed);
  Tensor jdx = op.make_output(batch, ctx.device());
  op.jvp(ctx, x, dx, jdx);
  // x +- h dx, formed on the host in double and rounded once.
  auto shifted = [&](double sign) {
    if (x.dtype() == DType::c64) {
      auto a = download_complex(x), d = download_complex(dx);
      for (std::size_t i = 0; i < a.size(); ++i) a[i] += sign * h * d[i];
      return upload(a, x.shape());
    }
    auto a = download(x), d = download(dx);
    for (std::size_t i = 0; i < a.size(); ++i) a[i] += sign * h * d[i];
    return upload(a, x.shape());
  };
  Tensor plus = op.make_output(batch, ctx.device()), minus = op.make_output(batch, ctx.device());
  op.apply(ctx, shifted(+1), plus);
  op.apply(ctx, shifted(-1), minus);
  std::vector<double> j = components(jdx), p = components(plus), m = components(minus);
  double err = 0, ref = 0;
  for (std::size_t i = 0; i < j.size(); ++i) {
    double fd = (p[i] - m[i]) / (2 * h);
    err += (j[i] - fd) * (j[i] - fd);
    ref += fd * fd;
  }
  return std::sqrt(err / std::max(ref, 1e-300));
}

double vjp_mismatch(Context& ctx, const Operator& op, const Tensor& x, std::uint64_t seed) {
  std::int64_t batch = x.dim(0);
  Tensor dx = random_input(op, batch, seed), dy = random_output(op, batch, seed + 1);
  Tensor jdx = op.make_output(batch, ctx.device()), jtdy = op.make_input(batch, ctx.device());
  op.jvp(ctx, x, dx, jdx);
  op.vjp(ctx, x, dy, jtdy);
  double lhs = real_dot(jdx, dy), rhs = real_dot(dx, jtdy);
  return std::abs(lhs - rhs) / std::max(norm(jdx) * norm(dy), 1e-300);
}

}  // namespace tweedie::test
