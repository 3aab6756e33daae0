#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <complex>

#include "samplers/operator_checks.h"
#include "samplers/operators/fourier_operators.h"
#include "support.h"

using namespace tweedie;
using namespace tweedie::samplers;
using cd = std::complex<double>;

namespace {

// ---- references in double ----------------------------------------------------------------------

// numpy's fftshift over both axes of an (h, w) plane: out[(r + h/2) % h, (c + w/2) % w] = in[r, c];
// ifftshift is the inverse roll.
std::vector<cd> roll(const std::vector<cd>& in, std::int64_t h, std::int64_t w, bool inverse) {
  std::vector<cd> out(in.size());
  std::int64_t sr = inverse ? h - h / 2 : h / 2, sc = inverse ? w - w / 2 : w / 2;
  for (std::int64_t r = 0; r < h; ++r)
    for (std::int64_t c = 0; c < w; ++c) out[std::size_t((r + sr) % h * w + (c + sc) % w)] = in[std::size_t(r * w + c)];
  return out;
}

// The orthonormal 2-D DFT of one plane, straight from the definition (O(h^2 w^2)).
std::vector<cd> dft(const std::vector<cd>& in, std::int64_t h, std::int64_t w) {
  std::vector<cd> out(in.size());
  for (std::int64_t k = 0; k < h; ++k)
    for (std::int64_t l = 0; l < w; ++l) {
      cd s = 0;
      for (std::int64_t m = 0; m < h; ++m)
        for (std::int64_t n = 0; n < w; ++n)
          s += in[std::size_t(m * w + n)] * std::polar(1.0, -2 * M_PI * (double(k * m % h) / double(h) + double(l * n % w) / double(w)));
      out[std::size_t(k * w + l)] = s / std::sqrt(double(h * w));
    }
  return out;
}

std::vector<cd> centred_dft(const std::vector<cd>& in, std::int64_t h, std::int64_t w) {
  return roll(dft(roll(in, h, w, true), h, w), h, w, false);
}

std::vector<cd> plane(const std::vector<cd>& v, std::int64_t index, std::int64_t size) {
  return std::vector<cd>(v.begin() + index * size, v.begin() + (index + 1) * size);
}

std::vector<cd> complexify(const std::vector<double>& v) { return std::vector<cd>(v.begin(), v.end()); }

// v rounded to c64, through a tensor: GCC 12 at -O2 and above vectorizes the obvious loop
// z = cd(float(z.real()), float(z.imag())) into one that skips the rounding.
std::vector<cd> rounded(const std::vector<cd>& v) {
  Tensor t = Tensor::from_host(std::span<const std::complex<float>>(std::vector<std::complex<float>>(v.begin(), v.end())),
                               {std::int64_t(v.size())});
  return test::download_complex(t);
}

// An image batch (n, c, h, w) as the operator sees it: f32 or c64, and its values as complex doubles.
struct Image {
  Tensor tensor;
  std::vector<cd> values;
};
Image random_image(std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w, bool complex, std::uint64_t seed) {
  std::size_t size = std::size_t(n * c * h * w);
  if (complex) {
    std::vector<cd> v = rounded(test::complex_uniform(size, seed));
    return {test::upload(v, {n, c, h, w}), v};
  }
  std::vector<double> v = test::as_float(test::uniform(size, seed));
  return {test::upload(v, {n, c, h, w}), complexify(v)};
}

// Sensitivity maps (k, h, w) with sum_k |S_k|^2 = 1 at every pixel (when normalised) or random.
std::vector<cd> coil_maps(std::int64_t k, std::int64_t h, std::int64_t w, std::uint64_t seed, bool normalised) {
  std::vector<cd> s = test::complex_uniform(std::size_t(k * h * w), seed);
  if (normalised)
    for (std::int64_t p = 0; p < h * w; ++p) {
      double e = 0;
      for (std::int64_t q = 0; q < k; ++q) e += std::norm(s[std::size_t(q * h * w + p)]);
      for (std::int64_t q = 0; q < k; ++q) s[std::size_t(q * h * w + p)] /= std::sqrt(e);
    }
  return rounded(s);
}

double fraction(const Tensor& mask) {
  std::vector<float> m = mask.to_vector<float>();
  return double(std::count(m.begin(), m.end(), 1.0f)) / double(m.size());
}

bool only_zeros_and_ones(const std::vector<float>& m) {
  return std::all_of(m.begin(), m.end(), [](float v) { return v == 0.0f || v == 1.0f; });
}

// Every pixel of the centre x centre square around (h/2, w/2) is sampled.
bool centre_full(const Tensor& mask, std::int64_t centre) {
  std::int64_t h = mask.dim(0), w = mask.dim(1), r0 = h / 2 - centre / 2, c0 = w / 2 - centre / 2;
  std::vector<float> m = mask.to_vector<float>();
  for (std::int64_t r = r0; r < r0 + centre; ++r)
    for (std::int64_t c = c0; c < c0 + centre; ++c)
      if (m[std::size_t(r * w + c)] != 1.0f) return false;
  return true;
}

}  // namespace

