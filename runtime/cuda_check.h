#pragma once
// TW_CHECK overloads for the CUDA runtime, cuBLAS, cuDNN and cuFFT status types. Included only by
// sources that are built when the CUDA backend is on.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>
#include <cufft.h>

#include "runtime/error.h"

namespace tweedie {

inline cudaError_t check_status(cudaError_t s, const char* expr, const char* file, int line) {
  if (s != cudaSuccess) throw_backend_error("CUDA", cat(cudaGetErrorName(s), ": ", cudaGetErrorString(s)), expr, file, line);
  return s;
}
inline cublasStatus_t check_status(cublasStatus_t s, const char* expr, const char* file, int line) {
  if (s != CUBLAS_STATUS_SUCCESS) throw_backend_error("cuBLAS", cat(cublasGetStatusName(s), ": ", cublasGetStatusString(s)), expr, file, line);
  return s;
}
inline cudnnStatus_t check_status(cudnnStatus_t s, const char* expr, const char* file, int line) {
  if (s != CUDNN_STATUS_SUCCESS) throw_backend_error("cuDNN", cudnnGetErrorString(s), expr, file, line);
  return s;
}
const char* cufft_status_name(cufftResult s);
inline cufftResult check_status(cufftResult s, const char* expr, const char* file, int line) {
  if (s != CUFFT_SUCCESS) throw_backend_error("cuFFT", cufft_status_name(s), expr, file, line);
  return s;
}

}  // namespace tweedie
