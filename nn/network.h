#pragma once
// What every network offers the samplers: the map x -> f(x; t, label), its linearization at a point,
// tangents through it and cotangents back, and its parameters. Implemented by the ADM U-Net
// (nn/unet.h) and the MLP denoiser (nn/mlp.h).
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/parameter.h"
#include "runtime/context.h"
#include "runtime/tensor.h"

namespace tweedie::nn {

// Per item of the batch: the network's time input (a DDPM step index, 999 t, sigma, ... whatever the
// model was trained with; see the denoiser's parameterisation) and, for class-conditional models, the
// label. A single value applies to every item.
struct Conditioning {
  std::vector<float> t;
  std::vector<std::int64_t> labels;
};

// Everything a tangent or cotangent pass needs from the point of linearization. Opaque; made by the
// network's linearize() and only meaningful to that network.
class Linearization {
 public:
  virtual ~Linearization() = default;
  std::int64_t batch = 0;
};

class Network {
 public:
  virtual ~Network() = default;

  virtual std::string architecture() const = 0;  // "adm-unet", "mlp"
  virtual std::string config_json() const = 0;
  virtual Shape output_shape(const Shape& x) const = 0;
  virtual ParameterSet& parameters() = 0;

  virtual void forward(Context& ctx, const Tensor& x, const Conditioning& c, Tensor& y) const = 0;
  // Runs the forward pass and keeps what tangents and cotangents need.
  virtual std::unique_ptr<Linearization> linearize(Context& ctx, const Tensor& x, const Conditioning& c, Tensor& y) const = 0;
  // dy = J dx. dx may hold several tangents per linearized item: batch k*N, tangent b of item b % N.
  virtual void jvp(Context& ctx, const Linearization& lin, const Tensor& dx, Tensor& dy) const = 0;
  // gx = J^T gy; with param_grads, every parameter's gradient += d<gy, f>/d(parameter).
  virtual void vjp(Context& ctx, const Linearization& lin, const Tensor& gy, Tensor& gx, bool param_grads) const = 0;
};

// Checks a Conditioning against a batch of n and returns its time values expanded to n.
std::vector<float> times_for(const Conditioning& c, std::int64_t n, const std::string& who);

}  // namespace tweedie::nn
