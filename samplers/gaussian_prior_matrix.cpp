#include "samplers/gaussian_prior_matrix.h"

#include <cmath>
#include <numbers>

#include "runtime/error.h"

namespace tweedie::samplers {
namespace {

// One circulant block per channel from the channel's power spectrum, through cos(u + v) =
// cos u cos v - sin u sin v with tables, so that it costs (HW)^2 products and no FFT library.
void add_stationary(const GaussianPrior& prior, std::vector<double>& s) {
  const std::int64_t channels = prior.item_shape[0], h = prior.item_shape[1], w = prior.item_shape[2], hw = h * w;
  const std::int64_t dim = channels * hw;
  auto table = [](std::int64_t n, bool sine) {
    std::vector<double> t(static_cast<std::size_t>(n));
    for (std::int64_t i = 0; i < n; ++i) {
      double angle = 2 * std::numbers::pi * double(i) / double(n);
      t[std::size_t(i)] = sine ? std::sin(angle) : std::cos(angle);
    }
    return t;
  };
  const std::vector<double> cos_h = table(h, false), sin_h = table(h, true), cos_w = table(w, false), sin_w = table(w, true);
  std::vector<double> circulant(static_cast<std::size_t>(hw));
  for (std::int64_t c = 0; c < channels; ++c) {
    const double* p = prior.spectrum.data() + c * hw;
    for (std::int64_t d1 = 0; d1 < h; ++d1)
      for (std::int64_t d2 = 0; d2 < w; ++d2) {
        double sum = 0;
        for (std::int64_t k1 = 0; k1 < h; ++k1) {
          std::size_t i1 = std::size_t(k1 * d1 % h);
          for (std::int64_t k2 = 0; k2 < w; ++k2) {
            std::size_t i2 = std::size_t(k2 * d2 % w);
            sum += p[k1 * w + k2] * (cos_h[i1] * cos_w[i2] - sin_h[i1] * sin_w[i2]);
          }
        }
        circulant[std::size_t(d1 * w + d2)] = sum / double(hw);
      }
    for (std::int64_t a = 0; a < hw; ++a)
      for (std::int64_t b = 0; b < hw; ++b) {
        std::int64_t d1 = ((a / w - b / w) % h + h) % h, d2 = ((a % w - b % w) % w + w) % w;
        s[std::size_t((c * hw + a) * dim + c * hw + b)] = circulant[std::size_t(d1 * w + d2)];
      }
  }
}

}  // namespace

std::vector<double> dense_covariance(const GaussianPrior& prior) {
  using Cov = GaussianPrior::Covariance;
  const std::int64_t dim = prior.item_shape.numel();
  if (prior.kind == Cov::dense) return prior.cov;
  std::vector<double> s(std::size_t(dim * dim), 0.0);
  if (prior.kind == Cov::stationary) {
    add_stationary(prior, s);
    return s;
  }
  for (std::int64_t i = 0; i < dim; ++i) s[std::size_t(i * dim + i)] = prior.var[std::size_t(i)];
  if (prior.kind == Cov::low_rank)
    for (std::int64_t i = 0; i < dim; ++i)
      for (std::int64_t j = 0; j < dim; ++j) {
        double sum = 0;
        for (std::int64_t r = 0; r < prior.rank; ++r) sum += prior.factor[std::size_t(i * prior.rank + r)] * prior.factor[std::size_t(j * prior.rank + r)];
        s[std::size_t(i * dim + j)] += sum;
      }
  return s;
}

std::vector<double> covariance_root(const GaussianPrior& prior) {
  const std::int64_t dim = prior.item_shape.numel();
  SymmetricEigen e = checked_covariance_eigen(dense_covariance(prior), dim, "covariance_root", "the prior covariance");
  std::vector<double> root(std::size_t(dim * dim));
  for (std::int64_t k = 0; k < dim; ++k) {
    double scale = std::sqrt(e.values[std::size_t(k)]);
    for (std::int64_t i = 0; i < dim; ++i) root[std::size_t(i * dim + k)] = e.vectors[std::size_t(k * dim + i)] * scale;
  }
  return root;
}

}  // namespace tweedie::samplers
