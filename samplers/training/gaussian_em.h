#pragma once
// A Gaussian prior N(mu, S) fitted to observations alone, y_i = A_i x_i + e_i with e_i ~ N(0, Sigma), by
// expectation-maximisation in closed form: the starting prior of learning a diffusion prior from
// observations (lap 0 of `tweedie em`; Rozet et al. 2024 start the same way).
//
// Each iteration takes the exact Gaussian posterior of every observation under the current prior,
// mean m_i and covariance C_i (E-step), and sets (M-step)
//
//   mu' = (1/M) sum m_i,     S' = (1/M) sum [C_i + (m_i - mu')(m_i - mu')^T]
//
// (for a diagonal S, the diagonal of that). This is EM for the marginal likelihood prod_i N(y_i; A_i mu,
// Sigma + A_i S A_i^T), which therefore never decreases; the report records its mean log per
// observation at every iteration. Directions that no A_i sees keep their initial mean and variance.
//
// Structures, each exact:
//   dense      any linear A_i; A_i is made explicit by applying it to the D unit vectors, so this is for
//              vectors and small items (D <= 2048). The posterior comes from the K x K system
//              Sigma + A S A^T (K the observed outputs), so a singular S is fine.
//   diagonal   A_i^T Sigma^-1 A_i must be diagonal (masks, identity): then C_i is diagonal and the
//              posterior is an entrywise formula. Checked with a random probe per observation; anything
//              else (MRI, blur) is an error that says so.
//   stationary images (C, H, W) with S = F^H diag(p) F per channel (F the unitary 2-D DFT): A_i^T Sigma^-1
//              A_i must be a circular convolution of each channel (single-coil Cartesian MRI with a
//              uniform noise level, circular blur), diagonal in the Fourier basis, so that everything is
//              per frequency; the M-step's p is the mean of posterior variance plus squared mean
//              deviation per frequency, which is the exact maximiser over stationary covariances. Checked
//              with a random probe; masks and coil maps are not circulant and are refused.
#include <cstdint>
#include <memory>
#include <vector>

#include "runtime/context.h"
#include "runtime/tensor.h"
#include "samplers/gaussian_denoiser.h"
#include "samplers/operators/operator.h"

namespace tweedie::samplers {

struct GaussianEmOptions {
  GaussianPrior::Covariance structure = GaussianPrior::Covariance::diagonal;  // dense, diagonal or stationary
  int iterations = 16;
  double initial_variance = 1.0;  // the start: mu = 0, S = initial_variance I
};

struct GaussianEmReport {
  // Mean over observations of log p(y_i) under the prior of each iteration (before its update), and
  // after the last one: iterations + 1 values, non-decreasing up to rounding.
  std::vector<double> log_evidence;
};

// op: one shared operator, or a StackedOperator with one per observation; linear, real (f32) items.
// y: (M, output...) on the host; noise_variance: Sigma's diagonal, output item shape, f32 (as
// NoiseModel::gaussian_variance gives it; for complex outputs each part's). Entries an operator does
// not observe (Operator::observed) are left out. Runs on the host (ctx must be a CPU context).
GaussianPrior fit_gaussian_em(Context& ctx, const std::shared_ptr<const Operator>& op, const Tensor& y, const Tensor& noise_variance,
                              const GaussianEmOptions& options, GaussianEmReport* report = nullptr);

// log p(y_i) of each observation under the Gaussian prior (dense, diagonal or stationary), the quantity
// EM raises.
std::vector<double> gaussian_log_evidence(Context& ctx, const GaussianPrior& prior, const std::shared_ptr<const Operator>& op,
                                          const Tensor& y, const Tensor& noise_variance);

}  // namespace tweedie::samplers
