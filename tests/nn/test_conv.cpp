#include "nn/conv.h"

#include "gradcheck.h"

using namespace tweedie;
using namespace tweedie::nn;

namespace {

struct Case {
  ConvSpec spec;
  Shape x;
};

const Case kCases[] = {
    {{2, 3, 5, 3, 1, 1, true}, {2, 3, 7, 6}},   // 3x3, padding 1
    {{2, 4, 3, 3, 2, 1, true}, {2, 4, 9, 8}},   // stride-2 downsampling
    {{2, 6, 4, 1, 1, 0, true}, {3, 6, 5, 5}},   // 1x1
    {{1, 3, 4, 3, 1, 1, true}, {2, 3, 33}},     // 1-D
    {{1, 5, 7, 1, 1, 0, false}, {2, 5, 11}},    // 1-D 1x1 without bias (attention projections)
    {{2, 2, 3, 3, 1, 1, true}, {1, 2, 1, 1}},   // a single pixel
};

// Direct convolution in double from the definition.
std::vector<double> conv_reference(const ConvSpec& s, const Shape& xs, const std::vector<double>& x,
                                   const std::vector<double>& w, const std::vector<double>& b, const Shape& ys) {
  bool two = s.dims == 2;
  std::int64_t n = xs[0], H = two ? xs[2] : 1, W = two ? xs[3] : xs[2], Ho = two ? ys[2] : 1, Wo = two ? ys[3] : ys[2];
  std::int64_t kh = two ? s.kernel : 1, sh = two ? s.stride : 1, ph = two ? s.padding : 0;
  std::vector<double> y(std::size_t(ys.numel()));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t o = 0; o < s.out; ++o)
      for (std::int64_t oy = 0; oy < Ho; ++oy)
        for (std::int64_t ox = 0; ox < Wo; ++ox) {
          double acc = b.empty() ? 0.0 : b[o];
          for (std::int64_t c = 0; c < s.in; ++c)
            for (std::int64_t ki = 0; ki < kh; ++ki)
              for (std::int64_t kj = 0; kj < s.kernel; ++kj) {
                std::int64_t iy = oy * sh - ph + ki, ix = ox * s.stride - s.padding + kj;
                if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
                acc += w[((o * s.in + c) * kh + ki) * s.kernel + kj] * x[((i * s.in + c) * H + iy) * W + ix];
              }
          y[((i * s.out + o) * Ho + oy) * Wo + ox] = acc;
        }
  return y;
}

// Every host route this build has (oneDNN's kernels and im2col + GEMM), or the device's one.
std::vector<HostConv> routes() {
  if (test::device().is_cuda() || !onednn_available()) return {host_conv(test::context())};
  return {HostConv::onednn, HostConv::gemm};
}

// Runs the body with the test context on `route`, then puts the default back.
struct OnRoute {
  explicit OnRoute(HostConv route) : saved(host_conv(test::context())) {
    if (!test::device().is_cuda()) set_host_conv(test::context(), route);
  }
  ~OnRoute() { set_host_conv(test::context(), saved); }
  HostConv saved;
};

}  // namespace

TEST_CASE("conv forward matches a direct double-precision convolution") {
  for (HostConv route : routes())
  for (const Case& k : kCases) {
    CAPTURE(host_conv_name(route));
    OnRoute on(route);
    ParameterSet params(test::device());
    Conv conv(params, "conv", k.spec);
    test::randomize(params, 10, 0.5);
    Shape ys = conv.output_shape(k.x);
    std::vector<double> x = test::normal(std::size_t(k.x.numel()), 1);
    Tensor X = test::upload(x, k.x), Y = Tensor::empty(ys, test::device());
    conv.forward(test::context(), X, Y);
    std::vector<double> b = k.spec.bias ? test::download(conv.bias()->value) : std::vector<double>{};
    std::vector<double> want = conv_reference(k.spec, k.x, x, test::download(conv.weight()->value), b, ys);
    CHECK(test::max_relative_error(test::download(Y), want) < 1e-5);
  }
}

