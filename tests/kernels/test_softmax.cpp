#include "kernels/softmax.h"

#include <cmath>

#include "support.h"

using namespace tweedie;

namespace {
std::vector<double> softmax_reference(const std::vector<double>& x, std::int64_t rows, std::int64_t cols) {
  std::vector<double> y(x.size());
  for (std::int64_t r = 0; r < rows; ++r) {
    double m = -INFINITY, s = 0;
    for (std::int64_t c = 0; c < cols; ++c) m = std::max(m, x[r * cols + c]);
    for (std::int64_t c = 0; c < cols; ++c) s += std::exp(x[r * cols + c] - m);
    for (std::int64_t c = 0; c < cols; ++c) y[r * cols + c] = std::exp(x[r * cols + c] - m) / s;
  }
  return y;
}
}  // namespace

TEST_CASE("softmax over rows matches double precision for odd row lengths") {
  for (std::int64_t cols : test::kSizes)
    for (std::int64_t rows : {1, 7, 33}) {
      CAPTURE(cols);
      CAPTURE(rows);
      std::vector<double> x = test::as_float(test::uniform(std::size_t(rows * cols), 8, -20, 20));
      Tensor X = test::upload(x, {rows, cols}), Y = Tensor::empty({rows, cols}, test::device());
      softmax_rows(test::context(), X, Y);
      std::vector<double> y = test::download(Y), want = softmax_reference(x, rows, cols);
      for (std::size_t i = 0; i < y.size(); ++i) CHECK(std::abs(y[i] - want[i]) <= 1e-6 * want[i] + 1e-12);
    }
}

TEST_CASE("softmax is stable for huge logits and works in place on 3-D tensors") {
  std::vector<double> x = {1e4, 1e4 - 1, -1e4, 0, 0, 0, 88, 89, 90, -100, -101, -102};
  Tensor X = test::upload(x, {2, 2, 3});
  softmax_rows(test::context(), X, X);
  std::vector<double> y = test::download(X), want = softmax_reference(x, 4, 3);
  for (std::size_t i = 0; i < y.size(); ++i) CHECK(y[i] == doctest::Approx(want[i]).epsilon(1e-6));
}
