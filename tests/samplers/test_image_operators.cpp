#include "samplers/operators/image_operators.h"

#include <cmath>

#include "kernels/axpby.h"
#include "kernels/map.h"
#include "samplers/operator_checks.h"
#include "support.h"

using namespace tweedie;
using samplers::Operator;
using samplers::Signal;

namespace {

Signal image(std::int64_t c, std::int64_t h, std::int64_t w) { return Signal{Shape{c, h, w}, DType::f32}; }

std::vector<double> apply(const Operator& op, const Tensor& x) {
  Tensor y = op.make_output(x.dim(0), test::device());
  op.apply(test::context(), x, y);
  return test::download(y);
}

std::vector<double> adjoint(const Operator& op, const Tensor& y) {
  Tensor x = op.make_input(y.dim(0), test::device());
  op.adjoint(test::context(), y, x);
  return test::download(x);
}

// <A x, y> = <x, A^T y> for batches of 1, 2 and 3.
void check_adjoint(const Operator& op) {
  CAPTURE(op.describe());
  for (std::int64_t batch : {1, 2, 3}) CHECK(test::adjoint_mismatch(test::context(), op, batch, 10 + std::uint64_t(batch)) < 1e-5);
}

// A batch gives what its items give one at a time, forward and (for linear operators) adjoint.
void check_batch_is_itemwise(const Operator& op) {
  CAPTURE(op.describe());
  const std::int64_t n = 3;
  Tensor x = test::random_input(op, n, 21), y = test::random_output(op, n, 22);
  std::vector<double> ax = apply(op, x), aty = op.is_linear() ? adjoint(op, y) : std::vector<double>{};
  std::int64_t in = op.input().shape.numel(), out = op.output().shape.numel();
  for (std::int64_t i = 0; i < n; ++i) {
    std::vector<double> one = apply(op, x.slice(i, 1));
    CHECK(test::max_relative_error(one, std::vector<double>(ax.begin() + i * out, ax.begin() + (i + 1) * out)) < 1e-6);
    if (!op.is_linear()) continue;
    std::vector<double> back = adjoint(op, y.slice(i, 1));
    CHECK(test::max_relative_error(back, std::vector<double>(aty.begin() + i * in, aty.begin() + (i + 1) * in)) < 1e-6);
  }
}

// The matrix of a linear operator read two ways, from A applied to every basis vector (a batch of
// them) and from A^T applied to every basis vector, agrees entry by entry: a check of the adjoint
// that no cancellation in an inner product can hide.
void check_transpose(const Operator& op) {
  CAPTURE(op.describe());
  std::int64_t d = op.input().shape.numel(), m = op.output().shape.numel();
  std::vector<double> ei(std::size_t(d * d), 0.0), eo(std::size_t(m * m), 0.0);
  for (std::int64_t i = 0; i < d; ++i) ei[std::size_t(i * d + i)] = 1;
  for (std::int64_t i = 0; i < m; ++i) eo[std::size_t(i * m + i)] = 1;
  std::vector<double> columns = apply(op, test::upload(ei, samplers::batched(d, op.input().shape)));   // (d, m): A e_j
  std::vector<double> rows = adjoint(op, test::upload(eo, samplers::batched(m, op.output().shape)));   // (m, d): A^T e_i
  double worst = 0, scale = 0;
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < d; ++j) {
      double a = columns[std::size_t(j * m + i)], b = rows[std::size_t(i * d + j)];
      worst = std::max(worst, std::abs(a - b));
      scale = std::max(scale, std::abs(a));
    }
  CHECK(scale > 0);
  CHECK(worst <= 1e-6 * scale);
}

double keys(double t) {  // the cubic convolution kernel, a = -0.5
  t = std::abs(t);
  return t <= 1 ? 1.5 * t * t * t - 2.5 * t * t + 1 : t <= 2 ? -0.5 * t * t * t + 2.5 * t * t - 4 * t + 2 : 0;
}

