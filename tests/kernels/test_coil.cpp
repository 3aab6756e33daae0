#include "kernels/coil.h"

#include <cmath>

#include "support.h"

using namespace tweedie;
using cd = std::complex<double>;

namespace {

// Random values already rounded to what the kernels see, so references in double are exact inputs.
// The rounding goes through a tensor: GCC 12 at -O2 and above vectorizes the obvious loop
// z = cd(float(z.real()), float(z.imag())) into one that skips the rounding.
std::vector<cd> complex_values(std::size_t n, std::uint64_t seed) {
  return test::download_complex(test::upload(test::complex_uniform(n, seed), {std::int64_t(n)}));
}

std::vector<cd> complexify(const std::vector<double>& v) { return std::vector<cd>(v.begin(), v.end()); }

std::vector<double> real_parts(const std::vector<cd>& v) {
  std::vector<double> out;
  for (cd z : v) out.push_back(z.real());
  return out;
}

}  // namespace

TEST_CASE("coil_expand multiplies each item by every coil map, for real and complex images") {
  const std::int64_t n = 2, k = 3, h = 5, w = 7, p = h * w;
  std::vector<cd> s = complex_values(std::size_t(k * p), 1), x = complex_values(std::size_t(n * p), 2);
  std::vector<double> xr = test::as_float(test::uniform(std::size_t(n * p), 3));
  Tensor S = test::upload(s, {k, h, w}), Y = Tensor::empty({n, k, h, w}, test::device(), DType::c64);
  for (bool real : {false, true}) {
    CAPTURE(real);
    std::vector<cd> xs = real ? complexify(xr) : x;
    Tensor X = real ? test::upload(xr, {n, 1, h, w}) : test::upload(x, {n, 1, h, w});
    coil_expand(test::context(), X, S, Y);
    std::vector<cd> want(std::size_t(n * k * p));
    for (std::int64_t i = 0; i < n; ++i)
      for (std::int64_t c = 0; c < k; ++c)
        for (std::int64_t j = 0; j < p; ++j) want[std::size_t((i * k + c) * p + j)] = s[std::size_t(c * p + j)] * xs[std::size_t(i * p + j)];
    CHECK(test::max_relative_error(test::download_complex(Y), want) < 1e-6);
  }
}

TEST_CASE("coil_combine sums conj(S_k) y_k over coils, keeping the real part for a real output") {
  const std::int64_t n = 3, k = 4, h = 6, w = 3, p = h * w;
  std::vector<cd> s = complex_values(std::size_t(k * p), 4), y = complex_values(std::size_t(n * k * p), 5);
  Tensor S = test::upload(s, {k, h, w}), Y = test::upload(y, {n, k, h, w});
  std::vector<cd> want(std::size_t(n * p));
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < p; ++j)
      for (std::int64_t c = 0; c < k; ++c) want[std::size_t(i * p + j)] += std::conj(s[std::size_t(c * p + j)]) * y[std::size_t((i * k + c) * p + j)];
  Tensor X = Tensor::empty({n, 1, h, w}, test::device(), DType::c64), XR = Tensor::empty({n, 1, h, w}, test::device());
  coil_combine(test::context(), Y, S, X);
  coil_combine(test::context(), Y, S, XR);
  CHECK(test::max_relative_error(test::download_complex(X), want) < 1e-6);
  CHECK(test::max_relative_error(test::download(XR), real_parts(want)) < 1e-6);
}

TEST_CASE("to_complex and real_part convert between f32 and c64") {
  for (std::int64_t n : test::kSizes) {
    CAPTURE(n);
    std::vector<double> x = test::as_float(test::uniform(std::size_t(n), 6));
    std::vector<cd> z = complex_values(std::size_t(n), 7);
    Tensor X = test::upload(x, {n}), C = Tensor::empty({n}, test::device(), DType::c64);
    to_complex(test::context(), X, C);
    CHECK(test::download_complex(C) == complexify(x));
    Tensor Z = test::upload(z, {n}), R = Tensor::empty({n}, test::device());
    real_part(test::context(), Z, R);
    CHECK(test::download(R) == real_parts(z));
  }
}

