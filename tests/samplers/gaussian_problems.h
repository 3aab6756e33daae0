#pragma once
// Posterior problems solvable in closed form, shared by the MMPS and RMP tests. For a Gaussian prior
// N(mu, S) and y = A x + n, n ~ N(0, R), every quantity is Gaussian: p(x | x_t, y) conditions x on the
// stacked observation (x_t, y) = H x + noise with H = [alpha I; A], and p(x | y) on y alone, both in
// closed form, computed here in double from the dense S and the operator's matrix on its measured
// entries.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "samplers/closed_form_process.h"
#include "samplers/gaussian_denoiser.h"
#include "samplers/operators/operator.h"
#include "samplers/posterior/mmps.h"

namespace tweedie::test {

using Matrix = std::vector<double>;  // row-major

struct Gaussian {
  std::vector<double> mean;
  Matrix cov;
};

// x ~ N(mu, S) conditioned on o = H x + e, e ~ N(0, diag(noise)), H k x d:
//   mean = mu + S H^T G^{-1} (o - H mu),  cov = S - S H^T G^{-1} H S,  G = H S H^T + diag(noise).
Gaussian condition(const Matrix& s, const std::vector<double>& mu, const Matrix& h, const std::vector<double>& o,
                   const std::vector<double>& noise);
// The same with correlated noise, e ~ N(0, noise), noise a k x k covariance.
Gaussian condition_correlated(const Matrix& s, const std::vector<double>& mu, const Matrix& h, const std::vector<double>& o,
                              const Matrix& noise);

// A posterior problem: a Gaussian prior with its dense covariance, an operator with its matrix on the
// measured entries (rows over the real and imaginary parts of complex outputs), and one observation.
struct Problem {
  std::shared_ptr<samplers::GaussianDenoiser> prior;
  std::shared_ptr<const samplers::Operator> op;
  Matrix s;
  std::vector<double> mu;
  std::int64_t d = 0;
  Matrix a;                  // k x d
  std::vector<double> obs;   // the measured entries of y (k)
  double noise_var = 0;
  Tensor y, variance;        // (1, output...) and the output item shape
  int y_dim = 0;             // real dimension of the output: the most CG iterations can need
};

// kind: "matrix" (D = 16 vector, dense prior, 8 x 16 matrix), "mask-dense" / "mask-stationary" ((1, 8, 8)
// image, half the pixels kept), "mri" ((1, 8, 8) real image, stationary prior, a column mask),
// "white-matrix" ("matrix" under a N(0, I) prior), "diagonal-mask" ("mask-dense" under a diagonal prior).
Problem make_problem(const std::string& kind, std::unique_ptr<samplers::Process> process = std::make_unique<TrigProcess>());

// E[x | x_t, y] for one x_t, and p(x | y).
std::vector<double> exact_denoiser(const Problem& pb, const std::vector<double>& xt, double alpha, double sigma);
Gaussian exact_posterior(const Problem& pb);

// The largest relative error of a posterior denoiser d against want(x_t, alpha, sigma) (one item, in
// double) at t = 0.05, 0.3, 0.6, 0.9 on a batch of three x_t; by default want is exact_denoiser.
using DenoiserReference = std::function<std::vector<double>(const std::vector<double>& xt, double alpha, double sigma)>;
double denoiser_error(const Problem& pb, const samplers::Denoiser& d, const DenoiserReference& want = {});

// The moments of n samples (rows of d) against N(mean, cov): the root mean square over coordinates of
// the mean error in posterior standard deviations, and the relative Frobenius error of the covariance.
struct MomentError {
  double mean = 0, cov = 0;
};
MomentError moment_error(const std::vector<double>& x, const Gaussian& p, std::int64_t d);
// n exact draws from N(mean, cov) in double: the Monte-Carlo floor of moment_error at this n.
std::vector<double> exact_draws(const Gaussian& p, std::int64_t d, std::int64_t n, std::uint64_t seed);

// MMPS options whose CG solve converges to rounding on this problem.
samplers::MmpsOptions converged(const Problem& pb, const std::string& solver = "cg");

}  // namespace tweedie::test
