// PyTorch torch.save files, read without Python (layouts as torch/serialization.py writes them):
//
//   zip format (torch >= 1.6)  <prefix>/data.pkl, the pickled object whose tensors refer to storages by
//                              persistent id ('storage', StorageType, key, location, numel); the bytes of
//                              storage <key> in <prefix>/data/<key>; <prefix>/byteorder "little".
//   legacy format              one stream of pickles: magic number, protocol version 1001, sys_info, the
//                              object (persistent ids with a sixth item, view_metadata), the list of
//                              storage keys; then per key an int64 element count and the raw bytes.
//
// The object comes from the restricted unpickler (io/pickle.h); a tensor is a recorded call of
// torch._utils._rebuild_tensor_v2 (or a relative) over a storage, materialized here as a contiguous
// row-major copy after checking that every element it addresses lies inside the storage.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>

#include "io/checkpoint_readers.h"
#include "io/pickle.h"
#include "io/zip_archive.h"
#include "runtime/error.h"

namespace tweedie {
namespace {

using Kind = PickleValue::Kind;

// Containers nest a few levels in real checkpoints; deeper means a crafted (or cyclic) object.
constexpr int kMaxDepth = 100;
// Tensors may share storages and zero strides may expand them, so the output can outgrow the file,
// but not without bound: a few bytes of pickle must not ask for terabytes.
constexpr std::uint64_t kOutputFactor = 16;
constexpr std::uint64_t kOutputSlack = std::uint64_t(1) << 30;

struct StorageTypeName {
  const char* name;
  ElementType type;
};
constexpr StorageTypeName kStorageTypes[] = {
    {"torch.FloatStorage", ElementType::f32},   {"torch.HalfStorage", ElementType::f16},
    {"torch.BFloat16Storage", ElementType::bf16}, {"torch.DoubleStorage", ElementType::f64},
    {"torch.LongStorage", ElementType::i64},    {"torch.IntStorage", ElementType::i32},
    {"torch.ShortStorage", ElementType::i16},   {"torch.CharStorage", ElementType::i8},
    {"torch.ByteStorage", ElementType::u8},     {"torch.BoolStorage", ElementType::boolean},
};

// A persistent id as torch.save writes it for a storage.
struct StorageRef {
  ElementType type = ElementType::f32;
  std::string key;
  std::int64_t numel = 0;
  const PickleValue* view = nullptr;  // legacy view_metadata (view_key, offset, size), or null
};

// Elements of one type somewhere in memory that outlives the reader's use of it.
struct Storage {
  ElementType type = ElementType::f32;
  const std::uint8_t* data = nullptr;
  std::int64_t numel = 0;
};

std::int64_t integer_of(const PickleValue* v, const std::string& what, const char* field) {
  if (!v->is(Kind::integer)) throw IoError(cat(what, ": ", field, " is ", describe_value(*v), ", not an int"));
  return v->integer;
}

std::vector<std::int64_t> integers_of(const PickleValue* v, const std::string& what, const char* field) {
  if (!v->is(Kind::tuple) && !v->is(Kind::list))
    throw IoError(cat(what, ": ", field, " is ", describe_value(*v), ", not a tuple of ints"));
  std::vector<std::int64_t> out;
  for (const PickleValue* item : v->items) out.push_back(integer_of(item, what, field));
  return out;
}

StorageRef parse_storage_ref(const PickleValue& pid, const std::string& what) {
  const PickleValue* id = pid.items.at(0);
  if (!id->is(Kind::tuple) || id->items.size() < 5 || id->items.size() > 6 || !id->items[0]->is(Kind::string) ||
      id->items[0]->text != "storage")
    throw IoError(cat(what, ": persistent id is not ('storage', type, key, location, numel[, view])"));
  const std::vector<const PickleValue*>& f = id->items;
  StorageRef ref;
  auto type = std::find_if(std::begin(kStorageTypes), std::end(kStorageTypes),
                           [&](const StorageTypeName& t) { return f[1]->is(Kind::global) && f[1]->text == t.name; });
  if (type == std::end(kStorageTypes)) throw IoError(cat(what, ": storage type is not one of torch's typed storages"));
  ref.type = type->type;
  if (!f[2]->is(Kind::string)) throw IoError(cat(what, ": storage key is ", describe_value(*f[2]), ", not a str"));
  ref.key = f[2]->text;
  ref.numel = integer_of(f[4], what, "storage size");
  checked_numel({ref.numel}, element_size(ref.type), cat(what, ": storage '", ref.key, "'"));
  if (f.size() == 6 && !f[5]->is(Kind::none)) ref.view = f[5];
  return ref;
}

// A legacy storage view: elements [offset, offset + size) of the root storage.
Storage apply_view(Storage root, const StorageRef& ref, const std::string& what) {
  if (!ref.view) return root;
  const PickleValue* v = ref.view;
  if (!v->is(Kind::tuple) || v->items.size() != 3)
    throw IoError(cat(what, ": storage view metadata is not (view_key, offset, size)"));
  const std::int64_t offset = integer_of(v->items[1], what, "storage view offset");
  const std::int64_t size = integer_of(v->items[2], what, "storage view size");
  if (offset < 0 || size < 0 || offset > root.numel || size > root.numel - offset)
    throw IoError(cat(what, ": storage view [", offset, ", +", size, ") lies outside storage '", ref.key, "' (",
                      root.numel, " elements)"));
  root.data += std::size_t(offset) * element_size(root.type);
  root.numel = size;
  return root;
}

bool contiguous(const std::vector<std::int64_t>& size, const std::vector<std::int64_t>& stride) {
  std::int64_t expected = 1;
  for (std::size_t d = size.size(); d-- > 0;) {
    if (size[d] != 1 && stride[d] != expected) return false;
    expected *= size[d];
  }
  return true;
}

// The largest storage index a view addresses, or IoError when the arithmetic overflows.
std::int64_t last_index(std::int64_t offset, const std::vector<std::int64_t>& size,
                        const std::vector<std::int64_t>& stride, const std::string& what) {
  std::int64_t last = offset;
  for (std::size_t d = 0; d < size.size(); ++d) {
    std::int64_t reach;
    if (__builtin_mul_overflow(size[d] - 1, stride[d], &reach) || __builtin_add_overflow(last, reach, &last))
      throw IoError(cat(what, ": size ", size[d], " times stride ", stride[d], " in dimension ", d,
                        " overflows (corrupt or crafted file)"));
  }
  return last;
}

// Copies the strided view into row-major order, a contiguous run of the innermost dimension at a time.
void gather(const Storage& s, std::int64_t offset, const std::vector<std::int64_t>& size,
            const std::vector<std::int64_t>& stride, std::int64_t numel, std::uint8_t* out) {
  const std::size_t es = element_size(s.type);
  if (contiguous(size, stride)) {
    std::memcpy(out, s.data + std::size_t(offset) * es, std::size_t(numel) * es);
    return;
  }
  std::size_t outer = size.size();
  std::int64_t run = 1;
  if (outer > 0 && stride[outer - 1] == 1) run = size[--outer];
  std::vector<std::int64_t> index(outer, 0);
  std::int64_t at = offset;
  for (std::int64_t done = 0; done < numel; done += run) {
    std::memcpy(out + std::size_t(done) * es, s.data + std::size_t(at) * es, std::size_t(run) * es);
    for (std::size_t d = outer; d-- > 0;) {
      if (++index[d] < size[d]) {
        at += stride[d];
        break;
      }
      at -= stride[d] * (size[d] - 1);
      index[d] = 0;
    }
  }
}

// Resolves the storage a persistent id names.
using StorageLookup = std::function<Storage(const StorageRef&, const std::string& what)>;

// Walks the unpickled object, naming tensors by their path and materializing them.
class Flattener {
 public:
  Flattener(const Unpickled& object, std::string path, StorageLookup lookup, std::uint64_t output_budget)
      : path_(std::move(path)), lookup_(std::move(lookup)), output_budget_(output_budget),
        visit_budget_(4 * object.value_count() + 1000) {}

