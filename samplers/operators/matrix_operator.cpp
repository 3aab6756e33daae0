// A dense linear map y = A vec(x), A (M, D) with D the number of entries of one item: compressed
// sensing and small test problems. A batch is one GEMM: Y (N, M) = X (N, D) A^T, and X = Y A back.
#include <mutex>

#include "kernels/gemm.h"
#include "samplers/operators/image_operators.h"
#include "samplers/operators/svd.h"

namespace tweedie::samplers {
namespace {

class Matrix final : public Operator {
 public:
  Matrix(const Signal& x, Tensor a, std::string description)
      : Operator(x, Signal{Shape{a.dim(0)}, DType::f32}), a_(std::move(a)), description_(std::move(description)) {}
  std::string describe() const override { return description_; }

  // Decomposed on first use (O(D^3) in double), so that methods without an SVD do not pay for it.
  const SpectralForm* svd() const override {
    std::call_once(svd_once_, [this] {
      std::vector<float> host = a_.to_vector<float>();
      svd_ = make_dense_spectral(input_.shape, std::vector<double>(host.begin(), host.end()), a_.dim(0), description_);
    });
    return svd_.get();
  }

  void apply(Context& ctx, const Tensor& x, Tensor& y) const override {
    std::int64_t n = batch(ctx, x, y);
    Tensor flat = x.reshape({n, a_.dim(1)}), out = y;
    MatmulOptions transposed_a;
    transposed_a.trans_b = true;
    matmul(ctx, flat, a_, out, transposed_a);
  }

  void adjoint(Context& ctx, const Tensor& y, Tensor& x) const override {
    std::int64_t n = batch(ctx, x, y);
    Tensor flat = x.reshape({n, a_.dim(1)});
    matmul(ctx, y, a_, flat);
  }

 private:
  std::int64_t batch(const Context& ctx, const Tensor& x, const Tensor& y) const {
    std::int64_t n = batch_of_input(ctx, x, "x");
    if (batch_of_output(ctx, y, "y") != n)
      throw ShapeError(cat("operator '", description_, "': y is ", y.shape().str(), " for x ", x.shape().str()));
    return n;
  }

  Tensor a_;  // (M, D) f32 on the operator's device
  std::string description_;
  mutable std::once_flag svd_once_;
  mutable std::unique_ptr<SpectralForm> svd_;
};

}  // namespace

std::unique_ptr<Operator> make_matrix(const Signal& x, const Tensor& a, std::string description, Device device) {
  if (x.dtype != DType::f32)
    throw DTypeError(cat(description, ": the signal x is ", x.str(), "; this operator takes real (f32) items"));
  if (!a.defined() || a.dtype() != DType::f32 || a.rank() != 2)
    throw ShapeError(cat(description, ": the matrix must be a 2-D f32 tensor (M, D), not ", a.defined() ? a.str() : "undefined"));
  if (a.dim(1) != x.shape.numel())
    throw ShapeError(cat(description, ": the matrix is ", a.shape().str(), " but x items ", x.shape.str(), " have ", x.shape.numel(),
                         " entries; it must be (M, ", x.shape.numel(), ")"));
  return std::make_unique<Matrix>(x, a.to(device), std::move(description));
}

}  // namespace tweedie::samplers
