// A C++ program on the installed static library: loads the demo prior and runs one denoiser call.
#include <cmath>
#include <cstdio>

#include "io/denoiser_file.h"
#include "runtime/context.h"
#include "samplers/denoiser.h"
#include "samplers/process.h"
#include "samplers/operators/operator.h"

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  tweedie::Context ctx(tweedie::Device::cpu(), 1);
  auto prior = tweedie::load_denoiser(argv[1], {}, ctx.device());
  tweedie::Tensor x = tweedie::Tensor::zeros(tweedie::samplers::batched(1, prior->item_shape()));
  tweedie::Tensor x0 = tweedie::Tensor::empty(x.shape());
  const double t = prior->process().time_grid(2)[1];  // halfway, on the model's own time grid
  prior->denoise(ctx, x, t, x0);
  double sum = 0;
  for (float v : x0.to_vector()) sum += std::fabs(v);
  std::printf("C++ consumer: E[x | x_t = 0] at t = %g has mean |value| %.4f over %lld pixels\n", t, sum / x0.numel(), (long long)x0.numel());
  return std::isfinite(sum) && sum > 0 ? 0 : 1;
}
