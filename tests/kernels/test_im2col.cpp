#include "kernels/im2col.h"

#include "support.h"

using namespace tweedie;

namespace {
double inner(const std::vector<double>& a, const std::vector<double>& b) {
  double s = 0;
  for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}
const ConvGeometry kGeometries[] = {
    {3, 7, 5, 3, 3, 1, 1, 1, 1},   // the U-Net's 3x3, padding 1
    {2, 8, 9, 3, 3, 2, 2, 1, 1},   // stride-2 downsampling
    {4, 5, 6, 1, 1, 1, 1, 0, 0},   // 1x1
    {2, 1, 33, 1, 3, 1, 1, 0, 1},  // 1-D, kernel 3
    {1, 6, 7, 2, 4, 1, 3, 0, 2},   // odd mixture
};
}  // namespace

TEST_CASE("im2col bands hold exactly the padded patches of the image") {
  for (const ConvGeometry& g : kGeometries) {
    std::vector<double> x = test::as_float(test::uniform(g.channels * g.height * g.width, 1));
    Tensor X = test::upload(x, {g.channels * g.height * g.width});
    std::int64_t oh = g.out_h(), ow = g.out_w(), K = g.col_rows();
    for (std::int64_t begin = 0; begin < oh; begin += 2) {  // bands of two output rows
      std::int64_t rows = std::min<std::int64_t>(2, oh - begin);
      Tensor col = Tensor::empty({K * rows * ow}, test::device());
      im2col(test::context(), g, X.data<float>(), col.data<float>(), begin, rows);
      std::vector<double> c = test::download(col);
      for (std::int64_t k = 0; k < K; ++k)
        for (std::int64_t r = 0; r < rows; ++r)
          for (std::int64_t ox = 0; ox < ow; ++ox) {
            std::int64_t ch = k / (g.kernel_h * g.kernel_w), ki = k / g.kernel_w % g.kernel_h, kj = k % g.kernel_w;
            std::int64_t iy = (begin + r) * g.stride_h - g.pad_h + ki, ix = ox * g.stride_w - g.pad_w + kj;
            double want = (iy < 0 || iy >= g.height || ix < 0 || ix >= g.width) ? 0.0 : x[(ch * g.height + iy) * g.width + ix];
            CHECK(c[(k * rows + r) * ow + ox] == want);
          }
    }
  }
}

TEST_CASE("col2im_add is the adjoint of im2col") {
  for (const ConvGeometry& g : kGeometries) {
    std::int64_t oh = g.out_h(), ow = g.out_w(), K = g.col_rows(), n = g.channels * g.height * g.width;
    std::vector<double> x = test::as_float(test::uniform(n, 2)), c = test::as_float(test::uniform(K * oh * ow, 3));
    Tensor X = test::upload(x, {n}), C = test::upload(c, {K * oh * ow}), col = Tensor::empty({K * oh * ow}, test::device());
    im2col(test::context(), g, X.data<float>(), col.data<float>(), 0, oh);
    Tensor back = Tensor::zeros({n}, test::device());
    // Fold band by band: the accumulation over bands must equal the whole fold.
    std::vector<double> band_cols;
    for (std::int64_t begin = 0; begin < oh; ++begin) {
      std::vector<double> band(std::size_t(K * ow));
      for (std::int64_t k = 0; k < K; ++k)
        for (std::int64_t ox = 0; ox < ow; ++ox) band[k * ow + ox] = c[(k * oh + begin) * ow + ox];
      Tensor B = test::upload(band, {K * ow});
      col2im_add(test::context(), g, B.data<float>(), back.data<float>(), begin, 1);
    }
    CHECK(inner(test::download(col), c) == doctest::Approx(inner(x, test::download(back))).epsilon(1e-6));
  }
}
