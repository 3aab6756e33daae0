#pragma once
// Derivative checks shared by the layer tests: central differences of a forward function, the
// dot-product identity between a JVP and a VJP, and parameter gradients against differences of
// <u, f(params)>. Arithmetic on the host in double; the layer runs on the test device.
#include <functional>
#include <vector>

#include "nn/parameter.h"
#include "support.h"

namespace tweedie::test {

// Standard normal values from std::mt19937_64.
std::vector<double> normal(std::size_t n, std::uint64_t seed, double scale = 1.0);
Tensor normal_tensor(const Shape& shape, std::uint64_t seed, double scale = 1.0);

double dot(const std::vector<double>& a, const std::vector<double>& b);
double norm(const std::vector<double>& a);
// |a - b| / |b| in the Euclidean norm.
double relative_distance(const std::vector<double>& a, const std::vector<double>& b);

using Forward = std::function<Tensor(const Tensor&)>;

// d/de f(x + e v) at e = 0 by central differences of fourth order (step eps).
std::vector<double> central_difference(const Forward& f, const Tensor& x, const Tensor& v, double eps);

// d/de <u, f(params + e delta)> at e = 0 by central differences, where f is evaluated by `output` and
// `delta` is a random direction for parameter p (same shape). Restores p afterwards.
double parameter_difference(nn::Parameter& p, const std::vector<double>& delta, const std::function<Tensor()>& output,
                            const std::vector<double>& u, double eps);

// Fills every parameter with normal values of the given scale (seeded by position).
void randomize(nn::ParameterSet& params, std::uint64_t seed, double scale);

}  // namespace tweedie::test
