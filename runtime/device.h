#pragma once
// Where a tensor lives and where a Context runs: the host, or CUDA device N.
#include <cstdint>
#include <string>
#include <string_view>

namespace tweedie {

class Device {
 public:
  enum class Kind : std::uint8_t { cpu, cuda };

  constexpr Device() = default;  // the host
  static constexpr Device cpu() { return Device(); }
  static constexpr Device cuda(int index = 0) { return Device(Kind::cuda, index); }
  // Parses "cpu", "cuda" or "cuda:N"; throws ArgumentError quoting the text otherwise.
  static Device parse(std::string_view text);

  constexpr Kind kind() const { return kind_; }
  constexpr int index() const { return index_; }
  constexpr bool is_cpu() const { return kind_ == Kind::cpu; }
  constexpr bool is_cuda() const { return kind_ == Kind::cuda; }
  std::string str() const;  // "cpu" or "cuda:N"

  constexpr bool operator==(const Device&) const = default;

 private:
  constexpr Device(Kind kind, int index) : kind_(kind), index_(index) {}
  Kind kind_ = Kind::cpu;
  int index_ = 0;
};

// True when this build has the CUDA backend.
constexpr bool cuda_compiled() { return TWEEDIE_HAS_CUDA; }

}  // namespace tweedie
