#include "io/checkpoint.h"

#include <cstring>
#include <fstream>

#include "runtime/error.h"
#include "runtime/half.h"

namespace tweedie {

std::size_t element_size(ElementType type) {
  switch (type) {
    case ElementType::f16: case ElementType::bf16: case ElementType::i16: return 2;
    case ElementType::f32: case ElementType::i32: return 4;
    case ElementType::f64: case ElementType::i64: return 8;
    case ElementType::i8: case ElementType::u8: case ElementType::boolean: return 1;
  }
  return 0;
}

const char* element_name(ElementType type) {
  switch (type) {
    case ElementType::f16: return "f16";
    case ElementType::bf16: return "bf16";
    case ElementType::f32: return "f32";
    case ElementType::f64: return "f64";
    case ElementType::i8: return "i8";
    case ElementType::u8: return "u8";
    case ElementType::i16: return "i16";
    case ElementType::i32: return "i32";
    case ElementType::i64: return "i64";
    case ElementType::boolean: return "bool";
  }
  return "?";
}

bool is_floating(ElementType type) {
  return type == ElementType::f16 || type == ElementType::bf16 || type == ElementType::f32 || type == ElementType::f64;
}

std::int64_t checked_numel(const std::vector<std::int64_t>& shape, std::size_t element_bytes, const std::string& what) {
  constexpr std::int64_t limit = std::int64_t(1) << 62;
  std::int64_t n = 1;
  for (std::int64_t d : shape) {
    if (d < 0) throw IoError(cat(what, ": negative dimension ", d));
    if (d != 0 && n > limit / d) throw IoError(cat(what, ": shape too large (element count overflows)"));
    n *= d;
  }
  if (element_bytes > 0 && n > limit / std::int64_t(element_bytes))
    throw IoError(cat(what, ": shape too large (byte count overflows)"));
  return n;
}

std::int64_t RawTensor::numel() const {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

std::vector<float> RawTensor::to_f32(const std::string& what) const {
  const std::int64_t n = numel();
  if (std::size_t(n) * element_size(type) != data.size())
    throw IoError(cat(what, ": ", data.size(), " bytes for ", n, " elements of ", element_name(type)));
  std::vector<float> out(static_cast<std::size_t>(n));
  const std::uint8_t* p = data.data();
  for (std::int64_t i = 0; i < n; ++i) {
    switch (type) {
      case ElementType::f32: std::memcpy(&out[i], p + 4 * i, 4); break;
      case ElementType::f64: { double d; std::memcpy(&d, p + 8 * i, 8); out[i] = float(d); break; }
      case ElementType::f16: { std::uint16_t h; std::memcpy(&h, p + 2 * i, 2); out[i] = f16_to_f32(h); break; }
      case ElementType::bf16: { std::uint16_t h; std::memcpy(&h, p + 2 * i, 2); out[i] = bf16_to_f32(h); break; }
      default: throw IoError(cat(what, ": element type ", element_name(type), " cannot be a network parameter (not floating point)"));
    }
  }
  return out;
}

std::vector<std::uint8_t> read_file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw IoError(cat(path, ": cannot open for reading"));
  std::streamoff size = in.tellg();
  if (size < 0) throw IoError(cat(path, ": cannot determine the size"));
  std::vector<std::uint8_t> bytes(static_cast<std::size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(bytes.data()), size)) throw IoError(cat(path, ": read failed"));
  return bytes;
}

}  // namespace tweedie
