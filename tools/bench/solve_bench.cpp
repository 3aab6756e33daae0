#include "bench/solve_bench.h"

#include <nlohmann/json.hpp>

#include <functional>

#include "bench/unet_bench.h"
#include "kernels/random.h"
#include "runtime/error.h"
#include "runtime/memory.h"
#include "samplers/network_denoiser.h"
#include "samplers/noise/likelihood.h"
#include "samplers/operators/image_operators.h"
#include "samplers/posterior/dps.h"
#include "samplers/posterior/mmps.h"
#include "samplers/posterior/solve.h"

namespace tweedie::bench {

namespace {

// The benchmark's problem: a preset U-Net with random weights as the prior (eps prediction on
// guided-diffusion's linear table), random inpainting of half the pixels, Gaussian noise 0.05.
struct BenchProblem {
  std::shared_ptr<samplers::NetworkDenoiser> prior;
  std::shared_ptr<samplers::Operator> op;
  std::shared_ptr<samplers::NoiseModel> noise;
  samplers::SamplerOptions sampler;
};

BenchProblem bench_problem(const SolveBenchOptions& o) {
  samplers::Parameterisation eps;
  BenchProblem p;
  p.prior = std::make_shared<samplers::NetworkDenoiser>(random_unet(o.preset, o.device), samplers::process_from_spec("ddpm-linear:1000", "bench"), eps);
  const Shape item = p.prior->item_shape();
  p.op = samplers::make_mask(samplers::Signal{item, DType::f32}, samplers::random_pixel_mask(item, 0.5, false, 1), "inpaint:p=0.5", o.device);
  p.noise = samplers::make_gaussian_noise(0.05);
  p.sampler.kind = "ddpm";
  p.sampler.steps = o.steps;
  p.sampler.denoise_last = false;
  return p;
}

// Times `run` and prints its JSON line; `unit` is the unconditional step's median (0 while it is the one
// being measured).
void report(Context& ctx, const SolveBenchOptions& o, const char* bench, const std::string& name, const samplers::Denoiser& prior,
            const std::function<void()>& run, double& unit, std::ostream& out) {
  reset_peak_memory(o.device);
  std::int64_t f0 = prior.forward_count, j0 = prior.jvp_count, v0 = prior.vjp_count;
  Measurement m = measure(ctx, run, o.measure);
  double per_step = m.median_ms / o.steps;
  if (unit == 0) unit = per_step;
  double calls = double(m.runs + 1) * o.steps * double(o.batch);  // measure() adds one warm-up run
  out << nlohmann::json{{"bench", bench}, {"impl", "tweedie"}, {"op", name}, {"model", o.preset}, {"batch", o.batch},
                        {"device", o.device.str()}, {"threads", ctx.threads()}, {"median_ms", per_step},
                        {"min_ms", m.min_ms / o.steps}, {"runs", m.runs}, {"forwards", per_step / unit},
                        {"network_per_step", {{"forward", double(prior.forward_count - f0) / calls},
                                              {"jvp", double(prior.jvp_count - j0) / calls},
                                              {"vjp", double(prior.vjp_count - v0) / calls}}},
                        {"peak_bytes", memory_stats(o.device).peak}}
             .dump()
      << std::endl;
}

}  // namespace

void run_solve_benchmarks(const SolveBenchOptions& o, std::ostream& out) {
  const BenchProblem p = bench_problem(o);
  const auto& prior = p.prior;
  const auto& op = p.op;
  samplers::Likelihood lik(p.op, p.noise);
  const samplers::SamplerOptions& so = p.sampler;

  for (int threads : o.threads) {
    Context ctx(o.device, threads);
    Tensor y = op->make_output(o.batch, o.device);
    fill_normal(ctx, y, {5, 0}, 0.0f, 0.5f);
    Tensor variance = p.noise->gaussian_variance(ctx, op->output().shape);
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
    for (auto& [name, run] : methods) report(ctx, o, "solve", name, *prior, run, unit, out);
  }
}

void run_method_benchmarks(const SolveBenchOptions& o, const std::string& filter, std::ostream& out) {
  const BenchProblem p = bench_problem(o);
  for (int threads : o.threads) {
    Context ctx(o.device, threads);
    Tensor y = p.op->make_output(o.batch, o.device);
    fill_normal(ctx, y, {5, 0}, 0.0f, 0.5f);
    const samplers::SolveProblem problem{p.prior, p.op, p.noise, y};
    double unit = 0;
    report(ctx, o, "methods", "unconditional", *p.prior, [&] { samplers::sample(ctx, *p.prior, p.sampler, o.batch, 1); }, unit, out);
    for (const std::string& method : samplers::solve_sampling_methods()) {
      if (method.find(filter) == std::string::npos) continue;
      samplers::SolveOptions so;
      so.method = method;
      so.sampler = p.sampler;
      try {
        samplers::check_solve_problem(ctx, so, problem, method);
      } catch (const ArgumentError& e) {  // evidence: the problem has no counts
        out << nlohmann::json{{"bench", "methods"}, {"op", method}, {"skipped", e.what()}}.dump() << std::endl;
        continue;
      }
      report(ctx, o, "methods", method, *p.prior, [&] { samplers::solve_rows(ctx, so, problem, 1, 0, o.batch); }, unit, out);
    }
  }
}

}  // namespace tweedie::bench
