// Binomial counts, y ~ Binomial(n, scale sigmoid(z)): n trials per entry (survey sizes, photon
// detection with n chances), success probability scale sigmoid(z) with 0 < scale <= 1.
#include <cmath>

#include "kernels/count_noise.h"
#include "samplers/noise/noise_checks.h"
#include "samplers/noise/noise_model.h"

namespace tweedie::samplers {
namespace {

namespace nc = noise_checks;
constexpr const char* kModel = "binomial noise";
// Counts are f32, whose integers are exact up to 2^24: more trials could not be told apart.
constexpr double kMaxTrials = 16777216.0;
constexpr const char* kTrialsRule = "the number of trials must be an integer from 1 to 16777216 (2^24)";

bool valid_trials(double n) { return n >= 1 && n <= kMaxTrials && n == std::floor(n); }

class BinomialNoise final : public NoiseModel {
 public:
  // host_trials / trials_device: per-entry trials on the host and on the build device, or undefined.
  BinomialNoise(double trials, Tensor host_trials, Tensor trials_device, double scale, std::string description)
      : trials_(trials), host_trials_(std::move(host_trials)), trials_device_(std::move(trials_device)), scale_(scale),
        description_(std::move(description)) {}

  std::string describe() const override { return description_; }

  void sample(Context& ctx, const Tensor& z, const Tensor& observed, RandomStream rng, Tensor& y) const override {
    std::int64_t n = nc::batch_of(ctx, kModel, z, false);
    nc::prepare_output(ctx, kModel, "y", y, z);
    binomial_noise_sample(ctx, z, trials(ctx, z, n), scale_, nc::entry_tensor(ctx, kModel, "observed", observed, z, n), rng,
                          n, y);
  }

  std::vector<double> log_likelihood(Context& ctx, const Tensor& y, const Tensor& z, const Tensor& observed) const override {
    std::int64_t n = nc::batch_of(ctx, kModel, z, false);
    nc::expect_like_z(ctx, kModel, "y", y, z);
    return binomial_noise_log_likelihood(ctx, y, z, trials(ctx, z, n), scale_,
                                         nc::entry_tensor(ctx, kModel, "observed", observed, z, n), n);
  }

  void gradient(Context& ctx, const Tensor& y, const Tensor& z, const Tensor& observed, Tensor& g) const override {
    std::int64_t n = nc::batch_of(ctx, kModel, z, false);
    nc::expect_like_z(ctx, kModel, "y", y, z);
    nc::prepare_output(ctx, kModel, "g", g, z);
    binomial_noise_gradient(ctx, y, z, trials(ctx, z, n), scale_, nc::entry_tensor(ctx, kModel, "observed", observed, z, n),
                            n, g);
  }

  bool count_model(CountModel& out) const override {
    out.law = {CountFamily::binomial, CountLink::sigmoid, scale_};
    out.trials = {trials_, trials_device_};
    return true;
  }

  void validate(Context& ctx, const Tensor& y, const Tensor& observed, std::string_view where) const override {
    (void)ctx;
    nc::HostObservation h = nc::host_observation(where, "Binomial", y, observed, false);
    if (host_trials_.defined() && host_trials_.numel() != h.entries)
      throw ShapeError(cat(where, ": items of y ", h.y.str(), " have ", h.entries, " entries but ", kModel, " '", description_,
                           "' has trials for ", host_trials_.numel()));
    const float* v = h.y.data<float>();
    const float* per_entry = host_trials_.defined() ? host_trials_.data<float>() : nullptr;
    for (std::int64_t i = 0; i < h.y.numel(); ++i) {
      if (!h.seen(i)) continue;
      double k = v[i], n = per_entry ? double(per_entry[i % h.entries]) : trials_;
      if (!std::isfinite(k) || k < 0 || k != std::floor(k))
        nc::bad_entry(where, h.y.shape(), i, shortest_text(v[i]), "Binomial counts must be finite non-negative integers");
      if (k > n)
        nc::bad_entry(where, h.y.shape(), i, shortest_text(v[i]),
                      cat("Binomial counts cannot exceed the number of trials, ", shortest_text(n)));
    }
  }

 private:
  EntryParameter trials(const Context& ctx, const Tensor& z, std::int64_t n) const {
    return {trials_, nc::entry_tensor(ctx, kModel, "trials", trials_device_, z, n)};
  }

  double trials_;
  Tensor host_trials_, trials_device_;
  double scale_;
  std::string description_;
};

void check_scale(double scale) {
  if (!(scale > 0 && scale <= 1))
    throw ArgumentError(cat(kModel, ": scale must lie in (0, 1], got ", shortest_text(scale)));
}

}  // namespace

std::unique_ptr<NoiseModel> make_binomial_noise(std::int64_t trials, double scale) {
  if (!valid_trials(double(trials))) throw ArgumentError(cat(kModel, ": n = ", trials, ", but ", kTrialsRule));
  check_scale(scale);
  std::string description = cat("binomial:n=", trials, ":scale=", shortest_text(scale));
  return std::make_unique<BinomialNoise>(double(trials), Tensor(), Tensor(), scale, std::move(description));
}

std::unique_ptr<NoiseModel> make_binomial_noise(const Tensor& trials, double scale, std::string description, Device device) {
  check_scale(scale);
  Tensor host = nc::checked_parameter(kModel, description, "trials", trials, kTrialsRule, valid_trials);
  Tensor on_device = host.to(device);
  return std::make_unique<BinomialNoise>(0.0, std::move(host), std::move(on_device), scale, std::move(description));
}

}  // namespace tweedie::samplers
