// The pickle machine: a stack of values, a stack of MARK positions and a memo, driven by one opcode at a
// time (opcode meanings from CPython's pickletools documentation). Nothing is imported or called: GLOBAL
// yields a name from the allowlist and REDUCE records a call of it.
#include "io/pickle.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "runtime/error.h"

namespace tweedie {
namespace {

using Kind = PickleValue::Kind;

// What GLOBAL may name. Storage types only label persistent ids; the others may be called by REDUCE.
constexpr const char* kCallables[] = {
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
};
constexpr const char* kStorageTypes[] = {
    "torch.FloatStorage", "torch.HalfStorage", "torch.BFloat16Storage", "torch.DoubleStorage", "torch.LongStorage",
    "torch.IntStorage",   "torch.ShortStorage", "torch.CharStorage",    "torch.ByteStorage",   "torch.BoolStorage",
};

template <std::size_t N>
bool listed(const char* const (&names)[N], const std::string& name) {
  return std::any_of(std::begin(names), std::end(names), [&](const char* n) { return name == n; });
}

struct OpcodeName {
  std::uint8_t code;
  const char* name;
};
// Every opcode of protocols 0-5, so that an unsupported one is reported by name.
constexpr OpcodeName kOpcodeNames[] = {
    {'(', "MARK"},          {'.', "STOP"},          {'0', "POP"},           {'1', "POP_MARK"},
    {'2', "DUP"},           {'F', "FLOAT"},         {'I', "INT"},           {'J', "BININT"},
    {'K', "BININT1"},       {'L', "LONG"},          {'M', "BININT2"},       {'N', "NONE"},
    {'P', "PERSID"},        {'Q', "BINPERSID"},     {'R', "REDUCE"},        {'S', "STRING"},
    {'T', "BINSTRING"},     {'U', "SHORT_BINSTRING"}, {'V', "UNICODE"},     {'X', "BINUNICODE"},
    {'a', "APPEND"},        {'b', "BUILD"},         {'c', "GLOBAL"},        {'d', "DICT"},
    {'}', "EMPTY_DICT"},    {'e', "APPENDS"},       {'g', "GET"},           {'h', "BINGET"},
    {'i', "INST"},          {'j', "LONG_BINGET"},   {'l', "LIST"},          {']', "EMPTY_LIST"},
    {'o', "OBJ"},           {'p', "PUT"},           {'q', "BINPUT"},        {'r', "LONG_BINPUT"},
    {'s', "SETITEM"},       {'t', "TUPLE"},         {')', "EMPTY_TUPLE"},   {'u', "SETITEMS"},
    {'G', "BINFLOAT"},      {0x80, "PROTO"},        {0x81, "NEWOBJ"},       {0x82, "EXT1"},
    {0x83, "EXT2"},         {0x84, "EXT4"},         {0x85, "TUPLE1"},       {0x86, "TUPLE2"},
    {0x87, "TUPLE3"},       {0x88, "NEWTRUE"},      {0x89, "NEWFALSE"},     {0x8a, "LONG1"},
    {0x8b, "LONG4"},        {'B', "BINBYTES"},      {'C', "SHORT_BINBYTES"}, {0x8c, "SHORT_BINUNICODE"},
    {0x8d, "BINUNICODE8"},  {0x8e, "BINBYTES8"},    {0x8f, "EMPTY_SET"},    {0x90, "ADDITEMS"},
    {0x91, "FROZENSET"},    {0x92, "NEWOBJ_EX"},    {0x93, "STACK_GLOBAL"}, {0x94, "MEMOIZE"},
    {0x95, "FRAME"},        {0x96, "BYTEARRAY8"},   {0x97, "NEXT_BUFFER"},  {0x98, "READONLY_BUFFER"},
};

const char* opcode_name(std::uint8_t code) {
  for (const OpcodeName& op : kOpcodeNames)
    if (op.code == code) return op.name;
  return nullptr;
}

std::string hex_byte(std::uint8_t b) {
  static const char digits[] = "0123456789abcdef";
  return {'0', 'x', digits[b >> 4], digits[b & 15]};
}

// Names from a hostile file go into error messages: keep them short and printable.
std::string printable(const std::string& s) {
  constexpr std::size_t limit = 120;
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < limit; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) out += char(c);
    else out += "\\x" + hex_byte(c).substr(2);
  }
  if (s.size() > limit) out += "...";
  return out;
}

}  // namespace

