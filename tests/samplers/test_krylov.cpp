// The batched Krylov solvers against dense solves in double: CG on symmetric positive definite systems
// (real, and complex ones under the real inner product), GMRES on general ones; per-item stopping and
// the count of products.
#include <cmath>
#include <complex>

#include "kernels/gemm.h"
#include "kernels/reduce.h"
#include "kernels/rows.h"
#include "runtime/error.h"
#include "samplers/linalg/krylov.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;

namespace {

using Matrix = std::vector<double>;  // row-major d x d

// B B^T / d + shift I for a random B: symmetric positive definite, condition number a few tens.
Matrix spd(std::int64_t d, std::uint64_t seed, double shift = 0.2) {
  std::vector<double> b = test::uniform(std::size_t(d * d), seed);
  Matrix m(std::size_t(d * d), 0.0);
  for (std::int64_t i = 0; i < d; ++i)
    for (std::int64_t j = 0; j < d; ++j) {
      for (std::int64_t k = 0; k < d; ++k) m[i * d + j] += b[i * d + k] * b[j * d + k] / double(d);
      if (i == j) m[i * d + j] += shift;
    }
  return test::as_float(m);
}

// I + B / sqrt(d) with B uniform in [-1, 1): nonsymmetric, well away from singular.
Matrix general(std::int64_t d, std::uint64_t seed) {
  Matrix m = test::uniform(std::size_t(d * d), seed);
  for (double& e : m) e /= std::sqrt(double(d));
  for (std::int64_t i = 0; i < d; ++i) m[i * d + i] += 1.5;
  return test::as_float(m);
}

// The batched map v -> M_i v_i for one d x d matrix per item, by a batched GEMM. Complex vectors go
// through as (re, im) pairs: the matrices then are 2d x 2d real ones in that interleaved order. It
// records the norm of every item it was given, to see which items the solver still works on.
struct DenseMap {
  Tensor mats;  // (N, d, d)
  std::int64_t n, d;
  std::vector<std::vector<double>>* seen = nullptr;
  DenseMap(const std::vector<Matrix>& ms, std::int64_t dim) : n(std::int64_t(ms.size())), d(dim) {
    Matrix all;
    for (const Matrix& m : ms) all.insert(all.end(), m.begin(), m.end());
    mats = test::upload(all, {n, d, d});
  }
  LinearMap map() {
    return [this](Context& ctx, const Tensor& v, Tensor& out) {
      Tensor vr = v.dtype() == DType::c64 ? v.view_as_real() : v, o = out.dtype() == DType::c64 ? out.view_as_real() : out;
      if (seen) seen->push_back(norm2_rows(ctx, vr, n));
      Tensor oc = o.reshape({n, d, 1});
      matmul(ctx, mats, vr.reshape({n, d, 1}), oc);
    };
  }
};

std::vector<double> item(const std::vector<double>& all, std::int64_t i, std::int64_t d) {
  return {all.begin() + i * d, all.begin() + (i + 1) * d};
}

double relative_error(const std::vector<double>& got, const std::vector<double>& want) {
  double e = 0, w = 0;
  for (std::size_t i = 0; i < got.size(); ++i) e += (got[i] - want[i]) * (got[i] - want[i]), w += want[i] * want[i];
  return std::sqrt(e / w);
}

}  // namespace

TEST_CASE("CG solves batched SPD systems to 1e-5 of the dense solution in d iterations") {
  Context& ctx = test::context();
  for (std::int64_t d : {1, 8, 24}) {
    CAPTURE(d);
    const std::int64_t n = 3;
    std::vector<Matrix> ms;
    for (std::int64_t i = 0; i < n; ++i) ms.push_back(spd(d, 10 * d + i));
    DenseMap dm(ms, d);
    std::vector<double> b = test::as_float(test::uniform(std::size_t(n * d), d));
    Tensor x = Tensor::empty({n, d}, test::device());
    // The observer sees each step length right after the product with p: summing alpha p through it
    // must rebuild x.
    Tensor last = Tensor::empty({n, d}, test::device()), rebuilt = Tensor::zeros({n, d}, test::device());
    LinearMap inner = dm.map();
    LinearMap m = [&](Context& c, const Tensor& v, Tensor& out) { last.copy_from(v), inner(c, v, out); };
    KrylovReport rep = conjugate_gradient(ctx, m, test::upload(b, {n, d}), x, {.max_iterations = int(d), .tolerance = 0},
                                          [&](Context& c, const std::vector<double>& alpha) { axpy_rows(c, alpha, last, rebuilt); });
    CHECK(rep.iterations <= d);
    std::vector<double> got = test::download(x);
    CHECK(test::max_relative_error(test::download(rebuilt), got) < 1e-6);
    for (std::int64_t i = 0; i < n; ++i) {
      CAPTURE(i);
      CHECK(relative_error(item(got, i, d), test::solve_dense(ms[std::size_t(i)], item(b, i, d), d)) < 1e-5);
      CHECK(rep.residual[std::size_t(i)] < 1e-5);
    }
  }
}

