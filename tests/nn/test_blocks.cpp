// Derivative checks for the composite layers: Linear, ResBlock (every variant), Resampler, the MLP with
// more outputs than inputs, and the timestep embedding against its closed form.
#include <cmath>

#include "gradcheck.h"
#include "nn/linear.h"
#include "nn/mlp.h"
#include "nn/resblock.h"
#include "nn/resample.h"
#include "nn/timestep.h"

using namespace tweedie;
using namespace tweedie::nn;

namespace {

// The checks every layer gets: JVP vs central differences, the dot-product identity, parameter
// gradients vs differences of <u, f>. `forward` evaluates the layer at x; `jvp` and `vjp` use a
// linearization made at X (vjp also accumulates parameter gradients once).
void check_derivatives(ParameterSet& params, const Tensor& X, const Shape& y_shape, const test::Forward& forward,
                       const std::function<Tensor(const Tensor&)>& jvp, const std::function<Tensor(const Tensor&)>& vjp) {
  Tensor V = test::normal_tensor(X.shape(), 101), U = test::normal_tensor(y_shape, 102);
  std::vector<double> jv = test::download(jvp(V));
  CHECK(test::relative_distance(jv, test::central_difference(forward, X, V, 1e-2)) < 1e-3);
  params.zero_gradients(test::context());
  std::vector<double> ju = test::download(vjp(U)), u = test::download(U);
  CHECK(test::dot(u, jv) == doctest::Approx(test::dot(ju, test::download(V))).epsilon(1e-4));
  // Some gradients vanish exactly (a bias just before a GroupNorm whose groups are single channels), so
  // each is compared against its own size and against 1% of the largest one in the layer. The tolerance
  // (5e-3) is set by the differences, not the VJP: the f32 forward pass is exact to ~1e-6, which a step
  // of 3e-3 turns into ~1e-3 of noise, and larger steps meet the curvature of small GroupNorm groups.
  // (tests/nn/test_golden.cpp holds parameter gradients to 1e-4 against PyTorch.)
  std::vector<std::pair<double, double>> pairs;  // (VJP, finite difference)
  double largest = 0;
  for (Parameter* p : params.all()) {
    REQUIRE(p->grad.defined());
    std::vector<double> delta = test::normal(std::size_t(p->value.numel()), 103);
    double fd = test::parameter_difference(*p, delta, [&] { return forward(X); }, u, 3e-3);
    pairs.emplace_back(test::dot(test::download(p->grad), delta), fd);
    largest = std::max(largest, std::abs(fd));
  }
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    CAPTURE(params.all()[i]->name);
    CAPTURE(pairs[i].first);
    CAPTURE(pairs[i].second);
    CHECK(std::abs(pairs[i].first - pairs[i].second) <= 5e-3 * std::max(std::abs(pairs[i].second), 0.01 * largest));
  }
}

}  // namespace

TEST_CASE("linear: forward, JVP, VJP and gradients") {
  ParameterSet params(test::device());
  Linear layer(params, "lin", 33, 7);
  test::randomize(params, 1, 0.3);
  Tensor X = test::normal_tensor({5, 33}, 2);
  auto f = [&](const Tensor& x) {
    Tensor y = Tensor::empty({x.dim(0), 7}, test::device());
    layer.forward(test::context(), x, y);
    return y;
  };
  // y = x W^T + b by hand
  std::vector<double> x = test::download(X), w = test::download(params.find("lin.weight")->value),
                      b = test::download(params.find("lin.bias")->value), y = test::download(f(X));
  for (int i = 0; i < 5; ++i)
    for (int o = 0; o < 7; ++o) {
      double s = b[o];
      for (int k = 0; k < 33; ++k) s += x[i * 33 + k] * w[o * 33 + k];
      CHECK(y[i * 7 + o] == doctest::Approx(s).epsilon(1e-5));
    }
  Linear::State state;
  Tensor Y = Tensor::empty({5, 7}, test::device());
  layer.linearize(test::context(), X, Y, state);
  check_derivatives(params, X, {5, 7}, f,
                    [&](const Tensor& v) {
                      Tensor dy = Tensor::empty({5, 7}, test::device());
                      layer.jvp(test::context(), v, dy);
                      return dy;
                    },
                    [&](const Tensor& u) {
                      Tensor gx = Tensor::empty({5, 33}, test::device());
                      layer.vjp(test::context(), state, u, &gx, false, true);
                      return gx;
                    });
}

