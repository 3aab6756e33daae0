#include "runtime/cuda_backend.h"

#include <cstdint>
#include <mutex>

#include "runtime/cuda_check.h"

namespace tweedie {

const char* cufft_status_name(cufftResult s) {
  switch (s) {
    case CUFFT_SUCCESS: return "CUFFT_SUCCESS";
    case CUFFT_INVALID_PLAN: return "CUFFT_INVALID_PLAN";
    case CUFFT_ALLOC_FAILED: return "CUFFT_ALLOC_FAILED (out of device memory)";
    case CUFFT_INVALID_TYPE: return "CUFFT_INVALID_TYPE";
    case CUFFT_INVALID_VALUE: return "CUFFT_INVALID_VALUE";
    case CUFFT_INTERNAL_ERROR: return "CUFFT_INTERNAL_ERROR";
    case CUFFT_EXEC_FAILED: return "CUFFT_EXEC_FAILED";
    case CUFFT_SETUP_FAILED: return "CUFFT_SETUP_FAILED";
    case CUFFT_INVALID_SIZE: return "CUFFT_INVALID_SIZE";
    case CUFFT_UNALIGNED_DATA: return "CUFFT_UNALIGNED_DATA";
    default: return "unrecognised cufftResult";
  }
}

namespace cuda {
namespace {

constexpr int kMaxDevices = 64;

struct DeviceQueue {
  std::once_flag once;
  cudaStream_t stream = nullptr;
};

DeviceQueue& queue(int device) {
  static DeviceQueue queues[kMaxDevices];
  if (device < 0 || device >= kMaxDevices) throw DeviceError(cat("CUDA device index ", device, " out of range"));
  return queues[device];
}

void check_exists(int device) {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) count = 0;
  cudaGetLastError();  // clear the sticky "no device" error so later calls start clean
  if (device >= count)
    throw DeviceError(count == 0 ? cat("cuda:", device, " requested, but no CUDA device is available")
                                 : cat("cuda:", device, " requested, but only ", count, " CUDA device(s) exist"));
}

}  // namespace

void activate(int device) { TW_CHECK(cudaSetDevice(device)); }

cudaStream_t default_stream(int device) {
  DeviceQueue& q = queue(device);
  std::call_once(q.once, [&] {
    check_exists(device);
    activate(device);
    // Stream-ordered pool that never returns freed memory to the driver: steady-state sampling loops
    // then allocate without synchronising.
    cudaMemPool_t pool;
    TW_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
    std::uint64_t keep_everything = UINT64_MAX;
    TW_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep_everything));
    TW_CHECK(cudaStreamCreateWithFlags(&q.stream, cudaStreamNonBlocking));
  });
  return q.stream;
}

void* allocate(int device, std::size_t bytes) {
  cudaStream_t stream = default_stream(device);
  activate(device);
  void* ptr = nullptr;
  cudaError_t status = cudaMallocAsync(&ptr, bytes, stream);
  if (status == cudaErrorMemoryAllocation) {
    cudaGetLastError();
    throw DeviceError(cat("out of memory on cuda:", device, " allocating ", bytes, " bytes"));
  }
  TW_CHECK(status);
  return ptr;
}

void deallocate(int device, void* ptr) {
  // Runs from destructors: report nothing, throw nothing. A failure here means the context is already
  // broken and the next checked call reports it.
  cudaSetDevice(device);
  cudaFreeAsync(ptr, default_stream(device));
}

void copy(void* dst, Device dst_device, const void* src, Device src_device, std::size_t bytes) {
  if (dst_device.is_cuda() && src_device.is_cuda() && dst_device != src_device) {
    // Between two queues: finish what the destination's queue may still do with dst, copy, and wait.
    synchronize(dst_device.index());
    TW_CHECK(cudaMemcpyPeerAsync(dst, dst_device.index(), src, src_device.index(), bytes,
                                 default_stream(src_device.index())));
    TW_CHECK(cudaStreamSynchronize(default_stream(src_device.index())));
    return;
  }
  int device = dst_device.is_cuda() ? dst_device.index() : src_device.index();
  cudaStream_t stream = default_stream(device);
  activate(device);
  TW_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDefault, stream));
  // A host destination must hold the bytes when we return.
  if (dst_device.is_cpu()) TW_CHECK(cudaStreamSynchronize(stream));
}

void zero(void* dst, int device, std::size_t bytes) {
  cudaStream_t stream = default_stream(device);
  activate(device);
  TW_CHECK(cudaMemsetAsync(dst, 0, bytes, stream));
}

void synchronize(int device) { TW_CHECK(cudaStreamSynchronize(default_stream(device))); }

}  // namespace cuda
}  // namespace tweedie
