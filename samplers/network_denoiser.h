#pragma once
// A trained network as a denoiser: the raw output F of an nn::Network turned into E[x | x_t] by the
// parameterisation the model was trained with (io/FORMAT.md, the `diffusion` attribute). With
// x_t = alpha x + sigma z, every parameterisation is affine in x_t and in the network's output:
//
//   E[x | x_t] = a x_t + b F(s x_t; t_net)        (F: the first C output channels)
//
//   eps    a = 1/alpha                 b = -sigma/alpha                     s = 1
//   x0     a = 0                       b = 1                                s = 1
//   v      a = alpha/(alpha^2+sigma^2) b = -sigma/(alpha^2+sigma^2)         s = 1
//   score  a = 1/alpha                 b = sigma^2/alpha (sigma/alpha with scale_by_sigma)    s = 1
//   edm    a = c_skip/alpha            b = c_out                            s = c_in/alpha
//
// v is alpha eps - sigma x0 as the network was trained on; substituting eps = (x_t - alpha x0)/sigma
// gives v = (alpha x_t - (alpha^2 + sigma^2) x0)/sigma, hence the row above, which is Salimans and
// Ho's x0 = alpha x_t - sigma v when alpha^2 + sigma^2 = 1.
//
// edm is Karras et al.'s preconditioned D(y; sigma') = c_skip y + c_out F(c_in y; c_noise) for the
// alpha = 1 process y = x + sigma' z. Any process is one of those after dividing by alpha:
// x_t / alpha = x + (sigma/alpha) z, so y = x_t/alpha and sigma' = sigma/alpha, and the c_* below are
// evaluated at sigma' (c_noise = ln(sigma')/4 when time_input is "edm").
//
// Since a, b and s depend on t alone, J = a I + b s J_F restricted to the first C output channels, so
// JVPs and VJPs are the network's with two axpbys around them. With clamping (guided-diffusion's
// clip_denoised) x0 is clipped to [-1, 1] and J becomes M J, M the 0/1 indicator of the unclamped
// elements (|x0| <= 1), the derivative of the clip almost everywhere; the VJP applies M to u first.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/network.h"
#include "samplers/denoiser.h"

namespace tweedie::samplers {

enum class Prediction { eps, x0, v, score, edm };

// What the network predicts: from the model file's `diffusion` JSON.
struct Parameterisation {
  Prediction prediction = Prediction::eps;
  bool learned_variance = false;  // eps only: 2C output channels, the last C guided-diffusion's variance v
  bool scale_by_sigma = false;    // score only: the score is F / sigma
  std::string time_input = "index";  // Process::network_time's argument
  double sigma_data = 0.5;           // edm only
};

// Parses the `diffusion` attribute (io/FORMAT.md): `parameterization` ("eps", "x0", "v", "score",
// "edm"; required), `learned_variance`, `scale_by_sigma`, `time_input` and, for "edm", `sigma_data`
// (else schedule.sigma_data, else 0.5). An absent time_input follows the schedule's kind: "index"
// for the discrete "linear" and "cosine", "999t" for "vp", "sigma" for "ve", "edm" for "edm" (and for
// parameterization "edm"). ArgumentError naming `where` and the field.
Parameterisation parameterisation_from_json(const std::string& diffusion_json, const std::string& where);
const char* prediction_name(Prediction p);

// Karras et al.'s preconditioning at noise level sigma (of an alpha = 1 process).
struct EdmScalings {
  double c_skip, c_out, c_in, c_noise;
};
EdmScalings edm_scalings(double sigma, double sigma_data);

// Choices of the run, not of the model.
struct NetworkDenoiserOptions {
  std::vector<std::int64_t> labels;  // class labels: one for every item, or one per item of each batch
  bool clamp = false;                // clip E[x | x_t] to [-1, 1]
  Shape item_shape;                  // rank 0: from the network's config (MLP dim; U-Net channels, image_size)
};

class NetworkDenoiser final : public Denoiser {
 public:
  NetworkDenoiser(std::unique_ptr<nn::Network> network, std::unique_ptr<Process> process, Parameterisation p,
                  NetworkDenoiserOptions options = {});

  const Process& process() const override { return *process_; }
  Shape item_shape() const override { return item_shape_; }
  const nn::Network& network() const { return *network_; }
  nn::Network& mutable_network() { return *network_; }  // for training (samplers/training/)
  const Parameterisation& parameterisation() const { return param_; }

  void denoise(Context& ctx, const Tensor& xt, double t, Tensor& x0) const override;
  std::unique_ptr<DenoiserLinearization> linearize(Context& ctx, const Tensor& xt, double t, Tensor& x0) const override;
  void jvp(Context& ctx, const DenoiserLinearization& lin, const Tensor& v, Tensor& jv) const override;
  void vjp(Context& ctx, const DenoiserLinearization& lin, const Tensor& u, Tensor& ju) const override;

  bool has_learned_variance() const override { return param_.learned_variance; }
  void denoise_with_variance(Context& ctx, const Tensor& xt, double t, Tensor& x0, Tensor& v) const override;

  // E[x | x_t] = a x_t + b F(s x_t; {net_time}) at time t (see the table above).
  struct Coefficients {
    double a, b, s;
    float net_time;
  };
  Coefficients coefficients(double t) const;

  struct Linearization;

 private:
  void run(Context& ctx, const Tensor& xt, double t, Tensor& x0, Tensor* variance, Linearization* lin) const;
  void check_batch(const char* name, const Tensor& x, std::int64_t multiple_of) const;

  std::unique_ptr<nn::Network> network_;
  std::unique_ptr<Process> process_;
  Parameterisation param_;
  NetworkDenoiserOptions options_;
  Shape item_shape_;
};

}  // namespace tweedie::samplers
