#include "runtime/memory.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include "runtime/error.h"
#if TWEEDIE_HAS_CUDA
#include "runtime/cuda_backend.h"
#endif

namespace tweedie {
namespace {

constexpr int kMaxCudaDevices = 64;
constexpr std::size_t kHostAlignment = 64;

struct Counter {
  std::atomic<std::int64_t> current{0};
  std::atomic<std::int64_t> peak{0};
};

Counter& counter(Device device) {
  static Counter counters[1 + kMaxCudaDevices];
  if (device.is_cpu()) return counters[0];
  if (device.index() < 0 || device.index() >= kMaxCudaDevices)
    throw DeviceError(cat("device index out of range: ", device.str()));
  return counters[1 + device.index()];
}

void count(Device device, std::int64_t delta) {
  Counter& c = counter(device);
  std::int64_t now = c.current.fetch_add(delta) + delta;
  std::int64_t peak = c.peak.load();
  while (now > peak && !c.peak.compare_exchange_weak(peak, now)) {
  }
}

[[noreturn, maybe_unused]] void no_cuda(Device device) {
  throw DeviceError(cat("device ", device.str(), " requested, but this build has no CUDA backend "
                                                  "(configure with -DTWEEDIE_CUDA=ON)"));
}

}  // namespace

MemoryStats memory_stats(Device device) {
  Counter& c = counter(device);
  return {c.current.load(), c.peak.load()};
}

void reset_peak_memory(Device device) {
  Counter& c = counter(device);
  c.peak.store(c.current.load());
}

void retain_freed_host_memory() {
#if defined(__GLIBC__)
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
#endif
}

void* allocate(Device device, std::size_t bytes) {
  if (bytes == 0) return nullptr;
  void* ptr = nullptr;
  if (device.is_cpu()) {
    std::size_t rounded = (bytes + kHostAlignment - 1) / kHostAlignment * kHostAlignment;
    ptr = std::aligned_alloc(kHostAlignment, rounded);
    if (!ptr) throw std::bad_alloc();
  } else {
#if TWEEDIE_HAS_CUDA
    ptr = cuda::allocate(device.index(), bytes);
#else
    no_cuda(device);
#endif
  }
  count(device, std::int64_t(bytes));
  return ptr;
}

void deallocate(Device device, void* ptr, std::size_t bytes) {
  if (!ptr) return;
  count(device, -std::int64_t(bytes));
  if (device.is_cpu()) {
    std::free(ptr);
  } else {
#if TWEEDIE_HAS_CUDA
    cuda::deallocate(device.index(), ptr);
#endif
  }
}

void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, std::size_t bytes) {
  if (bytes == 0 || dst == src) return;
  if (dst_device.is_cpu() && src_device.is_cpu()) {
    std::memcpy(dst, src, bytes);
    return;
  }
#if TWEEDIE_HAS_CUDA
  cuda::copy(dst, dst_device, src, src_device, bytes);
#else
  no_cuda(dst_device.is_cuda() ? dst_device : src_device);
#endif
}

void zero_bytes(void* dst, Device device, std::size_t bytes) {
  if (bytes == 0) return;
  if (device.is_cpu()) {
    std::memset(dst, 0, bytes);
    return;
  }
#if TWEEDIE_HAS_CUDA
  cuda::zero(dst, device.index(), bytes);
#else
  no_cuda(device);
#endif
}

void synchronize(Device device) {
  if (device.is_cpu()) return;
#if TWEEDIE_HAS_CUDA
  cuda::synchronize(device.index());
#else
  no_cuda(device);
#endif
}

}  // namespace tweedie
