// The restricted unpickler (io/pickle.h) on arbitrary bytes: every opcode, length and bound it checks.
#include "io/pickle.h"
#include "tools/fuzz/fuzz_target.h"

TWEEDIE_FUZZ_TARGET(pickle)(const std::uint8_t* data, std::size_t size) {
  return tweedie::fuzz::refuse_cleanly([&] {
    const tweedie::Unpickled u = tweedie::unpickle(tweedie::fuzz::bytes_of(data, size), 0, "fuzz.pkl");
    // Messages describe values the checkpoint reader did not expect: that must work for any root.
    (void)tweedie::describe_value(u.root());
    for (const tweedie::PickleValue* id : u.persistent_ids()) (void)tweedie::describe_value(*id);
  });
}