// ---- MRI ---------------------------------------------------------------------------------------

TEST_CASE("single-coil MRI is the masked centred orthonormal DFT of each channel") {
  for (auto [h, w] : {std::pair<std::int64_t, std::int64_t>{8, 6}, {7, 9}})
    for (bool complex : {false, true}) {
      CAPTURE(h);
      CAPTURE(w);
      CAPTURE(complex);
      const std::int64_t n = 2, c = 2, p = h * w;
      Tensor mask = mask_random_columns(h, w, 2.0, 2, 5);
      auto op = make_mri({{c, h, w}, complex ? DType::c64 : DType::f32}, mask, Tensor(), "mri-test", test::device());
      CHECK(op->describe() == "mri-test");
      CHECK(op->output().shape == Shape{c, h, w});
      CHECK(op->output().dtype == DType::c64);
      Image x = random_image(n, c, h, w, complex, 21);
      Tensor y = op->make_output(n, test::device());
      op->apply(test::context(), x.tensor, y);
      std::vector<float> m = mask.to_vector<float>();
      std::vector<cd> want;
      for (std::int64_t q = 0; q < n * c; ++q) {
        std::vector<cd> k = centred_dft(plane(x.values, q, p), h, w);
        for (std::int64_t i = 0; i < p; ++i) want.push_back(k[std::size_t(i)] * double(m[std::size_t(i)]));
      }
      double err = test::max_relative_error(test::download_complex(y), want);
      MESSAGE("single-coil ", h, "x", w, complex ? " c64" : " f32", ": max relative error ", err);
      CHECK(err < 1e-5);
    }
}

TEST_CASE("multi-coil MRI is the masked centred DFT of each coil image S_k x") {
  const std::int64_t n = 2, k = 3, h = 7, w = 6, p = h * w;
  std::vector<cd> s = coil_maps(k, h, w, 30, false);
  Tensor mask = mask_equispaced_columns(h, w, 2.0, 2);
  for (bool complex : {false, true}) {
    CAPTURE(complex);
    auto op = make_mri({{1, h, w}, complex ? DType::c64 : DType::f32}, mask, test::upload(s, {k, h, w}), "mri-coils", test::device());
    CHECK(op->output().shape == Shape{k, h, w});
    Image x = random_image(n, 1, h, w, complex, 31);
    Tensor y = op->make_output(n, test::device());
    op->apply(test::context(), x.tensor, y);
    std::vector<float> m = mask.to_vector<float>();
    std::vector<cd> want;
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t q = 0; q < k; ++q) {
        std::vector<cd> coil_image(static_cast<std::size_t>(p));
        for (std::int64_t j = 0; j < p; ++j) coil_image[std::size_t(j)] = s[std::size_t(q * p + j)] * x.values[std::size_t(i * p + j)];
        std::vector<cd> spectrum = centred_dft(coil_image, h, w);
        for (std::int64_t j = 0; j < p; ++j) want.push_back(spectrum[std::size_t(j)] * double(m[std::size_t(j)]));
      }
    double err = test::max_relative_error(test::download_complex(y), want);
    MESSAGE("multi-coil", complex ? " c64" : " f32", ": max relative error ", err);
    CHECK(err < 1e-5);
  }
}