// imresize's contributions() for shrinking n by f, transcribed with its 1-based indices: a dense
// (n/f, n) matrix.
std::vector<double> imresize_weights(std::int64_t n, std::int64_t f) {
  double scale = 1.0 / double(f), kernel_width = 4 / scale;
  std::int64_t m = n / f, taps = std::int64_t(std::ceil(kernel_width)) + 2;
  std::vector<std::int64_t> aux;  // [1:n, n:-1:1]
  for (std::int64_t i = 1; i <= n; ++i) aux.push_back(i);
  for (std::int64_t i = n; i >= 1; --i) aux.push_back(i);
  std::vector<double> a(std::size_t(m * n), 0.0);
  for (std::int64_t x = 1; x <= m; ++x) {
    double u = double(x) / scale + 0.5 * (1 - 1 / scale);
    std::int64_t left = std::int64_t(std::floor(u - kernel_width / 2));
    std::vector<double> w(static_cast<std::size_t>(taps));
    double sum = 0;
    for (std::int64_t j = 0; j < taps; ++j) sum += w[std::size_t(j)] = scale * keys(scale * (u - double(left + j)));
    for (std::int64_t j = 0; j < taps; ++j) {
      std::int64_t len = std::int64_t(aux.size()), idx = left + j;
      std::int64_t one_based = aux[std::size_t(((idx - 1) % len + len) % len)];
      a[std::size_t((x - 1) * n + one_based - 1)] += w[std::size_t(j)] / sum;
    }
  }
  return a;
}

// A test-only nonlinear operator, y = x^2 elementwise, to exercise the chain rule of compose.
class Square final : public Operator {
 public:
  explicit Square(const Signal& x) : Operator(x, x) {}
  std::string describe() const override { return "square"; }
  bool is_linear() const override { return false; }
  void apply(Context& ctx, const Tensor& x, Tensor& y) const override { unary(ctx, UnaryOp::square, x, y); }
  void jvp(Context& ctx, const Tensor& x, const Tensor& dx, Tensor& dy) const override {
    mul(ctx, x, dx, dy);
    scale(ctx, dy, 2.0f);
  }
  void vjp(Context& ctx, const Tensor& x, const Tensor& dy, Tensor& dx) const override { jvp(ctx, x, dy, dx); }
};

}  // namespace

TEST_CASE("identity returns its input and is its own adjoint") {
  for (Signal s : {image(3, 5, 7), Signal{Shape{11}, DType::f32}}) {
    auto op = samplers::make_identity(s);
    CHECK(op->describe() == "identity");
    Tensor x = test::random_input(*op, 2, 1);
    CHECK(apply(*op, x) == test::download(x));
    check_adjoint(*op);
    CHECK_FALSE(op->observed().defined());
  }
  CHECK_THROWS_WITH_AS(samplers::make_identity(Signal{Shape{3, 4, 4}, DType::c64}), doctest::Contains("takes real (f32) items"), DTypeError);
}

TEST_CASE("a mask multiplies each item and marks the entries it observes") {
  const std::int64_t c = 3, h = 5, w = 7;
  std::vector<double> weights = test::uniform(c * h * w, 2, -1.0, 1.0);
  for (double& v : weights) v = v < -0.3 ? 0.0 : v;  // zeros among nonzero weights
  for (bool shared : {false, true}) {
    CAPTURE(shared);
    std::int64_t mc = shared ? 1 : c;
    std::vector<double> m = test::as_float(std::vector<double>(weights.begin(), weights.begin() + mc * h * w));
    auto op = samplers::make_mask(image(c, h, w), test::upload(m, {mc, h, w}), "inpaint:test", test::device());
    CHECK(op->describe() == "inpaint:test");
    REQUIRE(op->observed().defined());
    CHECK(op->observed().shape() == Shape{c, h, w});
    CHECK(op->observed().device() == test::device());
    std::vector<double> seen = test::download(op->observed());
    for (std::size_t i = 0; i < seen.size(); ++i) CHECK(seen[i] == (m[i % m.size()] != 0 ? 1.0 : 0.0));

    Tensor x = test::random_input(*op, 2, 3);
    std::vector<double> y = apply(*op, x), xs = test::download(x);
    for (std::size_t i = 0; i < y.size(); ++i) CHECK(y[i] == doctest::Approx(m[i % m.size()] * xs[i]).epsilon(1e-7));
    check_adjoint(*op);
    check_transpose(*op);
    check_batch_is_itemwise(*op);
  }
  CHECK_THROWS_WITH_AS(samplers::make_mask(Signal{Shape{3, 5, 7}, DType::c64}, Tensor::zeros({3, 5, 7}), "inpaint:c", test::device()),
                       doctest::Contains("inpaint:c: the signal x is (3,5,7) c64; this operator takes real (f32) items"), DTypeError);
  Tensor bad = Tensor::zeros({2, 5, 7});
  CHECK_THROWS_WITH_AS(samplers::make_mask(image(3, 5, 7), bad, "inpaint:test", test::device()),
                       doctest::Contains("the mask is (2,5,7) but x items are (3,5,7)"), ShapeError);
}

