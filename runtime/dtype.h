#pragma once
// Element types. Kernels compute in f32 and accumulate in double; c64 (interleaved float real and
// imaginary parts, as FFTW and cuFFT store them) carries FFTs and MRI data. f64, f16 and bf16 exist so
// that files holding them can be named and converted; no kernel computes in them yet.
#include <complex>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace tweedie {

enum class DType : std::uint8_t { f32, f64, f16, bf16, c64 };

// A complex number that device code can hold. Same layout as std::complex<float> and cuComplex.
struct complex64 {
  float re, im;
};

constexpr std::size_t dtype_size(DType t) {
  switch (t) {
    case DType::f32: return 4;
    case DType::f64: return 8;
    case DType::f16: return 2;
    case DType::bf16: return 2;
    case DType::c64: return 8;
  }
  return 0;
}

constexpr const char* dtype_name(DType t) {
  switch (t) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::f16: return "f16";
    case DType::bf16: return "bf16";
    case DType::c64: return "c64";
  }
  return "?";
}

// The DType of a C++ element type, for typed access to tensor data.
template <class T> struct dtype_of;
template <> struct dtype_of<float> { static constexpr DType value = DType::f32; };
template <> struct dtype_of<double> { static constexpr DType value = DType::f64; };
template <> struct dtype_of<complex64> { static constexpr DType value = DType::c64; };
template <> struct dtype_of<std::complex<float>> { static constexpr DType value = DType::c64; };
template <class T> inline constexpr DType dtype_of_v = dtype_of<std::remove_const_t<T>>::value;

}  // namespace tweedie