TEST_CASE("MRI adjoints satisfy <A x, y> = <x, A^T y> for single- and multi-coil, real and complex images") {
  const std::int64_t h = 12, w = 10;
  Tensor mask = mask_random_columns(h, w, 3.0, 2, 7);
  Tensor maps = test::upload(coil_maps(4, h, w, 40, false), {4, h, w});
  for (bool complex : {false, true})
    for (bool coils : {false, true}) {
      CAPTURE(complex);
      CAPTURE(coils);
      DType dtype = complex ? DType::c64 : DType::f32;
      auto op = coils ? make_mri({{1, h, w}, dtype}, mask, maps, "mri", test::device())
                      : make_mri({{2, h, w}, dtype}, mask, Tensor(), "mri", test::device());
      // Seeds whose <A x, y> is not close to 0 (the check divides by it; see the phase retrieval VJP test).
      for (std::int64_t batch : {2, 3}) {
        double mismatch = test::adjoint_mismatch(test::context(), *op, batch, 150 + std::uint64_t(batch));
        MESSAGE(std::string(coils ? "multi-coil" : "single-coil"), std::string(complex ? " c64" : " f32"), " batch ", batch, ": adjoint mismatch ", mismatch);
        CHECK(mismatch < 1e-5);
      }
    }
}

TEST_CASE("fully sampled multi-coil MRI with sum_k |S_k|^2 = 1 has A^T A = I") {
  const std::int64_t n = 2, k = 4, h = 9, w = 8;
  Tensor ones = Tensor::from_host(std::span<const float>(std::vector<float>(std::size_t(h * w), 1.0f)), {h, w});
  Tensor maps = test::upload(coil_maps(k, h, w, 60, true), {k, h, w});
  for (bool complex : {false, true}) {
    CAPTURE(complex);
    auto op = make_mri({{1, h, w}, complex ? DType::c64 : DType::f32}, ones, maps, "mri", test::device());
    Image x = random_image(n, 1, h, w, complex, 61);
    Tensor y = op->make_output(n, test::device()), back = op->make_input(n, test::device());
    op->apply(test::context(), x.tensor, y);
    op->adjoint(test::context(), y, back);
    double err = complex ? test::max_relative_error(test::download_complex(back), x.values)
                         : test::max_relative_error(test::download(back), test::download(x.tensor));
    MESSAGE("A^T A x vs x", complex ? " c64" : " f32", ": max relative error ", err);
    CHECK(err < 1e-5);
  }
}

TEST_CASE("MRI observed() marks the sampled k-space of every coil or channel, and is undefined when all is sampled") {
  const std::int64_t h = 6, w = 8;
  Tensor mask = mask_equispaced_columns(h, w, 2.0, 2);
  auto single = make_mri({{3, h, w}, DType::f32}, mask, Tensor(), "mri", test::device());
  auto multi = make_mri({{1, h, w}, DType::c64}, mask, Tensor::zeros({2, h, w}, test::device(), DType::c64), "mri", test::device());
  std::vector<float> m = mask.to_vector<float>();
  for (const Operator* op : {single.get(), multi.get()}) {
    const Tensor& seen = op->observed();
    REQUIRE(seen.defined());
    CHECK(seen.shape() == op->output().shape);
    CHECK(seen.device() == test::device());
    std::vector<double> s = test::download(seen);
    for (std::size_t i = 0; i < s.size(); ++i) CHECK(s[i] == (m[i % m.size()] != 0.0f ? 1.0 : 0.0));
  }
  // Fully sampled: every entry is measured, and observed() says so by being undefined.
  Tensor ones = Tensor::from_host(std::span<const float>(std::vector<float>(std::size_t(h * w), 1.0f)), {h, w});
  CHECK_FALSE(make_mri({{1, h, w}, DType::f32}, ones, Tensor(), "mri", test::device())->observed().defined());
}

