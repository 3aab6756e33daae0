#include "samplers/linalg/hermitian_eigen.h"

#include <algorithm>

#include "runtime/error.h"

// LAPACK's Hermitian eigensolver (the Fortran symbol; OpenBLAS and reference LAPACK both provide it).
extern "C" void zheev_(const char* jobz, const char* uplo, const int* n, std::complex<double>* a, const int* lda, double* w,
                       std::complex<double>* work, const int* lwork, double* rwork, int* info, std::size_t jobz_len,
                       std::size_t uplo_len);

namespace tweedie::samplers {

void hermitian_eigen(std::int64_t n, std::complex<double>* a, double* values) {
  if (n == 0) return;
  if (n > 46340) throw ArgumentError(cat("hermitian_eigen: a ", n, " x ", n, " matrix is beyond LAPACK's int sizes"));
  const int m = int(n);
  // The minimal workspace on purpose: it makes zhetrd take its unblocked path (zhetd2, with zhemv and
  // zher2). The blocked path's zgemv_n kernel in OpenBLAS 0.3.21 (Debian 12) reads past its operands
  // on this CPU (valgrind: 64 invalid 16-byte reads for a 288 x 288 matrix; a SIGSEGV in the ESPIRiT
  // test); for the matrices here (up to a few hundred rows) the unblocked path costs little.
  const int lwork = std::max(1, 2 * m - 1);
  int info = 0;
  std::vector<std::complex<double>> work(static_cast<std::size_t>(lwork));
  std::vector<double> rwork(static_cast<std::size_t>(std::max(1, 3 * m - 2)));
  zheev_("V", "U", &m, a, &m, values, work.data(), &lwork, rwork.data(), &info, 1, 1);
  if (info < 0) throw BackendError(cat("hermitian_eigen: LAPACK zheev rejected argument ", -info));
  if (info > 0) throw BackendError(cat("hermitian_eigen: LAPACK zheev did not converge (", info, " off-diagonal elements left) on a ", n, " x ", n, " matrix"));
}

}  // namespace tweedie::samplers
