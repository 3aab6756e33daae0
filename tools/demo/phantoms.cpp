#include "demo/phantoms.h"

#include <algorithm>
#include <cmath>

#include "kernels/fft.h"
#include "kernels/random.h"
#include "runtime/error.h"

namespace tweedie::demo {
namespace {

struct Ellipse {
  double value, a, b, x0, y0, degrees;
};

// Adds each ellipse's value inside it; coordinates span [-1, 1] on both axes, y pointing up.
std::vector<double> rasterise(std::int64_t size, const std::vector<Ellipse>& ellipses) {
  std::vector<double> image(std::size_t(size * size), 0.0);
  for (const Ellipse& e : ellipses) {
    double phi = e.degrees * 3.14159265358979323846 / 180, c = std::cos(phi), s = std::sin(phi);
    for (std::int64_t r = 0; r < size; ++r)
      for (std::int64_t q = 0; q < size; ++q) {
        double x = (2.0 * double(q) + 1) / double(size) - 1 - e.x0, y = 1 - (2.0 * double(r) + 1) / double(size) - e.y0;
        double u = (x * c + y * s) / e.a, v = (-x * s + y * c) / e.b;
        if (u * u + v * v <= 1) image[std::size_t(r * size + q)] += e.value;
      }
  }
  for (double& v : image) v = 2 * std::clamp(v, 0.0, 1.0) - 1;  // [0, 1] densities to [-1, 1]
  return image;
}

}  // namespace

std::vector<double> shepp_logan(std::int64_t size) {
  // Shepp and Logan (1974) ellipses with the higher contrasts of Toft (1996).
  return rasterise(size, {{1.0, 0.69, 0.92, 0, 0, 0},
                          {-0.8, 0.6624, 0.874, 0, -0.0184, 0},
                          {-0.2, 0.11, 0.31, 0.22, 0, -18},
                          {-0.2, 0.16, 0.41, -0.22, 0, 18},
                          {0.1, 0.21, 0.25, 0, 0.35, 0},
                          {0.1, 0.046, 0.046, 0, 0.1, 0},
                          {0.1, 0.046, 0.046, 0, -0.1, 0},
                          {0.1, 0.046, 0.023, -0.08, -0.605, 0},
                          {0.1, 0.023, 0.023, 0, -0.606, 0},
                          {0.1, 0.023, 0.046, 0.06, -0.605, 0}});
}

std::vector<double> random_phantom(std::int64_t size, std::uint64_t seed, std::uint64_t index) {
  std::uint64_t next = 0;
  auto u = [&](double lo, double hi) { return lo + (hi - lo) * double(uniform_at(seed, index, next++)); };
  double a = u(0.6, 0.78), b = u(0.78, 0.95), rim = u(0.9, 0.96);
  std::vector<Ellipse> e{{1.0, a, b, 0, 0, u(-10, 10)}, {-u(0.6, 0.8), a * rim, b * rim, 0, u(-0.03, 0.0), 0}};
  int inner = 3 + int(u(0, 6));
  for (int i = 0; i < inner; ++i) {
    double sign = u(0, 1) < 0.5 ? -1 : 1;
    e.push_back({sign * u(0.05, 0.3), u(0.03, 0.3), u(0.03, 0.3), u(-0.45, 0.45), u(-0.6, 0.6), u(-90, 90)});
  }
  return rasterise(size, e);
}

samplers::GaussianPrior fit_stationary_prior(std::int64_t size, std::int64_t count, std::uint64_t seed) {
  if (count < 2) throw ArgumentError(cat("fit_stationary_prior: ", count, " phantoms; need at least 2"));
  const std::size_t d = std::size_t(size * size);
  std::vector<std::vector<double>> set;
  std::vector<double> mean(d, 0.0);
  for (std::int64_t i = 0; i < count; ++i) {
    set.push_back(random_phantom(size, seed, std::uint64_t(i)));
    for (std::size_t e = 0; e < d; ++e) mean[e] += set.back()[e] / double(count);
  }
  // Deviations from the mean, all transformed at once (unitary DFT), then |.|^2 averaged.
  std::vector<complex64> dev(std::size_t(count) * d);
  for (std::int64_t i = 0; i < count; ++i)
    for (std::size_t e = 0; e < d; ++e) dev[std::size_t(i) * d + e] = complex64{float(set[std::size_t(i)][e] - mean[e]), 0.0f};
  Context host(Device::cpu());
  Tensor t = Tensor::from_host(std::span<const complex64>(dev), {count, size, size});
  fft2(host, t, t, FftNorm::ortho);
  std::vector<complex64> f = t.to_vector<complex64>();
  std::vector<double> spectrum(d, 0.0);
  for (std::int64_t i = 0; i < count; ++i)
    for (std::size_t e = 0; e < d; ++e) {
      complex64 z = f[std::size_t(i) * d + e];
      spectrum[e] += (double(z.re) * z.re + double(z.im) * z.im) / double(count - 1);
    }
  // Symmetrise exactly (float FFT rounding breaks p[k, l] = p[-k, -l] in the last bits), then floor.
  std::vector<double> symmetric(d);
  for (std::int64_t k = 0; k < size; ++k)
    for (std::int64_t l = 0; l < size; ++l)
      symmetric[std::size_t(k * size + l)] =
          0.5 * (spectrum[std::size_t(k * size + l)] + spectrum[std::size_t(((size - k) % size) * size + (size - l) % size)]);
  double top = *std::max_element(symmetric.begin(), symmetric.end());
  for (double& v : symmetric) v = std::max(v, 1e-6 * top);
  samplers::GaussianPrior prior;
  prior.kind = samplers::GaussianPrior::Covariance::stationary;
  prior.item_shape = Shape{1, size, size};
  prior.mean = mean;
  prior.spectrum = symmetric;
  return prior;
}

}  // namespace tweedie::demo
