#include "nn/norm_act.h"

#include <cmath>

#include "gradcheck.h"

using namespace tweedie;
using namespace tweedie::nn;

namespace {

struct Case {
  NormActSpec spec;
  Shape x;
  bool modulated;
};

const Case kCases[] = {
    {{64, 32, 1e-5f, true}, {2, 64, 5, 3}, true},    // ADM ResBlock out_layers with scale-shift
    {{64, 32, 1e-5f, true}, {2, 64, 7, 7}, false},   // in_layers: GN + SiLU
    {{96, 32, 1e-5f, false}, {3, 96, 33}, false},    // attention norm on (N, C, T): no SiLU
    {{8, 4, 1e-5f, true}, {1, 8, 1031}, true},       // long groups
};

// GroupNorm, modulation and SiLU from the definition, in double.
std::vector<double> reference(const Case& k, const std::vector<double>& x, const std::vector<double>& w,
                              const std::vector<double>& b, const std::vector<double>& mod) {
  std::int64_t n = k.x[0], C = k.spec.channels, S = k.x.numel() / (n * C), G = k.spec.groups, per = C / G * S;
  std::vector<double> y(x.size());
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t g = 0; g < G; ++g) {
      std::int64_t base = (i * C + g * (C / G)) * S;
      double mu = 0, var = 0;
      for (std::int64_t e = 0; e < per; ++e) mu += x[base + e];
      mu /= double(per);
      for (std::int64_t e = 0; e < per; ++e) var += (x[base + e] - mu) * (x[base + e] - mu);
      var /= double(per);
      for (std::int64_t e = 0; e < per; ++e) {
        std::int64_t c = g * (C / G) + e / S;
        double u = (x[base + e] - mu) / std::sqrt(var + k.spec.eps) * w[c] + b[c];
        if (!mod.empty()) u = u * (1 + mod[i * 2 * C + c]) + mod[i * 2 * C + C + c];
        y[base + e] = k.spec.silu ? u / (1 + std::exp(-u)) : u;
      }
    }
  return y;
}

}  // namespace

TEST_CASE("norm_act forward matches GroupNorm, scale-shift and SiLU in double") {
  for (const Case& k : kCases) {
    ParameterSet params(test::device());
    NormAct layer(params, "norm", k.spec);
    test::randomize(params, 1, 0.5);
    std::vector<double> x = test::normal(std::size_t(k.x.numel()), 2, 2.0);
    for (double& v : x) v += 3.0;  // a mean far from zero
    std::vector<double> mod = k.modulated ? test::normal(std::size_t(k.x[0] * 2 * k.spec.channels), 3, 0.5) : std::vector<double>{};
    Tensor X = test::upload(x, k.x), Y = Tensor::empty(k.x, test::device());
    Tensor M = k.modulated ? test::upload(mod, {k.x[0], 2 * k.spec.channels}) : Tensor();
    layer.forward(test::context(), X, M, Y);
    std::vector<double> want = reference(k, test::as_float(x), test::download(params.find("norm.weight")->value),
                                         test::download(params.find("norm.bias")->value), mod);
    CHECK(test::max_relative_error(test::download(Y), want) < 2e-5);
  }
}

TEST_CASE("norm_act: JVP against central differences, VJP by the dot-product identity, gradients by differences") {
  for (const Case& k : kCases) {
    CAPTURE(k.x.str());
    ParameterSet params(test::device());
    NormAct layer(params, "norm", k.spec);
    test::randomize(params, 4, 0.5);
    Shape ms{k.x[0], 2 * k.spec.channels};
    Tensor X = test::normal_tensor(k.x, 5), V = test::normal_tensor(k.x, 6), U = test::normal_tensor(k.x, 7);
    Tensor M = k.modulated ? test::normal_tensor(ms, 8, 0.5) : Tensor();
    Tensor Y = Tensor::empty(k.x, test::device()), JV = Tensor::empty(k.x, test::device()), JU = Tensor::empty(k.x, test::device());
    NormAct::State state;
    layer.linearize(test::context(), X, M, Y, state);
    layer.jvp(test::context(), state, V, JV);
    auto f = [&](const Tensor& x) {
      Tensor y = Tensor::empty(k.x, test::device());
      layer.forward(test::context(), x, M, y);
      return y;
    };
    CHECK(test::relative_distance(test::download(JV), test::central_difference(f, X, V, 1e-2)) < 1e-3);
    Tensor GM = k.modulated ? Tensor::empty(ms, test::device()) : Tensor();
    layer.vjp(test::context(), state, U, JU, false, k.modulated ? &GM : nullptr, true);
    CHECK(test::dot(test::download(U), test::download(JV)) == doctest::Approx(test::dot(test::download(JU), test::download(V))).epsilon(1e-4));
    std::vector<double> u = test::download(U);
    for (Parameter* p : params.all()) {
      CAPTURE(p->name);
      std::vector<double> delta = test::normal(std::size_t(p->value.numel()), 9);
      double fd = test::parameter_difference(*p, delta, [&] { return f(X); }, u, 1e-2);
      CHECK(test::dot(test::download(p->grad), delta) == doctest::Approx(fd).epsilon(1e-3));
    }
    if (k.modulated) {  // the modulation's cotangent, by differences along a random direction
      auto g = [&](const Tensor& m) {
        Tensor y = Tensor::empty(k.x, test::device());
        layer.forward(test::context(), X, m, y);
        return y;
      };
      Tensor D = test::normal_tensor(ms, 10);
      double fd = test::dot(u, test::central_difference(g, M, D, 1e-2));
      CHECK(test::dot(test::download(GM), test::download(D)) == doctest::Approx(fd).epsilon(1e-3));
    }
  }
}

TEST_CASE("norm_act pushes several tangents per item in one batch") {
  const Case& k = kCases[0];
  ParameterSet params(test::device());
  NormAct layer(params, "norm", k.spec);
  test::randomize(params, 11, 0.5);
  const std::int64_t copies = 3, n = k.x[0];
  Shape big{copies * n, k.x[1], k.x[2], k.x[3]};
  Tensor X = test::normal_tensor(k.x, 12), M = test::normal_tensor({n, 2 * k.spec.channels}, 13, 0.5);
  Tensor Y = Tensor::empty(k.x, test::device());
  NormAct::State state;
  layer.linearize(test::context(), X, M, Y, state);
  Tensor V = test::normal_tensor(big, 14), JV = Tensor::empty(big, test::device());
  layer.jvp(test::context(), state, V, JV);
  for (std::int64_t c = 0; c < copies; ++c) {
    Tensor one = V.slice(c * n, n).clone(), out = Tensor::empty(k.x, test::device());
    layer.jvp(test::context(), state, one, out);
    CHECK(test::download(JV.slice(c * n, n).clone()) == test::download(out));
  }
  Tensor odd = Tensor::empty({5, k.x[1], k.x[2], k.x[3]}, test::device());
  CHECK_THROWS_WITH_AS(layer.jvp(test::context(), state, odd, odd), doctest::Contains("not a whole number of copies"), ShapeError);
}
