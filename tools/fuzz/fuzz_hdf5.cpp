// HDF5 files through every loader that takes one: model files, exact prior files, observation files
// and training-state summaries, each opened through the child-process reader (io/hdf5_isolation.h).
// libhdf5 itself is not instrumented: its crashes and hangs on the input happen in the child and must
// come back as clean refusals; what the fuzzer explores is everything tweedie does with what a corrupt
// file yields (the snapshot's decoding, the loaders' checks of names, shapes and attributes).
#include <unistd.h>

#include <cstdio>
#include <string>

#include "io/hdf5_isolation.h"
#include "io/model_file.h"
#include "io/observation_file.h"
#include "io/prior_file.h"
#include "io/training_state.h"
#include "tools/fuzz/fuzz_target.h"

namespace {

// One file per process, rewritten for every input and removed at exit.
struct InputFile {
  std::string path = "/tmp/tweedie-fuzz-hdf5-" + std::to_string(::getpid()) + ".h5";
  ~InputFile() { std::remove(path.c_str()); }
  void write(const std::uint8_t* data, std::size_t size) const {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) return;
    if (size) std::fwrite(data, 1, size, f);
    std::fclose(f);
  }
};

}  // namespace

TWEEDIE_FUZZ_TARGET(hdf5)(const std::uint8_t* data, std::size_t size) {
  static InputFile file;
  file.write(data, size);
  tweedie::forget_hdf5_snapshots();  // same size, same timestamp tick: not the same file
  tweedie::fuzz::refuse_cleanly([&] { (void)tweedie::load_model(file.path); });
  tweedie::fuzz::refuse_cleanly([&] { (void)tweedie::read_prior(file.path); });
  tweedie::fuzz::refuse_cleanly([&] { (void)tweedie::load_observation(file.path, tweedie::Device::cpu()); });
  tweedie::fuzz::refuse_cleanly([&] { (void)tweedie::read_training_state_info(file.path); });
  return 0;
}
