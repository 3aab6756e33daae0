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

// Sigma_y of a Gaussian noise model as a map on batches of output items (NoiseModel::gaussian_covariance),
// for methods that condition on y through a Gaussian approximation (MMPS, Pi-GDM, TMPD, DiffPIR).
class NoiseCovariance {
 public:
  virtual ~NoiseCovariance() = default;
  // For each item of u (N, output item...): out = Sigma_oo u_o on the observed entries o and out = u on
  // the others. Sigma_y restricted to what is measured, extended by the identity, so that the map is
  // positive definite on the whole output and a Krylov solve with it never leaves the measured entries
  // it starts in. observed: as for NoiseModel (undefined: every entry). out may not alias u.
  virtual void apply(Context& ctx, const Tensor& u, const Tensor& observed, Tensor& out) const = 0;
};

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

  // Gaussian models with independent entries (a diagonal Sigma_y): the noise variance of each entry
  // (output item shape, f32), for methods that work entry by entry or in the operator's spectral
  // coordinates (DDRM, RePaint, TDS, ...). Undefined for other models, correlated Gaussian ones included.
  virtual Tensor gaussian_variance(Context& ctx, const Shape& item) const { (void)ctx, (void)item; return {}; }
  // Every Gaussian model, diagonal or correlated: Sigma_y as a map. Null for other models.
  virtual std::shared_ptr<const NoiseCovariance> gaussian_covariance() const { return nullptr; }
  // Count models: their family, link, scale and trials (per-entry trials on the device the model was
  // built for), for methods that need more than log p and its gradient (the evidence trick, MMPS for
  // counts). False for other models.
  virtual bool count_model(CountModel& out) const { (void)out; return false; }
};

// y = z + sigma n, n standard normal (each real and imaginary part for complex z).
std::unique_ptr<NoiseModel> make_gaussian_noise(double sigma);
// The same with a standard deviation per entry: sigma f32 of the output item shape (all > 0).
std::unique_ptr<NoiseModel> make_gaussian_noise(const Tensor& sigma, std::string description, Device device);

// Correlated Gaussian noise, y = z + e with e ~ N(0, Sigma_y) over an output item of m real entries
// (complex outputs are refused: whiten multi-coil data with its coil covariance first). Its math runs on
// the host in double (Cholesky factors cached per observed pattern); on a GPU context each call moves
// its batch to the host and back. On an observed subset o the model is N(z_o, Sigma_oo), the marginal.
//
// Full: sigma_y an m x m symmetric positive definite matrix (checked by its Cholesky factorization;
// the error names the first failing pivot). Costs m^3 / 3 once per observed pattern and m_o^2 per item.
std::unique_ptr<NoiseModel> make_full_covariance_noise(const Tensor& covariance, const Shape& item, std::string description);
// Diagonal plus low rank: Sigma_y = diag(sigma^2) + F^T F, with F an r x m factor (r correlated
// sources, each a row) and sigma a scalar or per entry (sigma: one value or an m-entry tensor, > 0).
// Log-likelihoods and gradients use the Woodbury identity with the r x r capacitance matrix
// I + F_o diag(sigma_o^-2) F_o^T: O(m r) per item.
std::unique_ptr<NoiseModel> make_low_rank_covariance_noise(const Tensor& sigma, const Tensor& factor, const Shape& item,
                                                           std::string description);

// Why a method that needs a Gaussian model with independent entries (gaussian_variance) cannot take
// `noise`: "" when it can, otherwise a sentence that starts with the noise's spec and ends with
// `because` (e.g. "RePaint noises y to each step's level").
std::string independent_gaussian_refusal(Context& ctx, const NoiseModel& noise, const Shape& item, std::string_view because);

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
