#include "io/pickle.h"

#include <cstring>
#include <functional>
#include <random>

#include "runtime/error.h"
#include "support.h"

using namespace tweedie;
using doctest::Contains;
using Kind = PickleValue::Kind;

namespace {

using Bytes = std::vector<std::uint8_t>;

std::string fixture(const std::string& name) { return std::string(TWEEDIE_TEST_DATA) + "/checkpoints/" + name; }

// Writes pickles opcode by opcode, with the operand encodings of CPython's pickletools documentation.
struct Writer {
  Bytes b;

  Writer& op(std::uint8_t code) {
    b.push_back(code);
    return *this;
  }
  template <class T>
  Writer& le(T v) {
    std::uint8_t raw[sizeof(T)];
    std::memcpy(raw, &v, sizeof(T));
    b.insert(b.end(), raw, raw + sizeof(T));
    return *this;
  }
  Writer& raw(const std::string& s) {
    b.insert(b.end(), s.begin(), s.end());
    return *this;
  }
  Writer& proto(int v) { return op(0x80).op(std::uint8_t(v)); }
  Writer& stop() { return op('.'); }
  Writer& mark() { return op('('); }
  Writer& none() { return op('N'); }
  Writer& int1(std::uint8_t v) { return op('K').op(v); }
  Writer& int2(std::uint16_t v) { return op('M').le(v); }
  Writer& int4(std::int32_t v) { return op('J').le(v); }
  Writer& long1(const Bytes& v) {
    op(0x8a).op(std::uint8_t(v.size()));
    b.insert(b.end(), v.begin(), v.end());
    return *this;
  }
  Writer& binfloat(double d) {
    std::uint8_t raw[8];
    std::memcpy(raw, &d, 8);
    op('G');
    for (int i = 7; i >= 0; --i) b.push_back(raw[i]);
    return *this;
  }
  Writer& str(const std::string& s) { return op('X').le(std::uint32_t(s.size())).raw(s); }
  Writer& short_str(const std::string& s) { return op(0x8c).op(std::uint8_t(s.size())).raw(s); }
  Writer& global(const std::string& module, const std::string& name) { return op('c').raw(module + "\n" + name + "\n"); }
  Writer& stack_global(const std::string& module, const std::string& name) {
    return short_str(module).short_str(name).op(0x93);
  }
  Writer& put(std::uint8_t i) { return op('q').op(i); }
  Writer& get(std::uint8_t i) { return op('h').op(i); }
  Writer& empty_tuple() { return op(')'); }
  Writer& tuple() { return op('t'); }
  Writer& reduce() { return op('R'); }
};

Unpickled run(const Bytes& b, const PickleLimits& limits = {}) { return unpickle(b, 0, "x.pkl", limits); }

// The pickle's root, which must be a `kind`.
const PickleValue& root_of(const Unpickled& u, Kind kind) {
  REQUIRE(u.root().kind == kind);
  return u.root();
}

std::string error_of(const Bytes& b, const PickleLimits& limits = {}) {
  try {
    run(b, limits);
  } catch (const IoError& e) {
    return e.what();
  }
  return "(no error)";
}

// A fresh empty list, then `item`-producing opcodes, then APPENDS and STOP.
Writer list_of(const std::function<void(Writer&)>& items) {
  Writer w;
  w.proto(2).op(']').mark();
  items(w);
  w.op('e').stop();
  return w;
}

}  // namespace

