// The CUDA half of system_info: versions of the CUDA stack and the device census.
#include <cublas_v2.h>
#include <cuda_runtime_api.h>
#include <cudnn.h>
#include <cufft.h>

#include "runtime/error.h"
#include "runtime/system_info.h"

namespace tweedie::detail {

CudaInfo query_cuda() {
  CudaInfo info;
  info.compiled = true;
  info.toolkit_version = CUDART_VERSION;
  cudaRuntimeGetVersion(&info.runtime_version);
  cudaDriverGetVersion(&info.driver_version);
  // cuDNN encodes its version as major*10000 + minor*100 + patch, cuFFT as major*1000 + minor*100 + patch.
  std::size_t cudnn = cudnnGetVersion();
  info.cudnn_version = cat(cudnn / 10000, ".", cudnn % 10000 / 100, ".", cudnn % 100);
  int major = 0, minor = 0, patch = 0;
  if (cublasGetProperty(MAJOR_VERSION, &major) == CUBLAS_STATUS_SUCCESS &&
      cublasGetProperty(MINOR_VERSION, &minor) == CUBLAS_STATUS_SUCCESS &&
      cublasGetProperty(PATCH_LEVEL, &patch) == CUBLAS_STATUS_SUCCESS)
    info.cublas_version = cat(major, ".", minor, ".", patch);
  int cufft = 0;
  if (cufftGetVersion(&cufft) == CUFFT_SUCCESS)
    info.cufft_version = cat(cufft / 1000, ".", cufft % 1000 / 100, ".", cufft % 100);

  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();
    info.why_no_device = info.driver_version == 0
                             ? "no NVIDIA driver is loaded"
                             : cat("the CUDA runtime found no usable device (", cudaGetErrorName(status), ": ",
                                   cudaGetErrorString(status), ")");
    return info;
  }
  if (count == 0) info.why_no_device = "the driver reports no CUDA device";
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    info.devices.push_back({i, prop.name, prop.major, prop.minor, std::int64_t(prop.totalGlobalMem),
                            prop.multiProcessorCount});
  }
  return info;
}

}  // namespace tweedie::detail
