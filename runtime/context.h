#pragma once
// Context: where and how ops run. Every op takes one as its first argument.
//
// It holds the device, the thread count for host loops, the device's work queue (CUDA stream), a
// workspace for scratch memory, and the per-context state of vendor libraries (cuBLAS and cuDNN handles,
// FFT plan caches), each created on first use by the code that needs it. A Context is used by one host
// thread at a time; give each thread its own.
#include <map>
#include <memory>
#include <typeindex>

#include "runtime/device.h"
#include "runtime/workspace.h"

namespace tweedie {

class Context {
 public:
  // threads = 0 takes all the host threads OpenMP offers (OMP_NUM_THREADS, else every core).
  explicit Context(Device device = Device::cpu(), int threads = 0);
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  Device device() const { return device_; }
  bool on_cuda() const { return device_.is_cuda(); }
  int threads() const { return threads_; }
  void set_threads(int threads);

  // The cudaStream_t all work of this context is queued on (nullptr on the host). Every context of a
  // device shares the device's one stream, so tensors can move freely between them.
  void* stream() const { return stream_; }
  // Waits for all queued work; a no-op on the host.
  void synchronize() const;

  Workspace& workspace() { return workspace_; }

  // The context's instance of State, constructed as State(Context&) on first request. This is how a
  // backend library keeps its handle or plan cache per context without the runtime knowing about it.
  template <class State>
  State& state() {
    std::shared_ptr<void>& slot = states_[std::type_index(typeid(State))];
    if (!slot) slot = std::make_shared<State>(*this);
    return *static_cast<State*>(slot.get());
  }

 private:
  Device device_;
  int threads_ = 1;
  void* stream_ = nullptr;
  Workspace workspace_;
  std::map<std::type_index, std::shared_ptr<void>> states_;  // destroyed first: handles before memory
};

}  // namespace tweedie
