#pragma once
// Dense Cholesky factorization in double on the host, for the small symmetric positive definite
// matrices of closed-form steps (Woodbury capacitance matrices, EM's marginal covariances, correlated
// noise). Matrices are row-major n x n std::vector<double>; the factor L (A = L L^T) overwrites A's
// lower triangle and the upper one is left as it was.
#include <cstdint>
#include <vector>

namespace tweedie::samplers {

// Factors A in place. Returns -1 on success, or the index of the first pivot that is not positive
// (A is not positive definite; A is then partly overwritten). Callers turn that into their own error.
std::int64_t cholesky_in_place(std::vector<double>& a, std::int64_t n);

// log det A = 2 sum log L_ii, from the factor.
double cholesky_log_det(const std::vector<double>& l, std::int64_t n);

// b <- A^-1 b (L L^T x = b by two triangular solves), b of length n.
void cholesky_solve(const std::vector<double>& l, std::int64_t n, double* b);

// out = L v (v and out of length n; out may not alias v).
void lower_multiply(const std::vector<double>& l, std::int64_t n, const double* v, double* out);

}  // namespace tweedie::samplers
