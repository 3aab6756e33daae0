#include "runtime/context.h"

#include <omp.h>

#include "runtime/error.h"
#include "runtime/memory.h"
#if TWEEDIE_HAS_CUDA
#include "runtime/cuda_backend.h"
#endif

namespace tweedie {

Context::Context(Device device, int threads) : device_(device), workspace_(device) {
  set_threads(threads);
  if (device.is_cuda()) {
#if TWEEDIE_HAS_CUDA
    stream_ = cuda::default_stream(device.index());
#else
    throw DeviceError(cat("device ", device.str(), " requested, but this build has no CUDA backend "
                                                    "(configure with -DTWEEDIE_CUDA=ON)"));
#endif
  }
}

Context::~Context() = default;

void Context::set_threads(int threads) {
  if (threads < 0) throw ArgumentError(cat("thread count must be >= 0 (0 = all), got ", threads));
  threads_ = threads == 0 ? omp_get_max_threads() : threads;
}

void Context::synchronize() const { tweedie::synchronize(device_); }

}  // namespace tweedie
