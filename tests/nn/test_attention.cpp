#include "nn/attention.h"

#include <cmath>

#include "gradcheck.h"

using namespace tweedie;
using namespace tweedie::nn;

namespace {

struct Case {
  AttentionSpec spec;
  Shape x;
};
const Case kCases[] = {
    {{64, 2, true}, {2, 64, 4, 3}},    // legacy order, 2 heads, 12 positions
    {{64, 2, false}, {2, 64, 4, 3}},   // new order
    {{32, 1, true}, {1, 32, 17}},      // 1-D signal, one head
    {{96, 3, false}, {2, 96, 2, 2}},
};

// The attention block from its definition, in double: GroupNorm(32), qkv, per-head softmax attention
// with guided-diffusion's two head orders, projection, residual.
std::vector<double> reference(const Case& k, const std::vector<double>& x, ParameterSet& p) {
  auto get = [&](const char* name) { return test::download(p.find(std::string("attn.") + name)->value); };
  std::vector<double> gw = get("norm.weight"), gb = get("norm.bias"), wq = get("qkv.weight"), bq = get("qkv.bias"),
                      wp = get("proj_out.weight"), bp = get("proj_out.bias");
  std::int64_t n = k.x[0], C = k.spec.channels, T = k.x.numel() / (n * C), H = k.spec.heads, ch = C / H, G = 32;
  std::vector<double> y(x.size());
  for (std::int64_t i = 0; i < n; ++i) {
    const double* xi = x.data() + i * C * T;
    std::vector<double> h(C * T), qkv(3 * C * T), a(C * T);
    for (std::int64_t g = 0; g < G; ++g) {
      std::int64_t cg = C / G;
      double mu = 0, var = 0;
      for (std::int64_t e = 0; e < cg * T; ++e) mu += xi[g * cg * T + e];
      mu /= double(cg * T);
      for (std::int64_t e = 0; e < cg * T; ++e) var += std::pow(xi[g * cg * T + e] - mu, 2);
      var /= double(cg * T);
      for (std::int64_t e = 0; e < cg * T; ++e) {
        std::int64_t c = g * cg + e / T;
        h[g * cg * T + e] = (xi[g * cg * T + e] - mu) / std::sqrt(var + 1e-5) * gw[c] + gb[c];
      }
    }
    for (std::int64_t o = 0; o < 3 * C; ++o)
      for (std::int64_t t = 0; t < T; ++t) {
        double s = bq[o];
        for (std::int64_t c = 0; c < C; ++c) s += wq[o * C + c] * h[c * T + t];
        qkv[o * T + t] = s;
      }
    for (std::int64_t hd = 0; hd < H; ++hd) {
      auto row = [&](int which, std::int64_t c) {  // channel c of q/k/v (which = 0, 1, 2) of head hd
        std::int64_t r = k.spec.legacy_order ? hd * 3 * ch + which * ch + c : which * C + hd * ch + c;
        return qkv.data() + r * T;
      };
      for (std::int64_t t = 0; t < T; ++t) {
        std::vector<double> w(T);
        double mx = -1e300, z = 0;
        for (std::int64_t s = 0; s < T; ++s) {
          double d = 0;
          for (std::int64_t c = 0; c < ch; ++c) d += row(0, c)[t] * row(1, c)[s];
          w[s] = d / std::sqrt(double(ch));
          mx = std::max(mx, w[s]);
        }
        for (double& v : w) z += (v = std::exp(v - mx));
        for (std::int64_t c = 0; c < ch; ++c) {
          double s = 0;
          for (std::int64_t u = 0; u < T; ++u) s += w[u] / z * row(2, c)[u];
          a[(hd * ch + c) * T + t] = s;
        }
      }
    }
    for (std::int64_t o = 0; o < C; ++o)
      for (std::int64_t t = 0; t < T; ++t) {
        double s = bp[o];
        for (std::int64_t c = 0; c < C; ++c) s += wp[o * C + c] * a[c * T + t];
        y[(i * C + o) * T + t] = xi[o * T + t] + s;
      }
  }
  return y;
}

}  // namespace

TEST_CASE("attention forward matches the definition in double, for both head orders") {
  for (const Case& k : kCases) {
    CAPTURE(k.spec.legacy_order);
    ParameterSet params(test::device());
    Attention attn(params, "attn", k.spec);
    test::randomize(params, 1, 0.3);
    std::vector<double> x = test::normal(std::size_t(k.x.numel()), 2);
    Tensor X = test::upload(x, k.x), Y = Tensor::empty(k.x, test::device());
    attn.forward(test::context(), X, Y);
    CHECK(test::max_relative_error(test::download(Y), reference(k, x, params)) < 2e-5);
  }
}

TEST_CASE("attention: JVP against differences, VJP by the dot-product identity, parameter gradients") {
  for (const Case& k : kCases) {
    CAPTURE(k.x.str());
    ParameterSet params(test::device());
    Attention attn(params, "attn", k.spec);
    test::randomize(params, 3, 0.3);
    Tensor X = test::normal_tensor(k.x, 4), V = test::normal_tensor(k.x, 5), U = test::normal_tensor(k.x, 6);
    Tensor Y = Tensor::empty(k.x, test::device()), JV = Tensor::empty(k.x, test::device()), JU = Tensor::empty(k.x, test::device());
    Attention::State state;
    attn.linearize(test::context(), X, Y, state);
    attn.jvp(test::context(), state, V, JV);
    auto f = [&](const Tensor& x) {
      Tensor y = Tensor::empty(k.x, test::device());
      attn.forward(test::context(), x, y);
      return y;
    };
    CHECK(test::relative_distance(test::download(JV), test::central_difference(f, X, V, 1e-2)) < 1e-3);
    attn.vjp(test::context(), state, U, JU, false, true);
    CHECK(test::dot(test::download(U), test::download(JV)) == doctest::Approx(test::dot(test::download(JU), test::download(V))).epsilon(1e-4));
    std::vector<double> u = test::download(U);
    for (Parameter* p : params.all()) {
      CAPTURE(p->name);
      std::vector<double> delta = test::normal(std::size_t(p->value.numel()), 7);
      double fd = test::parameter_difference(*p, delta, [&] { return f(X); }, u, 1e-2);
      CHECK(test::dot(test::download(p->grad), delta) == doctest::Approx(fd).epsilon(1e-3));
    }
  }
}

TEST_CASE("attention pushes several tangents per item in one batch") {
  const Case& k = kCases[1];
  ParameterSet params(test::device());
  Attention attn(params, "attn", k.spec);
  test::randomize(params, 8, 0.3);
  Tensor X = test::normal_tensor(k.x, 9), Y = Tensor::empty(k.x, test::device());
  Attention::State state;
  attn.linearize(test::context(), X, Y, state);
  const std::int64_t copies = 3, n = k.x[0];
  Shape big{copies * n, k.x[1], k.x[2], k.x[3]};
  Tensor V = test::normal_tensor(big, 10), JV = Tensor::empty(big, test::device());
  attn.jvp(test::context(), state, V, JV);
  for (std::int64_t c = 0; c < copies; ++c) {
    Tensor one = V.slice(c * n, n).clone(), out = Tensor::empty(k.x, test::device());
    attn.jvp(test::context(), state, one, out);
    CHECK(test::max_relative_error(test::download(JV.slice(c * n, n).clone()), test::download(out)) < 1e-6);
  }
}
