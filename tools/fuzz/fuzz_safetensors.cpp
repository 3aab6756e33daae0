// safetensors files (io/checkpoint_readers.h): header length, JSON header, offsets into the data.
#include "io/checkpoint_readers.h"
#include "tools/fuzz/fuzz_target.h"

TWEEDIE_FUZZ_TARGET(safetensors)(const std::uint8_t* data, std::size_t size) {
  return tweedie::fuzz::refuse_cleanly([&] {
    for (const auto& [name, tensor] : tweedie::read_safetensors(tweedie::fuzz::bytes_of(data, size), "fuzz.safetensors"))
      if (tweedie::is_floating(tensor.type)) (void)tensor.to_f32(name);
  });
}