TEST_CASE("scalars and strings of every width come out with their values") {
  Writer w = list_of([](Writer& w) {
    w.none().op(0x88).op(0x89).int1(200).int2(60000).int4(-70000);
    w.long1({}).long1({0x00, 0x00, 0x00, 0x00, 0x00, 0x01}).long1({0xff});
    w.long1({0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80});
    w.long1({0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0xff});                    // -2^63 with a redundant byte
    w.long1({0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0});                    // -2^70: beyond 64 bits
    w.binfloat(-1.5).binfloat(1e-300);
    w.str("héllo").short_str("").op(0x8d).le(std::uint64_t(3)).raw("abc");            // BINUNICODE(8), SHORT_
    w.op('T').le(std::int32_t(2)).raw("bs").op('U').op(1).raw("s");                   // BINSTRING, SHORT_BINSTRING
    w.op('B').le(std::uint32_t(3)).raw(std::string("\0\1\2", 3)).op('C').op(1).raw("z").op(0x8e).le(std::uint64_t(0));
  });
  Unpickled u = run(w.b);
  const auto& v = root_of(u, Kind::list).items;
  REQUIRE(v.size() == 22);
  CHECK(v[0]->is(Kind::none));
  CHECK((v[1]->is(Kind::boolean) && v[1]->boolean));
  CHECK((v[2]->is(Kind::boolean) && !v[2]->boolean));
  CHECK(v[3]->integer == 200);
  CHECK(v[4]->integer == 60000);
  CHECK(v[5]->integer == -70000);
  CHECK((v[6]->is(Kind::integer) && v[6]->integer == 0));
  CHECK(v[7]->integer == std::int64_t(1) << 40);
  CHECK(v[8]->integer == -1);
  CHECK(v[9]->integer == INT64_MIN);
  CHECK((v[10]->is(Kind::integer) && v[10]->integer == INT64_MIN));
  CHECK(v[11]->is(Kind::big_integer));
  CHECK(v[11]->text == std::string("\0\0\0\0\0\0\0\0\xc0", 9));
  CHECK(v[12]->real == -1.5);
  CHECK(v[13]->real == 1e-300);
  CHECK((v[14]->is(Kind::string) && v[14]->text == "héllo"));
  CHECK((v[15]->is(Kind::string) && v[15]->text.empty()));
  CHECK(v[16]->text == "abc");
  CHECK((v[17]->is(Kind::string) && v[17]->text == "bs"));
  CHECK(v[18]->text == "s");
  CHECK((v[19]->is(Kind::bytes) && v[19]->text == std::string("\0\1\2", 3)));
  CHECK((v[20]->is(Kind::bytes) && v[20]->text == "z"));
  CHECK((v[21]->is(Kind::bytes) && v[21]->text.empty()));
  CHECK(u.end() == w.b.size());
}

TEST_CASE("tuples, lists and dicts are built by every container opcode") {
  Writer w;
  w.proto(2).op('}').mark();
  w.str("t0").empty_tuple().str("t1").int1(1).op(0x85).str("t2").int1(1).int1(2).op(0x86);
  w.str("t3").int1(1).int1(2).int1(3).op(0x87).str("t").mark().int1(4).int1(5).tuple();
  w.str("l").mark().int1(6).op('l').str("la").op(']').int1(7).op('a').mark().int1(8).int1(9).op('e');
  w.str("d").mark().int1(1).str("one").op('d').op('u');
  w.int1(42).str("int key").op('s');
  w.stop();
  Unpickled u = run(w.b);
  const PickleValue& d = root_of(u, Kind::dict);
  CHECK_FALSE(d.ordered);
  REQUIRE(d.entries.size() == 9);
  auto ints = [](const PickleValue* v) {
    std::vector<std::int64_t> out;
    for (const PickleValue* i : v->items) out.push_back(i->integer);
    return out;
  };
  CHECK(d.entries[0].first->text == "t0");
  CHECK((d.entries[0].second->is(Kind::tuple) && d.entries[0].second->items.empty()));
  CHECK(ints(d.entries[1].second) == std::vector<std::int64_t>{1});
  CHECK(ints(d.entries[2].second) == std::vector<std::int64_t>{1, 2});
  CHECK(ints(d.entries[3].second) == std::vector<std::int64_t>{1, 2, 3});
  CHECK(ints(d.entries[4].second) == std::vector<std::int64_t>{4, 5});
  CHECK(d.entries[5].second->is(Kind::list));
  CHECK(ints(d.entries[5].second) == std::vector<std::int64_t>{6});
  CHECK(ints(d.entries[6].second) == std::vector<std::int64_t>{7, 8, 9});
  const PickleValue& inner = *d.entries[7].second;
  REQUIRE(inner.is(Kind::dict));
  REQUIRE(inner.entries.size() == 1);
  CHECK(inner.entries[0].first->integer == 1);
  CHECK(inner.entries[0].second->text == "one");
  CHECK(d.entries[8].first->integer == 42);
  CHECK(d.entries[8].second->text == "int key");
}

