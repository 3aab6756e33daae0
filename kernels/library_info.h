#pragma once
// Versions and configurations of the numerical libraries behind the kernels, for `tweedie info`.
#include <string>

namespace tweedie {

std::string blas_info();  // "OpenBLAS 0.3.21 (Haswell, OpenMP, max 2 threads)"
std::string fftw_info();  // "fftw-3.3.10-sse2-avx"

}  // namespace tweedie