TEST_CASE("MRI construction errors name the shapes") {
  Tensor mask = mask_equispaced_columns(8, 8, 2.0, 2);
  CHECK_THROWS_WITH_AS(make_mri({{1, 8, 6}, DType::f32}, mask, Tensor(), "mri", test::device()),
                       doctest::Contains("mask is f32 (8,8) on cpu, expected f32 (8,6)"), ShapeError);
  Tensor wrong_maps = Tensor::zeros({4, 8, 7}, Device::cpu(), DType::c64);
  CHECK_THROWS_WITH_AS(make_mri({{1, 8, 8}, DType::c64}, mask, wrong_maps, "mri", test::device()),
                       doctest::Contains("sensitivity maps are c64 (4,8,7) on cpu, expected c64 (K,8,8)"), ShapeError);
  Tensor real_maps = Tensor::zeros({4, 8, 8}, Device::cpu());
  CHECK_THROWS_WITH_AS(make_mri({{1, 8, 8}, DType::c64}, mask, real_maps, "mri", test::device()),
                       doctest::Contains("sensitivity maps are f32"), ShapeError);
  Tensor maps = Tensor::zeros({4, 8, 8}, Device::cpu(), DType::c64);
  CHECK_THROWS_WITH_AS(make_mri({{2, 8, 8}, DType::c64}, mask, maps, "mri", test::device()),
                       doctest::Contains("multi-coil MRI takes a single-channel image (1,8,8), got (2,8,8)"), ShapeError);
  CHECK_THROWS_WITH_AS(make_mri({{8, 8}, DType::f32}, mask, Tensor(), "mri", test::device()), doctest::Contains("expected (C,H,W)"),
                       ShapeError);
  auto op = make_mri({{1, 8, 8}, DType::f32}, mask, Tensor(), "mri", test::device());
  Tensor x = Tensor::zeros({2, 1, 8, 8}, test::device()), y = Tensor::zeros({3, 1, 8, 8}, test::device(), DType::c64);
  CHECK_THROWS_WITH_AS(op->apply(test::context(), x, y), doctest::Contains("differ in batch size"), ShapeError);
}

// ---- masks -------------------------------------------------------------------------------------

TEST_CASE("random column masks: centre columns, whole columns, fraction 1/R, one pattern per seed") {
  const std::int64_t h = 4, w = 368, centre = 24;
  for (double r : {4.0, 8.0}) {
    CAPTURE(r);
    // Outer columns are independent draws: one mask's fraction has a standard deviation of about
    // 0.02 (R = 4), the mean of 50 masks 0.003; the bounds below are four of those.
    double mean = 0;
    for (std::uint64_t seed = 0; seed < 50; ++seed) {
      Tensor m = mask_random_columns(h, w, r, centre, seed);
      REQUIRE(m.shape() == Shape{h, w});
      std::vector<float> v = m.to_vector<float>();
      CHECK(only_zeros_and_ones(v));
      for (std::int64_t c = w / 2 - centre / 2; c < w / 2 + centre / 2; ++c) CHECK(v[std::size_t(c)] == 1.0f);
      for (std::int64_t row = 1; row < h; ++row)
        CHECK(std::equal(v.begin(), v.begin() + w, v.begin() + row * w));
      CHECK(std::abs(fraction(m) - 1 / r) < 0.08);
      mean += fraction(m) / 50;
    }
    MESSAGE("random columns R=", r, ": mean fraction over 50 seeds ", mean);
    CHECK(std::abs(mean - 1 / r) < 0.012);
  }
  CHECK(mask_random_columns(h, w, 4, centre, 3).to_vector<float>() == mask_random_columns(h, w, 4, centre, 3).to_vector<float>());
  CHECK(mask_random_columns(h, w, 4, centre, 3).to_vector<float>() != mask_random_columns(h, w, 4, centre, 4).to_vector<float>());
  // R = 1 samples everything; a centre wider than w / R leaves only the centre.
  CHECK(fraction(mask_random_columns(h, w, 1, centre, 0)) == 1.0);
  CHECK(fraction(mask_random_columns(h, 40, 4, 20, 0)) == 0.5);
}

