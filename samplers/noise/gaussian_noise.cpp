// Additive Gaussian noise, y = z + sigma n, one sigma for all entries or one per entry.
#include <cmath>
#include <vector>

#include "kernels/axpby.h"
#include "kernels/broadcast.h"
#include "kernels/count_noise.h"
#include "samplers/noise/noise_checks.h"
#include "samplers/noise/noise_model.h"

namespace tweedie::samplers {
namespace {

namespace nc = noise_checks;
constexpr const char* kModel = "gaussian noise";

// Sigma_y = diag(sigma^2) as a map: out = u + P (sigma^2 - 1) u, P the observed entries (noise_model.h).
class DiagonalCovariance final : public NoiseCovariance {
 public:
  // excess: sigma^2 - 1 per entry on the device of the model (undefined for a scalar sigma).
  DiagonalCovariance(double sigma, Tensor excess) : sigma_(sigma), excess_(std::move(excess)) {}

  void apply(Context& ctx, const Tensor& u, const Tensor& observed, Tensor& out) const override {
    std::int64_t n = nc::batch_of(ctx, kModel, u, true);
    nc::prepare_output(ctx, kModel, "out", out, u);
    Tensor excess = nc::entry_tensor(ctx, kModel, "sigma", excess_, u, n);
    Tensor seen = nc::entry_tensor(ctx, kModel, "observed", observed, u, n);
    Tensor ur = u.dtype() == DType::c64 ? u.view_as_real() : u, o = out.dtype() == DType::c64 ? out.view_as_real() : out;
    if (excess.defined()) {
      multiply_repeated(ctx, u, excess, out);
      if (seen.defined()) multiply_repeated(ctx, out, seen, out);
      axpby(ctx, 1.0f, ur, 1.0f, o);
    } else if (seen.defined()) {
      multiply_repeated(ctx, u, seen, out);
      axpby(ctx, 1.0f, ur, float(sigma_ * sigma_ - 1), o);
    } else {
      axpby(ctx, float(sigma_ * sigma_), ur, 0.0f, o);
    }
  }

 private:
  double sigma_;
  Tensor excess_;
};

class GaussianNoise final : public NoiseModel {
 public:
  // host_sigma: the per-entry sigmas on the host (undefined for a scalar sigma); sigma_device: the same
  // on the device the model was built for.
  GaussianNoise(double sigma, Tensor host_sigma, Tensor sigma_device, std::string description)
      : sigma_(sigma), host_sigma_(std::move(host_sigma)), sigma_device_(std::move(sigma_device)),
        description_(std::move(description)) {
    Tensor excess;
    if (host_sigma_.defined()) {
      std::vector<float> e = host_sigma_.to_vector<float>();
      for (float& v : e) v = v * v - 1;
      excess = Tensor::from_host(std::span<const float>(e), host_sigma_.shape(), sigma_device_.device());
    }
    covariance_ = std::make_shared<DiagonalCovariance>(sigma_, std::move(excess));
  }

  std::string describe() const override { return description_; }
  std::shared_ptr<const NoiseCovariance> gaussian_covariance() const override { return covariance_; }

  void sample(Context& ctx, const Tensor& z, const Tensor& observed, RandomStream rng, Tensor& y) const override {
    std::int64_t n = nc::batch_of(ctx, kModel, z, true);
    nc::prepare_output(ctx, kModel, "y", y, z);
    gaussian_noise_sample(ctx, z, sigma(ctx, z, n), nc::entry_tensor(ctx, kModel, "observed", observed, z, n), rng, n, y);
  }

  std::vector<double> log_likelihood(Context& ctx, const Tensor& y, const Tensor& z, const Tensor& observed) const override {
    std::int64_t n = nc::batch_of(ctx, kModel, z, true);
    nc::expect_like_z(ctx, kModel, "y", y, z);
    return gaussian_noise_log_likelihood(ctx, y, z, sigma(ctx, z, n), nc::entry_tensor(ctx, kModel, "observed", observed, z, n), n);
  }

  void gradient(Context& ctx, const Tensor& y, const Tensor& z, const Tensor& observed, Tensor& g) const override {
    std::int64_t n = nc::batch_of(ctx, kModel, z, true);
    nc::expect_like_z(ctx, kModel, "y", y, z);
    nc::prepare_output(ctx, kModel, "g", g, z);
    gaussian_noise_gradient(ctx, y, z, sigma(ctx, z, n), nc::entry_tensor(ctx, kModel, "observed", observed, z, n), n, g);
  }

  // Any finite value can be a noisy measurement.
  void validate(Context& ctx, const Tensor& y, const Tensor& observed, std::string_view where) const override {
    (void)ctx;
    nc::HostObservation h = nc::host_observation(where, "Gaussian", y, observed, true);
    bool complex = h.y.dtype() == DType::c64;
    const float* v = complex ? h.y.view_as_real().data<float>() : h.y.data<float>();
    int parts = complex ? 2 : 1;
    for (std::int64_t i = 0; i < h.y.numel(); ++i) {
      if (!h.seen(i)) continue;
      float re = v[parts * i], im = complex ? v[2 * i + 1] : 0.0f;
      if (std::isfinite(re) && std::isfinite(im)) continue;
      std::string value = complex ? shortest_text(re) + (std::signbit(im) ? " - " : " + ") + shortest_text(std::fabs(im)) + " i"
                                  : shortest_text(re);
      nc::bad_entry(where, h.y.shape(), i, value, "Gaussian observations must be finite");
    }
  }

  // sigma^2 per entry of the output item (per part, for complex outputs).
  Tensor gaussian_variance(Context& ctx, const Shape& item) const override {
    std::vector<float> variance(std::size_t(item.numel()), float(sigma_ * sigma_));
    if (host_sigma_.defined()) {
      if (host_sigma_.numel() != item.numel())
        throw ShapeError(cat(kModel, " '", description_, "': sigma is ", host_sigma_.str(), " but the output item is ",
                             item.str()));
      const float* s = host_sigma_.data<float>();
      for (std::size_t i = 0; i < variance.size(); ++i) variance[i] = s[i] * s[i];
    }
    return Tensor::from_host(std::span<const float>(variance), item, ctx.device());
  }

 private:
  EntryParameter sigma(const Context& ctx, const Tensor& z, std::int64_t n) const {
    return {sigma_, nc::entry_tensor(ctx, kModel, "sigma", sigma_device_, z, n)};
  }

  double sigma_;
  Tensor host_sigma_, sigma_device_;
  std::string description_;
  std::shared_ptr<const NoiseCovariance> covariance_;
};

}  // namespace

std::unique_ptr<NoiseModel> make_gaussian_noise(double sigma) {
  if (!(sigma > 0) || !std::isfinite(sigma))
    throw ArgumentError(cat(kModel, ": sigma must be a positive finite number, got ", shortest_text(sigma)));
  return std::make_unique<GaussianNoise>(sigma, Tensor(), Tensor(), "gaussian:sigma=" + shortest_text(sigma));
}

std::unique_ptr<NoiseModel> make_gaussian_noise(const Tensor& sigma, std::string description, Device device) {
  Tensor host = nc::checked_parameter(kModel, description, "sigma", sigma, "every sigma must be positive and finite",
                                      [](double s) { return s > 0; });
  Tensor on_device = host.to(device);
  return std::make_unique<GaussianNoise>(0.0, std::move(host), std::move(on_device), std::move(description));
}

}  // namespace tweedie::samplers