TEST_CASE("memo entries alias one value, and MEMOIZE numbers them in order") {
  Writer w;
  w.proto(4).op(']').op(0x94).op(']').op('r').le(std::uint32_t(70000)).op('a');  // [[]], inner list at 70000
  w.op('j').le(std::uint32_t(70000)).int1(5).op('a').op('0');                     // append 5 to the inner list
  w.get(0).op('2').op('a').op('0');                                                // and the outer list to itself
  w.stop();
  Unpickled u = run(w.b);
  const PickleValue& outer = root_of(u, Kind::list);
  REQUIRE(outer.items.size() == 2);
  const PickleValue* inner = outer.items[0];
  REQUIRE(inner->items.size() == 1);
  CHECK(inner->items[0]->integer == 5);
  CHECK(outer.items[1] == &outer);  // a cycle: the values live in the Unpickled, so nothing leaks
}

TEST_CASE("protocol 4 and 5 framing, short strings and STACK_GLOBAL are understood") {
  Writer body;
  body.op('}').op(0x94).mark().short_str("sd").op(0x94).stack_global("collections", "OrderedDict").op(0x94);
  body.empty_tuple().reduce().op(0x94).short_str("w").int1(1).op('s').op('u').stop();
  Writer w;
  w.proto(5).op(0x95).le(std::uint64_t(body.b.size()));
  w.b.insert(w.b.end(), body.b.begin(), body.b.end());
  Unpickled u = run(w.b);
  const PickleValue& d = root_of(u, Kind::dict);
  REQUIRE(d.entries.size() == 1);
  CHECK(d.entries[0].first->text == "sd");
  const PickleValue& sd = *d.entries[0].second;
  CHECK((sd.is(Kind::dict) && sd.ordered));
  REQUIRE(sd.entries.size() == 1);
  CHECK(sd.entries[0].first->text == "w");
}

TEST_CASE("allowed globals become recorded calls and persistent ids are collected; nothing is executed") {
  Writer w;
  w.proto(2).global("torch._utils", "_rebuild_tensor_v2").put(1).mark();
  w.mark().str("storage").global("torch", "BFloat16Storage").str("0").str("cpu").int1(4).tuple().op('Q');
  w.int1(0).int1(4).op(0x85).int1(1).op(0x85).op(0x89);
  w.global("collections", "OrderedDict").empty_tuple().reduce();
  w.op('}').op('b');  // BUILD on the OrderedDict: attributes are dropped
  w.tuple().reduce().stop();
  Unpickled u = run(w.b);
  const PickleValue& call = root_of(u, Kind::call);
  CHECK(call.is_call("torch._utils._rebuild_tensor_v2"));
  REQUIRE(call.items.size() == 6);
  REQUIRE(u.persistent_ids().size() == 1);
  const PickleValue* pid = u.persistent_ids()[0];
  CHECK(call.items[0] == pid);
  CHECK(pid->is(Kind::persistent_id));
  const PickleValue& id = *pid->items.at(0);
  REQUIRE(id.items.size() == 5);
  CHECK((id.items[1]->is(Kind::global) && id.items[1]->text == "torch.BFloat16Storage"));
  CHECK((call.items[5]->is(Kind::dict) && call.items[5]->ordered));

  Writer n;  // NEWOBJ of OrderedDict, as some picklers write it
  n.proto(2).global("collections", "OrderedDict").empty_tuple().op(0x81).stop();
  Unpickled nu = run(n.b);
  CHECK((root_of(nu, Kind::dict).ordered));
}