TEST_CASE("complex_modulus and its JVP and VJP match the formulas, with 0 at z = 0") {
  for (std::int64_t n : test::kSizes) {
    CAPTURE(n);
    std::vector<cd> z = complex_values(std::size_t(n), 8), dz = complex_values(std::size_t(n), 9);
    z[0] = 0.0;  // the non-differentiable point
    std::vector<double> dm = test::as_float(test::uniform(std::size_t(n), 10));
    Tensor Z = test::upload(z, {n}), DZ = test::upload(dz, {n}), DM = test::upload(dm, {n});
    Tensor M = Tensor::empty({n}, test::device()), T = Tensor::empty({n}, test::device()), G = Tensor::empty({n}, test::device(), DType::c64);
    complex_modulus(test::context(), Z, M);
    modulus_jvp(test::context(), Z, DZ, T);
    modulus_vjp(test::context(), Z, DM, G);
    const std::size_t count = std::size_t(n);
    std::vector<double> m(count), t(count);
    std::vector<cd> g(count);
    for (std::size_t i = 0; i < count; ++i) {
      m[i] = std::abs(z[i]);
      t[i] = m[i] > 0 ? (std::conj(z[i]) * dz[i]).real() / m[i] : 0.0;
      g[i] = m[i] > 0 ? z[i] / m[i] * dm[i] : 0.0;
    }
    CHECK(test::max_relative_error(test::download(M), m) < 1e-6);
    CHECK(test::max_relative_error(test::download(T), t) < 1e-6);
    CHECK(test::max_relative_error(test::download_complex(G), g) < 1e-6);
    CHECK(test::download(T)[0] == 0.0);
    CHECK(test::download_complex(G)[0] == cd(0.0));
  }
}

TEST_CASE("pad_planes surrounds each plane with zeros and crop_planes takes it back out") {
  const std::int64_t b = 2, c = 3, h = 5, w = 4;
  for (std::int64_t pad : {0, 1, 3}) {
    CAPTURE(pad);
    std::int64_t hp = h + 2 * pad, wp = w + 2 * pad;
    std::vector<double> x = test::as_float(test::uniform(std::size_t(b * c * h * w), 11));
    Tensor X = test::upload(x, {b, c, h, w}), P = Tensor::empty({b, c, hp, wp}, test::device(), DType::c64);
    pad_planes(test::context(), X, pad, P);
    std::vector<cd> want(std::size_t(b * c * hp * wp), 0.0);
    for (std::int64_t q = 0; q < b * c; ++q)
      for (std::int64_t r = 0; r < h; ++r)
        for (std::int64_t s = 0; s < w; ++s) want[std::size_t((q * hp + r + pad) * wp + s + pad)] = x[std::size_t((q * h + r) * w + s)];
    CHECK(test::download_complex(P) == want);

    // Crop of a full random padded tensor: the inner window, as complex and as its real part.
    std::vector<cd> big = complex_values(want.size(), 12);
    Tensor B = test::upload(big, {b, c, hp, wp});
    Tensor CC = Tensor::empty({b, c, h, w}, test::device(), DType::c64), CR = Tensor::empty({b, c, h, w}, test::device());
    crop_planes(test::context(), B, pad, CC);
    crop_planes(test::context(), B, pad, CR);
    std::vector<cd> inner(std::size_t(b * c * h * w));
    for (std::int64_t q = 0; q < b * c; ++q)
      for (std::int64_t r = 0; r < h; ++r)
        for (std::int64_t s = 0; s < w; ++s) inner[std::size_t((q * h + r) * w + s)] = big[std::size_t((q * hp + r + pad) * wp + s + pad)];
    CHECK(test::download_complex(CC) == inner);
    CHECK(test::download(CR) == real_parts(inner));

    // A complex input pads too.
    Tensor XC = test::upload(complexify(x), {b, c, h, w});
    pad_planes(test::context(), XC, pad, P);
    CHECK(test::download_complex(P) == want);
  }
}

