// Spectral forms of the operators with a known SVD: diagonal (masks), block averaging (average-pool
// super-resolution) and dense matrices. Each one only says how to transform one item on the host;
// the base class moves batches between the device and the host and checks their shapes.
#include "samplers/operators/svd.h"

#include <algorithm>
#include <cmath>
#include <span>

#include "runtime/error.h"
#include "samplers/gaussian_denoiser.h"

namespace tweedie::samplers {

SpectralForm::SpectralForm(Shape input, Shape output, std::string description)
    : input_(std::move(input)), output_(std::move(output)), description_(std::move(description)) {}

namespace {

// The batch size of t, which must hold whole items of `per` f32 entries; the message names the
// operator, the transform and the role.
std::int64_t rows_of(const Tensor& t, std::int64_t per, const std::string& description, const char* transform, const char* role,
                     const Shape& item) {
  if (!t.defined() || t.dtype() != DType::f32 || t.rank() < 1 || t.numel() != t.dim(0) * per)
    throw ShapeError(cat("svd of operator '", description, "', ", transform, ": ", role, " is ",
                         t.defined() ? t.str() : std::string("undefined"), " but must be f32 (N, ", item.str(), ")"));
  return t.dim(0);
}

// Applies `item_map` to each of the rows of `in` on the host and returns (rows, out_item...) on ctx's device.
template <class F>
Tensor map_rows(Context& ctx, const Tensor& in, std::int64_t rows, std::int64_t in_per, const Shape& out_item, F item_map) {
  ctx.synchronize();
  const std::vector<float> host = in.to_vector<float>();
  const std::int64_t out_per = out_item.numel();
  std::vector<float> out(std::size_t(rows * out_per));
  for (std::int64_t r = 0; r < rows; ++r) item_map(host.data() + r * in_per, out.data() + r * out_per);
  std::vector<std::int64_t> dims{rows};
  for (int i = 0; i < out_item.rank(); ++i) dims.push_back(out_item[i]);
  return Tensor::from_host(std::span<const float>(out), Shape(std::span<const std::int64_t>(dims)), ctx.device());
}

}  // namespace

Tensor SpectralForm::to_spectral(Context& ctx, const Tensor& x) const {
  const std::int64_t n = rows_of(x, dim(), description_, "to_spectral", "x", input_);
  return map_rows(ctx, x, n, dim(), Shape{dim()}, [this](const float* in, float* out) { to_spectral_item(in, out); });
}

Tensor SpectralForm::from_spectral(Context& ctx, const Tensor& coefficients) const {
  const std::int64_t n = rows_of(coefficients, dim(), description_, "from_spectral", "the coefficients", Shape{dim()});
  return map_rows(ctx, coefficients, n, dim(), input_, [this](const float* in, float* out) { from_spectral_item(in, out); });
}

Tensor SpectralForm::y_spectral(Context& ctx, const Tensor& y) const {
  const std::int64_t n = rows_of(y, output_.numel(), description_, "y_spectral", "y", output_);
  return map_rows(ctx, y, n, output_.numel(), Shape{dim()}, [this](const float* in, float* out) { y_spectral_item(in, out); });
}

namespace {

class DiagonalSpectral final : public SpectralForm {
 public:
  DiagonalSpectral(const Shape& item, std::vector<double> diagonal, std::string description)
      : SpectralForm(item, item, std::move(description)), diagonal_(std::move(diagonal)) {
    for (double d : diagonal_) singular_.push_back(std::abs(d));
  }

 private:
  void to_spectral_item(const float* x, float* c) const override { std::copy(x, x + dim(), c); }
  void from_spectral_item(const float* c, float* x) const override { std::copy(c, c + dim(), x); }
  // (sign(d) y) / |d| = y / d where d != 0: unmeasured entries (d = 0) are dropped.
  void y_spectral_item(const float* y, float* c) const override {
    for (std::int64_t i = 0; i < dim(); ++i) c[i] = diagonal_[std::size_t(i)] != 0 ? float(double(y[i]) / diagonal_[std::size_t(i)]) : 0.0f;
  }

