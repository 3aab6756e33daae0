#include "runtime/shape.h"

#include <algorithm>
#include <limits>

#include "runtime/error.h"

namespace tweedie {

Shape::Shape(std::initializer_list<std::int64_t> dims)
    : Shape(std::span<const std::int64_t>(dims.begin(), dims.size())) {}

Shape::Shape(std::span<const std::int64_t> dims) {
  if (dims.size() > std::size_t(kMaxRank))
    throw ShapeError(cat("a tensor has at most ", kMaxRank, " dimensions, got ", dims.size()));
  rank_ = int(dims.size());
  std::int64_t total = 1;
  for (int i = 0; i < rank_; ++i) {
    if (dims[i] < 0) throw ShapeError(cat("negative extent ", dims[i], " in dimension ", i));
    if (dims[i] > 0 && total > std::numeric_limits<std::int64_t>::max() / dims[i])
      throw ShapeError("tensor shape overflows 64-bit element count");
    total *= dims[i];
    dims_[i] = dims[i];
  }
}

int Shape::normalise(int axis) const {
  int a = axis < 0 ? axis + rank_ : axis;
  if (a < 0 || a >= rank_) throw ShapeError(cat("axis ", axis, " out of range for shape ", str()));
  return a;
}

std::int64_t Shape::operator[](int axis) const { return dims_[normalise(axis)]; }

std::int64_t Shape::numel() const {
  std::int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= dims_[i];
  return n;
}

std::int64_t Shape::stride(int axis) const {
  std::int64_t s = 1;
  for (int i = normalise(axis) + 1; i < rank_; ++i) s *= dims_[i];
  return s;
}

std::string Shape::str() const {
  std::string out = "(";
  for (int i = 0; i < rank_; ++i) {
    if (i) out += ',';
    out += std::to_string(dims_[i]);
  }
  out += ')';
  return out;
}

std::string Shape::index_str(std::int64_t flat) const {
  std::string out = "(";
  for (int a = 0; a < rank_; ++a) {
    std::int64_t s = stride(a);
    out += (a ? ", " : "") + std::to_string(flat / s);
    flat %= s;
  }
  return out + ")";
}

bool Shape::operator==(const Shape& other) const {
  return rank_ == other.rank_ && std::equal(dims_.begin(), dims_.begin() + rank_, other.dims_.begin());
}

}  // namespace tweedie