TEST_CASE("globals outside the allowlist are refused with their name and byte offset") {
  Writer os;
  os.proto(2).global("os", "system").str("touch pwned").op(0x85).reduce().stop();
  const std::string why = " (only the globals a PyTorch state dict needs are allowed)";
  CHECK(error_of(os.b) == "x.pkl: pickle byte 2: refusing GLOBAL os.system" + why);
  Writer eval;
  eval.proto(4).stack_global("builtins", "eval").stop();
  CHECK(error_of(eval.b) == "x.pkl: pickle byte 18: refusing GLOBAL builtins.eval" + why);
  for (auto [module, name] : {std::pair{"__builtin__", "exec"}, {"numpy.core.multiarray", "_reconstruct"},
                              {"torch", "load"}, {"torch._utils", "_rebuild_tensor_v2x"}, {"torch", "UntypedStorage"},
                              {"torch.nn.modules.linear", "Linear"}}) {
    Writer g;
    g.proto(2).global(module, name).stop();
    CHECK_THROWS_WITH_AS(run(g.b), Contains("refusing GLOBAL"), IoError);
  }
  Writer odd;  // bytes of a hostile name are escaped in the message
  odd.proto(4).stack_global("a\x01", "b").stop();
  CHECK(error_of(odd.b) == "x.pkl: pickle byte 9: refusing GLOBAL a\\x01.b" + why);
}

TEST_CASE("REDUCE, NEWOBJ and BUILD accept only what a state dict needs") {
  Writer storage_call;
  storage_call.proto(2).global("torch", "FloatStorage").empty_tuple().reduce().stop();
  CHECK(error_of(storage_call.b) == "x.pkl: pickle byte 23: REDUCE on torch.FloatStorage, which may not be called");
  Writer string_call;
  string_call.proto(2).str("os.system").empty_tuple().reduce().stop();
  CHECK(error_of(string_call.b) == "x.pkl: pickle byte 17: REDUCE on a str (only an allowed global can be called)");
  Writer bad_args;
  bad_args.proto(2).global("torch._utils", "_rebuild_tensor").int1(1).reduce().stop();
  CHECK_THROWS_WITH_AS(run(bad_args.b), Contains("with an int as its arguments (a tuple expected)"), IoError);
  Writer filled;
  filled.proto(2).global("collections", "OrderedDict").op(']').op(0x85).reduce().stop();
  CHECK_THROWS_WITH_AS(run(filled.b), Contains("only OrderedDict() is supported"), IoError);
  Writer newobj;
  newobj.proto(2).global("torch._utils", "_rebuild_parameter").empty_tuple().op(0x81).stop();
  CHECK_THROWS_WITH_AS(run(newobj.b), Contains("NEWOBJ of torch._utils._rebuild_parameter (only collections.OrderedDict"),
                       IoError);
  Writer build_dict;
  build_dict.proto(2).op('}').op('}').op('b').stop();
  CHECK(error_of(build_dict.b) == "x.pkl: pickle byte 4: BUILD on a dict (only an OrderedDict's attributes may be set)");
  Writer build_call;
  build_call.proto(2).global("torch._utils", "_rebuild_tensor").empty_tuple().reduce().op('}').op('b').stop();
  CHECK_THROWS_WITH_AS(run(build_call.b), Contains("BUILD on the result of torch._utils._rebuild_tensor"), IoError);
}

