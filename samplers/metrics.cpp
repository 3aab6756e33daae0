#include "samplers/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "runtime/error.h"

namespace tweedie::samplers {

double psnr(const std::vector<double>& x, const std::vector<double>& reference, double range) {
  if (x.size() != reference.size() || x.empty())
    throw ShapeError(cat("psnr: ", x.size(), " values against a reference of ", reference.size()));
  double mse = 0;
  for (std::size_t i = 0; i < x.size(); ++i) mse += (x[i] - reference[i]) * (x[i] - reference[i]);
  mse /= double(x.size());
  if (mse == 0) return std::numeric_limits<double>::infinity();
  return 10 * std::log10(range * range / mse);
}

double ssim(const std::vector<double>& x, const std::vector<double>& reference, const Shape& item, double range) {
  if (item.rank() != 3) throw ShapeError(cat("ssim: items must be images (C, H, W), not ", item.str()));
  const std::int64_t c = item[0], h = item[1], w = item[2];
  if (std::int64_t(x.size()) != item.numel() || x.size() != reference.size())
    throw ShapeError(cat("ssim: ", x.size(), " and ", reference.size(), " values for images ", item.str()));
  // The window: 11 x 11 Gaussian of standard deviation 1.5, separable, normalised; smaller when the image is.
  const std::int64_t size = std::min<std::int64_t>({11, h, w});
  std::vector<double> g(static_cast<std::size_t>(size));
  double total = 0;
  for (std::int64_t i = 0; i < size; ++i) total += g[std::size_t(i)] = std::exp(-std::pow(double(i - size / 2), 2) / (2 * 1.5 * 1.5));
  for (double& v : g) v /= total;
  const double c1 = std::pow(0.01 * range, 2), c2 = std::pow(0.03 * range, 2);
  double sum = 0;
  std::int64_t count = 0;
  for (std::int64_t ch = 0; ch < c; ++ch) {
    const double* a = x.data() + ch * h * w;
    const double* b = reference.data() + ch * h * w;
    for (std::int64_t r = 0; r + size <= h; ++r)
      for (std::int64_t q = 0; q + size <= w; ++q) {
        double ma = 0, mb = 0, aa = 0, bb = 0, ab = 0;
        for (std::int64_t i = 0; i < size; ++i)
          for (std::int64_t j = 0; j < size; ++j) {
            double wt = g[std::size_t(i)] * g[std::size_t(j)], u = a[(r + i) * w + q + j], v = b[(r + i) * w + q + j];
            ma += wt * u, mb += wt * v, aa += wt * u * u, bb += wt * v * v, ab += wt * u * v;
          }
        double va = aa - ma * ma, vb = bb - mb * mb, cov = ab - ma * mb;
        sum += (2 * ma * mb + c1) * (2 * cov + c2) / ((ma * ma + mb * mb + c1) * (va + vb + c2));
        ++count;
      }
  }
  return sum / double(count);
}

SampleMoments sample_moments(const Tensor& samples, std::int64_t groups) {
  const std::int64_t total = samples.dim(0);
  if (groups < 1 || total % groups != 0 || total == 0)
    throw ShapeError(cat("sample_moments: ", total, " samples do not split into ", groups, " equal groups"));
  const std::int64_t per = total / groups, d = samples.numel() / total;
  std::vector<float> all = samples.to_vector<float>(), mean(std::size_t(groups * d)), stddev(std::size_t(groups * d));
  for (std::int64_t o = 0; o < groups; ++o)
    for (std::int64_t e = 0; e < d; ++e) {
      double s = 0, s2 = 0;
      for (std::int64_t k = 0; k < per; ++k) {
        double v = all[std::size_t((o * per + k) * d + e)];
        s += v, s2 += v * v;
      }
      double mu = s / double(per);
      mean[std::size_t(o * d + e)] = float(mu);
      stddev[std::size_t(o * d + e)] = per > 1 ? float(std::sqrt(std::max(0.0, (s2 - s * mu) / double(per - 1)))) : 0.0f;
    }
  std::vector<std::int64_t> dims(samples.shape().dims().begin(), samples.shape().dims().end());
  dims[0] = groups;
  const Shape shape{std::span<const std::int64_t>(dims)};
  return {Tensor::from_host(std::span<const float>(mean), shape), Tensor::from_host(std::span<const float>(stddev), shape)};
}

std::vector<double> item_values(const Tensor& batch, std::int64_t i) {
  Tensor one = batch.slice(i, 1);
  std::vector<double> out;
  if (one.dtype() == DType::c64) {
    for (const complex64& v : one.to_vector<complex64>()) out.push_back(v.re);
  } else {
    for (float v : one.to_vector<float>()) out.push_back(v);
  }
  return out;
}

double sliced_wasserstein(const std::vector<double>& a, const std::vector<double>& b, std::size_t d, int directions,
                          std::uint64_t seed) {
  if (d == 0 || a.size() != b.size() || a.size() % d != 0)
    throw ShapeError(cat("sliced_wasserstein: sets of ", a.size(), " and ", b.size(), " values in dimension ", d, "; they must be n x d alike"));
  const std::size_t n = a.size() / d;
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> normal;
  std::vector<double> pa(n), pb(n), u(d);
  double total = 0;
  for (int l = 0; l < directions; ++l) {
    double norm = 0;
    for (double& x : u) x = normal(gen), norm += x * x;
    norm = std::sqrt(norm);
    for (std::size_t r = 0; r < n; ++r) {
      double sa = 0, sb = 0;
      for (std::size_t i = 0; i < d; ++i) sa += a[r * d + i] * u[i], sb += b[r * d + i] * u[i];
      pa[r] = sa / norm, pb[r] = sb / norm;
    }
    std::sort(pa.begin(), pa.end());
    std::sort(pb.begin(), pb.end());
    double w = 0;
    for (std::size_t r = 0; r < n; ++r) w += (pa[r] - pb[r]) * (pa[r] - pb[r]);
    total += w / double(n);
  }
  return std::sqrt(total / directions);
}

double sliced_wasserstein(const Tensor& a, const Tensor& b) {
  if (a.rank() != 2 || b.rank() != 2 || a.dim(1) != b.dim(1))
    throw ShapeError(cat("sliced_wasserstein: points ", a.shape().str(), " and ", b.shape().str(), "; both must be (N, D) of one D"));
  const std::int64_t n = std::min(a.dim(0), b.dim(0));
  std::vector<float> av = a.slice(0, n).to_vector<float>(), bv = b.slice(0, n).to_vector<float>();
  return sliced_wasserstein(std::vector<double>(av.begin(), av.end()), std::vector<double>(bv.begin(), bv.end()), std::size_t(a.dim(1)));
}

}  // namespace tweedie::samplers