TEST_CASE("CG on complex vectors solves Hermitian positive definite systems under the real inner product") {
  Context& ctx = test::context();
  const std::int64_t n = 2, d = 12;
  std::vector<Matrix> real_forms;
  for (std::int64_t i = 0; i < n; ++i) {
    // H = B B^H / d + 0.3 I, and its action on (re, im) pairs.
    std::vector<std::complex<double>> b = test::complex_uniform(std::size_t(d * d), 50 + i);
    Matrix r(std::size_t(4 * d * d));
    for (std::int64_t j = 0; j < d; ++j)
      for (std::int64_t k = 0; k < d; ++k) {
        std::complex<double> h = j == k ? 0.3 : 0.0;
        for (std::int64_t l = 0; l < d; ++l) h += b[j * d + l] * std::conj(b[k * d + l]) / double(d);
        r[(2 * j) * 2 * d + 2 * k] = h.real(), r[(2 * j) * 2 * d + 2 * k + 1] = -h.imag();
        r[(2 * j + 1) * 2 * d + 2 * k] = h.imag(), r[(2 * j + 1) * 2 * d + 2 * k + 1] = h.real();
      }
    real_forms.push_back(test::as_float(r));
  }
  DenseMap dm(real_forms, 2 * d);
  std::vector<std::complex<double>> b = test::complex_uniform(std::size_t(n * d), 7);
  Tensor bt = test::upload(b, {n, d}), x = Tensor::empty({n, d}, test::device(), DType::c64);
  // The real form of a Hermitian matrix is symmetric of size 2d: at most 2d iterations.
  KrylovReport rep = conjugate_gradient(ctx, dm.map(), bt, x, {.max_iterations = int(2 * d), .tolerance = 1e-6});
  CHECK(rep.iterations <= 2 * d);
  std::vector<std::complex<double>> got = test::download_complex(x);
  for (std::int64_t i = 0; i < n; ++i) {
    CAPTURE(i);
    std::vector<double> bi, gi;
    for (std::int64_t k = 0; k < d; ++k) {
      bi.push_back(std::complex<float>(b[i * d + k]).real()), bi.push_back(std::complex<float>(b[i * d + k]).imag());
      gi.push_back(got[i * d + k].real()), gi.push_back(got[i * d + k].imag());
    }
    CHECK(relative_error(gi, test::solve_dense(real_forms[std::size_t(i)], bi, 2 * d)) < 1e-5);
    CHECK(rep.residual[std::size_t(i)] <= 1e-6);
  }
}

TEST_CASE("GMRES solves batched nonsymmetric systems to 1e-5 of the dense solution in d iterations") {
  Context& ctx = test::context();
  for (std::int64_t d : {1, 8, 24}) {
    CAPTURE(d);
    const std::int64_t n = 3;
    std::vector<Matrix> ms;
    for (std::int64_t i = 0; i < n; ++i) ms.push_back(general(d, 20 * d + i));
    DenseMap dm(ms, d);
    std::vector<double> b = test::as_float(test::uniform(std::size_t(n * d), d + 1));
    Tensor x = Tensor::empty({n, d}, test::device());
    KrylovReport rep = gmres(ctx, dm.map(), test::upload(b, {n, d}), x, {.max_iterations = int(d), .tolerance = 0});
    CHECK(rep.iterations <= d);
    std::vector<double> got = test::download(x);
    for (std::int64_t i = 0; i < n; ++i) {
      CAPTURE(i);
      CHECK(relative_error(item(got, i, d), test::solve_dense(ms[std::size_t(i)], item(b, i, d), d)) < 1e-5);
      CHECK(rep.residual[std::size_t(i)] < 1e-5);
    }
  }
}