TEST_CASE("malformed pickles end in an IoError naming the problem and the offset") {
  auto check = [](const Bytes& b, const std::string& message) { CHECK(error_of(b) == "x.pkl: pickle byte " + message); };
  check({0x80, 2, 'X', 0xff, 0xff, 0xff, 0x7f, 'a', '.'},
        "2: BINUNICODE needs 2147483647 more bytes but only 2 remain (truncated?)");
  check({0x80, 2, 0x8d, 1, 2}, "2: BINUNICODE8 needs 8 more bytes but only 2 remain (truncated?)");
  check({0x80, 2, 'T', 0xff, 0xff, 0xff, 0xff, '.'}, "2: BINSTRING of negative length -1");
  check({0x80, 2, 'K'}, "2: BININT1 needs 1 more bytes but only 0 remain (truncated?)");
  check({0x80, 2, 'a', '.'}, "2: APPEND on an empty stack (stack underflow)");
  check({0x80, 2, ']', '(', 'a', '.'}, "4: APPEND on an empty stack (stack underflow)");  // the list lies below the MARK
  check({0x80, 2, 'N', 't', '.'}, "3: TUPLE without a matching MARK");
  check({0x80, 2, 'N', '1', '.'}, "3: POP_MARK without a matching MARK");
  check({0x80, 2, '0', '.'}, "2: POP on an empty stack (stack underflow)");
  check({0x80, 2, 'h', 3, '.'}, "2: BINGET of memo index 3, which was never stored");
  check({0x80, 2, 'q', 0, '.'}, "2: BINPUT on an empty stack (stack underflow)");
  check({0x80, 2, 'N', 'N', 'a', '.'}, "4: APPEND expects a list on the stack, found None");
  check({0x80, 2, '}', '(', 'N', 'u', '.'}, "5: SETITEMS with an odd number (1) of keys and values");
  check({0x80, 2, 0xff}, "2: unknown opcode 0xff (not a pickle, or a corrupt one)");
  check({0x80, 4, 0x8f, '.'}, "2: unsupported opcode EMPTY_SET (0x8f); not expected in a PyTorch state dict");
  check({0x80, 2, 'i', '.'}, "2: unsupported opcode INST (0x69); not expected in a PyTorch state dict");
  check({0x80, 6, 'N', '.'}, "0: pickle protocol 6 (2 to 5 supported)");
  check({0x80, 2, 'N'}, "3: the pickle ends without a STOP opcode (truncated?)");
  check({}, "0: the pickle ends without a STOP opcode (truncated?)");
  check({0x80, 2, 'c', 'o', 's', '\n', 's', 'y'}, "2: GLOBAL operand has no terminating newline (truncated?)");
  check({0x80, 4, 0x95, 100, 0, 0, 0, 0, 0, 0, 0, 'N', '.'}, "2: FRAME of 100 bytes, but only 2 remain");
  check({0x80, 2, 'N', 'K', 1, 0x93, '.'}, "5: STACK_GLOBAL needs two strings, found None and an int");
  check({0x80, 2, '.'}, "2: STOP on an empty stack (stack underflow)");
  check({0x80, 2, '(', '.'}, "3: STOP on an empty stack (stack underflow)");
}

TEST_CASE("limits bound the number of values, the memo and the nesting of MARKs") {
  PickleLimits limits;
  limits.max_values = 10;
  limits.max_marks = 3;
  Bytes many = {0x80, 2};
  for (int i = 0; i < 11; ++i) many.push_back('N');
  many.push_back('.');
  CHECK(error_of(many, limits) == "x.pkl: pickle byte 12: more than 10 values (refusing to build an object this large)");
  Bytes dups = {0x80, 2, 'N'};
  for (int i = 0; i < 10; ++i) dups.push_back('2');
  dups.push_back('.');
  CHECK(error_of(dups, limits) == "x.pkl: pickle byte 12: stack deeper than 10 values");
  Bytes memo = {0x80, 2, 'N'};
  for (std::uint8_t i = 0; i < 11; ++i) memo.insert(memo.end(), {'q', i});
  memo.push_back('.');
  CHECK(error_of(memo, limits) == "x.pkl: pickle byte 23: more than 10 memo entries");
  Bytes marks = {0x80, 2, '(', '(', '(', '(', 'N', '.'};
  CHECK(error_of(marks, limits) == "x.pkl: pickle byte 5: more than 3 nested MARKs");
  CHECK_NOTHROW(run({0x80, 2, '(', '(', '(', 'N', '.'}, limits));
}

