// k-space sampling masks, (H, W) f32 on the host with 1 where sampled. Random choices come from
// Philox (uniform_at / philox_block) keyed by the seed, one stream per kind of mask, so a mask is the
// same on every platform. The zero frequency sits at (H/2, W/2) after fftshift; centre blocks are laid
// around it.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <utility>
#include <vector>

#include "kernels/random.h"
#include "runtime/error.h"
#include "samplers/operators/fourier_operators.h"

namespace tweedie::samplers {
namespace {

// Streams of the random masks, so that two kinds of mask with one seed do not share their numbers.
constexpr std::uint64_t kColumnStream = 0x6d61736b00000001ull;
constexpr std::uint64_t kPoissonStream = 0x6d61736b00000002ull;
constexpr std::uint64_t kGaussianStream = 0x6d61736b00000003ull;

void check_mask_arguments(const char* kind, std::int64_t h, std::int64_t w, double acceleration, std::int64_t centre,
                          std::int64_t centre_limit) {
  if (h < 1 || w < 1) throw ArgumentError(cat(kind, " mask: size (", h, ",", w, ") must be at least (1,1)"));
  if (!(acceleration >= 1.0) || !std::isfinite(acceleration))
    throw ArgumentError(cat(kind, " mask: acceleration is ", acceleration, ", expected a finite number of at least 1"));
  if (centre < 0 || centre > centre_limit)
    throw ArgumentError(cat(kind, " mask: centre is ", centre, ", expected 0 to ", centre_limit, " for size (", h, ",", w, ")"));
}

// First index of `count` lines centred on n / 2 (the zero frequency after fftshift).
std::int64_t centre_start(std::int64_t n, std::int64_t count) { return n / 2 - count / 2; }

Tensor to_tensor(const std::vector<float>& m, std::int64_t h, std::int64_t w) {
  return Tensor::from_host(std::span<const float>(m), Shape{h, w});
}

// Columns of the mask to full columns of ones.
Tensor from_columns(const std::vector<bool>& column, std::int64_t h, std::int64_t w) {
  std::vector<float> m(std::size_t(h * w));
  for (std::int64_t r = 0; r < h; ++r)
    for (std::int64_t c = 0; c < w; ++c) m[std::size_t(r * w + c)] = column[std::size_t(c)] ? 1.0f : 0.0f;
  return to_tensor(m, h, w);
}

// Is (r, c) in the centre x centre square?
struct CentreSquare {
  std::int64_t r0, c0, size;
  CentreSquare(std::int64_t h, std::int64_t w, std::int64_t centre) : r0(centre_start(h, centre)), c0(centre_start(w, centre)), size(centre) {}
  bool contains(std::int64_t r, std::int64_t c) const { return r >= r0 && r < r0 + size && c >= c0 && c < c0 + size; }
};

// Distance from the centre in coordinates scaled to [-1, 1] along each axis, so that densities follow
// the image's aspect ratio: 0 at the zero frequency, 1 at the middle of an edge, sqrt 2 at a corner.
double scaled_radius(std::int64_t h, std::int64_t w, std::int64_t r, std::int64_t c) {
  double u = double(r - h / 2) / (0.5 * double(h)), v = double(c - w / 2) / (0.5 * double(w));
  return std::sqrt(u * u + v * v);
}

// ---- Poisson disc ----------------------------------------------------------------------------------

// The minimum distance between points, in pixels, is scale * (1 + kGrowth * radius): kGrowth = 2 makes
// points three times as far apart at an edge as next to the centre (nine times sparser).
constexpr double kGrowth = 2.0;

// Dart throwing on the pixel grid: candidates come in a fixed random order and each is kept unless a
// point kept before it lies closer than its own minimum distance. Every pixel is tried once, so the
// result is maximal: no further point fits. run(scale, m) writes the mask, centre square included, to
// m and returns how many pixels it samples.
struct DiscSampler {
  std::int64_t h, w;
  CentreSquare centre;
  std::vector<std::int64_t> order;  // candidate pixels outside the centre, in random order
  std::vector<double> growth;       // 1 + kGrowth * radius, per pixel

