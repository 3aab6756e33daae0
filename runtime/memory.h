#pragma once
// Raw memory on a device, and the byte counters that benchmarks read for peak memory.
//
// Host blocks are 64-byte aligned (one cache line, one AVX-512 vector). CUDA blocks come from the
// driver's stream-ordered pool on the device's default stream, configured to keep freed memory cached
// (a caching allocator without a second cache of our own); all tweedie work on a device is queued on
// that one stream, so a block freed by one op is safe to hand to the next.
#include <cstddef>
#include <cstdint>

#include "runtime/device.h"

namespace tweedie {

struct MemoryStats {
  std::int64_t current = 0;  // bytes held now by tensors and workspaces on the device
  std::int64_t peak = 0;     // most bytes held at once since start or the last reset_peak_memory
};

MemoryStats memory_stats(Device device);
void reset_peak_memory(Device device);

// Zero bytes gives nullptr. Throws DeviceError for a CUDA device this build or machine does not have.
void* allocate(Device device, std::size_t bytes);
void deallocate(Device device, void* ptr, std::size_t bytes);

// Asks the C library's allocator to keep freed host memory for reuse rather than hand large blocks back
// to the OS at once (glibc: blocks up to 256 MB from the heap instead of fresh mappings, trimming only
// above 1 GB free). Sampling and training loops free and reallocate the same activations every step;
// with glibc's defaults many of those blocks are mapped anew each time and every page faults in again
// (10% of a training step of the demo prior; the step 11% faster with this). Peak memory is unchanged;
// freed memory stays with the process. Process-wide, so the `tweedie` binary calls it at start and
// an embedding application decides for itself. Does nothing where the C library is not glibc.
void retain_freed_host_memory();

// Copies between any two devices. Returns once `dst` holds the bytes when dst is the host; device
// destinations are written in the device's queue order.
void copy_bytes(void* dst, Device dst_device, const void* src, Device src_device, std::size_t bytes);
void zero_bytes(void* dst, Device device, std::size_t bytes);

// Waits until all work queued on the device is done (nothing to wait for on the host).
void synchronize(Device device);

}  // namespace tweedie
