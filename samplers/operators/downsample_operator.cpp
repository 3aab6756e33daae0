// Super-resolution: (C, H, W) -> (C, H/f, W/f) by block averaging or antialiased bicubic resizing.
// Bicubic is separable: one 1-D resampling along W, then one along H, each from a weight table made
// once here; the adjoint runs the transposed tables in the reverse order.
#include "kernels/resize.h"
#include "samplers/operators/image_operators.h"
#include "samplers/operators/svd.h"

namespace tweedie::samplers {
namespace {

class Downsample final : public Operator {
 public:
  Downsample(const Signal& x, const Signal& y, std::int64_t factor, DownsampleKind kind, Device device)
      : Operator(x, y), factor_(factor), kind_(kind) {
    if (kind == DownsampleKind::bicubic) {
      HostResampleTable rows = bicubic_downscale_table(x.shape[1], factor), cols = bicubic_downscale_table(x.shape[2], factor);
      along_h_ = upload(rows, device);
      along_w_ = upload(cols, device);
      along_h_t_ = upload(transposed(rows), device);
      along_w_t_ = upload(transposed(cols), device);
    } else {
      svd_ = make_block_average_spectral(x.shape, factor, describe());
    }
  }

  // Average pooling has a closed-form SVD; bicubic resizing has none here.
  const SpectralForm* svd() const override { return svd_.get(); }

  std::string describe() const override {
    return cat("sr:", factor_, kind_ == DownsampleKind::average ? ":avg" : ":bicubic");
  }

  void apply(Context& ctx, const Tensor& x, Tensor& y) const override {
    std::int64_t n = batch(ctx, x, y);
    if (kind_ == DownsampleKind::average) return block_pool(ctx, x, y, factor_);
    // (N, C, H, W) -> (N, C, H, W/f) -> (N, C, H/f, W/f)
    Tensor half = Tensor::empty({n, input_.shape[0], input_.shape[1], output_.shape[2]}, ctx.device());
    resample(ctx, along_w_, x, half, -1);
    resample(ctx, along_h_, half, y, -2);
  }

  void adjoint(Context& ctx, const Tensor& y, Tensor& x) const override {
    std::int64_t n = batch(ctx, x, y);
    if (kind_ == DownsampleKind::average) return block_pool_adjoint(ctx, y, x, factor_);
    Tensor half = Tensor::empty({n, input_.shape[0], input_.shape[1], output_.shape[2]}, ctx.device());
    resample(ctx, along_h_t_, y, half, -2);
    resample(ctx, along_w_t_, half, x, -1);
  }

 private:
  std::int64_t batch(const Context& ctx, const Tensor& x, const Tensor& y) const {
    std::int64_t n = batch_of_input(ctx, x, "x");
    if (batch_of_output(ctx, y, "y") != n)
      throw ShapeError(cat("operator '", describe(), "': y is ", y.shape().str(), " for x ", x.shape().str()));
    return n;
  }

  std::int64_t factor_;
  DownsampleKind kind_;
  ResampleTable along_h_, along_w_, along_h_t_, along_w_t_;  // bicubic only
  std::unique_ptr<SpectralForm> svd_;                          // average only
};

}  // namespace

std::unique_ptr<Operator> make_downsample(const Signal& x, std::int64_t factor, DownsampleKind kind, Device device) {
  std::string name = cat("sr:", factor, kind == DownsampleKind::average ? ":avg" : ":bicubic");
  if (x.dtype != DType::f32) throw DTypeError(cat(name, ": the signal x is ", x.str(), "; this operator takes real (f32) items"));
  if (x.shape.rank() != 3) throw ShapeError(cat(name, ": item shape ", x.shape.str(), " is not an image (C, H, W)"));
  if (factor < 1) throw ArgumentError(cat(name, ": factor ", factor, " must be at least 1"));
  if (x.shape[1] % factor || x.shape[2] % factor)
    throw ShapeError(cat(name, ": image ", x.shape.str(), " has height and width not divisible by the factor ", factor));
  Signal y{Shape{x.shape[0], x.shape[1] / factor, x.shape[2] / factor}, DType::f32};
  return std::make_unique<Downsample>(x, y, factor, kind, device);
}

}  // namespace tweedie::samplers
