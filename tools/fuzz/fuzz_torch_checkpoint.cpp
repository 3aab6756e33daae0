// PyTorch checkpoints as a whole (io/checkpoint_readers.h): the zip format (archive, pickle, storages)
// and the legacy stream of pickles, then the conversion to f32 that `tweedie convert` does next.
#include "io/checkpoint_readers.h"
#include "tools/fuzz/fuzz_target.h"

TWEEDIE_FUZZ_TARGET(torch_checkpoint)(const std::uint8_t* data, std::size_t size) {
  return tweedie::fuzz::refuse_cleanly([&] {
    for (const auto& [name, tensor] : tweedie::read_torch_checkpoint(tweedie::fuzz::bytes_of(data, size), "fuzz.pt"))
      if (tweedie::is_floating(tensor.type)) (void)tensor.to_f32(name);
  });
}
