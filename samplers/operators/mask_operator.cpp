// Identity (denoising) and masks (inpainting): y = x and y = m . x, both their own adjoints.
#include <cmath>
#include <vector>

#include "kernels/broadcast.h"
#include "kernels/random.h"
#include "samplers/operators/image_operators.h"
#include "samplers/operators/svd.h"

namespace tweedie::samplers {
namespace {

class Identity final : public Operator {
 public:
  explicit Identity(const Signal& x)
      : Operator(x, x), svd_(make_diagonal_spectral(x.shape, std::vector<double>(std::size_t(x.shape.numel()), 1.0), "identity")) {}
  std::string describe() const override { return "identity"; }
  const SpectralForm* svd() const override { return svd_.get(); }
  void apply(Context& ctx, const Tensor& x, Tensor& y) const override { copy(ctx, x, "x", y, "y"); }
  void adjoint(Context& ctx, const Tensor& y, Tensor& x) const override { copy(ctx, y, "y", x, "x"); }

 private:
  void copy(Context& ctx, const Tensor& from, const char* from_role, Tensor& to, const char* to_role) const {
    std::int64_t n = batch_of_input(ctx, from, from_role);
    if (batch_of_input(ctx, to, to_role) != n)
      throw ShapeError(cat("operator 'identity': ", to_role, " is ", to.shape().str(), " for ", from_role, " ", from.shape().str()));
    if (!to.shares_storage_with(from) || to.raw_data() != from.raw_data()) to.copy_from(from);
  }
  std::unique_ptr<SpectralForm> svd_;
};

class Mask final : public Operator {
 public:
  // full: the mask's values over the whole item (a shared mask repeated over channels).
  Mask(const Signal& x, Tensor mask, Tensor observed, std::vector<double> full, std::string description)
      : Operator(x, x), mask_(std::move(mask)), description_(std::move(description)),
        svd_(make_diagonal_spectral(x.shape, std::move(full), description_)) {
    observed_ = std::move(observed);
  }
  std::string describe() const override { return description_; }
  const SpectralForm* svd() const override { return svd_.get(); }
  void apply(Context& ctx, const Tensor& x, Tensor& y) const override { multiply(ctx, x, "x", y, "y"); }
  void adjoint(Context& ctx, const Tensor& y, Tensor& x) const override { multiply(ctx, y, "y", x, "x"); }

 private:
  void multiply(Context& ctx, const Tensor& from, const char* from_role, Tensor& to, const char* to_role) const {
    std::int64_t n = batch_of_input(ctx, from, from_role);
    if (batch_of_input(ctx, to, to_role) != n)
      throw ShapeError(cat("operator '", description_, "': ", to_role, " is ", to.shape().str(), " for ", from_role, " ", from.shape().str()));
    multiply_repeated(ctx, from, mask_, to);
  }
  Tensor mask_;  // on the operator's device: the item shape, or (1, H, W) repeated over channels
  std::string description_;
  std::unique_ptr<SpectralForm> svd_;  // A = diag(mask)
};

void require_f32(const char* what, const Signal& x) {
  if (x.dtype != DType::f32) throw DTypeError(cat(what, ": the signal x is ", x.str(), "; this operator takes real (f32) items"));
}

void require_image_shape(const char* what, const Shape& item) {
  if (item.rank() != 3) throw ShapeError(cat(what, ": item shape ", item.str(), " is not an image (C, H, W)"));
}

}  // namespace

std::unique_ptr<Operator> make_identity(const Signal& x) {
  require_f32("identity", x);
  return std::make_unique<Identity>(x);
}

std::unique_ptr<Operator> make_mask(const Signal& x, const Tensor& mask, std::string description, Device device) {
  require_f32(description.c_str(), x);
  if (!mask.defined() || mask.dtype() != DType::f32)
    throw DTypeError(cat(description, ": the mask must be an f32 tensor, not ", mask.defined() ? mask.str() : "undefined"));
  const Shape& item = x.shape;
  bool shared = item.rank() == 3 && mask.shape() == Shape{1, item[1], item[2]} && item[0] != 1;
  if (!(mask.shape() == item) && !shared)
    throw ShapeError(cat(description, ": the mask is ", mask.shape().str(), " but x items are ", item.str(),
                         item.rank() == 3 ? cat("; it must be ", item.str(), " or (1,", item[1], ",", item[2], ")") : std::string()));
  // observed = (m != 0) over the full item, a shared mask repeated over channels.
  std::vector<float> m = mask.to_vector<float>(), seen(std::size_t(item.numel()));
  std::vector<double> full(seen.size());
  for (std::size_t i = 0; i < seen.size(); ++i) {
    full[i] = m[i % m.size()];
    seen[i] = full[i] != 0.0 ? 1.0f : 0.0f;
  }
  Tensor observed = Tensor::from_host(std::span<const float>(seen), item, device);
  return std::make_unique<Mask>(x, mask.to(device), observed, std::move(full), std::move(description));
}

Tensor random_pixel_mask(const Shape& item, double keep, bool per_channel, std::uint64_t seed) {
  require_image_shape("random_pixel_mask", item);
  if (!(keep >= 0 && keep <= 1)) throw ArgumentError(cat("random_pixel_mask: keep probability ", keep, " is not in [0, 1]"));
  std::int64_t c = item[0], plane = item[1] * item[2];
  std::vector<float> m(std::size_t(item.numel()));
  // Element e of stream 0 decides pixel e (of channel 0 alone when the channels share one draw), so
  // the mask is the same on any machine and a shared mask is channel 0 of the per-channel one.
  for (std::int64_t ch = 0; ch < c; ++ch)
    for (std::int64_t p = 0; p < plane; ++p) {
      std::uint64_t e = std::uint64_t(per_channel ? ch * plane + p : p);
      m[std::size_t(ch * plane + p)] = double(uniform_at(seed, 0, e)) < keep ? 1.0f : 0.0f;
    }
  return Tensor::from_host(std::span<const float>(m), item);
}

Tensor box_mask(const Shape& item, std::int64_t top, std::int64_t left, std::int64_t height, std::int64_t width) {
  require_image_shape("box_mask", item);
  std::int64_t h = item[1], w = item[2];
  if (top < 0 || left < 0 || height < 0 || width < 0 || top + height > h || left + width > w)
    throw ArgumentError(cat("box_mask: the box at (", top, ",", left, ") of ", height, "x", width, " does not fit in an ", h, "x", w,
                            " image"));
  std::vector<float> m(std::size_t(item.numel()), 1.0f);
  for (std::int64_t ch = 0; ch < item[0]; ++ch)
    for (std::int64_t r = top; r < top + height; ++r)
      for (std::int64_t col = left; col < left + width; ++col) m[std::size_t((ch * h + r) * w + col)] = 0.0f;
  return Tensor::from_host(std::span<const float>(m), item);
}

}  // namespace tweedie::samplers