TEST_CASE("equispaced column masks: centre columns and every spacing-th column, about w / R in all") {
  // w = 128, centre 8, R = 4: 24 more lines in 120 columns, one every 5; w = 256, centre 16, R = 8:
  // one every 15. Both give exactly w / R lines.
  for (auto [w, centre, r, spacing] : {std::tuple<std::int64_t, std::int64_t, double, std::int64_t>{128, 8, 4.0, 5}, {256, 16, 8.0, 15}}) {
    CAPTURE(w);
    Tensor m = mask_equispaced_columns(3, w, r, centre);
    std::vector<float> v = m.to_vector<float>();
    CHECK(std::equal(v.begin(), v.begin() + w, v.begin() + w));
    CHECK(std::count(v.begin(), v.begin() + w, 1.0f) == std::int64_t(double(w) / r));
    for (std::int64_t c = 0; c < w; ++c) {
      bool in_centre = c >= w / 2 - centre / 2 && c < w / 2 + centre / 2;
      bool on_grid = (c - w / 2) % spacing == 0;
      CHECK(v[std::size_t(c)] == (in_centre || on_grid ? 1.0f : 0.0f));
    }
  }
  // A fractional spacing: gaps between outer lines are its floor or ceiling, the total about w / R.
  const std::int64_t w = 100, centre = 10;
  std::vector<float> v = mask_equispaced_columns(1, w, 3.0, centre).to_vector<float>();
  double spacing = double(w - centre) / (double(w) / 3.0 - double(centre));
  std::vector<std::int64_t> outer;
  for (std::int64_t c = 0; c < w; ++c)
    if (v[std::size_t(c)] == 1.0f && (c < w / 2 - centre / 2 || c >= w / 2 + centre / 2)) outer.push_back(c);
  for (std::size_t i = 1; i < outer.size(); ++i) {
    std::int64_t gap = outer[i] - outer[i - 1];
    if (gap > centre) continue;  // across the centre block
    CHECK((gap == std::int64_t(std::floor(spacing)) || gap == std::int64_t(std::ceil(spacing))));
  }
  CHECK(std::abs(double(std::count(v.begin(), v.end(), 1.0f)) - double(w) / 3.0) <= 2.0);
}

