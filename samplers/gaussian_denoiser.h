#pragma once
// Exact denoisers for Gaussian priors x ~ N(mu, S), the ground truth the samplers are tested against.
// With x_t = alpha x + sigma z and A = alpha^2 S + sigma^2 I,
//
//   E[x | x_t] = mu + J (x_t - alpha mu),   J = alpha S A^{-1}   (symmetric; JVP = VJP = J v).
//
// J does not depend on x_t, so a linearization is J at one t. S comes in four structures, each applied
// without forming a D x D inverse:
//
//   dense       S = U diag(l) U^T, eigendecomposed once in double: J = U diag(alpha l / (alpha^2 l + sigma^2)) U^T
//   diagonal    S = diag(d): J = diag(alpha d / (alpha^2 d + sigma^2))
//   low rank    S = diag(d) + W W^T (W: D x r): by Woodbury, with e = alpha^2 d + sigma^2, G = diag(1/e) W and
//               K = I + alpha^2 W^T G, J = diag(alpha d / e) + alpha sigma^2 G K^{-1} G^T. Both terms are
//               positive semi-definite, so nothing cancels; the r x r Cholesky of K is redone per t.
//   stationary  images (C, H, W): S = F^H diag(p) F per channel, F the unitary 2-D DFT, p >= 0 the power
//               spectrum with p[c, k, l] = p[c, -k mod H, -l mod W] (what makes S real):
//               J = F^H diag(alpha p / (alpha^2 p + sigma^2)) F.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "samplers/denoiser.h"

namespace tweedie::samplers {

// A Gaussian prior as host data in double. Field names are the prior file's dataset names (io/FORMAT.md).
struct GaussianPrior {
  enum class Covariance { dense, diagonal, low_rank, stationary };
  Covariance kind = Covariance::dense;
  Shape item_shape;              // (D), or any item shape; (C, H, W) for stationary
  std::vector<double> mean;      // item_shape.numel() values
  std::vector<double> cov;       // dense: D x D, row-major, symmetric positive semi-definite
  std::vector<double> var;       // diagonal and low rank: D values >= 0
  std::vector<double> factor;    // low rank: W, D x rank, row-major
  std::int64_t rank = 0;         // low rank: the columns of W
  std::vector<double> spectrum;  // stationary: (C, H, W) values >= 0, symmetric under (k, l) -> (-k, -l)
};

const char* covariance_name(GaussianPrior::Covariance kind);  // "dense", "diagonal", "low-rank", "stationary"

// Tolerances of the checks below (and of the prior files, which use them): relative to the largest entry
// (symmetry), the largest eigenvalue (positive semi-definiteness) and the largest spectrum value
// (spectrum symmetry).
inline constexpr double kSymmetryTolerance = 1e-6;
inline constexpr double kPsdTolerance = 1e-5;

// Eigendecomposition of a symmetric n x n matrix (row-major, double) by LAPACK's dsyevd: ascending
// values, and vectors as rows (row i belongs to values[i]).
struct SymmetricEigen {
  std::vector<double> values;
  std::vector<double> vectors;  // n x n
};
SymmetricEigen symmetric_eigen(std::vector<double> a, std::int64_t n);

// Checks that the n x n `matrix` named `name` is finite, symmetric (kSymmetryTolerance) and positive
// semi-definite (kPsdTolerance); returns its eigendecomposition with the tolerated small negative
// eigenvalues set to 0. ArgumentError naming `where` and `name`.
SymmetricEigen checked_covariance_eigen(const std::vector<double>& matrix, std::int64_t n, const std::string& where,
                                        const std::string& name);

class GaussianDenoiser final : public Denoiser {
 public:
  // Validates the prior (ArgumentError naming `where` and the field) and keeps on `device` what
  // denoising needs (the eigenbasis as f32, the mean, W).
  GaussianDenoiser(GaussianPrior prior, std::unique_ptr<Process> process, Device device,
                   const std::string& where = "gaussian prior");

  const Process& process() const override { return *process_; }
  Shape item_shape() const override { return prior_.item_shape; }
  const GaussianPrior& prior() const { return prior_; }
  Device device() const { return device_; }
  // The eigenvalues of S, ascending (dense only; empty otherwise).
  const std::vector<double>& eigenvalues() const { return eigenvalues_; }

  void denoise(Context& ctx, const Tensor& xt, double t, Tensor& x0) const override;
  std::unique_ptr<DenoiserLinearization> linearize(Context& ctx, const Tensor& xt, double t, Tensor& x0) const override;
  void jvp(Context& ctx, const DenoiserLinearization& lin, const Tensor& v, Tensor& jv) const override;
  void vjp(Context& ctx, const DenoiserLinearization& lin, const Tensor& u, Tensor& ju) const override;

  // Exact draws x = mu + S^{1/2} z into out (N, item...): item n uses Philox streams of `seed` that do
  // not depend on N (kernels/random.h), so a draw is the same whatever the batch.
  void sample_prior(Context& ctx, std::uint64_t seed, Tensor& out) const;

  struct Linearization;

 private:
  // J at one t: gains in the structure's basis, and the low-rank factor H with J = diag(gains) + H H^T.
  struct Operator {
    Tensor gains;   // (D); stationary: (2 C H W), each gain twice, for interleaved complex values
    Tensor factor;  // low rank: (D, r)
  };
  Operator make_operator(double t) const;
  // y = M x for rows of x (M, D) with M = diag(gains) in the structure's basis (+ H H^T for low rank).
  void apply(Context& ctx, const Operator& op, const Tensor& x, Tensor& y) const;
  void apply_stationary(Context& ctx, const Tensor& gains, const Tensor& x, Tensor& y) const;
  void check_items(const Context& ctx, const char* name, const Tensor& x) const;
  void check_product(const Context& ctx, const DenoiserLinearization& lin, const char* in_name, const Tensor& in,
                     const Tensor& out) const;

  GaussianPrior prior_;
  std::unique_ptr<Process> process_;
  Device device_;
  std::int64_t dim_ = 0;
  std::vector<double> eigenvalues_;
  Tensor mean_;        // (D)
  Tensor basis_;       // dense: (D, D), row i the eigenvector of eigenvalue i
  Tensor factor_;      // low rank: W (D, r)
  Tensor sqrt_gains_;  // S^{1/2} in the structure's basis (the layout of Operator::gains)
  Tensor one_;         // (1) holding 1, the scalar of the GEMMs that interleave real and complex values
};

namespace detail {
// Broadcast products on f32 (rows, cols) tensors through kernels/ ops, so they run on any device.
// y = x * f[col] (f: (cols) on the device); y must not be x.
void scale_columns(Context& ctx, const Tensor& x, const Tensor& f, Tensor& y);
// y += x * f[row] (f: host values, one per row); scratch is a (rows, cols) tensor it may overwrite.
void add_scaled_rows(Context& ctx, const Tensor& x, const std::vector<double>& f, Tensor& y, Tensor& scratch);
// An f32 tensor on `device` holding `values`.
Tensor upload(const std::vector<double>& values, const Shape& shape, Device device);
}  // namespace detail

}  // namespace tweedie::samplers
