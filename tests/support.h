#pragma once
// Helpers shared by the tests: the device under test, host data made with the standard library's
// generator (independent of tweedie's Philox), transfers in double, and comparisons that report where
// and by how much two results differ.
#include <doctest/doctest.h>

#include <complex>
#include <cstdint>
#include <string>
#include <vector>

#include "runtime/context.h"
#include "runtime/tensor.h"

namespace tweedie::test {

void set_device(Device device);
Device device();             // where the tests run (TWEEDIE_TEST_DEVICE)
Context& context();          // a Context on device(), all threads

// Whether the statistical studies print their tables (TWEEDIE_PRINT_TABLES set).
bool print_tables();

// Uniform values in [lo, hi), from std::mt19937_64 seeded with `seed`.
std::vector<double> uniform(std::size_t n, std::uint64_t seed, double lo = -1.0, double hi = 1.0);
std::vector<std::complex<double>> complex_uniform(std::size_t n, std::uint64_t seed);

// f32 / c64 tensors on device() holding `values` (rounded to float), and back to double.
Tensor upload(const std::vector<double>& values, const Shape& shape);
// The same as an f32 tensor on the host, whatever the test device.
Tensor host_f32(const std::vector<double>& values, const Shape& shape);
Tensor upload(const std::vector<std::complex<double>>& values, const Shape& shape);
std::vector<double> download(const Tensor& t);
std::vector<std::complex<double>> download_complex(const Tensor& t);
// `values` rounded to float and back: the inputs a f32 kernel actually saw.
std::vector<double> as_float(std::vector<double> values);

// The largest |got - want| divided by max(max |want|, floor). Sizes must agree.
double max_relative_error(const std::vector<double>& got, const std::vector<double>& want, double floor = 1e-30);

// X = A^-1 B in double for a square n x n A and B n x m (row-major; m right-hand sides solved
// together), by Gaussian elimination with partial pivoting: the reference solver of the tests.
std::vector<double> solve_dense(std::vector<double> a, std::vector<double> b, std::int64_t n, std::int64_t m = 1);
// C = A B for A (rows x inner) and B (inner x cols), and A^T for A (rows x cols); row-major, double.
std::vector<double> multiply_dense(const std::vector<double>& a, const std::vector<double>& b, std::int64_t rows, std::int64_t inner,
                                   std::int64_t cols);
std::vector<double> transpose_dense(const std::vector<double>& a, std::int64_t rows, std::int64_t cols);
// A random covariance B B^T / d + floor I, B (d x d) uniform in [-1, 1] from `seed`.
std::vector<double> random_covariance(std::int64_t d, std::uint64_t seed, double floor = 0.1);
double max_relative_error(const std::vector<std::complex<double>>& got, const std::vector<std::complex<double>>& want,
                          double floor = 1e-30);

// A fresh folder under the system temp directory, removed with everything in it at scope exit.
struct TempDir {
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  std::string file(const std::string& name) const { return path + "/" + name; }
  std::size_t entries() const;  // how many files and folders it holds
  std::string path;
};

// The bytes of a file, and a file made of bytes (for corrupting fixtures in tests).
std::vector<std::uint8_t> read_bytes(const std::string& path);
void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes);

// Odd and even sizes that catch edge handling: 1, 7, 33 and one past a thousand.
inline const std::vector<std::int64_t> kSizes = {1, 7, 33, 1031};

}  // namespace tweedie::test
