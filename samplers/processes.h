#pragma once
// The concrete noising processes behind process.h, for code that builds one directly rather than from a
// model file's schedule or the CLI's --process text. Constructors check their arguments and throw
// ArgumentError naming `where` and the field.
//
// Time conventions (t_min is where sampling stops, t_max where it starts):
//   vp      beta(t) = beta_min + t (beta_max - beta_min), alpha = exp(-1/2 int_0^t beta), t in [1e-3, 1]
//   subvp   alpha as vp, sigma = 1 - alpha^2 (score_sde's sub-VP), t in [1e-3, 1]
//   ve      alpha = 1, sigma = sigma_min (sigma_max / sigma_min)^t, t in [1e-5, 1]
//   edm     alpha = 1, sigma = t, t in [sigma_min, sigma_max]; Karras' rho grid
//   cosine  alpha^2 = f(t) / f(0), f = cos^2((t + s) / (1 + s) pi / 2), t in [1e-3, t_max], where t_max is
//           the time at which the instantaneous beta(t) = -2 d log alpha / dt reaches 999 (0.99800 for
//           s = 0.008): beyond it alpha -> 0 and the SDE's coefficients blow up (DPM-Solver's convention)
//   table   guided-diffusion's discrete betas; t is an integer index 0..T-1
#include <string>
#include <vector>

#include "samplers/process.h"

namespace tweedie::samplers {

class VpProcess : public Process {
 public:
  explicit VpProcess(double beta_min = 0.1, double beta_max = 20, double eps = 1e-3, const std::string& where = "vp");
  std::string name() const override { return "vp"; }
  double alpha(double t) const override;
  double sigma(double t) const override;
  double drift(double t) const override;
  double diffusion2(double t) const override;
  double t_min() const override { return eps_; }
  double t_max() const override { return 1; }
  std::vector<double> time_grid(int steps) const override;
  double beta(double t) const { return beta_min_ + t * (beta_max_ - beta_min_); }
  double integral_beta(double t) const { return t * beta_min_ + 0.5 * t * t * (beta_max_ - beta_min_); }

 protected:
  double beta_min_, beta_max_, eps_;
};

class SubVpProcess : public VpProcess {
 public:
  explicit SubVpProcess(double beta_min = 0.1, double beta_max = 20, double eps = 1e-3,
                        const std::string& where = "subvp");
  std::string name() const override { return "subvp"; }
  double sigma(double t) const override;
  double diffusion2(double t) const override;
};

class VeProcess : public Process {
 public:
  explicit VeProcess(double sigma_min = 0.01, double sigma_max = 50, double eps = 1e-5, const std::string& where = "ve");
  std::string name() const override { return "ve"; }
  double alpha(double) const override { return 1; }
  double sigma(double t) const override;
  double drift(double) const override { return 0; }
  double diffusion2(double t) const override;
  double t_min() const override { return eps_; }
  double t_max() const override { return 1; }
  std::vector<double> time_grid(int steps) const override;

 private:
  double sigma_min_, sigma_max_, eps_;
};

class EdmProcess : public Process {
 public:
  explicit EdmProcess(double sigma_min = 0.002, double sigma_max = 80, double rho = 7, double sigma_data = 0.5,
                      const std::string& where = "edm");
  std::string name() const override { return "edm"; }
  double alpha(double) const override { return 1; }
  double sigma(double t) const override { return t; }
  double drift(double) const override { return 0; }
  double diffusion2(double t) const override { return 2 * t; }
  double t_min() const override { return sigma_min_; }
  double t_max() const override { return sigma_max_; }
  // sigma_i = (sigma_max^(1/rho) + i/steps (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho, i = 0..steps; the
  // ends are exactly sigma_max and sigma_min (Karras' appended sigma = 0 is left out: sampling stops at t_min).
  std::vector<double> time_grid(int steps) const override;
  double rho() const { return rho_; }
  double sigma_data() const { return sigma_data_; }  // recorded for the denoiser's preconditioning; unused here

 private:
  double sigma_min_, sigma_max_, rho_, sigma_data_;
};

class CosineProcess : public Process {
 public:
  explicit CosineProcess(double s = 0.008, double eps = 1e-3, const std::string& where = "cosine");
  std::string name() const override { return "cosine"; }
  double alpha(double t) const override;
  double sigma(double t) const override;
  double drift(double t) const override;
  double diffusion2(double t) const override;
  double t_min() const override { return eps_; }
  double t_max() const override { return t_max_; }
  std::vector<double> time_grid(int steps) const override;

 private:
  double theta(double t) const;  // the cosine's argument (t + s) / (1 + s) pi / 2
  double s_, eps_, t_max_, log_cos_theta0_;
};

// guided-diffusion's discrete DDPM: alpha_bar_i = prod_{j <= i} (1 - beta_j), alpha = sqrt(alpha_bar),
// sigma = sqrt(1 - alpha_bar), at integer t only (a non-integer or out-of-range t throws ArgumentError).
class DdpmTable : public Process {
 public:
  DdpmTable(std::string name, std::vector<double> betas, const std::string& where = "ddpm");
  // get_named_beta_schedule("linear", T): beta_start = 1e-4 * 1000 / T, beta_end = 0.02 * 1000 / T.
  static DdpmTable linear(int timesteps, const std::string& where = "ddpm-linear");
  static DdpmTable linear(int timesteps, double beta_start, double beta_end, const std::string& where = "ddpm-linear");
  // betas_for_alpha_bar with alpha_bar(t) = cos^2((t + s) / (1 + s) pi / 2) and max_beta = 0.999.
  static DdpmTable cosine(int timesteps, double s = 0.008, const std::string& where = "ddpm-cosine");

  std::string name() const override { return name_; }
  bool continuous() const override { return false; }
  double alpha(double t) const override;
  double sigma(double t) const override;
  double drift(double t) const override;
  double diffusion2(double t) const override;
  double t_min() const override { return 0; }
  double t_max() const override { return double(betas_.size() - 1); }
  // guided-diffusion's space_timesteps(T, [steps + 1]) in decreasing order: T-1 first, 0 last.
  std::vector<double> time_grid(int steps) const override;

  int timesteps() const { return int(betas_.size()); }
  const std::vector<double>& betas() const { return betas_; }
  const std::vector<double>& alphas_cumprod() const { return alpha_bar_; }

 private:
  std::size_t index(double t) const;
  std::string name_;
  std::vector<double> betas_, alpha_bar_;
};

// guided-diffusion's space_timesteps(timesteps, [count]): `count` indices, evenly strided from 0 to
// timesteps - 1 with Python's round-half-to-even, increasing. ArgumentError when count > timesteps.
std::vector<int> space_timesteps(int timesteps, int count);

}  // namespace tweedie::samplers
