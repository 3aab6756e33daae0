#include "kernels/library_info.h"

#include <cblas.h>
#include <fftw3.h>

#include "runtime/error.h"

namespace tweedie {

std::string blas_info() {
  return cat(openblas_get_config(), " (core ", openblas_get_corename(), ", ",
             openblas_get_parallel() == 2 ? "OpenMP" : openblas_get_parallel() == 1 ? "pthreads" : "sequential",
             ", ", openblas_get_num_threads(), " threads)");
}

std::string fftw_info() { return fftwf_version; }

}  // namespace tweedie
