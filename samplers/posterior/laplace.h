#pragma once
// The Laplace approximation of p(x | y) under a Gaussian prior N(mu, S), a linear operator A and a noise
// model with independent entries (Gaussian on real or complex data, Poisson, Binomial), worked in
// whitened prior coordinates: x = mu + R w with R R^T = S, so that w ~ N(0, I) a priori and no inverse
// of S is needed (a smooth GP kernel on a fine grid makes S numerically singular). With z = A x:
//
//   log p(w | y) = sum_k log p(y_k | z_k) - |w|^2 / 2 + const,   z = A mu + B w,   B = A R.
//
// The mode comes from Newton's method with backtracking: the step solves P d = B^T r - w with
// P = I + B^T diag(h) B, r the per-entry score and h the per-entry Fisher weight (the negative Hessian
// for Gaussian noise, Poisson with the exp link and Binomial; Fisher scoring for the softplus link).
// N(mode, P^-1) at the mode is the approximation. P's eigenvalues are >= 1, so its Cholesky factor
// never fails on a valid problem.
//
// Everything is dense and in double, on the host: the tool for ground truth on problems up to a few
// thousand unknowns (kMaxLaplaceDim), not a production reconstruction.
#include <cstdint>
#include <string>
#include <vector>

#include "samplers/gaussian_denoiser.h"
#include "samplers/noise/likelihood.h"

namespace tweedie::samplers {

inline constexpr std::int64_t kMaxLaplaceDim = 4096;       // D
inline constexpr std::int64_t kMaxLaplaceOutputs = 16384;  // real output values K

// The problem as dense matrices (K counts real and imaginary parts of complex outputs separately).
struct WhitenedProblem {
  enum class Noise { gaussian, poisson, binomial };
  std::int64_t dim = 0, outputs = 0;  // D, K
  std::vector<double> prior_mean;     // mu, D
  std::vector<double> root;           // R, D x D row-major
  std::vector<double> design;         // B = A R, K x D row-major
  std::vector<double> offset;         // A mu, K
  std::vector<double> observed;       // 1 where an entry is measured, else 0; K
  Noise noise = Noise::gaussian;
  std::vector<double> parameter;      // per entry: the Gaussian variance, or the Binomial trials; K
  CountLaw law;                       // Poisson and Binomial
};

// Why the Laplace approximation cannot be built for this prior and likelihood ("" when it can): a
// nonlinear operator, another noise model, too many unknowns or outputs.
std::string laplace_unsupported(const GaussianDenoiser& prior, const Likelihood& likelihood);
// Throws ArgumentError with laplace_unsupported()'s reason, prefixed with `where`.
WhitenedProblem whitened_problem(Context& ctx, const GaussianDenoiser& prior, const Likelihood& likelihood,
                                 const std::string& where);

// One entry's score d log p(y | z) / dz and Fisher weight, in double.
struct EntryTerms {
  double score = 0, weight = 0;
};
EntryTerms entry_terms(const WhitenedProblem& p, std::int64_t k, double y, double z);
// sum_k log p(y_k | z_k) over the measured entries (y and z: K values) up to terms free of z (log y!,
// the binomial coefficient, Gaussian normalisation), which cost log-gammas and cancel wherever the
// sum is compared with itself (Newton's line search, slice levels).
double log_likelihood_kernel(const WhitenedProblem& p, const double* y, const double* z);

struct LaplaceFit {
  std::vector<double> mode;      // w at the mode, D
  std::vector<double> cholesky;  // L with P = L L^T, D x D row-major, lower (upper triangle 0)
  int iterations = 0;
  bool converged = false;        // the last Newton step was below 1e-9 in every coordinate
};
// y: K values (the observation as real values, unmeasured entries anything).
LaplaceFit fit_laplace(const WhitenedProblem& p, const double* y, int max_iterations = 200);

}  // namespace tweedie::samplers