TEST_CASE("Poisson-disc masks: fraction 1/R, full centre, one minimum-distance scale for all points, sparser outside") {
  const std::int64_t h = 96, w = 128, centre = 16;
  struct Point {
    double r, c, growth;
  };
  for (double r : {4.0, 8.0}) {
    CAPTURE(r);
    Tensor m = mask_poisson_disc(h, w, r, centre, 1);
    REQUIRE(m.shape() == Shape{h, w});
    std::vector<float> v = m.to_vector<float>();
    CHECK(only_zeros_and_ones(v));
    CHECK(centre_full(m, centre));
    MESSAGE("Poisson disc R=", r, ": fraction ", fraction(m), " (target ", 1 / r, ")");
    CHECK(std::abs(fraction(m) * r - 1) < 0.02);

    // mri_masks.cpp keeps points at least scale * g apart, g = 1 + 2 rho growing with the scaled
    // distance rho from the centre, and tries every pixel. Without knowing the scale: every pair of
    // points outside the centre is at least scale * min(g) apart (the later one kept its distance),
    // and every pixel left out has a point closer than scale * g (why it was left out). So the largest
    // distance / g of the left-out pixels must lie below the smallest distance / min(g) of the pairs.
    std::vector<Point> kept, left;
    double inner = 0, inner_n = 0, outer = 0, outer_n = 0;
    for (std::int64_t row = 0; row < h; ++row)
      for (std::int64_t c = 0; c < w; ++c) {
        if (row >= h / 2 - centre / 2 && row < h / 2 + centre / 2 && c >= w / 2 - centre / 2 && c < w / 2 + centre / 2) continue;
        double u = double(row - h / 2) / (h / 2.0), t = double(c - w / 2) / (w / 2.0), rho = std::sqrt(u * u + t * t);
        bool sampled = v[std::size_t(row * w + c)] == 1.0f;
        (sampled ? kept : left).push_back({double(row), double(c), 1 + 2 * rho});
        if (rho < 0.4) inner += sampled, inner_n += 1;
        if (rho > 0.8) outer += sampled, outer_n += 1;
      }
    auto distance = [](const Point& a, const Point& b) { return std::hypot(a.r - b.r, a.c - b.c); };
    double pairs = INFINITY, gaps = 0;
    for (std::size_t i = 0; i < kept.size(); ++i)
      for (std::size_t j = i + 1; j < kept.size(); ++j)
        pairs = std::min(pairs, distance(kept[i], kept[j]) / std::min(kept[i].growth, kept[j].growth));
    for (const Point& p : left) {
      double nearest = INFINITY;
      for (const Point& q : kept) nearest = std::min(nearest, distance(p, q));
      gaps = std::max(gaps, nearest / p.growth);
    }
    MESSAGE("Poisson disc R=", r, ": scale between ", gaps, " and ", pairs, "; density near the centre ", inner / inner_n,
            ", in the outer band ", outer / outer_n);
    CHECK(gaps < pairs);
    // Sampled fraction near the centre (rho < 0.4, outside the centre square) against the outer band
    // (rho > 0.8): the minimum distance grows outward, so the density falls.
    CHECK(inner / inner_n > 2 * outer / outer_n);
  }
  CHECK(mask_poisson_disc(32, 32, 4, 8, 2).to_vector<float>() == mask_poisson_disc(32, 32, 4, 8, 2).to_vector<float>());
  CHECK(mask_poisson_disc(32, 32, 4, 8, 2).to_vector<float>() != mask_poisson_disc(32, 32, 4, 8, 3).to_vector<float>());
  CHECK(fraction(mask_poisson_disc(16, 12, 1, 4, 0)) == 1.0);
}

TEST_CASE("Gaussian-density masks: fraction 1/R, full centre, denser near the centre") {
  const std::int64_t h = 128, w = 96, centre = 12;
  for (double r : {4.0, 8.0}) {
    CAPTURE(r);
    Tensor m = mask_gaussian(h, w, r, centre, 9);
    std::vector<float> v = m.to_vector<float>();
    CHECK(only_zeros_and_ones(v));
    CHECK(centre_full(m, centre));
    // Independent draws: the count's standard deviation is below sqrt(h w / R), 1.8% of the
    // expected count at R = 4 and 2.5% at R = 8; the bound is four of them at R = 8.
    MESSAGE("Gaussian R=", r, ": fraction ", fraction(m), " (target ", 1 / r, ")");
    CHECK(std::abs(fraction(m) * r - 1) < 0.1);
    // The centre row is denser in its middle half than in its outer quarters.
    std::int64_t row = h / 2;
    double middle = 0, edges = 0;
    for (std::int64_t c = 0; c < w; ++c) (std::abs(c - w / 2) < w / 4 ? middle : edges) += v[std::size_t(row * w + c)];
    CHECK(middle > 2 * edges);
  }
  CHECK(mask_gaussian(32, 32, 4, 4, 2).to_vector<float>() == mask_gaussian(32, 32, 4, 4, 2).to_vector<float>());
  CHECK(mask_gaussian(32, 32, 4, 4, 2).to_vector<float>() != mask_gaussian(32, 32, 4, 4, 3).to_vector<float>());
  CHECK(fraction(mask_gaussian(16, 12, 1, 4, 0)) == 1.0);
}

