#include "kernels/fft.h"

#include <cmath>
#include <tuple>

#include "support.h"

using namespace tweedie;
using cd = std::complex<double>;

namespace {

// Unnormalised 2-D DFT of each (h, w) plane in double, computed directly from the definition (separably:
// rows, then columns). sign = -1 forward, +1 inverse.
std::vector<cd> dft2(const std::vector<cd>& x, std::int64_t batch, std::int64_t h, std::int64_t w, int sign) {
  std::vector<cd> rows(x.size()), out(x.size());
  const double two_pi = 2 * M_PI;
  for (std::int64_t b = 0; b < batch; ++b) {
    const cd* xp = x.data() + b * h * w;
    cd* rp = rows.data() + b * h * w;
    cd* op = out.data() + b * h * w;
    for (std::int64_t r = 0; r < h; ++r)
      for (std::int64_t l = 0; l < w; ++l) {
        cd s = 0;
        for (std::int64_t c = 0; c < w; ++c) s += xp[r * w + c] * std::polar(1.0, sign * two_pi * double((l * c) % w) / double(w));
        rp[r * w + l] = s;
      }
    for (std::int64_t k = 0; k < h; ++k)
      for (std::int64_t l = 0; l < w; ++l) {
        cd s = 0;
        for (std::int64_t r = 0; r < h; ++r) s += rp[r * w + l] * std::polar(1.0, sign * two_pi * double((k * r) % h) / double(h));
        op[k * w + l] = s;
      }
  }
  return out;
}

std::vector<cd> scaled(std::vector<cd> v, double s) {
  for (cd& z : v) z *= s;
  return v;
}

struct Dims {
  std::int64_t batch, h, w;
};
const Dims kDims[] = {{1, 1, 1}, {1, 7, 7}, {2, 33, 5}, {1, 1031, 3}, {3, 16, 12}, {1, 4, 1031}};

}  // namespace

TEST_CASE("fft2 and ifft2 match the naive DFT under every normalisation") {
  for (Dims d : kDims) {
    CAPTURE(d.batch);
    CAPTURE(d.h);
    CAPTURE(d.w);
    std::int64_t n = d.h * d.w;
    std::vector<cd> x = test::complex_uniform(std::size_t(d.batch * n), 9);
    for (cd& z : x) z = cd(float(z.real()), float(z.imag()));
    Tensor X = test::upload(x, {d.batch, d.h, d.w}), Y = Tensor::empty({d.batch, d.h, d.w}, test::device(), DType::c64);
    std::vector<cd> forward = dft2(x, d.batch, d.h, d.w, -1), inverse = dft2(x, d.batch, d.h, d.w, +1);
    const double root = std::sqrt(double(n));
    struct Case {
      FftNorm norm;
      double forward_scale, inverse_scale;
    } cases[] = {{FftNorm::backward, 1, 1 / double(n)}, {FftNorm::ortho, 1 / root, 1 / root}, {FftNorm::forward, 1 / double(n), 1}};
    for (Case c : cases) {
      fft2(test::context(), X, Y, c.norm);
      CHECK(test::max_relative_error(test::download_complex(Y), scaled(forward, c.forward_scale)) < 1e-4);
      ifft2(test::context(), X, Y, c.norm);
      CHECK(test::max_relative_error(test::download_complex(Y), scaled(inverse, c.inverse_scale)) < 1e-4);
    }
  }
}

TEST_CASE("fft2 then ifft2 returns the input, in place and out of place") {
  for (Dims d : kDims) {
    CAPTURE(d.h);
    CAPTURE(d.w);
    std::vector<cd> x = test::complex_uniform(std::size_t(d.batch * d.h * d.w), 10);
    for (cd& z : x) z = cd(float(z.real()), float(z.imag()));
    Tensor X = test::upload(x, {d.batch, d.h, d.w}), Y = Tensor::empty({d.batch, d.h, d.w}, test::device(), DType::c64);
    fft2(test::context(), X, Y);
    ifft2(test::context(), Y, Y);
    CHECK(test::max_relative_error(test::download_complex(Y), x) < 1e-6);
    fft2(test::context(), X, X, FftNorm::backward);
    ifft2(test::context(), X, X, FftNorm::backward);
    CHECK(test::max_relative_error(test::download_complex(X), x) < 1e-6);
  }
}

