#pragma once
// The inference network of the evidence trick (arXiv 2502.05994): zeta(x_t, t) gives, for every
// measured entry of a count problem, the hyperparameters of the conjugate prior of theta = s g(A x0)
// given x_t, instead of the moment matching of count_posterior.h. It is an MLP over the flattened x_t
// with 2 K outputs (kernels/conjugate_fit.h: K values for theta's mean, then K for the concentration),
// trained by `tweedie train --objective conjugate` (samplers/training/conjugate_training.h) on draws of
// the prior, and tied to the problem it was trained for: the item shape, the operator's K outputs, the
// count law and the noising process, all recorded in the model file's root attribute `inference`
// (io/FORMAT.md) and checked against the problem it is asked to solve.
//
// Time input: 999 t, as for VP-trained denoisers, so that the sinusoidal embedding spans its range.
#include <memory>
#include <string>

#include "kernels/count_evidence.h"
#include "nn/network.h"
#include "samplers/noise/noise_model.h"
#include "samplers/operators/operator.h"
#include "samplers/process.h"

namespace tweedie::samplers {

struct InferenceSpec {
  CountLaw law;
  std::string process;   // the process spec x_t was drawn from ("vp", ...)
  Shape item;            // x's item shape
  std::int64_t outputs;  // K: the operator's output entries
  std::string operator_description, noise_description;  // for messages
  std::string to_json() const;
  static InferenceSpec from_json(const std::string& json, const std::string& where);
};

class InferenceNetwork {
 public:
  // The network must be an MLP over item.numel() inputs with 2 K outputs (ArgumentError naming `where`).
  InferenceNetwork(std::shared_ptr<nn::Network> network, InferenceSpec spec, const std::string& where);

  const InferenceSpec& spec() const { return spec_; }
  const Process& process() const { return *process_; }
  nn::Network& network() { return *network_; }

  // raw (N, 2, K) at x_t (N, item...) and time t (one for the batch or one per item).
  void forward(Context& ctx, const Tensor& xt, const std::vector<double>& t, Tensor& raw) const;
  std::unique_ptr<nn::Linearization> linearize(Context& ctx, const Tensor& xt, const std::vector<double>& t, Tensor& raw) const;
  // g_xt = (d raw / d x_t)^T g_raw; with param_grads, also accumulates the weights' gradients.
  void vjp(Context& ctx, const nn::Linearization& lin, const Tensor& g_raw, Tensor& g_xt, bool param_grads = false) const;

  // Throws ArgumentError, naming `where`, unless the problem is the one the network was trained for:
  // the prior's item shape, K outputs of the operator, the same count family, link and scale.
  void check_problem(const Shape& item, const Operator& op, const NoiseModel& noise, const std::string& where) const;

 private:
  nn::Conditioning conditioning(std::int64_t n, const std::vector<double>& t) const;
  std::shared_ptr<nn::Network> network_;
  InferenceSpec spec_;
  std::unique_ptr<Process> process_;
};

}  // namespace tweedie::samplers