TEST_CASE("mask generators reject bad arguments") {
  CHECK_THROWS_WITH_AS(mask_random_columns(8, 8, 0.5, 2, 0), doctest::Contains("acceleration is 0.5, expected a finite number of at least 1"),
                       ArgumentError);
  CHECK_THROWS_WITH_AS(mask_equispaced_columns(8, 8, 4, 9), doctest::Contains("centre is 9, expected 0 to 8"), ArgumentError);
  CHECK_THROWS_WITH_AS(mask_poisson_disc(8, 16, 4, 9, 0), doctest::Contains("centre is 9, expected 0 to 8"), ArgumentError);
  CHECK_THROWS_WITH_AS(mask_gaussian(8, 8, std::nan(""), 2, 0), doctest::Contains("acceleration is nan"), ArgumentError);
  CHECK_THROWS_WITH_AS(mask_gaussian(0, 8, 4, 0, 0), doctest::Contains("size (0,8)"), ArgumentError);
}

// ---- phase retrieval ---------------------------------------------------------------------------

TEST_CASE("phase retrieval is the modulus of the orthonormal DFT of the zero-padded image") {
  const std::int64_t n = 2, c = 2, h = 5, w = 6;
  for (std::int64_t pad : {0, 2}) {
    CAPTURE(pad);
    auto op = make_phase_retrieval({{c, h, w}, DType::f32}, pad, test::device());
    CHECK(op->describe() == "phase:pad=" + std::to_string(pad));
    CHECK_FALSE(op->is_linear());
    std::int64_t hp = h + 2 * pad, wp = w + 2 * pad;
    CHECK(op->output().shape == Shape{c, hp, wp});
    Image x = random_image(n, c, h, w, false, 70);
    Tensor y = op->make_output(n, test::device());
    op->apply(test::context(), x.tensor, y);
    std::vector<double> want;
    for (std::int64_t q = 0; q < n * c; ++q) {
      std::vector<cd> padded(std::size_t(hp * wp), 0.0);
      for (std::int64_t r = 0; r < h; ++r)
        for (std::int64_t s = 0; s < w; ++s) padded[std::size_t((r + pad) * wp + s + pad)] = x.values[std::size_t((q * h + r) * w + s)];
      for (cd z : dft(padded, hp, wp)) want.push_back(std::abs(z));
    }
    double err = test::max_relative_error(test::download(y), want);
    MESSAGE("phase retrieval pad ", pad, ": max relative error ", err);
    CHECK(err < 1e-5);
  }
}

TEST_CASE("phase retrieval JVP matches central differences and its VJP is the JVP's transpose") {
  auto op = make_phase_retrieval({{2, 6, 7}, DType::f32}, 2, test::device());
  Tensor x = test::random_input(*op, 2, 80);
  double jvp = test::jvp_error(test::context(), *op, x, 81, 1e-3);
  // The VJP check divides by <J dx, dy>, which a few random pairs bring close to 0; this seed gives a
  // typical one, so the bound tests the VJP rather than f32 rounding over a small denominator.
  double vjp = test::vjp_mismatch(test::context(), *op, x, 101);
  MESSAGE("phase retrieval: JVP vs central differences ", jvp, ", VJP mismatch ", vjp);
  CHECK(jvp < 1e-3);
  CHECK(vjp < 1e-5);
  Tensor y = op->make_output(2, test::device());
  CHECK_THROWS_WITH_AS(op->adjoint(test::context(), y, x), doctest::Contains("nonlinear"), ArgumentError);
  CHECK_THROWS_WITH_AS(make_phase_retrieval({{2, 6, 7}, DType::f32}, -1, test::device()), doctest::Contains("pad is -1"), ArgumentError);
}

