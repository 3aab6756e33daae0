#pragma once
// A pickle reader for PyTorch checkpoints that never executes anything from the file. It interprets the
// opcodes of protocols 2-5 that torch.save writes and builds a tree of plain values. Python's own
// unpickler imports and calls whatever a GLOBAL/REDUCE pair names, which is how a .pt file can run
// code; here GLOBAL may only name what a state dict needs, and calling one of those records the call
// (name and arguments) for the checkpoint reader to interpret instead of running anything:
//
//   collections.OrderedDict                      called with no arguments: an empty dict
//   torch._utils._rebuild_tensor_v2              a tensor over a storage (torch >= 0.4)
//   torch._utils._rebuild_tensor                 the same, older files
//   torch._utils._rebuild_parameter              an nn.Parameter around a tensor
//   torch._utils._rebuild_parameter_with_state   the same, for a Parameter carrying Python attributes
//   torch.{Float,Half,BFloat16,Double,Long,Int,Short,Char,Byte,Bool}Storage
//                                                named in persistent ids, never called
//
// Anything else (os.system, builtins.eval, numpy objects, ...) is refused with an IoError naming the
// global and the byte offset. Every length is checked against the bytes present and the stack, marks,
// memo and value count are bounded, so a malformed or hostile stream ends in an IoError.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace tweedie {

// One value of an unpickled stream. Containers point at other values of the same Unpickled, which owns
// them all; a value may be reachable several times (the memo) and even from itself.
struct PickleValue {
  enum class Kind {
    none, boolean, integer,
    big_integer,    // a LONG1 beyond 64 bits: `text` holds its little-endian two's complement bytes
    real, string, bytes, list, tuple, dict,
    global,         // an allowed "module.name" in `text`
    call,           // an allowed callable named in `text` applied to the arguments in `items`
    persistent_id,  // BINPERSID: `items[0]` is the id the pickler wrote (in PyTorch, a storage tuple)
  };
  Kind kind = Kind::none;
  bool boolean = false;
  std::int64_t integer = 0;
  double real = 0;
  std::string text;                        // string, bytes, big_integer, global, call
  std::vector<const PickleValue*> items;   // list, tuple, call arguments, persistent id
  std::vector<std::pair<const PickleValue*, const PickleValue*>> entries;  // dict, in stream order
  bool ordered = false;                    // a dict made by collections.OrderedDict

  bool is(Kind k) const { return kind == k; }
  bool is_call(const char* name) const { return kind == Kind::call && text == name; }
};

const char* kind_name(PickleValue::Kind kind);  // "int", "str", "tuple", ...
// For messages: "a tuple", "an int", "None", "the result of torch._utils._rebuild_tensor_v2", a global's name.
std::string describe_value(const PickleValue& v);

struct PickleLimits {
  std::size_t max_values = std::size_t(1) << 22;  // values created, memo entries and stack depth each
  std::size_t max_marks = 1000;                    // MARKs open at once: nesting depth of the stream
};

// The result of one pickle stream: the value STOP returned and everything it refers to.
class Unpickled {
 public:
  const PickleValue& root() const { return *root_; }
  std::size_t end() const { return end_; }  // offset one past the STOP opcode
  std::size_t value_count() const { return arena_.size(); }
  // Every BINPERSID value in stream order, reachable from the root or not.
  const std::vector<const PickleValue*>& persistent_ids() const { return persistent_ids_; }

 private:
  friend class PickleMachine;
  std::vector<std::unique_ptr<PickleValue>> arena_;
  std::vector<const PickleValue*> persistent_ids_;
  const PickleValue* root_ = nullptr;
  std::size_t end_ = 0;
};

// Runs the pickle that starts at bytes[start] up to its STOP opcode. Errors read
// "<what>: pickle byte <offset>: <problem>", the offset counted within `bytes`.
Unpickled unpickle(const std::vector<std::uint8_t>& bytes, std::size_t start, const std::string& what,
                   const PickleLimits& limits = {});

}  // namespace tweedie