TEST_CASE("resblock: every variant passes the derivative checks, including the embedding's cotangent") {
  struct Case {
    ResBlockSpec spec;
    Shape x;
  };
  const Case cases[] = {
      {{2, 32, 32, 16, true, Resample::none}, {2, 32, 8, 6}},   // identity skip, scale-shift
      {{2, 64, 64, 16, false, Resample::none}, {2, 64, 5, 5}},  // additive embedding (two channels per group)
      {{2, 64, 32, 16, false, Resample::none}, {2, 64, 5, 5}},  // 1x1 skip
      {{2, 32, 32, 16, true, Resample::down}, {2, 32, 8, 8}},   // resblock_updown, down
      {{2, 32, 32, 16, false, Resample::up}, {1, 32, 4, 3}},    // resblock_updown, up
      {{1, 32, 64, 8, true, Resample::down}, {2, 32, 16}},      // 1-D with a channel change
  };
  for (const Case& k : cases) {
    CAPTURE(k.x.str());
    ParameterSet params(test::device());
    ResBlock block(params, "rb", k.spec);
    test::randomize(params, 4, 0.3);
    Shape ys = block.output_shape(k.x);
    Tensor X = test::normal_tensor(k.x, 5), E = test::normal_tensor({k.x[0], k.spec.emb}, 6);
    auto f = [&](const Tensor& x) {
      Tensor y = Tensor::empty(ys, test::device());
      block.forward(test::context(), x, E, y);
      return y;
    };
    ResBlock::State state;
    Tensor Y = Tensor::empty(ys, test::device());
    block.linearize(test::context(), X, E, Y, state);
    CHECK(test::download(Y) == test::download(f(X)));
    Tensor GE = Tensor::zeros({k.x[0], k.spec.emb}, test::device());
    check_derivatives(params, X, ys, f,
                      [&](const Tensor& v) {
                        Tensor dy = Tensor::empty(ys, test::device());
                        block.jvp(test::context(), state, v, dy);
                        return dy;
                      },
                      [&](const Tensor& u) {
                        Tensor gx = Tensor::empty(k.x, test::device());
                        block.vjp(test::context(), state, u, gx, false, &GE, true);
                        return gx;
                      });
    // d<u, f>/d(emb_act) along a random direction.
    Tensor U = test::normal_tensor(ys, 102), D = test::normal_tensor(E.shape(), 104);
    auto g = [&](const Tensor& e) {
      Tensor y = Tensor::empty(ys, test::device());
      block.forward(test::context(), X, e, y);
      return y;
    };
    double fd = test::dot(test::download(U), test::central_difference(g, E, D, 1e-2));
    CHECK(test::dot(test::download(GE), test::download(D)) == doctest::Approx(fd).epsilon(1e-3));
  }
}

