#pragma once
// The frame of the posterior methods that run their own reverse loop (DiffPIR, DAPS): the sampler's
// time grid, the initial draw and the noise keyed exactly as sample() keys it (sample_noise_stream),
// so that a sample depends on its index and the seed alone, and NaN reports that name the step.
#include <cstdint>
#include <functional>
#include <vector>

#include "runtime/context.h"
#include "runtime/tensor.h"
#include "samplers/process.h"
#include "samplers/sampler.h"

namespace tweedie::samplers {

class MethodLoop {
 public:
  // Throws ArgumentError for steps < 1 or count < 1, naming `method`.
  MethodLoop(Context& ctx, const Process& process, const SamplerOptions& options, std::int64_t count, std::uint64_t seed,
             std::int64_t first_index, const char* method);

  const std::vector<double>& grid() const { return grid_; }
  int steps() const { return int(grid_.size()) - 1; }

  // (count, item...) drawn from the marginal at t_max of unit-variance data, N(0, alpha^2 + sigma^2).
  Tensor initial_draw(const Shape& item);
  // Fills z with N(0, 1) noise of the next step id.
  void normal(Tensor& z);

  // Calls step(n, t, s) for every step of the grid, t = grid[n] > s = grid[n + 1]; a NumericError in
  // it, or a non-finite x after it, stops the loop with the step, the method and the samples named.
  void run(Tensor& x, const std::function<void(int n, double t, double s)>& step);

 private:
  Context& ctx_;
  std::uint64_t seed_;
  std::int64_t first_, count_;
  const char* method_;
  std::vector<double> grid_;
  const Process& process_;
  std::uint64_t next_noise_ = 1;
};

}  // namespace tweedie::samplers