TEST_CASE("conv: JVP is the forward map of the tangent, and the VJP is its transpose") {
  for (HostConv route : routes())
  for (const Case& k : kCases) {
    CAPTURE(host_conv_name(route));
    OnRoute on(route);
    ParameterSet params(test::device());
    Conv conv(params, "conv", k.spec);
    test::randomize(params, 20, 0.5);
    Shape ys = conv.output_shape(k.x);
    Tensor X = test::normal_tensor(k.x, 2), V = test::normal_tensor(k.x, 3), U = test::normal_tensor(ys, 4);
    Tensor Y = Tensor::empty(ys, test::device()), JV = Tensor::empty(ys, test::device()), JU = Tensor::empty(k.x, test::device());
    Conv::State state;
    conv.linearize(test::context(), X, Y, state);
    conv.jvp(test::context(), V, JV);
    auto f = [&](const Tensor& x) {
      Tensor y = Tensor::empty(ys, test::device());
      conv.forward(test::context(), x, y);
      return y;
    };
    CHECK(test::relative_distance(test::download(JV), test::central_difference(f, X, V, 1e-2)) < 1e-3);
    conv.vjp(test::context(), state, U, JU, false, true);
    double uJv = test::dot(test::download(U), test::download(JV)), Jtu_v = test::dot(test::download(JU), test::download(V));
    CHECK(uJv == doctest::Approx(Jtu_v).epsilon(1e-4));
    // accumulate adds onto what is there
    Tensor twice = JU.clone();
    conv.vjp(test::context(), state, U, twice, true, false);
    CHECK(test::relative_distance(test::download(twice), [&] {
            auto v = test::download(JU);
            for (double& e : v) e *= 2;
            return v;
          }()) < 1e-6);
    // parameter gradients against differences of <u, f(W)>
    std::vector<double> u = test::download(U);
    auto output = [&] { return f(X); };
    for (Parameter* p : params.all()) {
      CAPTURE(p->name);
      std::vector<double> delta = test::normal(std::size_t(p->value.numel()), 5);
      double fd = test::parameter_difference(*p, delta, output, u, 1e-2);
      // conv.vjp above ran with param_grads once: the gradient holds exactly one contribution.
      CHECK(test::dot(test::download(p->grad), delta) == doctest::Approx(fd).epsilon(1e-3));
    }
    // parameter gradients add onto what is there
    std::vector<std::vector<double>> once;
    for (Parameter* p : params.all()) once.push_back(test::download(p->grad));
    conv.vjp(test::context(), state, U, JU, false, true);
    for (std::size_t i = 0; i < once.size(); ++i) {
      for (double& e : once[i]) e *= 2;
      CHECK(test::relative_distance(test::download(params.all()[i]->grad), once[i]) < 1e-6);
    }
  }
}

TEST_CASE("conv works through bands of output rows when the columns exceed the buffer") {
  // K = 64*9 = 576 and 96x96 outputs: 5.3M column floats, more than one band's 4M (the gemm route).
  OnRoute on(HostConv::gemm);
  ConvSpec spec{2, 64, 4, 3, 1, 1, true};
  ParameterSet params(test::device());
  Conv conv(params, "big", spec);
  test::randomize(params, 30, 0.1);
  Shape xs{1, 64, 96, 96}, ys = conv.output_shape(xs);
  std::vector<double> x = test::normal(std::size_t(xs.numel()), 6);
  Tensor X = test::upload(x, xs), Y = Tensor::empty(ys, test::device());
  Conv::State state;
  conv.linearize(test::context(), X, Y, state);
  std::vector<double> want = conv_reference(spec, xs, x, test::download(conv.weight()->value), test::download(conv.bias()->value), ys);
  CHECK(test::max_relative_error(test::download(Y), want) < 1e-5);
  Tensor U = test::normal_tensor(ys, 7), G = Tensor::empty(xs, test::device());
  conv.vjp(test::context(), state, U, G, false, false);
  CHECK(test::dot(test::download(U), test::download(Y)) - test::dot(test::download(U), [&] {
          std::vector<double> b = test::download(conv.bias()->value), r(std::size_t(ys.numel()));
          for (std::int64_t i = 0; i < ys.numel(); ++i) r[i] = b[i / (96 * 96)];
          return r;
        }()) == doctest::Approx(test::dot(test::download(G), x)).epsilon(1e-4));
}

TEST_CASE("conv shape errors name the layer") {
  ParameterSet params(test::device());
  Conv conv(params, "input_blocks.0.0", {2, 3, 8, 3, 1, 1, true});
  CHECK_THROWS_WITH_AS(conv.output_shape({1, 4, 8, 8}), doctest::Contains("input_blocks.0.0: input (1,4,8,8) does not fit"), ShapeError);
  CHECK(params.find("input_blocks.0.0.weight")->value.shape() == Shape{8, 3, 3, 3});
  CHECK(params.find("input_blocks.0.0.bias")->value.shape() == Shape{8});
}
