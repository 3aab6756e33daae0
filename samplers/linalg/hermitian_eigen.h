#pragma once
// Eigendecomposition of small dense Hermitian matrices in double on the host (LAPACK zheev), for the
// subspace and per-pixel eigenproblems of coil sensitivity estimation and coil compression.
#include <complex>
#include <cstdint>
#include <vector>

namespace tweedie::samplers {

// A (n x n, column-major, only the upper triangle is read) is replaced by its eigenvectors (column j
// belongs to values[j]); values (n) come back ascending. BackendError if LAPACK fails to converge.
void hermitian_eigen(std::int64_t n, std::complex<double>* a, double* values);

}  // namespace tweedie::samplers