  // `name` is nullopt below a dictionary key that cannot name a tensor (a tuple, a float, None).
  void walk(const PickleValue& v, const std::optional<std::string>& name, int depth) {
    guard(name, depth);
    switch (v.kind) {
      case Kind::dict:
        for (const auto& [key, value] : v.entries) walk(*value, join(name, key_name(*key)), depth + 1);
        return;
      case Kind::list: case Kind::tuple:
        for (std::size_t i = 0; i < v.items.size(); ++i) walk(*v.items[i], join(name, std::to_string(i)), depth + 1);
        return;
      case Kind::call: return add(v, name, depth);
      default: return;  // numbers, strings, None: training state, not weights
    }
  }

  void add(const PickleValue& call, const std::optional<std::string>& name, int depth) {
    if (!name) throw IoError(cat(path_, ": a tensor lies under a dictionary key that is neither a str nor an int"));
    const std::string what = cat(path_, ": tensor '", *name, "'");
    RawTensor t = tensor(call, what, depth);
    if (!out_.emplace(*name, std::move(t)).second) throw IoError(cat(what, ": two tensors have this name"));
  }

  TensorDict take() { return std::move(out_); }

 private:
  void guard(const std::optional<std::string>& name, int depth) {
    if (depth > kMaxDepth) {
      std::string where = name.value_or("?");
      if (where.size() > 60) where = where.substr(0, 60) + "...";
      throw IoError(cat(path_, ": '", where, "' is nested more than ", kMaxDepth,
                        " levels deep (a cyclic or crafted object)"));
    }
    if (++visits_ > visit_budget_)
      throw IoError(cat(path_, ": the object refers to its parts more than ", visit_budget_,
                        " times (a crafted object)"));
  }

