#pragma once
// Scratch memory for the kernels of one Context: a stack of chunks on the context's device. An op takes
// what it needs inside a Workspace::Scope and gives it all back when the scope ends, so a sampling loop
// that repeats the same ops allocates nothing after its first step. When the outermost scope ends and
// the stack had to grow into several chunks, they are merged into one big enough for the whole peak.
//
//   Workspace::Scope scratch(ctx.workspace());
//   float* columns = scratch.take<float>(k * n);   // valid until `scratch` goes out of scope
#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/device.h"

namespace tweedie {

class Workspace {
 public:
  explicit Workspace(Device device) : device_(device) {}
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;

  class Scope {
   public:
    explicit Scope(Workspace& ws);
    ~Scope();
    Scope(const Scope&) = delete;
    Scope& operator=(const Scope&) = delete;
    // `count` elements of T, 256-byte aligned (enough for any vector load and for cuBLAS/cuFFT).
    template <class T> T* take(std::int64_t count) { return static_cast<T*>(take_bytes(std::size_t(count) * sizeof(T))); }
    void* take_bytes(std::size_t bytes);

   private:
    Workspace& ws_;
    std::size_t chunk_;   // where the stack stood when the scope opened
    std::size_t offset_;
  };

  std::size_t capacity() const;  // bytes held, over all chunks
  Device device() const { return device_; }

 private:
  struct Chunk {
    void* data;
    std::size_t size;
  };
  void merge_chunks();

  Device device_;
  std::vector<Chunk> chunks_;
  std::size_t top_chunk_ = 0;   // index of the chunk being filled
  std::size_t top_offset_ = 0;  // bytes used in it
  int open_scopes_ = 0;
};

}  // namespace tweedie
