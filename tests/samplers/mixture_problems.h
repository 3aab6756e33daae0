#pragma once
// Gaussian-mixture posterior problems shared by the MMPS/DPS and RMP benchmarks: a mixture prior, a
// random matrix A (m x d, N(0, 2/d) entries), a truth drawn from the prior, y = A x* + sigma_y n, and
// the exact posterior, again a mixture (each component conditioned on y, reweighted by its evidence).
#include <cstdint>
#include <functional>
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

// What a method's samples are scored against: the exact posterior as a denoiser (its conditioned
// mixture on the VP process), n exact posterior draws, and two yardsticks of sliced W2 to those draws:
// another exact set (the Monte-Carlo floor) and prior draws (what ignoring y scores).
struct MixtureReference {
  std::unique_ptr<samplers::MixtureDenoiser> posterior;
  std::vector<double> draws;
  double floor = 0, prior = 0;
};
MixtureReference make_mixture_reference(const MixtureProblem& p, std::int64_t n);

// y repeated for a sampler batch of n.
Tensor repeated_y(const MixtureProblem& p, std::int64_t n);

// Held-out tuning of a step size over instances: the index v < values whose summed score(v, j) over the
// instances j other than held_out is least; over every instance when held_out < 0 (the oracle's
// choice) or when there is only one.
std::size_t held_out_choice(std::size_t values, int instances, int held_out, const std::function<double(std::size_t v, int j)>& score);

}  // namespace tweedie::test
