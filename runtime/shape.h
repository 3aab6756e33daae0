#pragma once
// The extents of a contiguous row-major tensor, rank 0 (a scalar) to kMaxRank.
#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>

namespace tweedie {

inline constexpr int kMaxRank = 6;

class Shape {
 public:
  Shape() = default;  // rank 0: one element
  Shape(std::initializer_list<std::int64_t> dims);
  explicit Shape(std::span<const std::int64_t> dims);

  int rank() const { return rank_; }
  // Extent of an axis; negative axes count from the end (-1 is the last).
  std::int64_t operator[](int axis) const;
  std::span<const std::int64_t> dims() const { return {dims_.data(), std::size_t(rank_)}; }
  std::int64_t numel() const;
  // Number of elements per index of `axis`, i.e. the product of the later extents.
  std::int64_t stride(int axis) const;
  std::string str() const;  // "(2,3,4)"; a scalar is "()"
  // The multi-index of row-major element `flat`, for messages: "(0, 3, 17)".
  std::string index_str(std::int64_t flat) const;

  bool operator==(const Shape& other) const;

 private:
  int normalise(int axis) const;
  std::array<std::int64_t, kMaxRank> dims_{};
  int rank_ = 0;
};

}  // namespace tweedie
