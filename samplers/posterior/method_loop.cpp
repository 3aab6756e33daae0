#include "samplers/posterior/method_loop.h"

#include <cmath>
#include <span>

#include "kernels/random.h"
#include "runtime/error.h"
#include "samplers/finite.h"

namespace tweedie::samplers {

MethodLoop::MethodLoop(Context& ctx, const Process& process, const SamplerOptions& options, std::int64_t count, std::uint64_t seed,
                       std::int64_t first_index, const char* method)
    : ctx_(ctx), seed_(seed), first_(first_index), count_(count), method_(method), process_(process) {
  if (options.steps < 1) throw ArgumentError(cat(method, ": steps must be at least 1, not ", options.steps));
  if (count < 1) throw ArgumentError(cat(method, ": the number of samples must be at least 1, not ", count));
  grid_ = process.time_grid(options.steps);
}

Tensor MethodLoop::initial_draw(const Shape& item) {
  std::vector<std::int64_t> dims{count_};
  for (int i = 0; i < item.rank(); ++i) dims.push_back(item[i]);
  Tensor x = Tensor::empty(Shape(std::span<const std::int64_t>(dims)), ctx_.device());
  const double t0 = grid_.front();
  fill_normal(ctx_, x, sample_noise_stream(seed_, 0, first_), 0.0f, float(std::hypot(process_.alpha(t0), process_.sigma(t0))),
              count_);
  return x;
}

void MethodLoop::normal(Tensor& z) {
  fill_normal(ctx_, z, sample_noise_stream(seed_, next_noise_++, first_), 0.0f, 1.0f, count_);
}

void MethodLoop::run(Tensor& x, const std::function<void(int, double, double)>& step) {
  for (int n = 0; n < steps(); ++n) {
    const double t = grid_[std::size_t(n)], s = grid_[std::size_t(n) + 1];
    try {
      step(n, t, s);
      require_finite(ctx_, x, cat("the ", method_, " update"));
    } catch (const NumericError& e) {
      throw NumericError(cat(method_, " stopped at step ", n + 1, "/", steps(), " (t = ", t, ") of samples ", first_, "-",
                             first_ + count_ - 1, ": ", e.what()));
    }
  }
}

}  // namespace tweedie::samplers