  static std::optional<std::string> key_name(const PickleValue& key) {
    if (key.is(Kind::string)) return key.text;
    if (key.is(Kind::integer)) return std::to_string(key.integer);
    return std::nullopt;
  }
  static std::optional<std::string> join(const std::optional<std::string>& name, const std::optional<std::string>& key) {
    if (!name || !key) return std::nullopt;
    return name->empty() ? *key : *name + "/" + *key;
  }

  RawTensor tensor(const PickleValue& call, const std::string& what, int depth) {
    guard(std::nullopt, depth + 1);
    const std::vector<const PickleValue*>& args = call.items;
    auto arity = [&](std::size_t lo, std::size_t hi) {
      if (args.size() < lo || args.size() > hi)
        throw IoError(cat(what, ": ", call.text, " called with ", args.size(), " arguments"));
    };
    if (call.is_call("torch._utils._rebuild_parameter") || call.is_call("torch._utils._rebuild_parameter_with_state")) {
      arity(3, 4);
      if (!args[0]->is(Kind::call)) throw IoError(cat(what, ": a parameter around ", describe_value(*args[0])));
      return tensor(*args[0], what, depth + 1);
    }
    if (call.is_call("torch._utils._rebuild_tensor_v2")) arity(6, 7);
    else if (call.is_call("torch._utils._rebuild_tensor")) arity(4, 4);
    else throw IoError(cat(what, ": ", call.text, " does not make a tensor"));
    if (!args[0]->is(Kind::persistent_id))
      throw IoError(cat(what, ": the storage is ", describe_value(*args[0]), ", not a persistent id"));
    StorageRef ref = parse_storage_ref(*args[0], what);
    return materialize(lookup_(ref, what), integer_of(args[1], what, "storage offset"),
                       integers_of(args[2], what, "size"), integers_of(args[3], what, "stride"), what);
  }

  RawTensor materialize(const Storage& s, std::int64_t offset, std::vector<std::int64_t> size,
                        const std::vector<std::int64_t>& stride, const std::string& what) {
    if (size.size() != stride.size())
      throw IoError(cat(what, ": ", size.size(), " sizes but ", stride.size(), " strides"));
    const std::size_t es = element_size(s.type);
    const std::int64_t numel = checked_numel(size, es, what);
    if (offset < 0) throw IoError(cat(what, ": negative storage offset ", offset));
    for (std::int64_t st : stride)
      if (st < 0) throw IoError(cat(what, ": negative stride ", st));
    RawTensor t{s.type, std::move(size), {}};
    if (numel == 0) return t;
    if (offset >= s.numel)
      throw IoError(cat(what, ": storage offset ", offset, " is past the end of its storage (", s.numel, " elements)"));
    const std::int64_t last = last_index(offset, t.shape, stride, what);
    if (last >= s.numel)
      throw IoError(cat(what, ": addresses storage element ", last, ", past the end of its storage (", s.numel,
                        " elements)"));
    const std::uint64_t bytes = std::uint64_t(numel) * es;
    if (bytes > output_budget_)
      throw IoError(cat(what, ": expanding the checkpoint's storages beyond ", kOutputFactor,
                        " times their size (a crafted file?)"));
    output_budget_ -= bytes;
    t.data.resize(std::size_t(bytes));
    gather(s, offset, t.shape, stride, numel, t.data.data());
    return t;
  }

