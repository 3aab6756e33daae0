#include "samplers/linalg/krylov.h"

#include <cmath>

#include "kernels/axpby.h"
#include "kernels/reduce.h"
#include "kernels/rows.h"
#include "runtime/check.h"
#include "runtime/error.h"

namespace tweedie::samplers {

namespace {

// Complex vectors count as the real vectors of their parts (operator.h's inner product), so reductions
// and fills see a c64 tensor as f32 pairs.
Tensor real_view(const Tensor& t) { return t.dtype() == DType::c64 ? t.view_as_real() : t; }

std::int64_t check_system(const Context& ctx, const char* solver, const Tensor& b, const Tensor& x,
                          const KrylovOptions& options) {
  const DType type = b.defined() && b.dtype() == DType::c64 ? DType::c64 : DType::f32;
  expect_tensor(ctx, solver, "b", b, type);
  expect_tensor(ctx, solver, "x", x, type);
  expect_same_shape(solver, "b", b, "x", x);
  if (b.rank() < 1 || b.dim(0) < 1 || b.numel() < 1)
    throw ShapeError(cat(solver, ": b is ", b.str(), ", expected a batch (N, ...) of at least one item"));
  if (options.max_iterations < 0)
    throw ArgumentError(cat(solver, ": max_iterations is ", options.max_iterations, ", expected >= 0"));
  if (!(options.tolerance >= 0))
    throw ArgumentError(cat(solver, ": tolerance is ", options.tolerance, ", expected >= 0"));
  return b.dim(0);
}

bool any(const std::vector<char>& v) {
  for (char c : v)
    if (c) return true;
  return false;
}

}  // namespace

// Hestenes-Stiefel CG run for every item at once. Item i stops (its step lengths become 0 and its
// direction 0, so that its x and r stay put and further products of M with it cost nothing extra)
// once |r_i| <= tolerance |b_i|, or when p^T M p <= 0 says M is not positive definite for it.
KrylovReport conjugate_gradient(Context& ctx, const LinearMap& m, const Tensor& b, Tensor& x, const KrylovOptions& options,
                                const CgStepObserver& on_step) {
  const std::int64_t n = check_system(ctx, "conjugate_gradient", b, x, options);
  Tensor xr = real_view(x);
  fill(ctx, xr, 0.0f);
  Tensor r = b.clone(), p = b.clone(), q = Tensor::empty(b.shape(), ctx.device(), b.dtype());
  const std::vector<double> b_norm = norm2_rows(ctx, real_view(b), n);
  std::vector<double> rr(std::size_t(n), 0.0);
  std::vector<char> active(std::size_t(n), 0);
  auto converged = [&](std::size_t i) { return !(std::sqrt(rr[i]) > options.tolerance * b_norm[i]); };
  for (std::size_t i = 0; i < std::size_t(n); ++i) {
    rr[i] = b_norm[i] * b_norm[i];
    active[i] = !converged(i);
  }
  KrylovReport report;
  const auto items = std::size_t(n);
  std::vector<double> alpha(items), minus_alpha(items), keep(items), beta(items);
  for (int k = 0; k < options.max_iterations && any(active); ++k) {
    m(ctx, p, q);
    ++report.iterations;
    const std::vector<double> pq = dot_rows(ctx, real_view(p), real_view(q), n);
    for (std::size_t i = 0; i < std::size_t(n); ++i) {
      if (active[i] && !(pq[i] > 0 && std::isfinite(pq[i]))) active[i] = 0;  // breakdown: M not SPD here
      alpha[i] = active[i] ? rr[i] / pq[i] : 0.0;
      minus_alpha[i] = -alpha[i];
    }
    axpy_rows(ctx, alpha, p, x);
    if (on_step) on_step(ctx, alpha);
    axpy_rows(ctx, minus_alpha, q, r);
    const std::vector<double> r_norm = norm2_rows(ctx, real_view(r), n);
    for (std::size_t i = 0; i < std::size_t(n); ++i) {
      keep[i] = beta[i] = 0.0;
      if (!active[i]) continue;
      const double rr_next = r_norm[i] * r_norm[i];
      beta[i] = rr_next / rr[i];
      rr[i] = rr_next;
      if (converged(i)) active[i] = 0, beta[i] = 0.0;
      else keep[i] = 1.0;
    }
    // p = r + beta p for the items still running, 0 for the others.
    if (k + 1 < options.max_iterations) axpby_rows(ctx, keep, r, beta, p);
  }
  report.residual.resize(std::size_t(n));
  for (std::size_t i = 0; i < std::size_t(n); ++i) report.residual[i] = b_norm[i] > 0 ? std::sqrt(rr[i]) / b_norm[i] : 0.0;
  return report;
}

// GMRES(m) without restart: Arnoldi with modified Gram-Schmidt builds an orthonormal basis V of the
// Krylov space per item (the basis vectors are batched device tensors; the Hessenberg entries are
// per-item doubles on the host), Givens rotations keep its least-squares problem triangular, so the
// residual |b - M x_j| = |g_{j+1}| is known at every step without forming x. An item stops when that
// residual reaches the tolerance or its Krylov space becomes invariant (M V_j in span V: the exact
// solution is in the space); its later basis vectors are 0 and cost nothing but the shared products.
KrylovReport gmres(Context& ctx, const LinearMap& m, const Tensor& b, Tensor& x, const KrylovOptions& options) {
  const std::int64_t n = check_system(ctx, "gmres", b, x, options);
  const auto items = std::size_t(n);
  const int dims = options.max_iterations;
  Tensor xr = real_view(x);
  fill(ctx, xr, 0.0f);
  const std::vector<double> b_norm = norm2_rows(ctx, real_view(b), n);

  std::vector<char> active(items);
  std::vector<double> coef(items), zero(items, 0.0);
  for (std::size_t i = 0; i < items; ++i) {
    active[i] = b_norm[i] > 0 && std::isfinite(b_norm[i]);
    coef[i] = active[i] ? 1.0 / b_norm[i] : 0.0;
  }
  std::vector<Tensor> basis;
  basis.push_back(Tensor::empty(b.shape(), ctx.device(), b.dtype()));
  axpby_rows(ctx, coef, b, zero, basis[0]);

  // Per item: R packed by columns (column j holds j + 1 entries from j (j + 1) / 2), the rotations, and
  // the rotated right-hand side g, which starts as |b| e_1.
  const auto packed = std::size_t(dims) * std::size_t(dims + 1) / 2;
  std::vector<double> rmat(items * packed, 0.0), cs(items * std::size_t(dims)), sn(items * std::size_t(dims));
  std::vector<double> g(items * std::size_t(dims + 1), 0.0);
  std::vector<int> used(items, 0);  // columns of the least-squares problem each item solves
  for (std::size_t i = 0; i < items; ++i) g[i * std::size_t(dims + 1)] = b_norm[i];

  KrylovReport report;
  Tensor w = Tensor::empty(b.shape(), ctx.device(), b.dtype());
  std::vector<double> h(items * std::size_t(dims + 1));
  for (int j = 0; j < dims && any(active); ++j) {
    m(ctx, basis[std::size_t(j)], w);
    ++report.iterations;
    for (int k = 0; k <= j; ++k) {
      const std::vector<double> hk = dot_rows(ctx, real_view(w), real_view(basis[std::size_t(k)]), n);
      for (std::size_t i = 0; i < items; ++i) {
        h[i * std::size_t(dims + 1) + std::size_t(k)] = hk[i];
        coef[i] = active[i] ? -hk[i] : 0.0;
      }
      axpy_rows(ctx, coef, basis[std::size_t(k)], w);
    }
    const std::vector<double> h_next = norm2_rows(ctx, real_view(w), n);
    std::vector<char> invariant(items, 0);
    for (std::size_t i = 0; i < items; ++i) {
      if (!active[i]) continue;
      double* col = &h[i * std::size_t(dims + 1)];
      col[j + 1] = h_next[i];
      double column_norm = 0;
      for (int k = 0; k <= j + 1; ++k) column_norm += col[k] * col[k];
      // What is left of M v_j after projection is rounding: the space is invariant.
      invariant[i] = !(h_next[i] > 1e-10 * std::sqrt(column_norm));
      double* c = &cs[i * std::size_t(dims)];
      double* s = &sn[i * std::size_t(dims)];
      double* gi = &g[i * std::size_t(dims + 1)];
      for (int k = 0; k < j; ++k) {
        const double t = c[k] * col[k] + s[k] * col[k + 1];
        col[k + 1] = -s[k] * col[k] + c[k] * col[k + 1];
        col[k] = t;
      }
      const double d = std::hypot(col[j], col[j + 1]);
      if (!(d > 0) || !std::isfinite(d)) {  // M v_j = 0: M is singular for this item; keep what we have
        active[i] = 0;
        continue;
      }
      c[j] = col[j] / d;
      s[j] = col[j + 1] / d;
      col[j] = d;
      gi[j + 1] = -s[j] * gi[j];
      gi[j] = c[j] * gi[j];
      double* rj = &rmat[i * packed + std::size_t(j) * std::size_t(j + 1) / 2];
      for (int k = 0; k <= j; ++k) rj[k] = col[k];
      used[i] = j + 1;
      if (invariant[i] || !(std::abs(gi[j + 1]) > options.tolerance * b_norm[i])) active[i] = 0;
    }
    // The next basis vector, for the items that go on (0 for the others, so later products skip them).
    if (j + 1 < dims) {
      for (std::size_t i = 0; i < items; ++i) coef[i] = active[i] ? 1.0 / h_next[i] : 0.0;
      basis.push_back(Tensor::empty(b.shape(), ctx.device(), b.dtype()));
      axpby_rows(ctx, coef, w, zero, basis.back());
    }
  }

  // Back-substitution R y = g per item, then x = sum_k y_k v_k as one batched update per basis vector.
  int most = 0;
  for (int u : used) most = std::max(most, u);
  std::vector<double> y(items * std::size_t(std::max(most, 1)), 0.0);
  for (std::size_t i = 0; i < items; ++i) {
    const double* r = &rmat[i * packed];
    const double* gi = &g[i * std::size_t(dims + 1)];
    double* yi = &y[i * std::size_t(most)];
    for (int k = used[i] - 1; k >= 0; --k) {
      double s = gi[k];
      for (int l = k + 1; l < used[i]; ++l) s -= r[std::size_t(l) * std::size_t(l + 1) / 2 + std::size_t(k)] * yi[l];
      yi[k] = s / r[std::size_t(k) * std::size_t(k + 1) / 2 + std::size_t(k)];
    }
  }
  for (int k = 0; k < most; ++k) {
    for (std::size_t i = 0; i < items; ++i) coef[i] = y[i * std::size_t(most) + std::size_t(k)];
    axpy_rows(ctx, coef, basis[std::size_t(k)], x);
  }
  report.residual.resize(items);
  for (std::size_t i = 0; i < items; ++i)
    report.residual[i] = b_norm[i] > 0 ? std::abs(g[i * std::size_t(dims + 1) + std::size_t(used[i])]) / b_norm[i] : 0.0;
  return report;
}

}  // namespace tweedie::samplers
