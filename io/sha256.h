#pragma once
// SHA-256 (FIPS 180-4), for the checksums `tweedie info` prints: two files with the same weights
// show the same digest whatever their HDF5 layout or storage precision.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace tweedie {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, std::size_t bytes);
  std::array<std::uint8_t, 32> finish();  // the digest; the object is then spent
  static std::string hex(const std::array<std::uint8_t, 32>& digest);

 private:
  void compress(const std::uint8_t* block);
  std::array<std::uint32_t, 8> state_;
  std::array<std::uint8_t, 64> buffer_{};
  std::size_t buffered_ = 0;
  std::uint64_t total_bytes_ = 0;
};

}  // namespace tweedie
