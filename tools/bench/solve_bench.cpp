#include "bench/solve_bench.h"

#include <nlohmann/json.hpp>

#include <functional>

#include "bench/unet_bench.h"
#include "kernels/random.h"
#include "runtime/memory.h"
#include "samplers/network_denoiser.h"
#include "samplers/noise/likelihood.h"
#include "samplers/operators/image_operators.h"
#include "samplers/posterior/dps.h"
#include "samplers/posterior/mmps.h"

namespace tweedie::bench {

void run_solve_benchmarks(const SolveBenchOptions& o, std::ostream& out) {
  samplers::Parameterisation eps;  // the presets predict the noise, on guided-diffusion's linear table
  auto prior = std::make_shared<samplers::NetworkDenoiser>(random_unet(o.preset, o.device), samplers::process_from_spec("ddpm-linear:1000", "bench"), eps);
  const Shape item = prior->item_shape();
  samplers::Signal x{item, DType::f32};
  std::shared_ptr<samplers::Operator> op = samplers::make_mask(x, samplers::random_pixel_mask(item, 0.5, false, 1), "inpaint:p=0.5", o.device);
  std::shared_ptr<samplers::NoiseModel> noise = samplers::make_gaussian_noise(0.05);
  samplers::Likelihood lik(op, noise);
  samplers::SamplerOptions so;
  so.kind = "ddpm";
  so.steps = o.steps;
  so.denoise_last = false;

  for (int threads : o.threads) {
    Context ctx(o.device, threads);
    Tensor y = op->make_output(o.batch, o.device);
    fill_normal(ctx, y, {5, 0}, 0.0f, 0.5f);
    Tensor variance = noise->gaussian_variance(ctx, op->output().shape);
    std::vector<std::pair<std::string, std::function<void()>>> methods = {
        {"unconditional", [&] { samplers::sample(ctx, *prior, so, o.batch, 1); }},
        {"dps", [&] { samplers::sample_dps(ctx, *prior, lik, y, samplers::DpsOptions{}, so, o.batch, 1); }},
    };
    for (int k : {1, 3, 5}) {
      methods.push_back({cat("mmps-k", k), [&, k] {
                           samplers::MmpsOptions mo;
                           mo.krylov.max_iterations = k;
                           auto posterior = samplers::make_mmps_denoiser(prior, op, variance, y, mo);
                           samplers::sample(ctx, *posterior, so, o.batch, 1);
                         }});
    }
    double unit = 0;
    for (auto& [name, run] : methods) {
      reset_peak_memory(o.device);
      std::int64_t f0 = prior->forward_count, j0 = prior->jvp_count, v0 = prior->vjp_count;
      Measurement m = measure(ctx, run, o.measure);
      double per_step = m.median_ms / o.steps;
      if (name == "unconditional") unit = per_step;
      double calls = double(m.runs + 1) * o.steps * double(o.batch);  // measure() adds one warm-up run
      out << nlohmann::json{{"bench", "solve"}, {"impl", "tweedie"}, {"op", name}, {"model", o.preset}, {"batch", o.batch},
                            {"device", o.device.str()}, {"threads", ctx.threads()}, {"median_ms", per_step},
                            {"min_ms", m.min_ms / o.steps}, {"runs", m.runs}, {"forwards", per_step / unit},
                            {"network_per_step", {{"forward", double(prior->forward_count - f0) / calls},
                                                  {"jvp", double(prior->jvp_count - j0) / calls},
                                                  {"vjp", double(prior->vjp_count - v0) / calls}}},
                            {"peak_bytes", memory_stats(o.device).peak}}
                 .dump()
          << std::endl;
    }
  }
}

}  // namespace tweedie::bench