TEST_CASE("resampler: conv and plain up/downsampling pass the derivative checks") {
  struct Case {
    Resample direction;
    int dims;
    bool conv;
    Shape x;
  };
  const Case cases[] = {{Resample::up, 2, true, {2, 4, 3, 5}},  {Resample::down, 2, true, {2, 4, 6, 5}},
                        {Resample::down, 2, false, {2, 4, 6, 4}}, {Resample::up, 2, false, {1, 3, 2, 2}},
                        {Resample::up, 1, true, {2, 4, 7}},      {Resample::down, 1, true, {2, 4, 9}},
                        {Resample::down, 1, false, {2, 4, 8}}};
  for (const Case& k : cases) {
    CAPTURE(k.x.str());
    ParameterSet params(test::device());
    Resampler layer(params, "rs", k.direction, k.dims, k.x[1], k.conv);
    test::randomize(params, 7, 0.3);
    CHECK(params.size() == (k.conv ? 2u : 0u));
    if (k.conv) CHECK(params.find(k.direction == Resample::up ? "rs.conv.weight" : "rs.op.weight") != nullptr);
    Shape ys = layer.output_shape(k.x);
    Tensor X = test::normal_tensor(k.x, 8);
    auto f = [&](const Tensor& x) {
      Tensor y = Tensor::empty(ys, test::device());
      layer.forward(test::context(), x, y);
      return y;
    };
    Resampler::State state;
    Tensor Y = Tensor::empty(ys, test::device());
    layer.linearize(test::context(), X, Y, state);
    check_derivatives(params, X, ys, f,
                      [&](const Tensor& v) {
                        Tensor dy = Tensor::empty(ys, test::device());
                        layer.jvp(test::context(), v, dy);
                        return dy;
                      },
                      [&](const Tensor& u) {
                        Tensor gx = Tensor::empty(k.x, test::device());
                        layer.vjp(test::context(), state, u, gx, false, true);
                        return gx;
                      });
  }
}

TEST_CASE("timestep embedding: cosine half first, geometric frequencies from 1 to 1/10000, zero pad for odd sizes") {
  std::vector<float> t = {0.0f, 1.0f, 37.0f, 999.0f};
  for (std::int64_t dim : {2, 7, 128}) {
    CAPTURE(dim);
    std::vector<double> e = test::download(timestep_embedding(t, dim, test::device()));
    std::int64_t half = dim / 2;
    for (std::size_t b = 0; b < t.size(); ++b) {
      for (std::int64_t i = 0; i < half; ++i) {
        double freq = std::exp(-std::log(10000.0) * double(i) / double(half)), arg = t[b] * freq;
        // f32 arguments: t * freq is rounded to float, which at t ~ 1e3 moves the angle by ~3e-5.
        double tol = 4e-7 * std::max(1.0, arg);
        CHECK(std::abs(e[b * dim + i] - std::cos(arg)) <= tol);
        CHECK(std::abs(e[b * dim + half + i] - std::sin(arg)) <= tol);
      }
      if (dim % 2) CHECK(e[b * dim + dim - 1] == 0.0);
    }
  }
}

TEST_CASE("mlp with out_dim != dim (inference networks): JVP, VJP and gradients; the config round-trips") {
  MlpConfig c;
  c.dim = 6, c.hidden = 16, c.depth = 2, c.emb_dim = 8, c.out_dim = 10;
  CHECK(MlpConfig::from_json(c.to_json(), "test").out_dim == 10);
  MlpConfig plain;
  CHECK(plain.to_json().find("out_dim") == std::string::npos);  // denoiser configs are written as before
  Mlp mlp(c, test::device());
  test::randomize(mlp.parameters(), 5, 0.3);
  Tensor X = test::normal_tensor({4, 6}, 6);
  const Conditioning cond{{10.0f, 250.0f, 600.0f, 990.0f}, {}};
  CHECK(mlp.output_shape(X.shape()) == Shape{4, 10});
  auto f = [&](const Tensor& x) {
    Tensor y = Tensor::empty({4, 10}, test::device());
    mlp.forward(test::context(), x, cond, y);
    return y;
  };
  Tensor Y = Tensor::empty({4, 10}, test::device());
  auto lin = mlp.linearize(test::context(), X, cond, Y);
  check_derivatives(mlp.parameters(), X, {4, 10}, f,
                    [&](const Tensor& v) {
                      Tensor dy = Tensor::empty({4, 10}, test::device());
                      mlp.jvp(test::context(), *lin, v, dy);
                      return dy;
                    },
                    [&](const Tensor& u) {
                      Tensor gx = Tensor::empty({4, 6}, test::device());
                      mlp.vjp(test::context(), *lin, u, gx, true);
                      return gx;
                    });
}
