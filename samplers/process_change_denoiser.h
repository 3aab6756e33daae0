#pragma once
// A denoiser trained for one noising process, run under another. E[x | x_t] depends on x_t only
// through x_t / alpha(t) and its noise level sigma(t) / alpha(t), so at time t of the new process the
// trained denoiser is evaluated at its own time t' with the same level and at the rescaled input
//
//   x_t' = (alpha'(t') / alpha(t)) x_t,    sigma'(t') / alpha'(t') = sigma(t) / alpha(t),
//
// and its Jacobian picks up the factor alpha'(t') / alpha(t). This is how a network trained on a VP
// schedule (or a DDPM table) samples, or runs reverse mean propagation, on a VE process. On a discrete
// table t' is the index nearest in log level (its network knows no other times), which leaves a small
// mismatch between the two levels. Levels outside what the trained process reaches are clamped to its
// ends (beyond its largest level x_t holds almost no signal either way; below its smallest, x_t is
// nearly clean).
#include <memory>

#include "samplers/denoiser.h"

namespace tweedie::samplers {

std::unique_ptr<Denoiser> make_process_change_denoiser(std::shared_ptr<const Denoiser> trained, std::unique_ptr<Process> process);

}  // namespace tweedie::samplers
