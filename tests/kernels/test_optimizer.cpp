#include "kernels/optimizer.h"

#include <cmath>

#include "support.h"

using namespace tweedie;

namespace {

// torch.optim.AdamW's update, written out in double: decay, moments, bias-corrected step.
struct AdamWReference {
  double lr, beta1, beta2, eps, wd;
  void step(int t, double g, double& p, double& m, double& v) const {
    p *= 1 - lr * wd;
    m = beta1 * m + (1 - beta1) * g;
    v = beta2 * v + (1 - beta2) * g * g;
    double c1 = 1 - std::pow(beta1, t), c2 = 1 - std::pow(beta2, t);
    p -= lr * (m / c1) / (std::sqrt(v / c2) + eps);
  }
};

}  // namespace

TEST_CASE("adamw_update follows torch.optim.AdamW step by step, with weight decay and a gradient scale") {
  const AdamWReference ref{3e-3, 0.9, 0.99, 1e-8, 0.05};
  for (std::int64_t n : test::kSizes) {
    CAPTURE(n);
    std::vector<double> p = test::as_float(test::uniform(std::size_t(n), 1)), m(std::size_t(n), 0.0), v(std::size_t(n), 0.0);
    Tensor P = test::upload(p, {n}), M = test::upload(m, {n}), V = test::upload(v, {n});
    for (int t = 1; t <= 5; ++t) {
      // Gradients of very different sizes, so that eps and the bias corrections both matter.
      std::vector<double> g = test::as_float(test::uniform(std::size_t(n), 10 + t, -std::pow(10.0, t - 4), std::pow(10.0, t - 4)));
      const double scale = t == 3 ? 0.25 : 1.0;
      adamw_update(test::context(), AdamWStep::at(ref.lr, ref.beta1, ref.beta2, ref.eps, ref.wd, t, scale), test::upload(g, {n}), P, M, V);
      for (std::size_t i = 0; i < p.size(); ++i) ref.step(t, scale * g[i], p[i], m[i], v[i]);
    }
    CHECK(test::max_relative_error(test::download(P), p) < 2e-6);
    CHECK(test::max_relative_error(test::download(M), m) < 2e-6);
    CHECK(test::max_relative_error(test::download(V), v, 1e-12) < 2e-6);
  }
}

TEST_CASE("AdamWStep forms its bias corrections in double and refuses step 0") {
  AdamWStep s = AdamWStep::at(1e-3, 0.9, 0.999, 1e-8, 0, 10, 1);
  CHECK(double(s.bias1) == doctest::Approx(1 - std::pow(0.9, 10)).epsilon(1e-7));
  CHECK(double(s.sqrt_bias2) == doctest::Approx(std::sqrt(1 - std::pow(0.999, 10))).epsilon(1e-7));
  CHECK_THROWS_AS(AdamWStep::at(1e-3, 0.9, 0.999, 1e-8, 0, 0, 1), ArgumentError);
  Tensor a = test::upload(std::vector<double>{1, 2}, {2}), b = test::upload(std::vector<double>{1, 2, 3}, {3});
  CHECK_THROWS_AS(adamw_update(test::context(), s, b, a, a, a), ShapeError);
}

TEST_CASE("ema_update moves the average toward the weights by 1 - decay and leaves equal values alone") {
  for (std::int64_t n : test::kSizes) {
    std::vector<double> p = test::as_float(test::uniform(std::size_t(n), 3)), e = test::as_float(test::uniform(std::size_t(n), 4));
    Tensor P = test::upload(p, {n}), E = test::upload(e, {n});
    ema_update(test::context(), 0.9f, P, E);
    std::vector<double> want(e.size());
    for (std::size_t i = 0; i < e.size(); ++i) want[i] = 0.9 * e[i] + 0.1 * p[i];
    CHECK(test::max_relative_error(test::download(E), want) < 1e-6);
    Tensor same = P.clone();
    ema_update(test::context(), 0.999f, P, same);
    CHECK(test::download(same) == p);
  }
}
