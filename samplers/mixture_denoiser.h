#pragma once
// The exact denoiser of a Gaussian mixture prior x ~ sum_k w_k N(mu_k, S_k) with dense S_k. With
// x_t = alpha x + sigma z, A_k = alpha^2 S_k + sigma^2 I and each S_k = U_k diag(l_k) U_k^T
// eigendecomposed once in double:
//
//   r_k(x_t) = w_k N(x_t; alpha mu_k, A_k) / sum_j (...)    (log-sum-exp in double per item; the quadratic
//                                                             form and log det A_k from the eigenvalues)
//   m_k      = mu_k + alpha S_k A_k^{-1} (x_t - alpha mu_k)  (component k's Gaussian posterior mean)
//   g_k      = -A_k^{-1} (x_t - alpha mu_k)                  (component k's score)
//   E[x|x_t] = sum_k r_k m_k
//
// Differentiating, with grad r_k = r_k (g_k - gbar), gbar = sum_j r_j g_j, J_k = alpha S_k A_k^{-1}:
//
//   J v   = sum_k r_k J_k v + sum_k r_k (m_k - E) (g_k . v - sum_j r_j g_j . v)
//   J^T u = sum_k r_k J_k u + sum_k r_k g_k ((m_k - E) . u - sum_j r_j (m_j - E) . u)
//
// (m_k - E may stand for m_k because the r_k (...) coefficients sum to zero; it keeps the products
// small.) J is symmetric in exact arithmetic, as Tweedie's covariance is: alpha m_k = x_t + sigma^2 g_k.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "samplers/denoiser.h"

namespace tweedie::samplers {

// A mixture as host data in double; field names are the prior file's dataset names (io/FORMAT.md).
struct MixturePrior {
  std::int64_t dim = 0;          // D
  std::vector<double> weights;   // K values >= 0 summing to 1 (within kWeightTolerance; renormalised)
  std::vector<double> means;     // K x D
  std::vector<double> covs;      // K x D x D, each symmetric positive semi-definite
  std::int64_t components() const { return std::int64_t(weights.size()); }
};

inline constexpr double kWeightTolerance = 1e-6;

class MixtureDenoiser final : public Denoiser {
 public:
  // Validates the prior (ArgumentError naming `where` and the field) and keeps each component's mean
  // and eigenbasis on `device`.
  MixtureDenoiser(MixturePrior prior, std::unique_ptr<Process> process, Device device,
                  const std::string& where = "gaussian mixture prior");

  const Process& process() const override { return *process_; }
  Shape item_shape() const override { return {prior_.dim}; }
  const MixturePrior& prior() const { return prior_; }
  Device device() const { return device_; }
  const std::vector<double>& eigenvalues(std::int64_t k) const { return eigenvalues_[std::size_t(k)]; }

  void denoise(Context& ctx, const Tensor& xt, double t, Tensor& x0) const override;
  std::unique_ptr<DenoiserLinearization> linearize(Context& ctx, const Tensor& xt, double t, Tensor& x0) const override;
  void jvp(Context& ctx, const DenoiserLinearization& lin, const Tensor& v, Tensor& jv) const override;
  void vjp(Context& ctx, const DenoiserLinearization& lin, const Tensor& u, Tensor& ju) const override;

  // The responsibilities r_k(x_t) of xt (N, D), item-major (N x K).
  std::vector<double> responsibilities(Context& ctx, const Tensor& xt, double t) const;

  // Exact draws into out (N, D): a component by a uniform draw, then mu_k + S_k^{1/2} z. Item n uses
  // Philox streams of `seed` that do not depend on N.
  void sample_prior(Context& ctx, std::uint64_t seed, Tensor& out) const;

  struct Linearization;

 private:
  // Per component at one t: J_k's gains alpha l / (alpha^2 l + sigma^2) and A_k^{-1/2}'s 1/sqrt(alpha^2 l + sigma^2)
  // in the eigenbasis, and log det A_k.
  struct Gains {
    std::vector<Tensor> jacobian, whiten;
    std::vector<double> log_det;
  };
  Gains make_gains(double t) const;
  // E into x0; responsibilities into resp; with lin, what JVPs and VJPs need.
  void run(Context& ctx, const Tensor& xt, double t, Tensor* x0, std::vector<double>& resp, Linearization* lin) const;
  void product(Context& ctx, const DenoiserLinearization& lin, const Tensor& in, Tensor& out, bool transpose) const;
  void check_items(const Context& ctx, const char* name, const Tensor& x) const;

  MixturePrior prior_;
  std::unique_ptr<Process> process_;
  Device device_;
  std::vector<std::vector<double>> eigenvalues_;
  std::vector<Tensor> means_;  // (D) each
  std::vector<Tensor> bases_;  // (D, D) each, rows the eigenvectors
  std::vector<Tensor> roots_;  // sqrt of the eigenvalues (D) each, for sampling
};

}  // namespace tweedie::samplers
