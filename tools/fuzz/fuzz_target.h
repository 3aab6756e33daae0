#pragma once
// What every fuzz target shares. A target is one file defining
//
//   TWEEDIE_FUZZ_TARGET(name)(const std::uint8_t* data, std::size_t size) { ... }
//
// Built for libFuzzer (TWEEDIE_LIBFUZZER, one target per executable) that is LLVMFuzzerTestOneInput;
// in ordinary builds it is tweedie_fuzz_<name>, so that fuzz_replay links every target into one binary
// and replays the committed corpora under gcc, ASan and UBSan without clang.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/error.h"

#ifdef TWEEDIE_LIBFUZZER
#define TWEEDIE_FUZZ_TARGET(name) extern "C" int LLVMFuzzerTestOneInput
#else
#define TWEEDIE_FUZZ_TARGET(name) int tweedie_fuzz_##name
#endif

namespace tweedie::fuzz {

// Runs `parse`; a tweedie::Error is the parser refusing the input cleanly, which is what it should do
// with garbage. Anything else (another exception, a crash, a sanitizer report) escapes to the fuzzer
// or to fuzz_replay as a finding.
template <class Parse>
int refuse_cleanly(Parse&& parse) {
  try {
    parse();
  } catch (const tweedie::Error&) {
  }
  return 0;
}

inline std::vector<std::uint8_t> bytes_of(const std::uint8_t* data, std::size_t size) {
  return std::vector<std::uint8_t>(data, data + size);
}

}  // namespace tweedie::fuzz
