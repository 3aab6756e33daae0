#pragma once
// A denoiser gives Tweedie's posterior mean E[x | x_t] under a prior and a noising process, with the
// derivatives posterior methods need: its Jacobian J = d E[x|x_t] / d x_t applied to tangents (JVP)
// and transposed to cotangents (VJP), after one linearization at x_t. Tweedie's covariance follows:
//
//   Cov[x | x_t] = (sigma(t)^2 / alpha(t)) J.
//
// Batches: x_t is (N, item_shape...), one time t for the whole batch. jvp/vjp accept k*N items
// (k tangents per linearized item: item b pairs with linearized item b % N), as nn::Network does.
#include <memory>

#include "runtime/context.h"
#include "runtime/tensor.h"
#include "samplers/process.h"

namespace tweedie::samplers {

class DenoiserLinearization {
 public:
  virtual ~DenoiserLinearization() = default;
  std::int64_t batch = 0;
  double t = 0;
};

class Denoiser {
 public:
  virtual ~Denoiser() = default;
  virtual const Process& process() const = 0;
  virtual Shape item_shape() const = 0;  // (D) for vectors, (C, H, W) for images

  virtual void denoise(Context& ctx, const Tensor& xt, double t, Tensor& x0) const = 0;
  virtual std::unique_ptr<DenoiserLinearization> linearize(Context& ctx, const Tensor& xt, double t, Tensor& x0) const = 0;
  virtual void jvp(Context& ctx, const DenoiserLinearization& lin, const Tensor& v, Tensor& jv) const = 0;
  virtual void vjp(Context& ctx, const DenoiserLinearization& lin, const Tensor& u, Tensor& ju) const = 0;

  // guided-diffusion's learned-range variance: a network that predicts it also returns, with the
  // mean, its raw variance output v in [-1, 1] (shape of x0); DDPM ancestral steps interpolate the
  // log variance between the posterior's and beta's by (v + 1) / 2. The default has none.
  virtual bool has_learned_variance() const { return false; }
  virtual void denoise_with_variance(Context& ctx, const Tensor& xt, double t, Tensor& x0, Tensor& v) const;

  // Counters for reports ("network evaluations"): forward passes, JVPs and VJPs, in items.
  mutable std::int64_t forward_count = 0, jvp_count = 0, vjp_count = 0;

 protected:
  // For denoisers wrapped around another (posterior denoisers): the network work is the inner one's,
  // plus calls of other networks they run themselves, so that reports read it off either.
  void mirror_counters(const Denoiser& inner, std::int64_t own_forward = 0, std::int64_t own_vjp = 0) const {
    forward_count = inner.forward_count + own_forward;
    jvp_count = inner.jvp_count;
    vjp_count = inner.vjp_count + own_vjp;
  }
};

// A denoiser conditioned on observations, E[x | x_t, y] (MMPS, the count posteriors, the guided
// denoiser): samplers and reverse mean propagation call only denoise(), so it offers no linearization;
// linearize, jvp and vjp throw ArgumentError naming `name`.
class PosteriorDenoiser : public Denoiser {
 public:
  explicit PosteriorDenoiser(const char* name) : name_(name) {}
  std::unique_ptr<DenoiserLinearization> linearize(Context&, const Tensor&, double, Tensor&) const override { no_derivatives(); }
  void jvp(Context&, const DenoiserLinearization&, const Tensor&, Tensor&) const override { no_derivatives(); }
  void vjp(Context&, const DenoiserLinearization&, const Tensor&, Tensor&) const override { no_derivatives(); }

 private:
  [[noreturn]] void no_derivatives() const;
  const char* name_;
};

// Cov[x | x_t] v = (sigma^2 / alpha) J v, by a JVP (default) or a VJP (J is symmetric in exact
// arithmetic; the VJP route is what reverse-mode-only networks offer).
void tweedie_covariance(Context& ctx, const Denoiser& d, const DenoiserLinearization& lin, const Tensor& v,
                        Tensor& out, bool by_vjp = false);

}  // namespace tweedie::samplers