  std::string path_;
  StorageLookup lookup_;
  std::uint64_t output_budget_;
  std::size_t visit_budget_;
  std::size_t visits_ = 0;
  TensorDict out_;
};

TensorDict flatten(const Unpickled& object, const std::string& path, StorageLookup lookup, std::uint64_t budget) {
  Flattener f(object, path, std::move(lookup), budget);
  // torch.save(tensor) alone: name it after the file.
  if (object.root().is(Kind::call)) f.add(object.root(), std::filesystem::path(path).stem().string(), 0);
  else f.walk(object.root(), std::string(), 0);
  return f.take();
}

// ---- zip format ----

// The folder holding data.pkl: torch names it after the file, but renaming the file keeps the old name.
std::string zip_prefix(const ZipArchive& zip) {
  std::optional<std::string> prefix;
  for (const ZipArchive::Entry& e : zip.entries()) {
    const std::size_t slash = e.name.find('/');
    std::string candidate;
    if (e.name == "data.pkl") candidate = "";
    else if (slash != std::string::npos && e.name.compare(slash, std::string::npos, "/data.pkl") == 0)
      candidate = e.name.substr(0, slash + 1);
    else continue;
    if (prefix && *prefix != candidate)
      throw IoError(cat(zip.path(), ": more than one data.pkl (", *prefix, "data.pkl and ", e.name, ")"));
    prefix = candidate;
  }
  if (!prefix) throw IoError(cat(zip.path(), ": a zip archive without <folder>/data.pkl, so not a PyTorch checkpoint"));
  return *prefix;
}

void check_byteorder(const ZipArchive& zip, const std::string& prefix) {
  if (!zip.find(prefix + "byteorder")) return;  // older writers omit it: little-endian
  std::vector<std::uint8_t> b = zip.read(prefix + "byteorder");
  std::string order(b.begin(), b.end());
  if (order == "little") return;
  if (order == "big")
    throw IoError(cat(zip.path(), ": written on a big-endian machine (", prefix,
                      "byteorder is \"big\"); only little-endian checkpoints are supported"));
  throw IoError(cat(zip.path(), ": ", prefix, "byteorder is neither \"little\" nor \"big\""));
}

TensorDict read_zip_checkpoint(const ZipArchive& zip) {
  const std::string& path = zip.path();
  const std::string prefix = zip_prefix(zip);
  check_byteorder(zip, prefix);
  const std::string pkl = prefix + "data.pkl";
  const std::vector<std::uint8_t> pickle = zip.read(pkl);
  const Unpickled object = unpickle(pickle, 0, cat(path, ": ", pkl));

  std::uint64_t storage_bytes = 0;
  for (const ZipArchive::Entry& e : zip.entries())
    if (e.name.compare(0, prefix.size() + 5, prefix + "data/") == 0) storage_bytes += e.size;
  std::map<std::string, std::vector<std::uint8_t>> loaded;
  auto lookup = [&](const StorageRef& ref, const std::string& what) {
    const std::string entry = prefix + "data/" + ref.key;
    auto it = loaded.find(ref.key);
    if (it == loaded.end()) {
      if (!zip.find(entry)) throw IoError(cat(what, ": its storage ", entry, " is missing from the archive"));
      it = loaded.emplace(ref.key, zip.read(entry)).first;
    }
    const std::uint64_t needed = std::uint64_t(ref.numel) * element_size(ref.type);
    if (it->second.size() < needed)
      throw IoError(cat(what, ": storage ", entry, " holds ", it->second.size(), " bytes, but ", ref.numel, " elements of ",
                        element_name(ref.type), " need ", needed));
    return Storage{ref.type, it->second.data(), ref.numel};
  };
  return flatten(object, path, lookup, kOutputFactor * storage_bytes + kOutputSlack);
}

// ---- legacy format ----

// 0x1950a86a20f9469cfc6c as LONG1 writes it: little-endian two's complement.
const std::string kLegacyMagic = std::string("\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19", 10);
constexpr std::int64_t kLegacyProtocol = 1001;

const PickleValue* dict_get(const PickleValue& dict, const std::string& key) {
  for (const auto& [k, v] : dict.entries)
    if (k->is(Kind::string) && k->text == key) return v;
  return nullptr;
}

void check_legacy_header(const std::vector<std::uint8_t>& bytes, std::size_t& pos, const std::string& path) {
  if (bytes.size() < 2 || bytes[0] != 0x80 || bytes[1] < 2 || bytes[1] > 5)
    throw IoError(cat(path, ": neither a zip archive nor a pickle stream, so not a PyTorch checkpoint"));
  const Unpickled magic = unpickle(bytes, pos, path);
  if (!magic.root().is(Kind::big_integer) || magic.root().text != kLegacyMagic)
    throw IoError(cat(path, ": a pickle, but not a PyTorch checkpoint (no torch.save magic number)"));
  const Unpickled version = unpickle(bytes, magic.end(), path);
  if (!version.root().is(Kind::integer) || version.root().integer != kLegacyProtocol)
    throw IoError(cat(path, ": legacy PyTorch format with an unsupported protocol version (1001 expected)"));
  const Unpickled sys_info = unpickle(bytes, version.end(), path);
  const PickleValue* little = sys_info.root().is(Kind::dict) ? dict_get(sys_info.root(), "little_endian") : nullptr;
  if (!little || !little->is(Kind::boolean)) throw IoError(cat(path, ": legacy PyTorch header lacks little_endian"));
  if (!little->boolean)
    throw IoError(cat(path, ": written on a big-endian machine; only little-endian checkpoints are supported"));
  pos = sys_info.end();
}

// The storages' bytes follow the last pickle, in the order of the key list, each after its element count.
std::map<std::string, Storage> legacy_storages(const std::vector<std::uint8_t>& bytes, std::size_t pos,
                                               const std::vector<const PickleValue*>& keys,
                                               const Unpickled& object, const std::string& path) {
  std::map<std::string, StorageRef> refs;
  for (const PickleValue* pid : object.persistent_ids()) {
    StorageRef ref = parse_storage_ref(*pid, cat(path, ": persistent id"));
    auto [it, fresh] = refs.emplace(ref.key, ref);
    if (!fresh && (it->second.type != ref.type || it->second.numel != ref.numel))
      throw IoError(cat(path, ": storage '", ref.key, "' is described twice with different types or sizes"));
  }
  std::map<std::string, Storage> storages;
  for (const PickleValue* key : keys) {
    if (!key->is(Kind::string)) throw IoError(cat(path, ": storage key list holds ", describe_value(*key)));
    auto ref = refs.find(key->text);
    if (ref == refs.end()) throw IoError(cat(path, ": storage '", key->text, "' is stored but no tensor uses it"));
    const std::string what = cat(path, ": storage '", key->text, "' at byte ", pos);
    if (bytes.size() - pos < 8) throw IoError(cat(what, ": truncated before its element count"));
    std::int64_t count;
    std::memcpy(&count, bytes.data() + pos, 8);
    pos += 8;
    if (count != ref->second.numel)
      throw IoError(cat(what, ": ", count, " elements stored, ", ref->second.numel, " expected"));
    const std::uint64_t size = std::uint64_t(count) * element_size(ref->second.type);
    if (size > bytes.size() - pos)
      throw IoError(cat(what, ": ", size, " bytes of data, but only ", bytes.size() - pos, " remain (truncated?)"));
    if (!storages.emplace(key->text, Storage{ref->second.type, bytes.data() + pos, count}).second)
      throw IoError(cat(what, ": listed twice"));
    pos += std::size_t(size);
  }
  return storages;
}

TensorDict read_legacy_checkpoint(const std::vector<std::uint8_t>& bytes, const std::string& path) {
  std::size_t pos = 0;
  check_legacy_header(bytes, pos, path);
  const Unpickled object = unpickle(bytes, pos, path);
  const Unpickled keys = unpickle(bytes, object.end(), path);
  if (!keys.root().is(Kind::list)) throw IoError(cat(path, ": the storage key list is ", describe_value(keys.root())));
  const std::map<std::string, Storage> storages = legacy_storages(bytes, keys.end(), keys.root().items, object, path);
  auto lookup = [&](const StorageRef& ref, const std::string& what) {
    auto it = storages.find(ref.key);
    if (it == storages.end()) throw IoError(cat(what, ": storage '", ref.key, "' has no data in the file"));
    return apply_view(it->second, ref, what);
  };
  return flatten(object, path, lookup, kOutputFactor * bytes.size() + kOutputSlack);
}

bool starts_like_zip(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw IoError(cat(path, ": cannot open for reading"));
  std::vector<std::uint8_t> head(4);
  in.read(reinterpret_cast<char*>(head.data()), 4);
  head.resize(std::size_t(in.gcount()));
  return looks_like_zip(head);
}

}  // namespace

TensorDict read_torch_checkpoint(const std::string& path) {
  if (starts_like_zip(path)) return read_zip_checkpoint(ZipArchive::open(path));
  return read_legacy_checkpoint(read_file_bytes(path), path);
}

TensorDict read_torch_checkpoint(const ZipArchive& zip) { return read_zip_checkpoint(zip); }

TensorDict read_torch_checkpoint(std::vector<std::uint8_t> bytes, const std::string& what) {
  if (looks_like_zip(bytes)) return read_zip_checkpoint(ZipArchive::from_bytes(std::move(bytes), what));
  return read_legacy_checkpoint(bytes, what);
}

}  // namespace tweedie
