#pragma once
// RePaint (Lugmayr et al. 2022): inpainting by the unconditional DDPM chain, with the measured pixels
// replaced at every step by the observation noised to the step's level, and each step resampled:
// after the step from t to s, x_s is noised back to t and the step is taken again, `resamples` times
// in all (jump length 1), so that the unknown pixels harmonise with the known ones. Per step from t to s,
// with m the operator's 0/1 mask:
//
//   unknown = a DDPM ancestral step from x_t (the prior's E[x | x_t])
//   known   = alpha_s y + sqrt(max(sigma_s^2 - alpha_s^2 sigma_y^2, 0)) z   (y carries its own noise)
//   x_s     = m known + (1 - m) unknown
//
// and back from s to t: x_t = (alpha_t / alpha_s) x_s + sqrt(sigma_t^2 - (alpha_t / alpha_s)^2 sigma_s^2) z.
// It ends with E[x | x_{t_min}] (SamplerOptions::denoise_last) or x_{t_min}. Costs `resamples` forward
// passes per step. Operators that act as a 0/1 mask (inpainting, the identity) with Gaussian noise of
// one sigma only (repaint_unsupported).
#include <cstdint>
#include <string>

#include "samplers/denoiser.h"
#include "samplers/noise/likelihood.h"
#include "samplers/sampler.h"

namespace tweedie::samplers {

struct RepaintOptions {
  int resamples = 10;  // U >= 1: passes per step (1: no resampling)
};

// Empty when RePaint can run on this likelihood, else why not (for refusals).
std::string repaint_unsupported(Context& ctx, const Likelihood& likelihood);

// For y (count, output...), one observation per sample, on the grid of sampler.steps; noise keyed as
// sample()'s (sample_noise_stream). The hook sees each step's first pass.
Tensor sample_repaint(Context& ctx, const Denoiser& prior, const Likelihood& likelihood, const Tensor& y, const RepaintOptions& options,
                      const SamplerOptions& sampler, std::int64_t count, std::uint64_t seed, std::int64_t first_index = 0,
                      const StepHook& hook = {});

}  // namespace tweedie::samplers
