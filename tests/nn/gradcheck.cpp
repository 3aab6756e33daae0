#include "gradcheck.h"

#include <cmath>
#include <random>

namespace tweedie::test {

std::vector<double> normal(std::size_t n, std::uint64_t seed, double scale) {
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> z(0.0, scale);
  std::vector<double> v(n);
  for (double& x : v) x = z(gen);
  return as_float(v);
}

Tensor normal_tensor(const Shape& shape, std::uint64_t seed, double scale) {
  return upload(normal(std::size_t(shape.numel()), seed, scale), shape);
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

double norm(const std::vector<double>& a) { return std::sqrt(dot(a, a)); }

double relative_distance(const std::vector<double>& a, const std::vector<double>& b) {
  REQUIRE(a.size() == b.size());
  double d = 0;
  for (std::size_t i = 0; i < a.size(); ++i) d += (a[i] - b[i]) * (a[i] - b[i]);
  return std::sqrt(d) / std::max(norm(b), 1e-300);
}

// The five-point stencil (-f(2h) + 8 f(h) - 8 f(-h) + f(-2h)) / 12h: truncation error O(h^4), so h can be
// large enough that f32 rounding of f stays far below the tolerances.
std::vector<double> central_difference(const Forward& f, const Tensor& x, const Tensor& v, double eps) {
  std::vector<double> xv = download(x), vv = download(v), shifted(xv.size());
  auto at = [&](double e) {
    for (std::size_t i = 0; i < xv.size(); ++i) shifted[i] = xv[i] + e * vv[i];
    return download(f(upload(shifted, x.shape())));
  };
  std::vector<double> p1 = at(eps), m1 = at(-eps), p2 = at(2 * eps), m2 = at(-2 * eps);
  for (std::size_t i = 0; i < p1.size(); ++i) p1[i] = (8 * (p1[i] - m1[i]) - (p2[i] - m2[i])) / (12 * eps);
  return p1;
}

double parameter_difference(nn::Parameter& p, const std::vector<double>& delta, const std::function<Tensor()>& output,
                            const std::vector<double>& u, double eps) {
  std::vector<double> original = download(p.value), shifted(original.size());
  auto at = [&](double e) {
    for (std::size_t i = 0; i < original.size(); ++i) shifted[i] = original[i] + e * delta[i];
    p.value.copy_from(upload(shifted, p.value.shape()));
    return dot(u, download(output()));
  };
  double d = (8 * (at(eps) - at(-eps)) - (at(2 * eps) - at(-2 * eps))) / (12 * eps);
  p.value.copy_from(upload(original, p.value.shape()));
  return d;
}

void randomize(nn::ParameterSet& params, std::uint64_t seed, double scale) {
  for (nn::Parameter* p : params.all()) p->value.copy_from(normal_tensor(p->value.shape(), seed++, scale));
}

}  // namespace tweedie::test
