#pragma once
// The CUDA runtime underneath Tensor, Context and memory: one queue (stream) per device, stream-ordered
// allocation, copies, and the device census. Built only with the CUDA backend; the rest of the runtime
// reaches it through memory.h, context.h and system_info.h.
#include <cuda_runtime_api.h>

#include <cstddef>

#include "runtime/device.h"

namespace tweedie::cuda {

// Makes `device` current on this host thread (kernel launches and library calls go to it).
void activate(int device);
// The one stream on which all tweedie work for `device` is queued. Created on first use, with the
// device's memory pool set to keep freed blocks cached.
cudaStream_t default_stream(int device);

void* allocate(int device, std::size_t bytes);
void deallocate(int device, void* ptr);
void copy(void* dst, Device dst_device, const void* src, Device src_device, std::size_t bytes);
void zero(void* dst, int device, std::size_t bytes);
void synchronize(int device);

}  // namespace tweedie::cuda
