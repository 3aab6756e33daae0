#pragma once
// Gaussian-mixture posterior problems shared by the MMPS/DPS and RMP benchmarks: a mixture prior, a
// random matrix A (m x d, N(0, 2/d) entries), a truth drawn from the prior, y = A x* + sigma_y n, and
// the exact posterior, again a mixture (each component conditioned on y, reweighted by its evidence).
#include <cstdint>
#include <memory>
#include <vector>

#include "samplers/mixture_denoiser.h"
#include "samplers/noise/noise_model.h"
#include "samplers/operators/operator.h"

namespace tweedie::test {

struct MixtureProblem {
  samplers::MixturePrior prior, exact;  // the prior and the exact posterior
  std::shared_ptr<samplers::MixtureDenoiser> denoiser;  // the prior's, on the VP process
  std::shared_ptr<samplers::Operator> op;
  std::shared_ptr<samplers::NoiseModel> noise;
  std::vector<double> y;
  std::size_t m;
};

// Instance `instance` (it seeds A, the truth and the noise) of m observations with noise sigma_y.
MixtureProblem make_mixture_problem(const samplers::MixturePrior& prior, std::size_t m, double sigma_y, std::uint64_t instance);

// y repeated for a sampler batch of n.
Tensor repeated_y(const MixtureProblem& p, std::int64_t n);

}  // namespace tweedie::test