TEST_CASE("the orthonormal transform preserves the norm (Parseval)") {
  std::vector<cd> x = test::complex_uniform(64 * 48, 11);
  Tensor X = test::upload(x, {64, 48}), Y = Tensor::empty({64, 48}, test::device(), DType::c64);
  fft2(test::context(), X, Y);
  double ex = 0, ey = 0;
  for (cd z : test::download_complex(X)) ex += std::norm(z);
  for (cd z : test::download_complex(Y)) ey += std::norm(z);
  CHECK(ey == doctest::Approx(ex).epsilon(1e-6));
}

TEST_CASE("fftshift2 and ifftshift2 roll by floor(n/2) as numpy does, for odd and even sizes") {
  for (auto [h, w] : {std::pair<std::int64_t, std::int64_t>{1, 1}, {4, 6}, {7, 5}, {33, 8}}) {
    CAPTURE(h);
    CAPTURE(w);
    const std::int64_t batch = 2;
    std::vector<cd> x(std::size_t(batch * h * w));
    for (std::size_t i = 0; i < x.size(); ++i) x[i] = cd(double(i), -double(i));
    Tensor X = test::upload(x, {batch, h, w}), S = Tensor::empty({batch, h, w}, test::device(), DType::c64);
    Tensor B = Tensor::empty({batch, h, w}, test::device(), DType::c64);
    fftshift2(test::context(), X, S);
    std::vector<cd> s = test::download_complex(S);
    for (std::int64_t b = 0; b < batch; ++b)
      for (std::int64_t r = 0; r < h; ++r)
        for (std::int64_t c = 0; c < w; ++c)  // numpy.roll(x, n // 2) along each axis
          CHECK(s[(b * h + (r + h / 2) % h) * w + (c + w / 2) % w] == x[(b * h + r) * w + c]);
    ifftshift2(test::context(), S, B);
    CHECK(test::download_complex(B) == x);
    // Real images shift too (masks and magnitude maps).
    std::vector<double> re(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) re[i] = x[i].real();
    Tensor R = test::upload(re, {batch, h, w}), RS = Tensor::empty({batch, h, w}, test::device());
    fftshift2(test::context(), R, RS);
    std::vector<double> rs = test::download(RS);
    for (std::size_t i = 0; i < x.size(); ++i) CHECK(rs[i] == s[i].real());
  }
}

TEST_CASE("a centred delta has a flat centred spectrum") {
  // fftshift(fft2(ifftshift(delta at the centre))) is the constant 1/sqrt(N) under ortho.
  const std::int64_t h = 9, w = 8;
  std::vector<cd> x(h * w, 0.0);
  x[(h / 2) * w + w / 2] = 1.0;
  Tensor X = test::upload(x, {h, w}), T = Tensor::empty({h, w}, test::device(), DType::c64);
  ifftshift2(test::context(), X, T);
  fft2(test::context(), T, T);
  fftshift2(test::context(), T, X);
  for (cd z : test::download_complex(X)) CHECK(std::abs(z - cd(1 / std::sqrt(72.0), 0)) < 1e-7);
}

TEST_CASE("fft errors name the problem") {
  Tensor r = Tensor::zeros({4, 4}, test::device());
  CHECK_THROWS_AS(fft2(test::context(), r, r), DTypeError);
  Tensor v = Tensor::zeros({4}, test::device(), DType::c64);
  CHECK_THROWS_WITH_AS(fft2(test::context(), v, v), doctest::Contains("expected at least 2 dimensions"), ShapeError);
  Tensor z = Tensor::zeros({4, 4}, test::device(), DType::c64);
  CHECK_THROWS_WITH_AS(fftshift2(test::context(), z, z), doctest::Contains("overlap"), ArgumentError);
}