TEST_CASE("3-D Cartesian MRI on volumes (C, D, H, W): single- and multi-coil against the centred 3-D DFT in double, and its adjoint") {
  Context& ctx = test::context();
  const std::int64_t d = 5, h = 6, w = 4, k = 3, vol = d * h * w;
  // A mask over the whole volume and smooth-free random maps (the operator is per voxel in the maps).
  std::vector<double> m = test::uniform(std::size_t(vol), 71, 0, 1);
  for (double& v : m) v = v < 0.6 ? 1 : 0;
  const Tensor mask = test::upload(m, {d, h, w}).to_host();
  const std::vector<cd> s = coil_maps(k, d * h, w, 72, false);
  const Tensor maps = test::upload(s, {k, d, h, w});
  // The reference: numpy's fftshift(fftn(ifftshift(x), norm="ortho")) over three axes, term by term.
  auto centred_dft3 = [&](const std::vector<cd>& x) {
    std::vector<cd> out(x.size());
    auto coord = [](std::int64_t i, std::int64_t n) { return double(i - n / 2); };
    for (std::int64_t a = 0; a < vol; ++a) {
      cd sum = 0;
      for (std::int64_t b = 0; b < vol; ++b) {
        const double phase = coord(a / (h * w), d) * coord(b / (h * w), d) / double(d) + coord(a / w % h, h) * coord(b / w % h, h) / double(h) +
                             coord(a % w, w) * coord(b % w, w) / double(w);
        sum += x[std::size_t(b)] * std::polar(1.0, -2 * M_PI * phase);
      }
      out[std::size_t(a)] = sum / std::sqrt(double(vol));
    }
    return out;
  };
  for (bool coils : {false, true}) {
    CAPTURE(coils);
    const Signal x{{coils ? 1 : 2, d, h, w}, DType::c64};
    auto op = make_mri(x, mask, coils ? maps : Tensor(), "mri", test::device());
    CHECK(op->output().shape == Shape{coils ? k : 2, d, h, w});
    Image in = random_image(2, coils ? 1 : 2, d * h, w, true, 73);
    Tensor input = in.tensor.reshape({2, coils ? 1 : 2, d, h, w}), y = op->make_output(2, test::device());
    op->apply(ctx, input, y);
    std::vector<cd> want;
    for (std::int64_t item = 0; item < 2; ++item)
      for (std::int64_t c = 0; c < (coils ? k : 2); ++c) {
        std::vector<cd> v = plane(in.values, coils ? item : item * 2 + c, vol);
        if (coils)
          for (std::int64_t i = 0; i < vol; ++i) v[std::size_t(i)] *= s[std::size_t(c * vol + i)];
        v = centred_dft3(v);
        for (std::int64_t i = 0; i < vol; ++i) v[std::size_t(i)] *= m[std::size_t(i)];
        want.insert(want.end(), v.begin(), v.end());
      }
    const double err = test::max_relative_error(test::download_complex(y), want, 1e-2);
    MESSAGE(std::string(coils ? "multi-coil" : "single-coil"), " volume: max relative error ", err);
    CHECK(err < 1e-5);
    CHECK(test::adjoint_mismatch(ctx, *op, 2, 74) < 1e-5);
    const Signal real{x.shape, DType::f32};
    CHECK(test::adjoint_mismatch(ctx, *make_mri(real, mask, coils ? maps : Tensor(), "mri", test::device()), 3, 75) < 1e-5);
  }
  CHECK_THROWS_WITH_AS(make_mri({{1, d, h, w}, DType::c64}, Tensor::zeros({h, w}), Tensor(), "mri", test::device()),
                       doctest::Contains("expected f32 (5,6,4)"), ShapeError);
}
