// `tweedie check`: a quick self-check of this build on every device it finds. Each line compares a
// kernel with an independent answer (published test vectors, naive double-precision loops, moments
// of the normal distribution), so a broken BLAS, FFT library or GPU shows up before a long run does.
#include <cmath>
#include <complex>
#include <cstdio>
#include <functional>
#include <random>
#include <vector>

#include "cli/commands.h"
#include "kernels/fft.h"
#include "kernels/gemm.h"
#include "kernels/random.h"
#include "kernels/reduce.h"
#include "kernels/softmax.h"
#include "runtime/context.h"
#include "runtime/philox.h"
#include "runtime/system_info.h"

namespace tweedie::cli {
namespace {

struct Outcome {
  bool ok;
  std::string detail;
};

std::vector<float> random_floats(std::size_t n, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = u(gen);
  return v;
}

Outcome check_philox() {
  int passed = 0;
  for (const PhiloxKnownAnswer& v : kPhiloxKnownAnswers) {
    Philox4x32 got = philox4x32_10(v.counter, v.key);
    bool same = true;
    for (int i = 0; i < 4; ++i) same &= got.x[i] == v.output.x[i];
    passed += same;
  }
  int total = int(std::size(kPhiloxKnownAnswers));
  return {passed == total, cat(passed, "/", total, " vectors")};
}

Outcome check_noise(Context& ctx) {
  const std::int64_t n = 1 << 20;
  Tensor z = Tensor::empty({n}, ctx.device());
  fill_normal(ctx, z, {2024, 7});
  std::vector<float> v = z.to_vector();
  double mean = 0, var = 0;
  for (float x : v) mean += x;
  mean /= n;
  for (float x : v) var += (x - mean) * (x - mean);
  var /= n;
  // Standard errors of the mean and variance of n standard normals: 1/sqrt(n), sqrt(2/n).
  double z_mean = std::abs(mean) * std::sqrt(double(n)), z_var = std::abs(var - 1) / std::sqrt(2.0 / n);
  bool same_as_host = v[12345] == normal_at(2024, 7, 12345) && v[n - 1] == normal_at(2024, 7, n - 1);
  return {z_mean < 5 && z_var < 5 && same_as_host,
          cat("mean ", mean, ", variance ", var, " (", z_mean, " and ", z_var, " standard errors), ",
              same_as_host ? "matches the host stream" : "DIFFERS from the host stream")};
}

Outcome check_gemm(Context& ctx) {
  const int m = 67, n = 45, k = 53;
  std::vector<float> a = random_floats(m * k, 1), b = random_floats(k * n, 2);
  Tensor A = Tensor::from_host<float>(a, {m, k}, ctx.device()), B = Tensor::from_host<float>(b, {k, n}, ctx.device());
  Tensor C = Tensor::empty({m, n}, ctx.device());
  matmul(ctx, A, B, C);
  std::vector<float> c = C.to_vector();
  double worst = 0, scale = 0;
  for (int i = 0; i < m; ++i)
    for (int j = 0; j < n; ++j) {
      double ref = 0;
      for (int p = 0; p < k; ++p) ref += double(a[i * k + p]) * b[p * n + j];
      worst = std::max(worst, std::abs(ref - c[i * n + j]));
      scale = std::max(scale, std::abs(ref));
    }
  double rel = worst / scale;
  return {rel < 1e-5, cat(m, "x", n, "x", k, ", max error ", rel, " relative (limit 1e-5)")};
}

Outcome check_fft(Context& ctx) {
  const int h = 12, w = 10;
  std::vector<float> re = random_floats(h * w, 3), im = random_floats(h * w, 4);
  std::vector<std::complex<float>> x(h * w);
  for (int i = 0; i < h * w; ++i) x[i] = {re[i], im[i]};
  Tensor X = Tensor::from_host<std::complex<float>>(x, {h, w}, ctx.device());
  Tensor Y = Tensor::empty({h, w}, ctx.device(), DType::c64);
  fft2(ctx, X, Y);
  std::vector<std::complex<float>> y = Y.to_vector<std::complex<float>>();
  double worst = 0;
  for (int k = 0; k < h; ++k)
    for (int l = 0; l < w; ++l) {
      std::complex<double> ref = 0;
      for (int r = 0; r < h; ++r)
        for (int c = 0; c < w; ++c)
          ref += std::complex<double>(x[r * w + c]) * std::polar(1.0, -2 * M_PI * (double(k * r) / h + double(l * c) / w));
      ref /= std::sqrt(double(h * w));
      worst = std::max(worst, std::abs(ref - std::complex<double>(y[k * w + l])));
    }
  ifft2(ctx, Y, Y);
  std::vector<std::complex<float>> back = Y.to_vector<std::complex<float>>();
  double round_trip = 0;
  for (int i = 0; i < h * w; ++i) round_trip = std::max(round_trip, double(std::abs(back[i] - x[i])));
  return {worst < 1e-4 && round_trip < 1e-5,
          cat(h, "x", w, ", max error ", worst, " vs naive DFT, ", round_trip, " after the round trip")};
}

Outcome check_softmax(Context& ctx) {
  const int rows = 5, cols = 1000;
  std::vector<float> x = random_floats(rows * cols, 5);
  for (float& v : x) v *= 30;  // wide range: exercises the max subtraction
  Tensor X = Tensor::from_host<float>(x, {rows, cols}, ctx.device());
  Tensor Y = Tensor::empty({rows, cols}, ctx.device());
  softmax_rows(ctx, X, Y);
  std::vector<float> y = Y.to_vector();
  double worst = 0;
  for (int r = 0; r < rows; ++r) {
    double mx = -1e300, s = 0;
    for (int c = 0; c < cols; ++c) mx = std::max(mx, double(x[r * cols + c]));
    for (int c = 0; c < cols; ++c) s += std::exp(x[r * cols + c] - mx);
    for (int c = 0; c < cols; ++c) {
      double ref = std::exp(x[r * cols + c] - mx) / s;
      worst = std::max(worst, std::abs(ref - y[r * cols + c]) / std::max(ref, 1e-30) * (ref > 1e-6));
    }
  }
  return {worst < 1e-4, cat(rows, "x", cols, ", max relative error ", worst, " vs double")};
}

}  // namespace

void add_check_command(CLI::App& app) {
  auto* cmd = app.add_subcommand("check", "Check this build's kernels against independent answers on each device");
  auto device = std::make_shared<std::string>("all");
  cmd->add_option("--device", *device, "cpu, cuda[:N], or all (every device found)")->capture_default_str();
  cmd->callback([device] {
    std::vector<Device> devices;
    if (*device == "all") {
      devices.push_back(Device::cpu());
      for (int i = 0; i < cuda_device_count(); ++i) devices.push_back(Device::cuda(i));
    } else {
      devices.push_back(Device::parse(*device));
    }
    int failures = 0, total = 0;
    for (Device d : devices) {
      Context ctx(d);
      std::vector<std::pair<std::string, std::function<Outcome()>>> checks = {
          {"philox4x32-10 known answers", [] { return check_philox(); }},
          {"normal noise moments", [&] { return check_noise(ctx); }},
          {"gemm vs naive double", [&] { return check_gemm(ctx); }},
          {"fft2 vs naive DFT", [&] { return check_fft(ctx); }},
          {"softmax vs double", [&] { return check_softmax(ctx); }},
      };
      for (auto& [name, run] : checks) {
        Outcome o = run();
        ++total;
        failures += !o.ok;
        std::printf("check %-7s %-30s %s  %s\n", d.str().c_str(), name.c_str(), o.ok ? "ok  " : "FAIL", o.detail.c_str());
      }
    }
    if (cuda_device_count() == 0 && *device == "all")
      std::printf("(no CUDA device: %s)\n", cuda_info().why_no_device.c_str());
    std::printf("tweedie check: %d of %d checks passed\n", total - failures, total);
    if (failures) throw Failed{};
  });
}

}  // namespace tweedie::cli
