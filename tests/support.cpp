#include "support.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>

namespace tweedie::test {
namespace {
Device g_device;
}

void set_device(Device d) { g_device = d; }
Device device() { return g_device; }

Context& context() {
  static std::unique_ptr<Context> ctx;
  if (!ctx || ctx->device() != g_device) ctx = std::make_unique<Context>(g_device);
  return *ctx;
}

bool print_tables() { return std::getenv("TWEEDIE_PRINT_TABLES") != nullptr; }

std::vector<double> uniform(std::size_t n, std::uint64_t seed, double lo, double hi) {
  std::mt19937_64 gen(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<double> v(n);
  for (double& x : v) x = u(gen);
  return v;
}

std::vector<std::complex<double>> complex_uniform(std::size_t n, std::uint64_t seed) {
  std::vector<double> re = uniform(n, seed), im = uniform(n, seed + 1000);
  std::vector<std::complex<double>> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = {re[i], im[i]};
  return v;
}

Tensor host_f32(const std::vector<double>& values, const Shape& shape) {
  const std::vector<float> f(values.begin(), values.end());
  return Tensor::from_host(std::span<const float>(f), shape);
}

Tensor upload(const std::vector<double>& values, const Shape& shape) {
  std::vector<float> f(values.begin(), values.end());
  return Tensor::from_host<float>(f, shape, g_device);
}

Tensor upload(const std::vector<std::complex<double>>& values, const Shape& shape) {
  std::vector<std::complex<float>> f(values.begin(), values.end());
  return Tensor::from_host<std::complex<float>>(f, shape, g_device);
}

std::vector<double> download(const Tensor& t) {
  std::vector<float> f = t.to_vector<float>();
  return {f.begin(), f.end()};
}

std::vector<std::complex<double>> download_complex(const Tensor& t) {
  std::vector<std::complex<float>> f = t.to_vector<std::complex<float>>();
  return {f.begin(), f.end()};
}

std::vector<double> as_float(std::vector<double> values) {
  for (double& v : values) v = double(float(v));
  return values;
}

namespace {
template <class T>
double max_relative_error_of(const std::vector<T>& got, const std::vector<T>& want, double floor) {
  REQUIRE(got.size() == want.size());
  double worst = 0, scale = floor;
  for (std::size_t i = 0; i < got.size(); ++i) {
    if (!std::isfinite(std::abs(got[i]))) return INFINITY;  // a NaN would otherwise slip past std::max
    worst = std::max(worst, double(std::abs(got[i] - want[i])));
    scale = std::max(scale, double(std::abs(want[i])));
  }
  return worst / scale;
}
}  // namespace

double max_relative_error(const std::vector<double>& got, const std::vector<double>& want, double floor) {
  return max_relative_error_of(got, want, floor);
}

double max_relative_error(const std::vector<std::complex<double>>& got, const std::vector<std::complex<double>>& want,
                          double floor) {
  return max_relative_error_of(got, want, floor);
}

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  path = (std::filesystem::temp_directory_path() / ("tweedie-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++))).string();
  std::filesystem::create_directories(path);
}

TempDir::~TempDir() {
  std::error_code ignored;
  std::filesystem::remove_all(path, ignored);
}

std::size_t TempDir::entries() const {
  return std::size_t(std::distance(std::filesystem::directory_iterator(path), std::filesystem::directory_iterator()));
}

std::vector<std::uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE_MESSAGE(in.good(), "cannot open ", path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_bytes(const std::string& path, const std::vector<std::uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  REQUIRE_MESSAGE(out.good(), "cannot write ", path);
}

std::vector<double> solve_dense(std::vector<double> a, std::vector<double> b, std::int64_t n, std::int64_t m) {
  for (std::int64_t c = 0; c < n; ++c) {
    std::int64_t p = c;
    for (std::int64_t r = c + 1; r < n; ++r)
      if (std::abs(a[std::size_t(r * n + c)]) > std::abs(a[std::size_t(p * n + c)])) p = r;
    for (std::int64_t j = 0; j < n; ++j) std::swap(a[std::size_t(c * n + j)], a[std::size_t(p * n + j)]);
    for (std::int64_t j = 0; j < m; ++j) std::swap(b[std::size_t(c * m + j)], b[std::size_t(p * m + j)]);
    for (std::int64_t r = c + 1; r < n; ++r) {
      const double f = a[std::size_t(r * n + c)] / a[std::size_t(c * n + c)];
      for (std::int64_t j = c; j < n; ++j) a[std::size_t(r * n + j)] -= f * a[std::size_t(c * n + j)];
      for (std::int64_t j = 0; j < m; ++j) b[std::size_t(r * m + j)] -= f * b[std::size_t(c * m + j)];
    }
  }
  std::vector<double> x(std::size_t(n * m));
  for (std::int64_t r = n - 1; r >= 0; --r)
    for (std::int64_t j = 0; j < m; ++j) {
      double s = b[std::size_t(r * m + j)];
      for (std::int64_t k = r + 1; k < n; ++k) s -= a[std::size_t(r * n + k)] * x[std::size_t(k * m + j)];
      x[std::size_t(r * m + j)] = s / a[std::size_t(r * n + r)];
    }
  return x;
}

std::vector<double> multiply_dense(const std::vector<double>& a, const std::vector<double>& b, std::int64_t rows, std::int64_t inner,
                                   std::int64_t cols) {
  std::vector<double> c(std::size_t(rows * cols), 0.0);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t k = 0; k < inner; ++k)
      for (std::int64_t j = 0; j < cols; ++j) c[std::size_t(i * cols + j)] += a[std::size_t(i * inner + k)] * b[std::size_t(k * cols + j)];
  return c;
}

std::vector<double> transpose_dense(const std::vector<double>& a, std::int64_t rows, std::int64_t cols) {
  std::vector<double> t(a.size());
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) t[std::size_t(j * rows + i)] = a[std::size_t(i * cols + j)];
  return t;
}

std::vector<double> random_covariance(std::int64_t d, std::uint64_t seed, double floor) {
  std::vector<double> b = uniform(std::size_t(d * d), seed);
  std::vector<double> c = multiply_dense(b, transpose_dense(b, d, d), d, d, d);
  for (double& v : c) v /= double(d);
  for (std::int64_t i = 0; i < d; ++i) c[std::size_t(i * d + i)] += floor;
  return c;
}

}  // namespace tweedie::test