TEST_CASE("random_pixel_mask keeps about p of the pixels, reproducibly, per channel or shared") {
  const Shape item{3, 64, 48};
  const double n = double(item.numel());
  for (double p : {0.1, 0.5, 0.9}) {
    std::vector<float> m = samplers::random_pixel_mask(item, p, true, 7).to_vector<float>();
    double kept = 0;
    for (float v : m) kept += v;
    CHECK(std::abs(kept - n * p) < 5 * std::sqrt(n * p * (1 - p)));  // binomial, 5 sigma
  }
  std::vector<float> a = samplers::random_pixel_mask(item, 0.5, true, 7).to_vector<float>();
  CHECK(a == samplers::random_pixel_mask(item, 0.5, true, 7).to_vector<float>());
  CHECK(a != samplers::random_pixel_mask(item, 0.5, true, 8).to_vector<float>());
  std::size_t plane = std::size_t(64 * 48);
  CHECK(std::vector<float>(a.begin(), a.begin() + plane) != std::vector<float>(a.begin() + plane, a.begin() + 2 * plane));
  std::vector<float> s = samplers::random_pixel_mask(item, 0.5, false, 7).to_vector<float>();
  for (std::size_t i = 0; i < plane; ++i) CHECK((s[i] == s[i + plane] && s[i] == s[i + 2 * plane]));
  CHECK(std::vector<float>(s.begin(), s.begin() + plane) == std::vector<float>(a.begin(), a.begin() + plane));
  CHECK_THROWS_WITH_AS(samplers::random_pixel_mask(item, 1.5, true, 7), doctest::Contains("not in [0, 1]"), ArgumentError);
}

TEST_CASE("box_mask zeros exactly the rectangle in every channel") {
  std::vector<float> m = samplers::box_mask({2, 6, 9}, 1, 3, 4, 2).to_vector<float>();
  for (std::int64_t c = 0; c < 2; ++c)
    for (std::int64_t r = 0; r < 6; ++r)
      for (std::int64_t q = 0; q < 9; ++q) CHECK(m[std::size_t((c * 6 + r) * 9 + q)] == ((r >= 1 && r < 5 && q >= 3 && q < 5) ? 0.0f : 1.0f));
  CHECK_THROWS_WITH_AS(samplers::box_mask({2, 6, 9}, 4, 3, 4, 2), doctest::Contains("does not fit in an 6x9 image"), ArgumentError);
}