TEST_SUITE("slow") {
  TEST_CASE("fft2 sweep: every plane size up to 24 x 24 against the naive DFT") {
    for (std::int64_t h = 1; h <= 24; ++h)
      for (std::int64_t w = 1; w <= 24; ++w) {
        CAPTURE(h);
        CAPTURE(w);
        std::vector<cd> x = test::complex_uniform(std::size_t(2 * h * w), 12);
        for (cd& z : x) z = cd(float(z.real()), float(z.imag()));
        Tensor X = test::upload(x, {2, h, w}), Y = Tensor::empty({2, h, w}, test::device(), DType::c64);
        fft2(test::context(), X, Y, FftNorm::backward);
        CHECK(test::max_relative_error(test::download_complex(Y), dft2(x, 2, h, w, -1)) < 1e-5);
      }
  }
}

TEST_CASE("fft3 and ifft3 match the direct 3-D DFT in double, and the 3-D shifts roll each axis by floor(n/2)") {
  Context& ctx = test::context();
  for (auto [d, h, w] : {std::tuple<std::int64_t, std::int64_t, std::int64_t>{1, 4, 5}, {3, 4, 5}, {6, 5, 7}, {5, 8, 2}}) {
    CAPTURE(d);
    CAPTURE(h);
    CAPTURE(w);
    const std::int64_t batch = 2, n = d * h * w;
    const std::vector<cd> x = test::complex_uniform(std::size_t(batch * n), 41);
    // The definition, term by term: X[k] = sum_m x[m] exp(-+2 pi i (k_s m_s / d + k_r m_r / h + k_c m_c / w)).
    auto direct = [&](int sign) {
      std::vector<cd> out(x.size());
      for (std::int64_t b = 0; b < batch; ++b)
        for (std::int64_t k = 0; k < n; ++k) {
          cd s = 0;
          for (std::int64_t m = 0; m < n; ++m) {
            const double phase = double((k / (h * w)) * (m / (h * w)) % d) / double(d) + double((k / w % h) * (m / w % h) % h) / double(h) +
                                 double((k % w) * (m % w) % w) / double(w);
            s += x[std::size_t(b * n + m)] * std::polar(1.0, sign * 2 * M_PI * phase);
          }
          out[std::size_t(b * n + k)] = s;
        }
      return out;
    };
    Tensor in = test::upload(x, {batch, d, h, w}), out = Tensor::empty({batch, d, h, w}, test::device(), DType::c64);
    fft3(ctx, in, out, FftNorm::backward);
    CHECK(test::max_relative_error(test::download_complex(out), direct(-1), 1e-3) < 1e-5);
    ifft3(ctx, in, out, FftNorm::ortho);
    CHECK(test::max_relative_error(test::download_complex(out), scaled(direct(+1), 1 / std::sqrt(double(n))), 1e-3) < 1e-5);
    // Shifts: numpy.roll by n // 2 along each of the three axes, and back.
    std::vector<cd> ramp(x.size());
    for (std::size_t i = 0; i < ramp.size(); ++i) ramp[i] = cd(double(i), 0);
    Tensor r = test::upload(ramp, {batch, d, h, w}), shifted = Tensor::empty({batch, d, h, w}, test::device(), DType::c64);
    fftshift3(ctx, r, shifted);
    const std::vector<cd> s = test::download_complex(shifted);
    bool rolled = true;
    for (std::int64_t b = 0; b < batch; ++b)
      for (std::int64_t i = 0; i < d; ++i)
        for (std::int64_t j = 0; j < h; ++j)
          for (std::int64_t c = 0; c < w; ++c)
            rolled = rolled && s[std::size_t(((b * d + (i + d / 2) % d) * h + (j + h / 2) % h) * w + (c + w / 2) % w)] == ramp[std::size_t(((b * d + i) * h + j) * w + c)];
    CHECK(rolled);
    Tensor back = Tensor::empty({batch, d, h, w}, test::device(), DType::c64);
    ifftshift3(ctx, shifted, back);
    CHECK(test::download_complex(back) == ramp);
  }
  Tensor flat = Tensor::empty({4, 4}, test::device(), DType::c64);
  CHECK_THROWS_WITH_AS(fft3(ctx, flat, flat), doctest::Contains("expected at least 3 dimensions"), ShapeError);
}
