// Poisson counts, y ~ Poisson(scale g(z)) with g = exp or softplus: photon-limited imaging, where the
// scale is the exposure (expected counts per unit of intensity).
#include <cmath>

#include "kernels/count_noise.h"
#include "samplers/noise/noise_checks.h"
#include "samplers/noise/noise_model.h"

namespace tweedie::samplers {
namespace {

namespace nc = noise_checks;
constexpr const char* kModel = "poisson noise";

class PoissonNoise final : public NoiseModel {
 public:
  PoissonNoise(double scale, Link link) : scale_(scale), link_(link) {}

  std::string describe() const override {
    return "poisson:scale=" + shortest_text(scale_) + ":link=" + link_name(link_);
  }

  void sample(Context& ctx, const Tensor& z, const Tensor& observed, RandomStream rng, Tensor& y) const override {
    std::int64_t n = nc::batch_of(ctx, kModel, z, false);
    nc::prepare_output(ctx, kModel, "y", y, z);
    poisson_noise_sample(ctx, z, rate_link(), scale_, nc::entry_tensor(ctx, kModel, "observed", observed, z, n), rng, n, y);
  }

  std::vector<double> log_likelihood(Context& ctx, const Tensor& y, const Tensor& z, const Tensor& observed) const override {
    std::int64_t n = nc::batch_of(ctx, kModel, z, false);
    nc::expect_like_z(ctx, kModel, "y", y, z);
    return poisson_noise_log_likelihood(ctx, y, z, rate_link(), scale_,
                                        nc::entry_tensor(ctx, kModel, "observed", observed, z, n), n);
  }

  void gradient(Context& ctx, const Tensor& y, const Tensor& z, const Tensor& observed, Tensor& g) const override {
    std::int64_t n = nc::batch_of(ctx, kModel, z, false);
    nc::expect_like_z(ctx, kModel, "y", y, z);
    nc::prepare_output(ctx, kModel, "g", g, z);
    poisson_noise_gradient(ctx, y, z, rate_link(), scale_, nc::entry_tensor(ctx, kModel, "observed", observed, z, n), n, g);
  }

  bool count_model(CountModel& out) const override {
    out.law = {CountFamily::poisson, link_ == Link::exp ? CountLink::exp : CountLink::softplus, scale_};
    out.trials = {};
    return true;
  }

  void validate(Context& ctx, const Tensor& y, const Tensor& observed, std::string_view where) const override {
    (void)ctx;
    nc::HostObservation h = nc::host_observation(where, "Poisson", y, observed, false);
    const float* v = h.y.data<float>();
    for (std::int64_t i = 0; i < h.y.numel(); ++i) {
      if (!h.seen(i) || (std::isfinite(v[i]) && v[i] >= 0 && v[i] == std::floor(v[i]))) continue;
      nc::bad_entry(where, h.y.shape(), i, shortest_text(v[i]), "Poisson counts must be finite non-negative integers");
    }
  }

 private:
  RateLink rate_link() const { return link_ == Link::exp ? RateLink::exp : RateLink::softplus; }

  double scale_;
  Link link_;
};

}  // namespace

std::unique_ptr<NoiseModel> make_poisson_noise(double scale, Link link) {
  if (!(scale > 0) || !std::isfinite(scale))
    throw ArgumentError(cat(kModel, ": scale must be a positive finite number, got ", shortest_text(scale)));
  if (link != Link::exp && link != Link::softplus)
    throw ArgumentError(cat(kModel, ": link must be exp or softplus, got ", link_name(link)));
  return std::make_unique<PoissonNoise>(scale, link);
}

}  // namespace tweedie::samplers
