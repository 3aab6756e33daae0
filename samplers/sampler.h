#pragma once
// Unconditional (and, through a posterior denoiser, conditional) sampling loops, written only against
// Denoiser: Euler-Maruyama on the reverse SDE, the probability-flow ODE (Euler, Heun), predictor-
// corrector with Langevin correction, DDPM ancestral, DDIM(eta), EDM's Heun, and two multistep solvers
// of the probability-flow ODE in lambda = log(alpha / sigma) with the data prediction E[x | x_t]:
// DPM-Solver++(2M) (Lu et al. 2022, algorithm 2) and exponential Adams-Bashforth of order 1-3 (the
// polynomial through the last `order` data predictions, integrated against e^lambda exactly; order 1 is
// DDIM(eta = 0)). The multistep kinds reuse earlier steps' denoiser outputs, so they reach second or
// third order at one denoiser call per step; like ddpm and ddim they need only alpha and sigma at the
// grid points, so they also run on discrete tables. Below 10 steps dpm++2m takes its last step at first
// order, as the reference implementation does (lower_order_final).
//
// Noise is Philox keyed by (seed, step, sample index), so a sample does not depend on the batch it was
// drawn in, the thread count or the device.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "kernels/random.h"
#include "runtime/context.h"
#include "runtime/tensor.h"
#include "samplers/denoiser.h"

namespace tweedie::samplers {

struct SamplerOptions {
  std::string kind = "ddim";  // em, ode-euler, ode-heun, pc, ddpm, ddim, edm-heun, dpm++2m, eab
  int steps = 50;
  int order = 3;             // eab: the Adams-Bashforth order, 1..3 (the first steps use what they have)
  double eta = 0.0;          // ddim: 0 deterministic, 1 as ancestral
  double snr = 0.16;         // pc: Langevin signal-to-noise ratio (score_sde)
  int corrector_steps = 1;   // pc: Langevin steps per predictor step
  bool denoise_last = true;  // return E[x | x_{t_min}] rather than x_{t_min} (score_sde's noise removal)
};

struct StepInfo {
  int step = 0, steps = 0;
  double t = 0, t_next = 0;
  const Tensor* x = nullptr;   // x_t before the step
  const Tensor* x0 = nullptr;  // the denoiser's E[x | x_t] at this step
};
using StepHook = std::function<void(const StepInfo&)>;

// Guidance (posterior methods that act on the sampler's steps, like DPS): called after each step with
// the step's StepInfo (x_t before the step, E[x | x_t], t, t_next) and x_next, which it may change in
// place. The loop keeps a copy of x_t for it, only when guidance is set. Called for the last step too;
// sample()'s final denoise (denoise_last) then sees the guided x.
using StepGuidance = std::function<void(Context& ctx, const StepInfo& info, Tensor& x_next)>;

// Where a sampling loop stands between two steps: all it needs to go on exactly as if it had not
// stopped (the noise of every later step is keyed by its own step id).
struct SamplerState {
  int steps_done = 0;              // steps of the time grid completed
  std::uint64_t next_noise = 1;    // the step id of the next noise draw
  Tensor x;                        // x after steps_done steps, (count, item...)
  // Multistep kinds (dpm++2m, eab): the denoiser's E[x | x_t] of the latest steps, newest first, as many
  // as the next step reads (min(steps_done, order - 1); dpm++2m: order 2). Their times are the grid's.
  // Empty for the other kinds.
  std::vector<Tensor> x0_history;
};

// Checkpoints: `resume` starts the loop from a saved state instead of the initial draw; `after_step`
// sees the state after every completed step (to save it, or to stop the run by throwing). The state's
// tensors are the loop's own buffers, which later steps overwrite: clone them to keep a state.
struct Resumable {
  const SamplerState* resume = nullptr;
  std::function<void(const SamplerState&)> after_step;
};

std::vector<std::string> sampler_kinds();
std::string sampler_kind_list();  // "em, ode-euler, ..." for messages and help

// The noise of sample() and of the posterior methods with loops of their own: Philox stream
// (step_id << 40) + sample index, so a sample's noise is the same whatever batch it is drawn in. Step
// ids: 0 for the initial draw, then one per noise use. (Rows of a fill_normal take stream + row.)
RandomStream sample_noise_stream(std::uint64_t seed, std::uint64_t step_id, std::int64_t first_index);

// Draws `count` samples with indices first_index .. first_index + count - 1 (the index keys the noise).
// Returns (count, item_shape...). The hook, when set, sees every step (progress bars, diagnostics),
// after the step's denoiser call and before the update; the guidance, when set, follows the update.
// A NaN or infinity in the denoiser's output, the update or the guided x stops the loop with a
// NumericError naming the step, the stage and the item.
Tensor sample(Context& ctx, const Denoiser& denoiser, const SamplerOptions& options, std::int64_t count,
              std::uint64_t seed, std::int64_t first_index = 0, const StepHook& hook = {},
              const StepGuidance& guidance = {}, const Resumable& resumable = {});

}  // namespace tweedie::samplers
