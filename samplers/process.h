#pragma once
// Noising processes x_t = alpha(t) x + sigma(t) z, z ~ N(0, I), and the SDEs they come from:
//
//   dx = f(t) x dt + g(t) dW,   f = d log alpha / dt,   g^2 = d sigma^2 / dt - 2 f sigma^2.
//
// Continuous processes (VP, sub-VP, VE, EDM, cosine) take t in [t_min, t_max]. A discrete DDPM table
// takes integer t = 0..T-1 (a step index, which is also the network's time input); only samplers that
// need nothing but alpha and sigma at grid points (DDPM, DDIM, dpm++2m, eab) run on it, and it can be respaced.
#include <memory>
#include <string>
#include <vector>

namespace tweedie::samplers {

class Process {
 public:
  virtual ~Process() = default;
  virtual std::string name() const = 0;  // "vp", "subvp", "ve", "edm", "cosine", "ddpm-linear", ...
  virtual double alpha(double t) const = 0;
  virtual double sigma(double t) const = 0;
  virtual bool continuous() const { return true; }
  // f(t) and g(t)^2 of the SDE; a discrete table throws ArgumentError (no derivative).
  virtual double drift(double t) const = 0;
  virtual double diffusion2(double t) const = 0;
  virtual double t_min() const = 0;  // the end time eps of sampling (1e-3 VP, 1e-5 VE) or 0 for a table
  virtual double t_max() const = 0;
  // steps + 1 times from t_max down to t_min (the last is where sampling stops). Uniform in t for VP
  // and VE-like processes, Karras' rho grid for EDM, evenly respaced indices for a table.
  virtual std::vector<double> time_grid(int steps) const = 0;
  // The network's time input at t, by the model file's `time_input` (io/FORMAT.md): "index", "999t",
  // "t", "sigma", "log-sigma", "edm".
  double network_time(double t, const std::string& time_input) const;
};

// From the model file's `diffusion.schedule` JSON (io/FORMAT.md) or the CLI's --process text
// ("vp", "vp:beta_min=0.1,beta_max=20", "ve:sigma_min=0.01,sigma_max=50", "edm", "ddpm-linear:1000",
// "ddpm-cosine:1000", "cosine", "subvp"). ArgumentError naming `where` and the field.
std::unique_ptr<Process> process_from_json(const std::string& schedule_json, const std::string& where);
std::unique_ptr<Process> process_from_spec(const std::string& spec, const std::string& where);

// The t at which sigma(t) / alpha(t) equals `noise_level` (bisection; on a discrete table the index
// nearest in log ratio). ArgumentError when the level is not positive or outside what the process
// reaches. Used to put a denoiser at a noise level (PnP, RED) and to draw training times.
double time_of_noise_level(const Process& process, double noise_level);

}  // namespace tweedie::samplers