  std::vector<double> diagonal_;
};

// Coefficient ((c * hb + bh) * wb + bw) * f^2 + k belongs to block (bh, bw) of channel c and to
// Helmert vector k of that block, its cells taken in raster order j = r f + col:
//   k = 0:  1/f on every cell
//   k >= 1: 1/sqrt(k(k+1)) on cells j < k, -k/sqrt(k(k+1)) on cell k, 0 after.
class BlockAverageSpectral final : public SpectralForm {
 public:
  BlockAverageSpectral(const Shape& item, std::int64_t factor, std::string description)
      : SpectralForm(item, Shape{item[0], item[1] / factor, item[2] / factor}, std::move(description)), f_(factor),
        cells_(factor * factor) {
    singular_.resize(std::size_t(dim()), 0.0);
    for (std::int64_t b = 0; b < dim() / cells_; ++b) singular_[std::size_t(b * cells_)] = 1.0 / double(f_);
    for (std::int64_t k = 1; k < cells_; ++k) scale_.push_back(1.0 / std::sqrt(double(k * (k + 1))));
  }

 private:
  // Offset in the item of cell j of block b.
  std::int64_t cell(std::int64_t b, std::int64_t j) const {
    const std::int64_t h = input_[1], w = input_[2], wb = w / f_, hb = h / f_;
    const std::int64_t ch = b / (hb * wb), bh = b / wb % hb, bw = b % wb;
    return (ch * h + bh * f_ + j / f_) * w + bw * f_ + j % f_;
  }

  void to_spectral_item(const float* x, float* c) const override {
    for (std::int64_t b = 0; b < dim() / cells_; ++b) {
      double prefix = 0;  // sum of the cells before k
      float* out = c + b * cells_;
      for (std::int64_t k = 0; k < cells_; ++k) {
        const double v = x[cell(b, k)];
        if (k > 0) out[k] = float((prefix - double(k) * v) * scale_[std::size_t(k - 1)]);
        prefix += v;
      }
      out[0] = float(prefix / double(f_));
    }
  }

  void from_spectral_item(const float* c, float* x) const override {
    for (std::int64_t b = 0; b < dim() / cells_; ++b) {
      const float* in = c + b * cells_;
      double later = 0;  // sum over k > j of c_k / sqrt(k(k+1)): the vectors that weigh cell j positively
      for (std::int64_t j = cells_ - 1; j >= 0; --j) {
        double v = double(in[0]) / double(f_) + later;
        if (j > 0) {
          v -= double(j) * double(in[j]) * scale_[std::size_t(j - 1)];
          later += double(in[j]) * scale_[std::size_t(j - 1)];
        }
        x[cell(b, j)] = float(v);
      }
    }
  }

  // y = mean of a block = c_0 / f, so c_0 = f y; the contrasts are not seen.
  void y_spectral_item(const float* y, float* c) const override {
    std::fill(c, c + dim(), 0.0f);
    for (std::int64_t b = 0; b < dim() / cells_; ++b) c[b * cells_] = float(double(f_) * double(y[b]));
  }

