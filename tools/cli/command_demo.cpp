// `tweedie demo`: the main job on a built-in problem. 4x accelerated single-coil MRI of the modified
// Shepp-Logan phantom, solved by MMPS with the stationary Gaussian prior fitted to procedural phantoms
// (tools/demo/phantom_prior.h5, written by `tweedie phantoms`); prints PSNR and SSIM of the zero-filled
// reconstruction and of the posterior mean, and writes PNGs and an HDF5 file of everything.
// `tweedie phantoms` writes a phantom set and refits that prior.
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "demo/phantoms.h"
#include "io/hdf5_file.h"
#include "io/operator_spec.h"
#include "io/png_file.h"
#include "io/prior_file.h"
#include "runtime/error.h"
#include "runtime/timer.h"
#include "samplers/metrics.h"
#include "samplers/noise/likelihood.h"
#include "samplers/posterior/mmps.h"
#include "samplers/processes.h"
#include "samplers/sampler.h"

namespace tweedie::cli {
namespace {

struct DemoFlags {
  std::string output = "tweedie-demo", prior = TWEEDIE_DEMO_PRIOR, pattern = "random";
  double acceleration = 4, sigma = 0.01;
  std::int64_t samples = 16;
  int steps = 100, iterations = 5, threads = 0;
  std::uint64_t seed = 0;
};

Tensor image_batch(const std::vector<double>& v, std::int64_t size) {
  std::vector<float> f(v.begin(), v.end());
  return Tensor::from_host(std::span<const float>(f), {1, 1, size, size});
}

void run_demo(const DemoFlags& f) {
  Timer timer;
  Context ctx(Device::cpu(), f.threads);
  std::error_code ec;
  if (!std::filesystem::exists(f.prior, ec))
    throw IoError(cat("--prior ", f.prior, " does not exist (tweedie phantoms --fit-prior FILE writes one)"));
  std::shared_ptr<samplers::Denoiser> prior = load_prior(f.prior, samplers::process_from_spec("vp", "demo"), Device::cpu());
  const Shape item = prior->item_shape();
  if (item.rank() != 3 || item[0] != 1 || item[1] != item[2]) throw ShapeError(cat(f.prior, ": the demo needs a prior on (1, N, N) images, not ", item.str()));
  const std::int64_t size = item[1];

  // The problem: y = M F x + noise, random phase-encoding columns with a fully sampled centre.
  Tensor truth = image_batch(demo::shepp_logan(size), size);
  samplers::Signal x{item, DType::f32};
  std::string spec = cat("mri:R=", f.acceleration, ":pattern=", f.pattern, ":seed=", f.seed);
  BuiltOperator op = build_operator(spec, x, Device::cpu());
  BuiltNoise noise = build_noise(cat("gaussian:sigma=", f.sigma), op.op->output(), Device::cpu());
  samplers::Likelihood lik(op.op, noise.noise);
  Tensor y = op.op->make_output(1, Device::cpu());
  lik.simulate(ctx, truth, RandomStream{f.seed, 0}, y);
  Tensor zero_filled = op.op->make_input(1, Device::cpu());
  op.op->adjoint(ctx, y, zero_filled);

  // MMPS posterior samples, all conditioned on the one observation (MMPS shares a single y).
  samplers::MmpsOptions mo;
  mo.krylov.max_iterations = f.iterations;
  auto posterior = samplers::make_mmps_denoiser(prior, op.op, noise.noise->gaussian_variance(ctx, op.op->output().shape), y, mo);
  samplers::SamplerOptions so;
  so.kind = "ddpm";
  so.steps = f.steps;
  Timer solve_timer;
  Tensor samples = samplers::sample(ctx, *posterior, so, f.samples, f.seed);
  double solve_seconds = solve_timer.seconds();

  samplers::SampleMoments moments = samplers::sample_moments(samples, 1);
  const Tensor& mean_t = moments.mean;
  const Tensor& std_t = moments.std;
  std::vector<float> stddev = std_t.to_vector<float>();

  std::vector<double> t = samplers::item_values(truth, 0), z = samplers::item_values(zero_filled, 0), m = samplers::item_values(mean_t, 0);
  double psnr_zf = samplers::psnr(z, t, 2), psnr_mmps = samplers::psnr(m, t, 2);
  double ssim_zf = samplers::ssim(z, t, item, 2), ssim_mmps = samplers::ssim(m, t, item, 2);

  namespace fs = std::filesystem;
  fs::create_directories(f.output);
  auto path = [&](const char* name) { return (fs::path(f.output) / name).string(); };
  write_png(path("truth.png"), truth.slice(0, 1).reshape(item));
  write_png(path("zero_filled.png"), zero_filled.reshape(item));
  write_png(path("mmps_mean.png"), mean_t.reshape(item));
  float top = *std::max_element(stddev.begin(), stddev.end());
  write_png(path("mmps_std.png"), std_t.reshape(item), 0.0f, top > 0 ? top : 1.0f);
  write_png_grid(path("mmps_samples.png"), samples.slice(0, std::min<std::int64_t>(8, f.samples)));
  H5File out = H5File::create(path("demo.h5"));
  out.write("truth", truth);
  out.write("y", y);
  out.write("zero_filled", zero_filled);
  out.write("samples", samples);
  out.write("mean", mean_t);
  out.write("std", std_t);
  out.set_attribute("", "operator", op.op->describe());
  out.set_attribute("", "noise", noise.noise->describe());
  out.commit();

  double measured = 0;
  for (float v : op.op->observed().to_vector<float>()) measured += v;
  std::printf("tweedie demo: %gx accelerated MRI of a %lld x %lld Shepp-Logan phantom (%.0f%% of k-space, noise sigma %g)\n", f.acceleration,
              (long long)size, (long long)size, 100 * measured / double(op.op->observed().numel()), f.sigma);
  std::printf("  zero-filled      PSNR %6.2f dB   SSIM %.3f\n", psnr_zf, ssim_zf);
  std::printf("  MMPS mean        PSNR %6.2f dB   SSIM %.3f   (%lld samples, %d ddpm steps, k = %d CG iterations, %.1f s)\n", psnr_mmps,
              ssim_mmps, (long long)f.samples, f.steps, f.iterations, solve_seconds);
  std::printf("  images and demo.h5 in %s/\n", f.output.c_str());
  nlohmann::json j{{"operator", op.op->describe()}, {"noise", noise.noise->describe()}, {"psnr_zero_filled", psnr_zf},
                   {"psnr_mmps", psnr_mmps}, {"ssim_zero_filled", ssim_zf}, {"ssim_mmps", ssim_mmps}, {"samples", f.samples},
                   {"steps", f.steps}, {"network_evaluations", prior->forward_count}, {"seconds", timer.seconds()}};
  std::cout << j.dump() << "\n";
}

struct PhantomFlags {
  std::string output, fit_prior;
  std::int64_t count = 1000, size = 64;
  std::uint64_t seed = 0;
};

void run_phantoms(const PhantomFlags& f) {
  if (f.output.empty() && f.fit_prior.empty()) throw ArgumentError("tweedie phantoms: give -o PHANTOMS.h5, --fit-prior PRIOR.h5, or both");
  if (f.count < 2 || f.size < 8) throw ArgumentError(cat("--count ", f.count, " --size ", f.size, ": need at least 2 phantoms of at least 8 pixels"));
  if (!f.output.empty()) {
    std::vector<float> all;
    for (std::int64_t i = 0; i < f.count; ++i)
      for (double v : demo::random_phantom(f.size, f.seed, std::uint64_t(i))) all.push_back(float(v));
    H5File out = H5File::create(f.output);
    out.write("x", Tensor::from_host(std::span<const float>(all), {f.count, 1, f.size, f.size}));
    out.set_attribute("", "generator", cat("tweedie phantoms --count ", f.count, " --size ", f.size, " --seed ", f.seed));
    out.commit();
  }
  if (!f.fit_prior.empty()) save_gaussian_prior(f.fit_prior, demo::fit_stationary_prior(f.size, f.count, f.seed));
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto f = std::make_shared<DemoFlags>();
  auto* cmd = app.add_subcommand("demo", "Accelerated MRI of a phantom with MMPS and the built-in prior: PSNR, SSIM and PNGs");
  cmd->add_option("-o,--output", f->output, "Folder for the PNGs and demo.h5")->capture_default_str();
  cmd->add_option("--prior", f->prior, "Stationary Gaussian prior on (1, N, N) images")->capture_default_str();
  cmd->add_option("--acceleration", f->acceleration, "k-space undersampling factor R")->capture_default_str();
  cmd->add_option("--pattern", f->pattern, "k-space sampling: random or equispaced columns, poisson or gaussian points")->capture_default_str();
  cmd->add_option("--sigma", f->sigma, "k-space noise standard deviation")->capture_default_str();
  cmd->add_option("--samples", f->samples, "Posterior samples")->capture_default_str();
  cmd->add_option("--steps", f->steps, "DDPM steps")->capture_default_str();
  cmd->add_option("--cg-iterations", f->iterations, "MMPS conjugate-gradient iterations per step")->capture_default_str();
  cmd->add_option("--seed", f->seed, "Seed of the mask, the noise and the samples")->capture_default_str();
  cmd->add_option("--threads", f->threads, "Host threads (0: all)")->capture_default_str();
  cmd->callback([f] { run_demo(*f); });

  auto p = std::make_shared<PhantomFlags>();
  auto* ph = app.add_subcommand("phantoms", "Write procedural MRI-like phantoms, and fit the demo's stationary Gaussian prior to them");
  ph->add_option("-o,--output", p->output, "HDF5 file for the phantoms (dataset x, (count, 1, size, size))");
  ph->add_option("--fit-prior", p->fit_prior, "Write the stationary Gaussian prior fitted to them here");
  ph->add_option("--count", p->count, "Number of phantoms")->capture_default_str();
  ph->add_option("--size", p->size, "Image side in pixels")->capture_default_str();
  ph->add_option("--seed", p->seed, "Seed of the set")->capture_default_str();
  ph->callback([p] { run_phantoms(*p); });
}

}  // namespace tweedie::cli
