#pragma once
// Krylov solvers for the small symmetric (CG) or general (GMRES) systems posterior methods solve at every
// step, batched: b and x are (N, ...) and each of the N items is its own system, with its own scalars
// (step lengths, Hessenberg entries) kept in double on the host. The operator is applied to all items
// at once, so one batched network JVP serves every item's product.
#include <cstdint>
#include <functional>
#include <vector>

#include "runtime/context.h"
#include "runtime/tensor.h"

namespace tweedie::samplers {

// out = M v for a batch v (N, ...); out has v's shape.
using LinearMap = std::function<void(Context& ctx, const Tensor& v, Tensor& out)>;

struct KrylovOptions {
  int max_iterations = 5;   // products with M (CG: iterations; GMRES: the Krylov dimension, no restart)
  double tolerance = 0.0;   // stop an item when |b - M x| <= tolerance |b| (0: run all iterations)
};

struct KrylovReport {
  int iterations = 0;                 // products with M done (fewer than max_iterations when all stopped)
  std::vector<double> residual;       // |b - M x| / |b| of each item at the end
};

// Called by CG after each update x += alpha p, with each item's step length alpha (0 for items that
// have stopped), right after the product M p it follows. A caller whose map computes something linear
// in p on the way (MMPS: V A^T p) can accumulate the same quantity for x without another product.
using CgStepObserver = std::function<void(Context& ctx, const std::vector<double>& alpha)>;

// Solves M x = b, M symmetric positive definite, from x = 0. The residual reported is the recurrence's,
// which equals b - M x up to rounding.
KrylovReport conjugate_gradient(Context& ctx, const LinearMap& m, const Tensor& b, Tensor& x, const KrylovOptions& options,
                                const CgStepObserver& on_step = {});
// Solves M x = b for any non-singular M, from x = 0 (minimal residual over the Krylov space).
KrylovReport gmres(Context& ctx, const LinearMap& m, const Tensor& b, Tensor& x, const KrylovOptions& options);

}  // namespace tweedie::samplers