TEST_CASE("pad_planes and crop_planes at an offset place the small plane anywhere in the big one") {
  const std::int64_t b = 2, c = 3, h = 5, w = 4;
  struct Window {
    std::int64_t hp, wp, top, left;
  };
  for (Window g : {Window{5, 4, 0, 0}, Window{9, 7, 3, 1}, Window{8, 11, 0, 7}, Window{6, 9, 1, 0}}) {
    CAPTURE(g.hp);
    CAPTURE(g.wp);
    CAPTURE(g.top);
    CAPTURE(g.left);
    auto big_index = [&](std::int64_t q, std::int64_t r, std::int64_t s) { return std::size_t((q * g.hp + r + g.top) * g.wp + s + g.left); };
    auto small_index = [&](std::int64_t q, std::int64_t r, std::int64_t s) { return std::size_t((q * h + r) * w + s); };
    std::vector<double> x = test::as_float(test::uniform(std::size_t(b * c * h * w), 13));
    Tensor X = test::upload(x, {b, c, h, w}), P = Tensor::empty({b, c, g.hp, g.wp}, test::device(), DType::c64);
    pad_planes(test::context(), X, g.top, g.left, P);
    std::vector<cd> want(std::size_t(b * c * g.hp * g.wp), 0.0);
    for (std::int64_t q = 0; q < b * c; ++q)
      for (std::int64_t r = 0; r < h; ++r)
        for (std::int64_t s = 0; s < w; ++s) want[big_index(q, r, s)] = x[small_index(q, r, s)];
    CHECK(test::download_complex(P) == want);
    Tensor XC = test::upload(complexify(x), {b, c, h, w});
    pad_planes(test::context(), XC, g.top, g.left, P);
    CHECK(test::download_complex(P) == want);

    std::vector<cd> big = complex_values(want.size(), 14);
    Tensor B = test::upload(big, {b, c, g.hp, g.wp});
    Tensor CC = Tensor::empty({b, c, h, w}, test::device(), DType::c64), CR = Tensor::empty({b, c, h, w}, test::device());
    crop_planes(test::context(), B, g.top, g.left, CC);
    crop_planes(test::context(), B, g.top, g.left, CR);
    std::vector<cd> inner(std::size_t(b * c * h * w));
    for (std::int64_t q = 0; q < b * c; ++q)
      for (std::int64_t r = 0; r < h; ++r)
        for (std::int64_t s = 0; s < w; ++s) inner[small_index(q, r, s)] = big[big_index(q, r, s)];
    CHECK(test::download_complex(CC) == inner);
    CHECK(test::download(CR) == real_parts(inner));
  }
}

TEST_CASE("coil kernel errors name the problem") {
  Context& ctx = test::context();
  Tensor S = Tensor::zeros({2, 4, 4}, test::device(), DType::c64), X = Tensor::zeros({1, 1, 4, 4}, test::device(), DType::c64);
  Tensor Y = Tensor::zeros({1, 3, 4, 4}, test::device(), DType::c64);
  CHECK_THROWS_WITH_AS(coil_expand(ctx, X, S, Y), doctest::Contains("expected 1 x 2 planes"), ShapeError);
  Tensor Xw = Tensor::zeros({1, 1, 4, 5}, test::device(), DType::c64);
  CHECK_THROWS_WITH_AS(coil_combine(ctx, Y, S, Xw), doctest::Contains("expected planes of (4,4)"), ShapeError);
  Tensor Sr = Tensor::zeros({2, 4, 4}, test::device());
  CHECK_THROWS_AS(coil_expand(ctx, X, Sr, Y), DTypeError);
  Tensor P = Tensor::zeros({1, 1, 6, 7}, test::device(), DType::c64);
  CHECK_THROWS_WITH_AS(pad_planes(ctx, X, 1, P), doctest::Contains("with pad 1"), ShapeError);
  CHECK_THROWS_WITH_AS(crop_planes(ctx, P, -1, X), doctest::Contains("pad is -1"), ArgumentError);
  CHECK_THROWS_WITH_AS(pad_planes(ctx, X, 2, 4, P), doctest::Contains("at offset (2,4) does not fit inside c64 (1,1,6,7)"),
                       ShapeError);
  CHECK_THROWS_WITH_AS(crop_planes(ctx, P, 0, -1, X), doctest::Contains("offset (0,-1) is negative"), ArgumentError);
  Tensor Q = Tensor::zeros({2, 1, 6, 7}, test::device(), DType::c64);
  CHECK_THROWS_WITH_AS(crop_planes(ctx, Q, 1, 1, X), doctest::Contains("does not fit inside c64 (2,1,6,7)"), ShapeError);
}