TEST_CASE("average downsampling takes the mean of factor x factor blocks") {
  struct Case {
    std::int64_t c, h, w, f;
  };
  for (Case k : {Case{3, 12, 9, 3}, Case{1, 8, 8, 2}, Case{2, 12, 16, 4}, Case{1, 10, 15, 5}}) {
    auto op = samplers::make_downsample(image(k.c, k.h, k.w), k.f, samplers::DownsampleKind::average, test::device());
    CHECK(op->describe() == cat("sr:", k.f, ":avg"));
    CHECK(op->output().shape == Shape{k.c, k.h / k.f, k.w / k.f});
    Tensor x = test::random_input(*op, 2, 4);
    std::vector<double> xs = test::download(x), y = apply(*op, x), want(y.size(), 0.0);
    std::int64_t h = k.h / k.f, w = k.w / k.f;
    for (std::int64_t p = 0; p < 2 * k.c; ++p)
      for (std::int64_t i = 0; i < k.h; ++i)
        for (std::int64_t j = 0; j < k.w; ++j) want[std::size_t((p * h + i / k.f) * w + j / k.f)] += xs[std::size_t((p * k.h + i) * k.w + j)] / double(k.f * k.f);
    CHECK(test::max_relative_error(y, want) < 1e-6);
    check_adjoint(*op);
    check_transpose(*op);
    check_batch_is_itemwise(*op);
  }
}

TEST_CASE("bicubic downsampling is MATLAB imresize's antialiased bicubic") {
  struct Case {
    std::int64_t c, h, w, f;
  };
  for (Case k : {Case{3, 16, 12, 2}, Case{1, 12, 9, 3}, Case{2, 8, 8, 4}, Case{1, 4, 6, 2}, Case{3, 7, 5, 1}}) {
    CAPTURE(k.f);
    auto op = samplers::make_downsample(image(k.c, k.h, k.w), k.f, samplers::DownsampleKind::bicubic, test::device());
    CHECK(op->describe() == cat("sr:", k.f, ":bicubic"));
    std::int64_t h = k.h / k.f, w = k.w / k.f;
    std::vector<double> ah = imresize_weights(k.h, k.f), aw = imresize_weights(k.w, k.f);
    Tensor x = test::random_input(*op, 2, 5);
    std::vector<double> xs = test::download(x), y = apply(*op, x), want(y.size(), 0.0);
    for (std::int64_t p = 0; p < 2 * k.c; ++p)
      for (std::int64_t i = 0; i < h; ++i)
        for (std::int64_t j = 0; j < w; ++j)
          for (std::int64_t a = 0; a < k.h; ++a)
            for (std::int64_t b = 0; b < k.w; ++b)
              want[std::size_t((p * h + i) * w + j)] += ah[std::size_t(i * k.h + a)] * aw[std::size_t(j * k.w + b)] * xs[std::size_t((p * k.h + a) * k.w + b)];
    CHECK(test::max_relative_error(y, want) < 1e-5);

    // A constant image stays that constant.
    Tensor flat = test::upload(std::vector<double>(std::size_t(2 * k.c * k.h * k.w), 0.7), {2, k.c, k.h, k.w});
    for (double v : apply(*op, flat)) CHECK(v == doctest::Approx(0.7).epsilon(1e-6));
    check_adjoint(*op);
    check_transpose(*op);
    check_batch_is_itemwise(*op);
  }
  CHECK_THROWS_WITH_AS(samplers::make_downsample(image(3, 12, 10), 3, samplers::DownsampleKind::bicubic, test::device()),
                       doctest::Contains("image (3,12,10) has height and width not divisible by the factor 3"), ShapeError);
  CHECK_THROWS_WITH_AS(samplers::make_downsample(Signal{Shape{3, 12, 12}, DType::c64}, 2, samplers::DownsampleKind::average, test::device()),
                       doctest::Contains("takes real (f32) items"), DTypeError);
}

namespace {
// y[c, i, j] = sum_{a,b} k[a, b] x[c, row(i - (a - kh/2)), col(j - (b - kw/2))] in double, where
// `fold` maps an out-of-range index back into the image: wrap-around or numpy 'reflect'.
template <class Fold>
std::vector<double> naive_blur(const std::vector<double>& x, std::int64_t planes, std::int64_t h, std::int64_t w,
                               const std::vector<double>& k, std::int64_t kh, std::int64_t kw, Fold fold) {
  std::vector<double> y(x.size(), 0.0);
  for (std::int64_t p = 0; p < planes; ++p)
    for (std::int64_t i = 0; i < h; ++i)
      for (std::int64_t j = 0; j < w; ++j)
        for (std::int64_t a = 0; a < kh; ++a)
          for (std::int64_t b = 0; b < kw; ++b)
            y[std::size_t((p * h + i) * w + j)] +=
                k[std::size_t(a * kw + b)] * x[std::size_t((p * h + fold(i - (a - kh / 2), h)) * w + fold(j - (b - kw / 2), w))];
  return y;
}
std::int64_t wrap(std::int64_t i, std::int64_t n) { return ((i % n) + n) % n; }
std::int64_t reflect(std::int64_t i, std::int64_t n) { return i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i; }
}  // namespace