TEST_CASE("a pickle inside a larger buffer is read from its start to its STOP") {
  Bytes b = {'j', 'u', 'n', 'k', 0x80, 2, 'K', 7, '.', 0x80, 2, 'K', 8, '.', 0x80, 2, 'z'};
  Unpickled first = unpickle(b, 4, "stream");
  CHECK(first.root().integer == 7);
  CHECK(first.end() == 9);
  Unpickled second = unpickle(b, first.end(), "stream");
  CHECK(second.root().integer == 8);
  CHECK_THROWS_WITH_AS(unpickle(b, second.end(), "stream"),
                       "stream: pickle byte 16: unknown opcode 0x7a (not a pickle, or a corrupt one)", IoError);
  CHECK_THROWS_WITH_AS(unpickle(b, 100, "stream"), "stream: pickle starts past the end of the data", IoError);
}

TEST_CASE("the pickles of a real legacy PyTorch file become the state dict's value tree") {
  // torch_types_legacy.pt: magic number, protocol version, sys_info, the state dict, the storage keys.
  Bytes b = test::read_bytes(fixture("torch_types_legacy.pt"));
  Unpickled magic = unpickle(b, 0, "legacy");
  CHECK(magic.root().is(Kind::big_integer));
  Unpickled version = unpickle(b, magic.end(), "legacy");
  CHECK(version.root().integer == 1001);
  Unpickled info = unpickle(b, version.end(), "legacy");
  CHECK(root_of(info, Kind::dict).entries.size() == 3);
  Unpickled sd = unpickle(b, info.end(), "legacy");
  const PickleValue& d = root_of(sd, Kind::dict);
  CHECK(d.ordered);
  const std::vector<std::string> names = {"f32", "f16", "bf16", "f64", "i64", "i32", "i16", "i8", "u8", "bool",
                                          "transposed", "rows", "cols", "expanded", "param", "scalar", "empty"};
  REQUIRE(d.entries.size() == names.size());
  for (std::size_t i = 0; i < names.size(); ++i) {
    CAPTURE(names[i]);
    CHECK(d.entries[i].first->text == names[i]);
    const PickleValue& t = *d.entries[i].second;
    CHECK(t.is_call(names[i] == "param" ? "torch._utils._rebuild_parameter" : "torch._utils._rebuild_tensor_v2"));
  }
  CHECK(sd.persistent_ids().size() == names.size());
  Unpickled keys = unpickle(b, sd.end(), "legacy");
  CHECK(root_of(keys, Kind::list).items.size() == names.size() - 1);  // rows and cols share a storage
}

TEST_CASE("no truncation or corruption of real pickles crashes the machine") {
  Bytes b = test::read_bytes(fixture("torch_nested_legacy.pt"));
  // Every pickle of the stream, cut short anywhere, fails cleanly.
  std::vector<std::size_t> starts = {0};
  for (int i = 0; i < 5; ++i) starts.push_back(unpickle(b, starts.back(), "s").end());
  for (std::size_t k = 0; k + 1 < starts.size(); ++k)
    for (std::size_t end = starts[k]; end < starts[k + 1]; ++end) {
      Bytes cut(b.begin(), b.begin() + std::ptrdiff_t(end));
      CHECK_THROWS_AS(unpickle(cut, starts[k], "cut"), IoError);
    }
  // Random byte changes either still parse or end in an IoError.
  std::mt19937_64 gen(7);
  int failures = 0;
  for (int trial = 0; trial < 3000; ++trial) {
    Bytes m = b;
    const int changes = 1 + int(gen() % 4);
    for (int c = 0; c < changes; ++c) m[starts[3] + gen() % (starts[4] - starts[3])] = std::uint8_t(gen());
    try {
      unpickle(m, starts[3], "fuzz");
    } catch (const IoError&) {
      ++failures;
    }
  }
  CHECK(failures > 0);
}
