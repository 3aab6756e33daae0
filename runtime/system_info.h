#pragma once
// What this build was compiled with and what the machine offers: CPU features, and the CUDA stack with
// its devices. Never throws: a machine without a GPU or driver is a normal answer, with the reason.
#include <cstdint>
#include <string>
#include <vector>

namespace tweedie {

struct HostInfo {
  std::string cpu_model;                  // from /proc/cpuinfo, when readable
  int hardware_threads = 0;
  int openmp_threads = 0;                 // what a Context takes by default
  std::vector<std::string> cpu_features;  // detected at run time: sse4.2, avx, avx2, fma, avx512f, ...
  std::vector<std::string> compiled_for;  // instruction sets the compiler was allowed to use
  std::string compiler;
};

struct CudaDeviceInfo {
  int index = 0;
  std::string name;
  int compute_major = 0, compute_minor = 0;
  std::int64_t memory_bytes = 0;
  int multiprocessors = 0;
};

struct CudaInfo {
  bool compiled = false;        // this build has the CUDA backend
  int toolkit_version = 0;      // CUDA runtime the build was compiled against, e.g. 13000 for 13.0
  int runtime_version = 0;      // of the libcudart loaded now
  int driver_version = 0;       // 0 when no driver is installed
  std::string cublas_version, cudnn_version, cufft_version;  // "13.1.0"; empty without CUDA
  std::vector<CudaDeviceInfo> devices;
  std::string why_no_device;    // set when `devices` is empty
};

HostInfo host_info();
CudaInfo cuda_info();
// Number of usable CUDA devices: 0 without the backend, a driver or a device.
int cuda_device_count();
// "13.0" from 13000.
std::string cuda_version_string(int version);

namespace detail {
CudaInfo query_cuda();  // defined only in CUDA builds (runtime/cuda_info.cpp)
}

}  // namespace tweedie
