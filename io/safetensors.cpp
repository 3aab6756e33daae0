// safetensors: an 8-byte little-endian header length N, N bytes of JSON
//   {"__metadata__": {...}, "<name>": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...}
// and the data, with offsets counted from the first byte after the header.
#include <algorithm>
#include <cstring>

#include <nlohmann/json.hpp>

#include "io/checkpoint_readers.h"
#include "runtime/error.h"

namespace tweedie {
namespace {

using nlohmann::json;

struct TypeName {
  const char* name;
  ElementType type;
};
// The types a parameter can come in, and the integer ones a state dict may carry along.
constexpr TypeName kTypes[] = {{"F16", ElementType::f16}, {"BF16", ElementType::bf16}, {"F32", ElementType::f32},
                               {"F64", ElementType::f64}, {"I8", ElementType::i8},     {"U8", ElementType::u8},
                               {"I16", ElementType::i16}, {"I32", ElementType::i32},   {"I64", ElementType::i64},
                               {"BOOL", ElementType::boolean}};

ElementType element_type(const std::string& name, const std::string& what) {
  for (const TypeName& t : kTypes)
    if (name == t.name) return t.type;
  throw IoError(cat(what, ": unsupported dtype \"", name, "\""));
}

// A JSON list of whole numbers that fit int64. nlohmann's get<> turns a float such as 1e21 into an
// integer with a plain cast, undefined behaviour beyond the type's range, so each element is checked.
std::vector<std::int64_t> integers(const json& list, const char* field, const std::string& what) {
  if (!list.is_array()) throw IoError(cat(what, ": ", field, " must be a list of whole numbers, not ", list.dump()));
  std::vector<std::int64_t> out;
  for (const json& v : list) {
    if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<std::uint64_t>() >> 63 != 0))
      throw IoError(cat(what, ": ", field, " holds ", v.dump(), ", not a whole number below 2^63"));
    out.push_back(v.get<std::int64_t>());
  }
  return out;
}

struct Span {
  std::string name;
  std::uint64_t begin, end;
};

}  // namespace

TensorDict read_safetensors(const std::string& path) { return read_safetensors(read_file_bytes(path), path); }

TensorDict read_safetensors(const std::vector<std::uint8_t>& bytes, const std::string& path) {
  if (bytes.size() < 8) throw IoError(cat(path, ": too short for a safetensors file (", bytes.size(), " bytes)"));
  std::uint64_t header_size;
  std::memcpy(&header_size, bytes.data(), 8);
  if (header_size > bytes.size() - 8)
    throw IoError(cat(path, ": safetensors header of ", header_size, " bytes is longer than the file (", bytes.size(), " bytes)"));
  json header;
  try {
    header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + std::ptrdiff_t(header_size));
  } catch (const json::exception& e) {
    throw IoError(cat(path, ": safetensors header is not valid JSON (", e.what(), ")"));
  }
  if (!header.is_object()) throw IoError(cat(path, ": safetensors header is not a JSON object"));

  const std::uint8_t* data = bytes.data() + 8 + header_size;
  const std::uint64_t data_size = bytes.size() - 8 - header_size;
  TensorDict out;
  std::vector<Span> spans;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") continue;
    const std::string what = cat(path, ": tensor '", name, "'");
    try {
      ElementType type = element_type(entry.at("dtype").get<std::string>(), what);
      std::vector<std::int64_t> shape = integers(entry.at("shape"), "shape", what);
      const std::vector<std::int64_t> given = integers(entry.at("data_offsets"), "data_offsets", what);
      if (given.size() != 2 || given[0] < 0 || given[0] > given[1])
        throw IoError(cat(what, ": data_offsets must be [begin, end] with 0 <= begin <= end"));
      const std::uint64_t offsets[2] = {std::uint64_t(given[0]), std::uint64_t(given[1])};
      if (offsets[1] > data_size)
        throw IoError(cat(what, ": data_offsets [", offsets[0], ", ", offsets[1], "] run past the end of the data (", data_size, " bytes)"));
      std::int64_t n = checked_numel(shape, element_size(type), what);
      std::uint64_t expected = std::uint64_t(n) * element_size(type);
      if (offsets[1] - offsets[0] != expected)
        throw IoError(cat(what, ": ", offsets[1] - offsets[0], " bytes for ", n, " elements of ", element_name(type), " (", expected, " expected)"));
      RawTensor t{type, std::move(shape), std::vector<std::uint8_t>(data + offsets[0], data + offsets[1])};
      out.emplace(name, std::move(t));
      spans.push_back({name, offsets[0], offsets[1]});
    } catch (const json::exception& e) {
      throw IoError(cat(what, ": malformed entry (", e.what(), ")"));
    }
  }
  // Tensors must not share bytes: a file that aliases them is corrupt or crafted.
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  for (std::size_t i = 1; i < spans.size(); ++i)
    if (spans[i].begin < spans[i - 1].end && spans[i].begin < spans[i].end)
      throw IoError(cat(path, ": tensors '", spans[i - 1].name, "' and '", spans[i].name, "' have overlapping data_offsets"));
  return out;
}

}  // namespace tweedie