  DiscSampler(std::int64_t h_, std::int64_t w_, std::int64_t centre_, std::uint64_t seed) : h(h_), w(w_), centre(h_, w_, centre_) {
    std::vector<std::pair<std::uint32_t, std::int64_t>> keyed;
    for (std::int64_t r = 0; r < h; ++r)
      for (std::int64_t c = 0; c < w; ++c) {
        std::int64_t i = r * w + c;
        growth.push_back(1.0 + kGrowth * scaled_radius(h, w, r, c));
        if (centre.contains(r, c)) continue;
        std::uint32_t key = philox_block(seed, kPoissonStream, std::uint64_t(i) / 4).x[i % 4];
        keyed.emplace_back(key, i);  // ties (rare) fall back to the pixel index: still deterministic
      }
    std::sort(keyed.begin(), keyed.end());
    for (auto& k : keyed) order.push_back(k.second);
  }

  std::int64_t run(double scale, std::vector<float>& m) const {
    m.assign(std::size_t(h * w), 0.0f);
    std::int64_t count = 0;
    for (std::int64_t r = 0; r < h; ++r)
      for (std::int64_t c = 0; c < w; ++c)
        if (centre.contains(r, c)) {
          m[std::size_t(r * w + c)] = 1.0f;
          ++count;
        }
    // Centre pixels are not obstacles: the calibration block is added on top of the pattern, and
    // counting it would leave an empty ring around it.
    std::vector<char> taken(std::size_t(h * w), 0);
    for (std::int64_t i : order) {
      std::int64_t r = i / w, c = i % w;
      double d = scale * growth[std::size_t(i)], d2 = d * d;
      std::int64_t reach = std::int64_t(std::ceil(d)) - 1;  // |offset| < d on each axis
      bool free = true;
      for (std::int64_t dr = -reach; free && dr <= reach; ++dr) {
        std::int64_t rr = r + dr;
        if (rr < 0 || rr >= h) continue;
        for (std::int64_t dc = -reach; dc <= reach; ++dc) {
          std::int64_t cc = c + dc;
          if (cc < 0 || cc >= w || !taken[std::size_t(rr * w + cc)]) continue;
          if (double(dr * dr + dc * dc) < d2) {
            free = false;
            break;
          }
        }
      }
      if (!free) continue;
      taken[std::size_t(i)] = 1;
      m[std::size_t(i)] = 1.0f;
      ++count;
    }
    return count;
  }
};

// ---- Gaussian density ------------------------------------------------------------------------------

// Squared scaled radius per pixel, or -1 inside the centre square (sampled for sure).
std::vector<double> squared_radii(std::int64_t h, std::int64_t w, const CentreSquare& centre) {
  std::vector<double> r2(std::size_t(h * w));
  for (std::int64_t r = 0; r < h; ++r)
    for (std::int64_t c = 0; c < w; ++c) {
      double rho = scaled_radius(h, w, r, c);
      r2[std::size_t(r * w + c)] = centre.contains(r, c) ? -1.0 : rho * rho;
    }
  return r2;
}

// The probability exp(-r^2 / (2 s^2)) for width s (1 in the centre square).
double gaussian_probability(double r2, double s) { return r2 < 0 ? 1.0 : std::exp(-r2 / (2 * s * s)); }

double expected_count(const std::vector<double>& r2, double s) {
  double n = 0;
  for (double v : r2) n += gaussian_probability(v, s);
  return n;
}

}  // namespace

Tensor mask_random_columns(std::int64_t h, std::int64_t w, double acceleration, std::int64_t centre, std::uint64_t seed) {
  check_mask_arguments("random column", h, w, acceleration, centre, w);
  // fastMRI's RandomMaskFunc: the outer columns are drawn with the probability that makes the expected
  // total w / acceleration (none when the centre alone reaches it).
  double p = centre == w ? 0.0 : std::clamp((double(w) / acceleration - double(centre)) / double(w - centre), 0.0, 1.0);
  std::vector<bool> column(static_cast<std::size_t>(w), false);
  std::int64_t c0 = centre_start(w, centre);
  for (std::int64_t c = 0; c < w; ++c)
    column[std::size_t(c)] = (c >= c0 && c < c0 + centre) || double(uniform_at(seed, kColumnStream, std::uint64_t(c))) < p;
  return from_columns(column, h, w);
}

Tensor mask_equispaced_columns(std::int64_t h, std::int64_t w, double acceleration, std::int64_t centre) {
  check_mask_arguments("equispaced column", h, w, acceleration, centre, w);
  // The outer w - centre columns get w / acceleration - centre lines, so the spacing is their ratio
  // (fastMRI's "adjusted acceleration"). Lines sit at w/2 + j spacing for every integer j, so the
  // pattern is symmetric about the zero frequency and needs no random offset.
  std::vector<bool> column(static_cast<std::size_t>(w), false);
  std::int64_t c0 = centre_start(w, centre);
  for (std::int64_t c = c0; c < c0 + centre; ++c) column[std::size_t(c)] = true;
  double outer = double(w) / acceleration - double(centre);
  if (outer > 0 && centre < w) {
    double spacing = double(w - centre) / outer;
    std::int64_t reach = std::int64_t(std::ceil(double(w) / spacing)) + 1;
    for (std::int64_t j = -reach; j <= reach; ++j) {
      std::int64_t c = std::llround(double(w / 2) + double(j) * spacing);
      if (c >= 0 && c < w) column[std::size_t(c)] = true;
    }
  }
  return from_columns(column, h, w);
}

Tensor mask_poisson_disc(std::int64_t h, std::int64_t w, double acceleration, std::int64_t centre, std::uint64_t seed) {
  check_mask_arguments("Poisson-disc", h, w, acceleration, centre, std::min(h, w));
  std::int64_t target = std::llround(double(h * w) / acceleration);
  DiscSampler sampler(h, w, centre, seed);
  std::vector<float> m;
  // The count falls (not strictly, the pattern being random) as the scale grows; scale 0 keeps every
  // pixel. Bracket the target, then bisect on the scale, keeping the pattern closest to the target.
  if (sampler.run(0.0, m) <= target) return to_tensor(m, h, w);
  double lo = 0.0, hi = 1.0;
  std::int64_t count = sampler.run(hi, m);
  while (count > target && hi < double(h + w)) {
    lo = hi;
    hi *= 2;
    count = sampler.run(hi, m);
  }
  std::vector<float> best = m;
  std::int64_t best_error = std::abs(count - target);
  for (int step = 0; step < 40 && best_error > target / 200; ++step) {
    double mid = 0.5 * (lo + hi);
    count = sampler.run(mid, m);
    if (std::abs(count - target) < best_error) {
      best_error = std::abs(count - target);
      best = m;
    }
    if (count > target) lo = mid;
    else hi = mid;
  }
  return to_tensor(best, h, w);
}

Tensor mask_gaussian(std::int64_t h, std::int64_t w, double acceleration, std::int64_t centre, std::uint64_t seed) {
  check_mask_arguments("Gaussian", h, w, acceleration, centre, std::min(h, w));
  std::vector<double> r2 = squared_radii(h, w, CentreSquare(h, w, centre));
  std::vector<float> m(r2.size(), 1.0f);
  if (acceleration == 1.0) return to_tensor(m, h, w);  // every pixel, not almost every one
  double target = double(h * w) / acceleration;
  // The expected count grows with the width s: bisect on log s for the width that expects the target.
  double lo = 1e-6, hi = 1e3;
  for (int step = 0; step < 60; ++step) {
    double mid = std::sqrt(lo * hi);
    if (expected_count(r2, mid) < target) lo = mid;
    else hi = mid;
  }
  double s = std::sqrt(lo * hi);
  for (std::size_t i = 0; i < r2.size(); ++i)
    m[i] = double(uniform_at(seed, kGaussianStream, i)) < gaussian_probability(r2[i], s) ? 1.0f : 0.0f;
  return to_tensor(m, h, w);
}

}  // namespace tweedie::samplers