TEST_CASE("an item that reaches the tolerance stops while the others go on, and iterations count products") {
  Context& ctx = test::context();
  const std::int64_t d = 16;
  // Item 0: 2 I (CG and GMRES are exact after one product). Item 1: I plus a rank-one term (two
  // products: the minimal polynomial has degree 2). Item 2: a general matrix (up to d products). Item 3:
  // b = 0, solved by x = 0 without any product.
  std::vector<Matrix> sym(4, Matrix(std::size_t(d * d), 0.0)), gen(4, Matrix(std::size_t(d * d), 0.0));
  std::vector<double> u = test::as_float(test::uniform(std::size_t(d), 3)), w = test::as_float(test::uniform(std::size_t(d), 4));
  for (std::int64_t j = 0; j < d; ++j)
    for (std::int64_t k = 0; k < d; ++k) {
      double id = j == k ? 1.0 : 0.0;
      sym[0][j * d + k] = gen[0][j * d + k] = 2 * id;
      sym[1][j * d + k] = id + u[j] * u[k];
      gen[1][j * d + k] = id + u[j] * w[k];
    }
  sym[1] = test::as_float(sym[1]), gen[1] = test::as_float(gen[1]);
  sym[2] = spd(d, 5), gen[2] = general(d, 6), sym[3] = spd(d, 7), gen[3] = general(d, 8);
  std::vector<double> b = test::as_float(test::uniform(std::size_t(4 * d), 9));
  for (std::int64_t k = 0; k < d; ++k) b[3 * d + k] = 0;

  for (const char* solver : {"cg", "gmres"}) {
    const std::string name = solver;
    CAPTURE(name);
    const std::vector<Matrix>& ms = name == "cg" ? sym : gen;
    DenseMap dm(ms, d);
    std::vector<std::vector<double>> seen;
    dm.seen = &seen;
    Tensor x = Tensor::empty({4, d}, test::device());
    KrylovOptions o{.max_iterations = int(d), .tolerance = 1e-5};
    KrylovReport rep = name == "cg" ? conjugate_gradient(ctx, dm.map(), test::upload(b, {4, d}), x, o)
                                    : gmres(ctx, dm.map(), test::upload(b, {4, d}), x, o);
    CHECK(rep.iterations == int(seen.size()));
    CHECK(rep.iterations > 2);
    CHECK(rep.iterations <= d);
    // Items 0 and 3 take part in the first product only (item 3 not even there), item 1 in two.
    for (std::size_t k = 0; k < seen.size(); ++k) {
      CAPTURE(k);
      CHECK((seen[k][0] > 0) == (k < 1));
      CHECK((seen[k][1] > 0) == (k < 2));
      CHECK(seen[k][2] > 0);
      CHECK(seen[k][3] == 0);
    }
    std::vector<double> got = test::download(x);
    for (std::int64_t i = 0; i < 3; ++i) {
      CAPTURE(i);
      CHECK(relative_error(item(got, i, d), test::solve_dense(ms[std::size_t(i)], item(b, i, d), d)) < 3e-5);
      CHECK(rep.residual[std::size_t(i)] <= 1e-5);
    }
    CHECK(item(got, 3, d) == std::vector<double>(std::size_t(d), 0.0));
    CHECK(rep.residual[3] == 0);

    // A fixed budget: exactly k products when no item converges within them.
    seen.clear();
    KrylovOptions few{.max_iterations = 3, .tolerance = 0};
    std::vector<Matrix> hard(4, ms[2]);
    DenseMap hm(hard, d);
    hm.seen = &seen;
    std::vector<double> bh = test::as_float(test::uniform(std::size_t(4 * d), 10));
    rep = name == "cg" ? conjugate_gradient(ctx, hm.map(), test::upload(bh, {4, d}), x, few)
                       : gmres(ctx, hm.map(), test::upload(bh, {4, d}), x, few);
    CHECK(rep.iterations == 3);
    CHECK(seen.size() == 3);
    for (double r : rep.residual) CHECK((r > 1e-5 && r < 1));
  }
}

TEST_CASE("Krylov solvers refuse mismatched arguments by name") {
  Context& ctx = test::context();
  LinearMap id = [](Context& c, const Tensor& v, Tensor& out) { out.copy_from(v); (void)c; };
  Tensor b = Tensor::zeros({2, 3}, test::device()), x = Tensor::zeros({2, 4}, test::device());
  CHECK_THROWS_WITH_AS(conjugate_gradient(ctx, id, b, x, {}), doctest::Contains("conjugate_gradient: x"), ShapeError);
  CHECK_THROWS_WITH_AS(gmres(ctx, id, b, x, {}), doctest::Contains("gmres: x"), ShapeError);
  Tensor xc = Tensor::zeros({2, 3}, test::device(), DType::c64);
  CHECK_THROWS_AS(conjugate_gradient(ctx, id, b, xc, {}), DTypeError);
  Tensor x2 = Tensor::zeros({2, 3}, test::device());
  CHECK_THROWS_WITH_AS(gmres(ctx, id, b, x2, {.max_iterations = -1}), doctest::Contains("max_iterations"), ArgumentError);
  CHECK_THROWS_WITH_AS(conjugate_gradient(ctx, id, b, x2, {.tolerance = -1}), doctest::Contains("tolerance"), ArgumentError);
}