TEST_CASE("blur convolves every channel, with circular or reflected boundaries") {
  struct Case {
    std::int64_t c, h, w, kh, kw;
  };
  // The reflect blur runs kernels of up to 15 taps as a direct loop and larger ones through the FFT
  // (blur_operator.cpp's kDirectMaxTaps): the first three cases take the loop, the rest the FFT, two
  // of them with the kernel as large as the image.
  for (Case k : {Case{3, 9, 11, 3, 5}, Case{1, 6, 13, 1, 3}, Case{3, 8, 8, 5, 3}, Case{1, 16, 16, 7, 7}, Case{2, 7, 5, 7, 5},
                 Case{2, 17, 20, 15, 15}, Case{3, 16, 21, 9, 15}, Case{1, 15, 15, 15, 15}, Case{2, 24, 19, 21, 11}}) {
    for (auto boundary : {samplers::BlurBoundary::circular, samplers::BlurBoundary::reflect}) {
      bool circular = boundary == samplers::BlurBoundary::circular;
      CAPTURE(circular);
      CAPTURE(k.h);
      CAPTURE(k.w);
      CAPTURE(k.kh);
      CAPTURE(k.kw);
      std::vector<double> kernel = test::as_float(test::uniform(k.kh * k.kw, 6, 0.0, 1.0));  // asymmetric: orientation shows
      auto op = samplers::make_blur(image(k.c, k.h, k.w), test::upload(kernel, {k.kh, k.kw}), boundary, "blur:test", test::device());
      CHECK(op->describe() == "blur:test");
      Tensor x = test::random_input(*op, 2, 7);
      std::vector<double> y = apply(*op, x);
      std::vector<double> want = circular ? naive_blur(test::download(x), 2 * k.c, k.h, k.w, kernel, k.kh, k.kw, wrap)
                                          : naive_blur(test::download(x), 2 * k.c, k.h, k.w, kernel, k.kh, k.kw, reflect);
      CHECK(test::max_relative_error(y, want) < 1e-5);
      check_adjoint(*op);
      check_transpose(*op);
      check_batch_is_itemwise(*op);
    }
  }
}

TEST_CASE("blur kernels must be odd-sized, no larger than the image, and the signal real") {
  Tensor k5 = samplers::gaussian_kernel(5, 1.0);
  Tensor k4 = Tensor::zeros({4, 3});
  CHECK_THROWS_WITH_AS(samplers::make_blur(image(1, 8, 8), k4, samplers::BlurBoundary::circular, "blur:k", test::device()),
                       doctest::Contains("kernel (4,3) must have odd sizes"), ShapeError);
  CHECK_THROWS_WITH_AS(samplers::make_blur(image(1, 4, 8), k5, samplers::BlurBoundary::reflect, "blur:k", test::device()),
                       doctest::Contains("kernel (5,5) is larger than the image (1,4,8)"), ShapeError);
  CHECK_THROWS_WITH_AS(samplers::make_blur(Signal{Shape{1, 8, 8}, DType::c64}, k5, samplers::BlurBoundary::reflect, "blur:k", test::device()),
                       doctest::Contains("blur:k: the signal x is (1,8,8) c64"), DTypeError);
  CHECK_THROWS_WITH_AS(samplers::gaussian_kernel(4, 1.0), doctest::Contains("size 4 must be odd"), ArgumentError);
  CHECK_THROWS_WITH_AS(samplers::motion_kernel(6, 0.5, 1), doctest::Contains("size 6 must be odd"), ArgumentError);
  CHECK_THROWS_WITH_AS(samplers::motion_kernel(7, 1.5, 1), doctest::Contains("intensity 1.5 must be in [0, 1]"), ArgumentError);
}

