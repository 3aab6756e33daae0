#pragma once
// Noise models p(y | z) for observations of z = A(x): the measurement, before noise.
//
// Batches: z and y are (N, output item...); `observed` is undefined (every entry measured) or an f32
// 0/1 tensor of the output item shape, shared by the batch (Operator::observed()). Unobserved entries
// of a sampled y are 0; log p and its gradient ignore them (gradient 0 there).
//
// Complex tensors count as their real and imaginary parts (independent components); only the Gaussian
// model accepts them.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/count_evidence.h"
#include "kernels/random.h"
#include "runtime/context.h"
#include "runtime/tensor.h"

namespace tweedie::samplers {

class NoiseModel {
 public:
  virtual ~NoiseModel() = default;
  // The canonical spec string ("gaussian:sigma=0.05", "poisson:scale=20:link=exp").
  virtual std::string describe() const = 0;

  // y ~ p(y | z). Entry e of batch item r draws from Philox stream rng.stream + r, so an item's noise
  // does not depend on the batch it shares.
  virtual void sample(Context& ctx, const Tensor& z, const Tensor& observed, RandomStream rng, Tensor& y) const = 0;
  // log p(y | z) of each batch item, normalising constants included (sum over observed entries).
  virtual std::vector<double> log_likelihood(Context& ctx, const Tensor& y, const Tensor& z, const Tensor& observed) const = 0;
  // g = d log p(y | z) / dz (same shape and type as z).
  virtual void gradient(Context& ctx, const Tensor& y, const Tensor& z, const Tensor& observed, Tensor& g) const = 0;
  // Throws ArgumentError if y cannot be an observation of this model: NaN or infinite entries, negative
  // or non-integer counts, counts above the number of trials, complex data for a count model. The
  // message starts with `where` (a file and dataset) and names the first bad entry and its value.
  virtual void validate(Context& ctx, const Tensor& y, const Tensor& observed, std::string_view where) const = 0;

  // Gaussian models: the noise variance of each observed entry (output item shape, f32), for methods
  // that need the covariance (MMPS). Undefined for other models.
  virtual Tensor gaussian_variance(Context& ctx, const Shape& item) const { (void)ctx, (void)item; return {}; }
  // Count models: their family, link, scale and trials (per-entry trials on the device the model was
  // built for), for methods that need more than log p and its gradient (the evidence trick, MMPS for
  // counts). False for other models.
  virtual bool count_model(CountModel& out) const { (void)out; return false; }
};

// y = z + sigma n, n standard normal (each real and imaginary part for complex z).
std::unique_ptr<NoiseModel> make_gaussian_noise(double sigma);
// The same with a standard deviation per entry: sigma f32 of the output item shape (all > 0).
std::unique_ptr<NoiseModel> make_gaussian_noise(const Tensor& sigma, std::string description, Device device);

// Links from the real-valued measurement z to a Poisson rate or a Binomial probability.
enum class Link { exp, softplus, sigmoid };
const char* link_name(Link link);

// y ~ Poisson(scale * g(z)), g = exp or softplus; scale > 0 (the exposure, in counts per unit).
std::unique_ptr<NoiseModel> make_poisson_noise(double scale, Link link);
// y ~ Binomial(n, scale * sigmoid(z)), 0 < scale <= 1; n trials per entry: a scalar, or a tensor of
// the output item shape (positive integers, for surveys of unequal size).
std::unique_ptr<NoiseModel> make_binomial_noise(std::int64_t trials, double scale);
std::unique_ptr<NoiseModel> make_binomial_noise(const Tensor& trials, double scale, std::string description, Device device);

}  // namespace tweedie::samplers
