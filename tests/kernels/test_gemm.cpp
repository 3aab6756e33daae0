#include "kernels/gemm.h"

#include <cmath>

#include "support.h"

using namespace tweedie;

namespace {

// C = alpha op(A) op(B) + beta C in double, row-major; A is (m,k) or (k,m) when transposed.
std::vector<double> gemm_reference(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
                                   const std::vector<double>& a, const std::vector<double>& b, double beta,
                                   std::vector<double> c) {
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (std::int64_t p = 0; p < k; ++p) s += (ta ? a[p * m + i] : a[i * k + p]) * (tb ? b[j * k + p] : b[p * n + j]);
      c[i * n + j] = alpha * s + beta * c[i * n + j];
    }
  return c;
}

void check_matmul(std::int64_t m, std::int64_t n, std::int64_t k, bool ta, bool tb, float alpha, float beta) {
  CAPTURE(m);
  CAPTURE(n);
  CAPTURE(k);
  CAPTURE(ta);
  CAPTURE(tb);
  std::vector<double> a = test::as_float(test::uniform(m * k, 1)), b = test::as_float(test::uniform(k * n, 2)),
                      c = test::as_float(test::uniform(m * n, 3));
  Tensor A = test::upload(a, ta ? Shape{k, m} : Shape{m, k}), B = test::upload(b, tb ? Shape{n, k} : Shape{k, n});
  Tensor C = test::upload(c, {m, n});
  matmul(test::context(), A, B, C, {ta, tb, alpha, beta});
  std::vector<double> want = gemm_reference(ta, tb, m, n, k, alpha, a, b, beta, c);
  CHECK(test::max_relative_error(test::download(C), want) < 1e-5);
}

}  // namespace

TEST_CASE("matmul matches a naive double loop on odd shapes, every transpose, alpha and beta") {
  for (std::int64_t s : {1, 7, 33}) {
    for (bool ta : {false, true})
      for (bool tb : {false, true}) check_matmul(s, s + 2, s + 5, ta, tb, 1.0f, 0.0f);
  }
  check_matmul(33, 1, 1031, false, false, 1.0f, 0.0f);    // matrix-vector
  check_matmul(1031, 17, 9, true, false, -0.5f, 2.0f);   // tall, accumulating into C
  check_matmul(64, 1031, 33, false, true, 2.0f, 1.0f);
}

TEST_CASE("matmul matches a naive double loop at 512") {
  check_matmul(512, 512, 512, false, false, 1.0f, 0.0f);
  check_matmul(512, 384, 448, true, true, 1.0f, 0.5f);
}

TEST_CASE("batched matmul: per-batch operands and a shared 2-D operand") {
  const std::int64_t batch = 5, m = 7, n = 9, k = 33;
  std::vector<double> a = test::as_float(test::uniform(batch * m * k, 4)), w = test::as_float(test::uniform(k * n, 5));
  Tensor A = test::upload(a, {batch, m, k}), W = test::upload(w, {k, n});
  Tensor C = Tensor::empty({batch, m, n}, test::device());
  matmul(test::context(), A, W, C);
  std::vector<double> got = test::download(C);
  for (std::int64_t i = 0; i < batch; ++i) {
    std::vector<double> ai(a.begin() + i * m * k, a.begin() + (i + 1) * m * k);
    std::vector<double> want = gemm_reference(false, false, m, n, k, 1, ai, w, 0, std::vector<double>(m * n));
    std::vector<double> gi(got.begin() + i * m * n, got.begin() + (i + 1) * m * n);
    CHECK(test::max_relative_error(gi, want) < 1e-5);
  }
  // Many small products (the batch-parallel host path) with per-item B transposed.
  const std::int64_t many = 64;
  std::vector<double> x = test::as_float(test::uniform(many * 8 * 16, 6)), y = test::as_float(test::uniform(many * 8 * 16, 7));
  Tensor X = test::upload(x, {many, 8, 16}), Y = test::upload(y, {many, 8, 16}), S = Tensor::empty({many, 8, 8}, test::device());
  matmul(test::context(), X, Y, S, {.trans_b = true});
  std::vector<double> s = test::download(S);
  for (std::int64_t i = 0; i < many; ++i) {
    std::vector<double> xi(x.begin() + i * 128, x.begin() + (i + 1) * 128), yi(y.begin() + i * 128, y.begin() + (i + 1) * 128);
    std::vector<double> want = gemm_reference(false, true, 8, 8, 16, 1, xi, yi, 0, std::vector<double>(64));
    CHECK(test::max_relative_error(std::vector<double>(s.begin() + i * 64, s.begin() + (i + 1) * 64), want) < 1e-5);
  }
}

TEST_CASE("matmul shape errors show all three shapes") {
  Tensor a = Tensor::zeros({2, 3}, test::device()), b = Tensor::zeros({4, 5}, test::device()), c = Tensor::zeros({2, 5}, test::device());
  CHECK_THROWS_WITH_AS(matmul(test::context(), a, b, c), "matmul: shapes do not fit: A (2,3), B (4,5), C (2,5)", ShapeError);
  Tensor v = Tensor::zeros({3}, test::device());
  CHECK_THROWS_WITH_AS(matmul(test::context(), v, b, c), doctest::Contains("expected 2 or 3 dimensions"), ShapeError);
  CHECK_THROWS_AS(matmul(test::context(), a, a, a, {.trans_b = true}), ShapeError);
}

TEST_SUITE("slow") {
  TEST_CASE("matmul sweep: every shape from 1 to 129 in each dimension, every transpose") {
    const std::int64_t sizes[] = {1, 2, 3, 5, 8, 16, 17, 31, 64, 129};
    for (std::int64_t m : sizes)
      for (std::int64_t n : sizes)
        for (std::int64_t k : sizes)
          for (int t = 0; t < 4; ++t) check_matmul(m, n, k, t & 1, t & 2, 1.0f, t == 3 ? 0.5f : 0.0f);
  }
}
