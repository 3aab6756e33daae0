// NumPy files (io/checkpoint_readers.h): an .npz archive when the bytes start like a ZIP, else one .npy
// array, as read_checkpoint decides.
#include "io/checkpoint_readers.h"
#include "tools/fuzz/fuzz_target.h"

TWEEDIE_FUZZ_TARGET(numpy)(const std::uint8_t* data, std::size_t size) {
  return tweedie::fuzz::refuse_cleanly([&] {
    std::vector<std::uint8_t> bytes = tweedie::fuzz::bytes_of(data, size);
    if (tweedie::looks_like_zip(bytes)) (void)tweedie::read_npz(tweedie::ZipArchive::from_bytes(std::move(bytes), "fuzz.npz"));
    else (void)tweedie::read_npy(bytes, "fuzz.npy");
  });
}
