#include "runtime/system_info.h"

#include <omp.h>

#include <fstream>
#include <thread>

#include "runtime/error.h"

namespace tweedie {

HostInfo host_info() {
  HostInfo info;
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.starts_with("model name")) {
      auto colon = line.find(':');
      if (colon != std::string::npos) info.cpu_model = line.substr(line.find_first_not_of(' ', colon + 1));
      break;
    }
  }
  info.hardware_threads = int(std::thread::hardware_concurrency());
  info.openmp_threads = omp_get_max_threads();
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("sse4.2")) info.cpu_features.push_back("sse4.2");
  if (__builtin_cpu_supports("avx")) info.cpu_features.push_back("avx");
  if (__builtin_cpu_supports("avx2")) info.cpu_features.push_back("avx2");
  if (__builtin_cpu_supports("fma")) info.cpu_features.push_back("fma");
  if (__builtin_cpu_supports("avx512f")) info.cpu_features.push_back("avx512f");
  if (__builtin_cpu_supports("avx512bw")) info.cpu_features.push_back("avx512bw");
  if (__builtin_cpu_supports("avx512vl")) info.cpu_features.push_back("avx512vl");
#endif
#if defined(__SSE4_2__)
  info.compiled_for.push_back("sse4.2");
#endif
#if defined(__AVX__)
  info.compiled_for.push_back("avx");
#endif
#if defined(__AVX2__)
  info.compiled_for.push_back("avx2");
#endif
#if defined(__FMA__)
  info.compiled_for.push_back("fma");
#endif
#if defined(__AVX512F__)
  info.compiled_for.push_back("avx512f");
#endif
#if defined(__aarch64__)
  info.compiled_for.push_back("aarch64");
#endif
#if defined(__clang__)
  info.compiler = cat("clang ", __clang_major__, ".", __clang_minor__);
#elif defined(__GNUC__)
  info.compiler = cat("gcc ", __GNUC__, ".", __GNUC_MINOR__);
#endif
  return info;
}

CudaInfo cuda_info() {
#if TWEEDIE_HAS_CUDA
  return detail::query_cuda();
#else
  CudaInfo info;
  info.why_no_device = "this build has no CUDA backend (configure with -DTWEEDIE_CUDA=ON)";
  return info;
#endif
}

int cuda_device_count() {
#if TWEEDIE_HAS_CUDA
  return int(cuda_info().devices.size());
#else
  return 0;
#endif
}

std::string cuda_version_string(int version) {
  if (version <= 0) return "none";
  return cat(version / 1000, ".", (version % 1000) / 10);
}

}  // namespace tweedie