TEST_CASE("gaussian_kernel is the normalised closed form, symmetric under flips and transposition") {
  for (auto [size, sigma] : {std::pair<std::int64_t, double>{1, 1.0}, {7, 1.5}, {61, 3.0}, {9, 0.4}}) {
    CAPTURE(size);
    Tensor t = samplers::gaussian_kernel(size, sigma);
    CHECK(t.shape() == Shape{size, size});
    std::vector<float> k = t.to_vector<float>();
    double sum = 0, norm = 0, c = double(size / 2);
    for (std::int64_t a = 0; a < size; ++a)
      for (std::int64_t b = 0; b < size; ++b) norm += std::exp(-((a - c) * (a - c) + (b - c) * (b - c)) / (2 * sigma * sigma));
    for (std::int64_t a = 0; a < size; ++a)
      for (std::int64_t b = 0; b < size; ++b) {
        double v = k[std::size_t(a * size + b)];
        sum += v;
        CHECK(v == doctest::Approx(std::exp(-((a - c) * (a - c) + (b - c) * (b - c)) / (2 * sigma * sigma)) / norm).epsilon(1e-6));
        CHECK(v == k[std::size_t(b * size + a)]);
        CHECK(v == k[std::size_t((size - 1 - a) * size + b)]);
      }
    CHECK(sum == doctest::Approx(1.0).epsilon(1e-5));
  }
}

TEST_CASE("motion_kernel is a normalised non-negative streak, fixed by its seed") {
  for (double intensity : {0.0, 0.5, 1.0}) {
    CAPTURE(intensity);
    std::vector<float> k = samplers::motion_kernel(31, intensity, 3).to_vector<float>();
    double sum = 0, peak = 0;
    int nonzero = 0;
    for (float v : k) {
      CHECK(v >= 0.0f);
      sum += v;
      peak = std::max(peak, double(v));
      nonzero += v > 0;
    }
    CHECK(sum == doctest::Approx(1.0).epsilon(1e-5));
    CHECK(nonzero >= 31);  // a path across the kernel, not a dot
    CHECK(peak < 0.2);
    CHECK(k == samplers::motion_kernel(31, intensity, 3).to_vector<float>());
    CHECK(k != samplers::motion_kernel(31, intensity, 4).to_vector<float>());
  }
  CHECK(samplers::motion_kernel(1, 0.5, 3).to_vector<float>() == std::vector<float>{1.0f});
}

TEST_CASE("a matrix operator is the product with vec(x), and its adjoint the transposed product") {
  const std::int64_t m = 10, d = 24;
  std::vector<double> a = test::as_float(test::uniform(m * d, 8));
  Signal s{Shape{2, 3, 4}, DType::f32};
  auto op = samplers::make_matrix(s, test::upload(a, {m, d}), "matrix:test", test::device());
  CHECK(op->output().shape == Shape{m});
  CHECK(op->describe() == "matrix:test");
  Tensor x = test::random_input(*op, 3, 9);
  std::vector<double> xs = test::download(x), y = apply(*op, x), want(std::size_t(3 * m), 0.0);
  for (std::int64_t n = 0; n < 3; ++n)
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < d; ++j) want[std::size_t(n * m + i)] += a[std::size_t(i * d + j)] * xs[std::size_t(n * d + j)];
  CHECK(test::max_relative_error(y, want) < 1e-5);
  check_adjoint(*op);
  check_transpose(*op);
  check_batch_is_itemwise(*op);
  CHECK_THROWS_WITH_AS(samplers::make_matrix(s, Tensor::zeros({m, 23}), "matrix:test", test::device()),
                       doctest::Contains("the matrix is (10,23) but x items (2,3,4) have 24 entries"), ShapeError);
  CHECK_THROWS_WITH_AS(samplers::make_matrix(Signal{Shape{24}, DType::c64}, Tensor::zeros({m, d}), "matrix:test", test::device()),
                       doctest::Contains("takes real (f32) items"), DTypeError);
}