std::string describe_value(const PickleValue& v) {
  if (v.kind == Kind::global) return printable(v.text);
  if (v.kind == Kind::call) return cat("the result of ", v.text);
  if (v.kind == Kind::dict && v.ordered) return "an OrderedDict";
  if (v.kind == Kind::none) return "None";
  if (v.kind == Kind::integer || v.kind == Kind::big_integer) return "an int";
  return cat("a ", kind_name(v.kind));
}

const char* kind_name(PickleValue::Kind kind) {
  switch (kind) {
    case Kind::none: return "None";
    case Kind::boolean: return "bool";
    case Kind::integer: case Kind::big_integer: return "int";
    case Kind::real: return "float";
    case Kind::string: return "str";
    case Kind::bytes: return "bytes";
    case Kind::list: return "list";
    case Kind::tuple: return "tuple";
    case Kind::dict: return "dict";
    case Kind::global: return "global";
    case Kind::call: return "call";
    case Kind::persistent_id: return "persistent id";
  }
  return "?";
}

class PickleMachine {
 public:
  PickleMachine(const std::vector<std::uint8_t>& bytes, std::size_t start, const std::string& what,
                const PickleLimits& limits)
      : bytes_(bytes), pos_(start), what_(what), limits_(limits) {}

  Unpickled run() {
    if (pos_ > bytes_.size()) throw IoError(cat(what_, ": pickle starts past the end of the data"));
    for (;;) {
      op_offset_ = pos_;
      if (pos_ >= bytes_.size()) fail("the pickle ends without a STOP opcode (truncated?)");
      const std::uint8_t code = bytes_[pos_++];
      const char* name = opcode_name(code);
      op_ = name ? name : "?";
      if (code == '.') return finish();
      step(code, name);
    }
  }

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    throw IoError(cat(what_, ": pickle byte ", op_offset_, ": ", problem));
  }

  // ---- operands ----

  const std::uint8_t* take(std::uint64_t n) {
    const std::size_t remaining = bytes_.size() - pos_;
    if (n > remaining) fail(cat(op_, " needs ", n, " more bytes but only ", remaining, " remain (truncated?)"));
    const std::uint8_t* p = bytes_.data() + pos_;
    pos_ += std::size_t(n);
    return p;
  }
  template <class T>
  T little_endian() {
    T v;
    std::memcpy(&v, take(sizeof(T)), sizeof(T));
    return v;
  }
  std::string text(std::uint64_t n) {
    const std::uint8_t* p = take(n);
    return std::string(reinterpret_cast<const char*>(p), std::size_t(n));
  }
  // GLOBAL's operands are newline-terminated.
  std::string line() {
    const auto begin = bytes_.begin() + std::ptrdiff_t(pos_);
    const auto newline = std::find(begin, bytes_.end(), std::uint8_t('\n'));
    if (newline == bytes_.end()) fail(cat(op_, " operand has no terminating newline (truncated?)"));
    std::string s(begin, newline);
    pos_ += s.size() + 1;
    return s;
  }

  // ---- values, stack, marks, memo ----

  PickleValue* make(Kind kind) {
    if (out_.arena_.size() >= limits_.max_values)
      fail(cat("more than ", limits_.max_values, " values (refusing to build an object this large)"));
    out_.arena_.push_back(std::make_unique<PickleValue>());
    out_.arena_.back()->kind = kind;
    return out_.arena_.back().get();
  }
  void push(PickleValue* v) {
    if (stack_.size() >= limits_.max_values) fail(cat("stack deeper than ", limits_.max_values, " values"));
    stack_.push_back(v);
  }
  std::size_t frame_base() const { return marks_.empty() ? 0 : marks_.back(); }
  PickleValue* top() {
    if (stack_.size() <= frame_base()) fail(cat(op_, " on an empty stack (stack underflow)"));
    return stack_.back();
  }
  PickleValue* pop() {
    PickleValue* v = top();
    stack_.pop_back();
    return v;
  }
  std::vector<const PickleValue*> pop_mark() {
    if (marks_.empty()) fail(cat(op_, " without a matching MARK"));
    std::vector<const PickleValue*> items(stack_.begin() + std::ptrdiff_t(marks_.back()), stack_.end());
    stack_.resize(marks_.back());
    marks_.pop_back();
    return items;
  }
  PickleValue* top_of(Kind kind) {
    PickleValue* v = top();
    if (v->kind != kind) fail(cat(op_, " expects a ", kind_name(kind), " on the stack, found ", describe_value(*v)));
    return v;
  }
  void memo_put(std::uint64_t index) {
    PickleValue* v = top();
    if (memo_.size() >= limits_.max_values && !memo_.count(index))
      fail(cat("more than ", limits_.max_values, " memo entries"));
    memo_[index] = v;
  }
  void memo_get(std::uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) fail(cat(op_, " of memo index ", index, ", which was never stored"));
    push(it->second);
  }

  // ---- scalars and containers ----

  void push_integer(std::int64_t i) {
    PickleValue* v = make(Kind::integer);
    v->integer = i;
    push(v);
  }
  void push_text(Kind kind, std::string s) {
    PickleValue* v = make(kind);
    v->text = std::move(s);
    push(v);
  }
  void push_container(Kind kind, std::vector<const PickleValue*> items) {
    PickleValue* v = make(kind);
    v->items = std::move(items);
    push(v);
  }
  // LONG1: little-endian two's complement of n bytes; 64-bit values become integers.
  void push_long(std::size_t n) {
    const std::uint8_t* p = take(n);
    const bool negative = n > 0 && (p[n - 1] & 0x80);
    bool fits = true;
    for (std::size_t i = 8; i < n; ++i) fits = fits && p[i] == (negative ? 0xff : 0x00);
    if (fits && n > 8) fits = bool(p[7] & 0x80) == negative;
    if (!fits) return push_text(Kind::big_integer, std::string(reinterpret_cast<const char*>(p), n));
    std::uint64_t u = negative ? ~std::uint64_t(0) : 0;
    for (std::size_t i = 0; i < std::min<std::size_t>(n, 8); ++i) {
      u &= ~(std::uint64_t(0xff) << (8 * i));
      u |= std::uint64_t(p[i]) << (8 * i);
    }
    push_integer(std::int64_t(u));
  }
  void push_binfloat() {
    std::uint8_t be[8];  // BINFLOAT is big-endian
    std::memcpy(be, take(8), 8);
    std::reverse(be, be + 8);
    PickleValue* v = make(Kind::real);
    std::memcpy(&v->real, be, 8);
    push(v);
  }
  void set_items(PickleValue* dict, const std::vector<const PickleValue*>& items) {
    if (items.size() % 2) fail(cat(op_, " with an odd number (", items.size(), ") of keys and values"));
    for (std::size_t i = 0; i < items.size(); i += 2) dict->entries.emplace_back(items[i], items[i + 1]);
  }
  void tuple_of(std::size_t n) {
    std::vector<const PickleValue*> items(n);
    for (std::size_t i = n; i-- > 0;) items[i] = pop();
    push_container(Kind::tuple, std::move(items));
  }

  // ---- globals and calls: the only places where a pickle could reach code ----

  void push_global(const std::string& module, const std::string& name) {
    const std::string full = module + "." + name;
    if (!listed(kCallables, full) && !listed(kStorageTypes, full))
      fail(cat("refusing GLOBAL ", printable(full), " (only the globals a PyTorch state dict needs are allowed)"));
    push_text(Kind::global, full);
  }
  void stack_global() {
    const PickleValue* name = pop();
    const PickleValue* module = pop();
    if (module->kind != Kind::string || name->kind != Kind::string)
      fail(cat("STACK_GLOBAL needs two strings, found ", describe_value(*module), " and ", describe_value(*name)));
    push_global(module->text, name->text);
  }
  void reduce() {
    const PickleValue* args = pop();
    const PickleValue* callable = pop();
    if (callable->kind != Kind::global)
      fail(cat("REDUCE on ", describe_value(*callable), " (only an allowed global can be called)"));
    if (!listed(kCallables, callable->text)) fail(cat("REDUCE on ", callable->text, ", which may not be called"));
    if (args->kind != Kind::tuple)
      fail(cat("REDUCE of ", callable->text, " with ", describe_value(*args), " as its arguments (a tuple expected)"));
    if (callable->text == "collections.OrderedDict") return push_ordered_dict(*args);
    PickleValue* v = make(Kind::call);
    v->text = callable->text;
    v->items = args->items;
    push(v);
  }
  // OrderedDict() is filled afterwards by SETITEMS; a call with items is not what torch.save writes.
  void push_ordered_dict(const PickleValue& args) {
    if (!args.items.empty()) fail(cat(op_, " of collections.OrderedDict with arguments (only OrderedDict() is supported)"));
    PickleValue* v = make(Kind::dict);
    v->ordered = true;
    push(v);
  }
  void newobj() {
    const PickleValue* args = pop();
    const PickleValue* cls = pop();
    if (cls->kind != Kind::global || cls->text != "collections.OrderedDict" || args->kind != Kind::tuple)
      fail(cat("NEWOBJ of ", describe_value(*cls), " (only collections.OrderedDict may be instantiated)"));
    push_ordered_dict(*args);
  }
  // A state dict's OrderedDict carries its `_metadata` (module versions) as an attribute, which BUILD
  // sets. Attributes are no tensors, so they are dropped.
  void build() {
    pop();
    const PickleValue* target = top();
    if (target->kind != Kind::dict || !target->ordered)
      fail(cat("BUILD on ", describe_value(*target), " (only an OrderedDict's attributes may be set)"));
  }
  void persistent_id() {
    PickleValue* v = make(Kind::persistent_id);
    v->items = {pop()};
    out_.persistent_ids_.push_back(v);
    push(v);
  }

  void step(std::uint8_t code, const char* name) {
    switch (code) {
      case 0x80: {  // PROTO
        const unsigned version = take(1)[0];
        if (version < 2 || version > 5) fail(cat("pickle protocol ", version, " (2 to 5 supported)"));
        return;
      }
      case 0x95: {  // FRAME: a hint for buffered readers; the length only has to be plausible
        const std::uint64_t n = little_endian<std::uint64_t>();
        if (n > bytes_.size() - pos_) fail(cat("FRAME of ", n, " bytes, but only ", bytes_.size() - pos_, " remain"));
        return;
      }
      case '(':
        if (marks_.size() >= limits_.max_marks) fail(cat("more than ", limits_.max_marks, " nested MARKs"));
        marks_.push_back(stack_.size());
        return;
      case '0':  // POP: a value, or the MARK when nothing lies above it
        if (stack_.size() > frame_base()) stack_.pop_back();
        else if (!marks_.empty()) marks_.pop_back();
        else fail("POP on an empty stack (stack underflow)");
        return;
      case '1': pop_mark(); return;
      case '2': push(top()); return;
      case 'N': push(make(Kind::none)); return;
      case 0x88: case 0x89: {  // NEWTRUE, NEWFALSE
        PickleValue* v = make(Kind::boolean);
        v->boolean = code == 0x88;
        return push(v);
      }
      case 'K': return push_integer(take(1)[0]);
      case 'M': return push_integer(little_endian<std::uint16_t>());
      case 'J': return push_integer(little_endian<std::int32_t>());
      case 0x8a: return push_long(take(1)[0]);
      case 'G': return push_binfloat();
      case 0x8c: return push_text(Kind::string, text(take(1)[0]));
      case 'X': return push_text(Kind::string, text(little_endian<std::uint32_t>()));
      case 0x8d: return push_text(Kind::string, text(little_endian<std::uint64_t>()));
      case 'U': return push_text(Kind::string, text(take(1)[0]));
      case 'T': {
        const std::int32_t n = little_endian<std::int32_t>();
        if (n < 0) fail(cat("BINSTRING of negative length ", n));
        return push_text(Kind::string, text(std::uint64_t(n)));
      }
      case 'C': return push_text(Kind::bytes, text(take(1)[0]));
      case 'B': return push_text(Kind::bytes, text(little_endian<std::uint32_t>()));
      case 0x8e: return push_text(Kind::bytes, text(little_endian<std::uint64_t>()));
      case ')': return push_container(Kind::tuple, {});
      case 't': return push_container(Kind::tuple, pop_mark());
      case 0x85: return tuple_of(1);
      case 0x86: return tuple_of(2);
      case 0x87: return tuple_of(3);
      case ']': return push_container(Kind::list, {});
      case 'l': return push_container(Kind::list, pop_mark());
      case 'a': {
        const PickleValue* v = pop();
        top_of(Kind::list)->items.push_back(v);
        return;
      }
      case 'e': {
        std::vector<const PickleValue*> items = pop_mark();
        std::vector<const PickleValue*>& list = top_of(Kind::list)->items;
        list.insert(list.end(), items.begin(), items.end());
        return;
      }
      case '}': return push(make(Kind::dict));
      case 'd': {
        std::vector<const PickleValue*> items = pop_mark();
        PickleValue* v = make(Kind::dict);
        set_items(v, items);
        return push(v);
      }
      case 's': {
        const PickleValue* value = pop();
        const PickleValue* key = pop();
        top_of(Kind::dict)->entries.emplace_back(key, value);
        return;
      }
      case 'u': {
        std::vector<const PickleValue*> items = pop_mark();
        return set_items(top_of(Kind::dict), items);
      }
      case 'q': return memo_put(take(1)[0]);
      case 'r': return memo_put(little_endian<std::uint32_t>());
      case 0x94: return memo_put(memo_.size());
      case 'h': return memo_get(take(1)[0]);
      case 'j': return memo_get(little_endian<std::uint32_t>());
      case 'c': {
        std::string module = line();
        std::string global = line();
        return push_global(module, global);
      }
      case 0x93: return stack_global();
      case 'R': return reduce();
      case 0x81: return newobj();
      case 'b': return build();
      case 'Q': return persistent_id();
      default: break;
    }
    if (name) fail(cat("unsupported opcode ", name, " (", hex_byte(code), "); not expected in a PyTorch state dict"));
    fail(cat("unknown opcode ", hex_byte(code), " (not a pickle, or a corrupt one)"));
  }

  Unpickled finish() {
    out_.root_ = pop();
    out_.end_ = pos_;
    return std::move(out_);
  }

  const std::vector<std::uint8_t>& bytes_;
  std::size_t pos_;
  const std::string& what_;
  const PickleLimits& limits_;
  std::size_t op_offset_ = 0;
  const char* op_ = "?";
  std::vector<PickleValue*> stack_;
  std::vector<std::size_t> marks_;
  std::unordered_map<std::uint64_t, PickleValue*> memo_;
  Unpickled out_;
};

Unpickled unpickle(const std::vector<std::uint8_t>& bytes, std::size_t start, const std::string& what,
                   const PickleLimits& limits) {
  return PickleMachine(bytes, start, what, limits).run();
}

}  // namespace tweedie
