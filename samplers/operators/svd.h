#pragma once
// The singular value decomposition A = U S V^T of a linear operator from real items (D = the number of
// entries of one item) to its output, for the methods that work in A's spectral coordinates (DDRM,
// DDNM). Only measured outputs count (Operator::observed()): unmeasured entries of y are ignored.
//
// Batches are (N, input...) for x and (N, output...) for y; spectral coefficients are (N, D) f32, one
// per right singular vector v_i, with singular value s_i (0 on null directions of A).
//
//   to_spectral(x)   = V^T x
//   from_spectral(c) = V c
//   y_spectral(y)    = S^+ U^T y: (u_i^T y) / s_i where s_i > 0, and 0 where s_i = 0
//
// So for y = A x, y_spectral(y) equals to_spectral(x) on every direction with s_i > 0.
//
// The transforms run on the host in double (the batch goes through host memory on a GPU): masks and
// pooling are O(N D), dense matrices O(N D^2).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "runtime/context.h"
#include "runtime/tensor.h"

namespace tweedie::samplers {

class SpectralForm {
 public:
  SpectralForm(Shape input, Shape output, std::string description);
  virtual ~SpectralForm() = default;

  std::int64_t dim() const { return input_.numel(); }
  // s_i for i < D, >= 0, zero on A's null directions.
  const std::vector<double>& singular_values() const { return singular_; }

  Tensor to_spectral(Context& ctx, const Tensor& x) const;
  Tensor from_spectral(Context& ctx, const Tensor& coefficients) const;
  Tensor y_spectral(Context& ctx, const Tensor& y) const;

 protected:
  // One item each, on the host: x and c have D entries, y the output's entries.
  virtual void to_spectral_item(const float* x, float* c) const = 0;
  virtual void from_spectral_item(const float* c, float* x) const = 0;
  virtual void y_spectral_item(const float* y, float* c) const = 0;

  Shape input_, output_;
  std::string description_;  // the operator's describe(), for error messages
  std::vector<double> singular_;
};

// A = diag(d) on items of shape `item` (masks, the identity): V = I, s = |d|, U = sign(d).
std::unique_ptr<SpectralForm> make_diagonal_spectral(const Shape& item, std::vector<double> diagonal, std::string description);

// Average pooling of (C, H, W) over factor x factor blocks (y = the block mean). Per block, an
// orthonormal basis whose first vector is constant 1/f (singular value 1/f, since the mean is
// <x, 1/f> / f) and whose others are the Helmert contrasts spanning the block's zero-mean subspace.
std::unique_ptr<SpectralForm> make_block_average_spectral(const Shape& item, std::int64_t factor, std::string description);

// A dense (M, D) matrix (row-major), decomposed in double through the eigendecomposition of A^T A;
// singular values below 1e-7 of the largest count as zero.
std::unique_ptr<SpectralForm> make_dense_spectral(const Shape& item, const std::vector<double>& a, std::int64_t m,
                                                  std::string description);

}  // namespace tweedie::samplers
