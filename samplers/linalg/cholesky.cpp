#include "samplers/linalg/cholesky.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "runtime/error.h"

// LAPACK's Cholesky factorization (the Fortran symbol; every LAPACK tweedie links provides it).
extern "C" void dpotrf_(const char* uplo, const int* n, double* a, const int* lda, int* info, std::size_t uplo_len);

namespace tweedie::samplers {

namespace {
int lapack_size(std::int64_t n) {
  if (n > std::numeric_limits<int>::max()) throw ArgumentError(cat("cholesky: a ", n, " x ", n, " matrix is beyond LAPACK's int sizes"));
  return int(n);
}
}  // namespace

// A row-major matrix read column-major is its transpose, which for a symmetric A is A: LAPACK's upper
// factor U (A = U^T U, column-major) read row by row is the lower L = U^T with A = L L^T, in A's lower
// triangle, the upper one untouched.
std::int64_t cholesky_in_place(std::vector<double>& a, std::int64_t n) {
  if (n == 0) return -1;
  const int m = lapack_size(n);
  int info = 0;
  dpotrf_("U", &m, a.data(), &m, &info, 1);
  if (info < 0) throw BackendError(cat("cholesky: LAPACK dpotrf rejected argument ", -info));
  return info == 0 ? -1 : std::int64_t(info) - 1;
}

double cholesky_log_det(const std::vector<double>& l, std::int64_t n) {
  double log_det = 0;
  for (std::int64_t i = 0; i < n; ++i) log_det += 2 * std::log(l[std::size_t(i * n + i)]);
  return log_det;
}

void cholesky_solve(const std::vector<double>& l, std::int64_t n, double* b) {
  if (n == 0) return;
  const int m = lapack_size(n);
  cblas_dtrsv(CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, m, l.data(), m, b, 1);  // L z = b
  cblas_dtrsv(CblasRowMajor, CblasLower, CblasTrans, CblasNonUnit, m, l.data(), m, b, 1);    // L^T x = z
}

void lower_multiply(const std::vector<double>& l, std::int64_t n, const double* v, double* out) {
  if (n == 0) return;
  std::copy(v, v + n, out);
  cblas_dtrmv(CblasRowMajor, CblasLower, CblasNoTrans, CblasNonUnit, lapack_size(n), l.data(), int(n), out, 1);
}

}  // namespace tweedie::samplers
