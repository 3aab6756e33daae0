#pragma once
// Tensors read from foreign checkpoint files (PyTorch, safetensors, NumPy) before they become tweedie
// parameters: raw little-endian bytes with their element type and shape, keyed by name. Readers never
// execute anything from a file and check every size and offset against the bytes actually present.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tweedie {

// Element types a checkpoint may hold. Only the floating ones can become parameters; the others are
// read so that a state dict with integer buffers is reported precisely rather than rejected as garbage.
enum class ElementType { f16, bf16, f32, f64, i8, u8, i16, i32, i64, boolean };

std::size_t element_size(ElementType type);
const char* element_name(ElementType type);  // "f16", "bf16", "f32", ...
bool is_floating(ElementType type);

struct RawTensor {
  ElementType type = ElementType::f32;
  std::vector<std::int64_t> shape;  // row-major; empty for a scalar
  std::vector<std::uint8_t> data;   // contiguous, little-endian, numel * element_size bytes

  std::int64_t numel() const;
  // The values widened (or narrowed from f64) to float; IoError naming `what` for non-floating types.
  std::vector<float> to_f32(const std::string& what) const;
};

// Tensors by name. Nested containers are flattened with '/' between levels ("ema/out.2.bias"), which
// parameter names never contain; integer dictionary keys are written in decimal.
using TensorDict = std::map<std::string, RawTensor>;

// Product of the dimensions, or IoError naming `what` when a dimension is negative or the element
// count (times `element_bytes`) would overflow 2^62.
std::int64_t checked_numel(const std::vector<std::int64_t>& shape, std::size_t element_bytes, const std::string& what);

// The whole file in memory; IoError naming the path if it cannot be read.
std::vector<std::uint8_t> read_file_bytes(const std::string& path);

}  // namespace tweedie