  std::int64_t f_, cells_;
  std::vector<double> scale_;  // 1/sqrt(k(k+1)) for k = 1 .. f^2 - 1
};

class DenseSpectral final : public SpectralForm {
 public:
  DenseSpectral(const Shape& item, const std::vector<double>& a, std::int64_t m, std::string description)
      : SpectralForm(item, Shape{m}, std::move(description)), m_(m) {
    const std::int64_t d = dim();
    std::vector<double> ata(std::size_t(d * d), 0.0);
    for (std::int64_t r = 0; r < m; ++r)
      for (std::int64_t i = 0; i < d; ++i) {
        const double ai = a[std::size_t(r * d + i)];
        if (ai == 0) continue;
        for (std::int64_t j = 0; j < d; ++j) ata[std::size_t(i * d + j)] += ai * a[std::size_t(r * d + j)];
      }
    SymmetricEigen e = symmetric_eigen(std::move(ata), d);
    // Largest first; s_i = |A v_i| is more accurate than the square root of a small eigenvalue.
    v_.resize(std::size_t(d * d));
    singular_.resize(std::size_t(d));
    std::vector<double> av(std::size_t(d * m));  // row i: A v_i
    for (std::int64_t i = 0; i < d; ++i) {
      const double* vi = e.vectors.data() + (d - 1 - i) * d;
      std::copy(vi, vi + d, v_.begin() + i * d);
      double norm2 = 0;
      for (std::int64_t r = 0; r < m; ++r) {
        double s = 0;
        for (std::int64_t j = 0; j < d; ++j) s += a[std::size_t(r * d + j)] * vi[j];
        av[std::size_t(i * m + r)] = s;
        norm2 += s * s;
      }
      singular_[std::size_t(i)] = std::sqrt(norm2);
    }
    const double largest = *std::max_element(singular_.begin(), singular_.end());
    // Row i of w_: u_i / s_i = A v_i / s_i^2, so that c_i = w_i . y.
    w_.assign(std::size_t(d * m), 0.0);
    for (std::int64_t i = 0; i < d; ++i) {
      double& s = singular_[std::size_t(i)];
      if (s <= 1e-7 * largest) {
        s = 0;
        continue;
      }
      for (std::int64_t r = 0; r < m; ++r) w_[std::size_t(i * m + r)] = av[std::size_t(i * m + r)] / (s * s);
    }
  }

 private:
  void to_spectral_item(const float* x, float* c) const override {
    const std::int64_t d = dim();
    for (std::int64_t i = 0; i < d; ++i) {
      double s = 0;
      for (std::int64_t j = 0; j < d; ++j) s += v_[std::size_t(i * d + j)] * x[j];
      c[i] = float(s);
    }
  }
  void from_spectral_item(const float* c, float* x) const override {
    const std::int64_t d = dim();
    std::vector<double> acc(std::size_t(d), 0.0);
    for (std::int64_t i = 0; i < d; ++i)
      for (std::int64_t j = 0; j < d; ++j) acc[std::size_t(j)] += v_[std::size_t(i * d + j)] * c[i];
    for (std::int64_t j = 0; j < d; ++j) x[j] = float(acc[std::size_t(j)]);
  }
  void y_spectral_item(const float* y, float* c) const override {
    for (std::int64_t i = 0; i < dim(); ++i) {
      double s = 0;
      for (std::int64_t r = 0; r < m_; ++r) s += w_[std::size_t(i * m_ + r)] * y[r];
      c[i] = float(s);
    }
  }

  std::int64_t m_;
  std::vector<double> v_;  // (D, D): row i is v_i
  std::vector<double> w_;  // (D, M): row i is u_i / s_i, zero where s_i = 0
};

}  // namespace

std::unique_ptr<SpectralForm> make_diagonal_spectral(const Shape& item, std::vector<double> diagonal, std::string description) {
  if (std::int64_t(diagonal.size()) != item.numel())
    throw ShapeError(cat("svd of operator '", description, "': the diagonal has ", diagonal.size(), " entries for items ", item.str()));
  return std::make_unique<DiagonalSpectral>(item, std::move(diagonal), std::move(description));
}

std::unique_ptr<SpectralForm> make_block_average_spectral(const Shape& item, std::int64_t factor, std::string description) {
  if (item.rank() != 3 || factor < 1 || item[1] % factor || item[2] % factor)
    throw ShapeError(cat("svd of operator '", description, "': items ", item.str(), " do not split into ", factor, "x", factor,
                         " blocks"));
  return std::make_unique<BlockAverageSpectral>(item, factor, std::move(description));
}

std::unique_ptr<SpectralForm> make_dense_spectral(const Shape& item, const std::vector<double>& a, std::int64_t m,
                                                  std::string description) {
  if (m < 1 || std::int64_t(a.size()) != m * item.numel())
    throw ShapeError(cat("svd of operator '", description, "': a matrix of ", a.size(), " entries is not (", m, ", ", item.numel(), ")"));
  return std::make_unique<DenseSpectral>(item, a, m, std::move(description));
}

}  // namespace tweedie::samplers