TEST_CASE("composition applies inner then outer, and transposes in reverse") {
  Signal s = image(3, 12, 10);
  std::shared_ptr<const Operator> blur =
      samplers::make_blur(s, samplers::gaussian_kernel(5, 1.2), samplers::BlurBoundary::reflect, "blur:gauss:5:1.2:boundary=reflect", test::device());
  std::shared_ptr<const Operator> sr = samplers::make_downsample(s, 2, samplers::DownsampleKind::bicubic, test::device());
  std::shared_ptr<const Operator> mask =
      samplers::make_mask(image(3, 6, 5), samplers::random_pixel_mask({3, 6, 5}, 0.5, false, 1), "inpaint:p=0.5", test::device());
  std::shared_ptr<const Operator> both = samplers::compose(sr, blur), all = samplers::compose(mask, both);
  CHECK(both->describe() == "blur:gauss:5:1.2:boundary=reflect|sr:2:bicubic");
  CHECK(both->is_linear());
  CHECK(both->output().shape == Shape{3, 6, 5});
  CHECK_FALSE(both->observed().defined());
  CHECK(test::download(all->observed()) == test::download(mask->observed()));

  Tensor x = test::random_input(*all, 2, 11);
  Tensor blurred = blur->make_output(2, test::device()), small = sr->make_output(2, test::device());
  blur->apply(test::context(), x, blurred);
  sr->apply(test::context(), blurred, small);
  CHECK(test::max_relative_error(apply(*both, x), test::download(small)) < 1e-6);
  check_adjoint(*both);
  check_adjoint(*all);
  check_transpose(*all);
  check_batch_is_itemwise(*all);
  CHECK(test::vjp_mismatch(test::context(), *all, x, 12) < 1e-5);

  CHECK_THROWS_WITH_AS(samplers::compose(blur, sr), doctest::Contains("'sr:2:bicubic' gives (3,6,5) f32 but 'blur:gauss:5:1.2:boundary=reflect' takes (3,12,10) f32"),
                       ShapeError);
}

TEST_CASE("composition with a nonlinear stage chains JVPs and VJPs at the right points") {
  Signal s = image(2, 9, 7);
  std::shared_ptr<const Operator> blur = samplers::make_blur(s, samplers::gaussian_kernel(3, 1.0), samplers::BlurBoundary::circular, "blur:g", test::device());
  std::shared_ptr<const Operator> square = std::make_shared<Square>(s);
  std::vector<std::shared_ptr<const Operator>> ops{samplers::compose(square, blur), samplers::compose(blur, square)};
  for (const auto& op : ops) {
    CAPTURE(op->describe());
    CHECK_FALSE(op->is_linear());
    Tensor x = test::random_input(*op, 2, 13);
    CHECK(test::jvp_error(test::context(), *op, x, 14) < 1e-4);  // central differences are exact for a quadratic
    CHECK(test::vjp_mismatch(test::context(), *op, x, 15) < 1e-5);
    Tensor y = test::random_output(*op, 2, 16), back = op->make_input(2, test::device());
    CHECK_THROWS_WITH_AS(op->adjoint(test::context(), y, back), doctest::Contains("is nonlinear"), ArgumentError);
  }
}

TEST_CASE("operators refuse batches of the wrong item shape") {
  auto op = samplers::make_downsample(image(3, 8, 8), 2, samplers::DownsampleKind::average, test::device());
  Tensor x = Tensor::zeros({2, 3, 8, 9}, test::device()), y = op->make_output(2, test::device());
  CHECK_THROWS_WITH_AS(op->apply(test::context(), x, y), doctest::Contains("x is (2,3,8,9) f32 but must be (N, 3,8,8) f32"), ShapeError);
  Tensor x2 = op->make_input(3, test::device());
  CHECK_THROWS_WITH_AS(op->apply(test::context(), x2, y), doctest::Contains("y is (2,3,4,4) for x (3,3,8,8)"), ShapeError);
}
