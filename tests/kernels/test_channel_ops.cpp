#include "kernels/channel_ops.h"

#include "support.h"

using namespace tweedie;

TEST_CASE("channel vectors broadcast over space, and channel sums are their adjoint") {
  const std::int64_t n = 3, c = 5, s = 1031;
  std::vector<double> y = test::as_float(test::uniform(n * c * s, 1)), v = test::as_float(test::uniform(c, 2)),
                      w = test::as_float(test::uniform(n * c, 3));
  Tensor Y = test::upload(y, {n, c, s}), V = test::upload(v, {c}), W = test::upload(w, {n, c});
  add_channel_vector(test::context(), Y, V, 2.0f);
  add_channel_vector(test::context(), Y, W);
  std::vector<double> got = test::download(Y);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < c; ++j)
      for (std::int64_t k = 0; k < s; ++k)
        CHECK(got[(i * c + j) * s + k] == doctest::Approx(y[(i * c + j) * s + k] + 2 * v[j] + w[i * c + j]).epsilon(1e-6));

  Tensor per_channel = test::upload(v, {c}), per_item = Tensor::zeros({n, c}, test::device());
  accumulate_channel_sums(test::context(), Y, per_channel);
  accumulate_channel_sums(test::context(), Y, per_item);
  std::vector<double> pc = test::download(per_channel), pi = test::download(per_item);
  for (std::int64_t j = 0; j < c; ++j) {
    double total = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      double item = 0;
      for (std::int64_t k = 0; k < s; ++k) item += got[(i * c + j) * s + k];
      CHECK(pi[i * c + j] == doctest::Approx(item).epsilon(1e-6));
      total += item;
    }
    CHECK(pc[j] == doctest::Approx(v[j] + total).epsilon(1e-6));
  }
  Tensor bad = Tensor::zeros({c + 1}, test::device());
  CHECK_THROWS_WITH_AS(add_channel_vector(test::context(), Y, bad), doctest::Contains("expected (5) or (3,5)"), ShapeError);
}
