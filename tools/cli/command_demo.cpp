// `tweedie demo`: the main job on a built-in problem. 4x accelerated single-coil MRI of held-out
// phantoms (the modified Shepp-Logan phantom and procedural phantoms the priors never saw), solved by
// MMPS with two priors on the same observations: the learned ADM U-Net that ships in tools/demo/
// (phantom_unet.h5, trained by tools/demo/train_phantom_prior.sh) and the stationary Gaussian prior fitted
// to the same phantoms (phantom_prior.h5, `tweedie phantoms --fit-prior`). Prints PSNR and SSIM of the
// zero-filled reconstruction and of each posterior mean, and writes PNGs and an HDF5 file of everything.
// `tweedie phantoms` writes a phantom set and refits the Gaussian prior.
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "demo/curve.h"
#include "demo/phantoms.h"
#include "samplers/operators/coil_sensitivities.h"
#include "io/denoiser_file.h"
#include "io/hdf5_file.h"
#include "io/operator_spec.h"
#include "io/png_file.h"
#include "io/prior_file.h"
#include "runtime/error.h"
#include "runtime/timer.h"
#include "samplers/metrics.h"
#include "samplers/noise/likelihood.h"
#include "samplers/posterior/mmps.h"
#include "samplers/posterior/solve.h"
#include "samplers/processes.h"
#include "samplers/sampler.h"

namespace tweedie::cli {
namespace {

// The held-out phantoms: seed 7 is used by no training set or prior fit of tools/demo/.
constexpr std::uint64_t kHeldOutSeed = 7;

struct DemoFlags {
  std::string output = "tweedie-demo", prior = TWEEDIE_DEMO_LEARNED_PRIOR, gaussian = TWEEDIE_DEMO_PRIOR, pattern = "random";
  double acceleration = 4, sigma = 0.01;
  std::int64_t samples = 8, images = 2;
  int steps = 50, iterations = 1, gaussian_iterations = 20, threads = 0;
  std::uint64_t seed = 0;
};

// A model file as it is; an exact prior file on the VP process (what its fit assumes).
std::shared_ptr<samplers::Denoiser> load_demo_prior(const std::string& path, const char* flag) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw IoError(cat(flag, " ", path, " does not exist"));
  DenoiserOptions o;
  if (H5File::open(path).string_attribute("", "format") == "tweedie-prior") o.process_spec = "vp";
  std::shared_ptr<samplers::Denoiser> d = load_denoiser(path, o, Device::cpu());
  const Shape item = d->item_shape();
  if (item.rank() != 3 || item[0] != 1 || item[1] != item[2])
    throw ShapeError(cat(flag, " ", path, ": the demo needs a prior on (1, N, N) images, not ", item.str()));
  return d;
}

// Shepp-Logan first, then held-out procedural phantoms: (count, 1, size, size).
Tensor test_images(std::int64_t count, std::int64_t size) {
  std::vector<float> all;
  for (std::int64_t i = 0; i < count; ++i) {
    std::vector<double> v = i == 0 ? demo::shepp_logan(size) : demo::random_phantom(size, kHeldOutSeed, std::uint64_t(i - 1));
    all.insert(all.end(), v.begin(), v.end());
  }
  return Tensor::from_host(std::span<const float>(all), {count, 1, size, size});
}

struct Reconstruction {
  std::string name;
  Tensor samples, mean, std;
  std::vector<double> psnr, ssim;
  double seconds = 0;
  std::int64_t evaluations = 0;
};

void score(Reconstruction& r, const Tensor& truth, const Shape& item) {
  for (std::int64_t i = 0; i < truth.dim(0); ++i) {
    std::vector<double> t = samplers::item_values(truth, i), m = samplers::item_values(r.mean, i);
    r.psnr.push_back(samplers::psnr(m, t, 2));
    r.ssim.push_back(samplers::ssim(m, t, item, 2));
  }
}

double average(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x / double(v.size());
  return s;
}

void run_demo(const DemoFlags& f) {
  Timer timer;
  if (f.images < 1 || f.samples < 1 || f.steps < 1 || f.iterations < 1)
    throw ArgumentError("--images, --samples, --steps and --cg-iterations must be at least 1");
  Context ctx(Device::cpu(), f.threads);
  std::shared_ptr<samplers::Denoiser> learned = load_demo_prior(f.prior, "--prior");
  std::shared_ptr<samplers::Denoiser> gaussian = load_demo_prior(f.gaussian, "--gaussian");
  const Shape item = learned->item_shape();
  if (!(gaussian->item_shape() == item))
    throw ShapeError(cat("--gaussian ", f.gaussian, ": images ", gaussian->item_shape().str(), ", but --prior's are ", item.str()));
  const std::int64_t size = item[1], n = f.images;

  // The problem: y = M F x + noise, one mask of random phase-encoding columns with a fully sampled centre.
  Tensor truth = test_images(n, size);
  samplers::Signal x{item, DType::f32};
  std::string spec = cat("mri:R=", f.acceleration, ":pattern=", f.pattern, ":seed=", f.seed);
  BuiltOperator op = build_operator(spec, x, Device::cpu());
  BuiltNoise noise = build_noise(cat("gaussian:sigma=", f.sigma), op.op->output(), Device::cpu());
  samplers::Likelihood lik(op.op, noise.noise);
  Tensor y = op.op->make_output(n, Device::cpu());
  lik.simulate(ctx, truth, RandomStream{f.seed, 0}, y);
  Tensor zero_filled = op.op->make_input(n, Device::cpu());
  op.op->adjoint(ctx, y, zero_filled);
  Reconstruction zf{"zero-filled", {}, zero_filled, {}, {}, {}, 0, 0};
  score(zf, truth, item);

  // MMPS with each prior: `samples` posterior samples per image, the same seeds for both priors.
  const Tensor variance = noise.noise->gaussian_variance(ctx, op.op->output().shape);
  const Tensor y_items = samplers::observations_for(y, 0, n * f.samples, f.samples);
  auto solve = [&](const std::string& name, std::shared_ptr<samplers::Denoiser> prior, int iterations) {
    samplers::MmpsOptions mo;
    mo.krylov.max_iterations = iterations;
    auto posterior = samplers::make_mmps_denoiser(prior, op.op, variance, y_items, mo);
    samplers::SamplerOptions so;
    so.kind = "ddpm";
    so.steps = f.steps;
    Timer t;
    Reconstruction r;
    r.name = name;
    const std::int64_t before = prior->forward_count + prior->jvp_count;
    r.samples = samplers::sample(ctx, *posterior, so, n * f.samples, f.seed);
    r.seconds = t.seconds();
    r.evaluations = prior->forward_count + prior->jvp_count - before;
    samplers::SampleMoments m = samplers::sample_moments(r.samples, n);
    r.mean = m.mean, r.std = m.std;
    score(r, truth, item);
    return r;
  };
  Reconstruction g = solve("Gaussian prior", gaussian, f.gaussian_iterations);
  Reconstruction l = solve("learned prior", learned, f.iterations);

  namespace fs = std::filesystem;
  fs::create_directories(f.output);
  auto path = [&](const char* name) { return (fs::path(f.output) / name).string(); };
  write_png_grid(path("truth.png"), truth);
  write_png_grid(path("zero_filled.png"), zero_filled);
  write_png_grid(path("gaussian_mean.png"), g.mean);
  write_png_grid(path("learned_mean.png"), l.mean);
  write_png_view(path("learned_std.png"), l.std, /*own_range=*/true);
  write_png_grid(path("learned_samples.png"), l.samples.slice(0, std::min<std::int64_t>(8, f.samples)));
  H5File out = H5File::create(path("demo.h5"));
  out.write("truth", truth);
  out.write("y", y);
  out.write("zero_filled", zero_filled);
  for (const Reconstruction* r : {&g, &l}) {
    const std::string group = r == &g ? "gaussian/" : "learned/";
    out.write(group + "samples", r->samples);
    out.write(group + "mean", r->mean);
    out.write(group + "std", r->std);
  }
  out.set_attribute("", "operator", op.op->describe());
  out.set_attribute("", "noise", noise.noise->describe());
  out.commit();

  double measured = 0;
  for (float v : op.op->observed().to_vector<float>()) measured += v;
  std::printf("tweedie demo: %gx accelerated MRI of %lld held-out %lld x %lld phantoms (Shepp-Logan first; %.0f%% of k-space, noise sigma %g)\n",
              f.acceleration, (long long)n, (long long)size, (long long)size, 100 * measured / double(op.op->observed().numel()), f.sigma);
  std::printf("  %-16s %8s %7s   per image (PSNR)\n", "", "PSNR dB", "SSIM");
  for (const Reconstruction* r : {&zf, &g, &l}) {
    std::printf("  %-16s %8.2f %7.3f  ", r->name.c_str(), average(r->psnr), average(r->ssim));
    for (double p : r->psnr) std::printf(" %6.2f", p);
    if (r->seconds > 0) std::printf("   (MMPS, %lld samples, %d ddpm steps, %.1f s)", (long long)f.samples, f.steps, r->seconds);
    std::printf("\n");
  }
  std::printf("  learned prior: %s, k = %d CG iterations; Gaussian prior: %s, k = %d\n  images and demo.h5 in %s/\n", f.prior.c_str(),
              f.iterations, f.gaussian.c_str(), f.gaussian_iterations, f.output.c_str());
  nlohmann::json j{{"operator", op.op->describe()},  {"noise", noise.noise->describe()},  {"images", n},
                   {"psnr_zero_filled", average(zf.psnr)}, {"psnr_gaussian", average(g.psnr)}, {"psnr_learned", average(l.psnr)},
                   {"ssim_zero_filled", average(zf.ssim)}, {"ssim_gaussian", average(g.ssim)}, {"ssim_learned", average(l.ssim)},
                   {"psnr_per_image", {{"zero_filled", zf.psnr}, {"gaussian", g.psnr}, {"learned", l.psnr}}},
                   {"samples", f.samples}, {"steps", f.steps}, {"cg_iterations", f.iterations},
                   {"network_evaluations", l.evaluations}, {"seconds_learned", l.seconds}, {"seconds", timer.seconds()}};
  std::cout << j.dump() << "\n";
}

struct PhantomFlags {
  std::string output, fit_prior;
  std::int64_t count = 1000, size = 64, curve = 0, coils = 0;
  std::uint64_t seed = 0;
  bool unit = false;
};

void run_phantoms(const PhantomFlags& f) {
  if (f.output.empty() && f.fit_prior.empty()) throw ArgumentError("tweedie phantoms: give -o PHANTOMS.h5, --fit-prior PRIOR.h5, or both");
  if (f.curve != 0) {
    if (f.curve < 2 || f.count < 1) throw ArgumentError(cat("--curve ", f.curve, " --count ", f.count, ": need a dimension of at least 2 and a point"));
    if (!f.fit_prior.empty() || f.output.empty()) throw ArgumentError("--curve writes points (-o); --fit-prior is for images");
    std::vector<double> v = demo::curve_points(f.count, f.curve, f.seed);
    std::vector<float> all(v.begin(), v.end());
    H5File out = H5File::create(f.output);
    out.write("x", Tensor::from_host(std::span<const float>(all), {f.count, f.curve}));
    out.set_attribute("", "generator", cat("tweedie phantoms --curve ", f.curve, " --count ", f.count, " --seed ", f.seed));
    out.commit();
    return;
  }
  if (f.coils < 0) throw ArgumentError(cat("--coils ", f.coils, ": give a number of coils, or 0 for none"));
  if (f.coils > 0 && f.output.empty()) throw ArgumentError("--coils writes maps beside the phantoms: give -o PHANTOMS.h5");
  if (f.count < 2 || f.size < 8) throw ArgumentError(cat("--count ", f.count, " --size ", f.size, ": need at least 2 phantoms of at least 8 pixels"));
  if (!f.output.empty()) {
    std::vector<float> all;
    for (std::int64_t i = 0; i < f.count; ++i)
      for (double v : demo::random_phantom(f.size, f.seed, std::uint64_t(i))) all.push_back(float(f.unit ? (v + 1) / 2 : v));
    H5File out = H5File::create(f.output);
    out.write("x", Tensor::from_host(std::span<const float>(all), {f.count, 1, f.size, f.size}));
    if (f.coils > 0) out.write("maps", samplers::synthetic_coil_maps(f.coils, f.size, f.size));
    out.set_attribute("", "generator", cat("tweedie phantoms --count ", f.count, " --size ", f.size, " --seed ", f.seed,
                                           f.coils > 0 ? cat(" --coils ", f.coils) : std::string(), f.unit ? " --unit" : ""));
    out.commit();
  }
  if (!f.fit_prior.empty()) save_gaussian_prior(f.fit_prior, demo::fit_stationary_prior(f.size, f.count, f.seed));
}

}  // namespace

void add_demo_command(CLI::App& app) {
  auto f = std::make_shared<DemoFlags>();
  auto* cmd = app.add_subcommand("demo", "Accelerated MRI of held-out phantoms with MMPS: a learned and a Gaussian prior vs zero filling");
  cmd->add_option("-o,--output", f->output, "Folder for the PNGs and demo.h5")->capture_default_str();
  cmd->add_option("--prior", f->prior, "The prior to show: a model file or an exact prior file on (1, N, N) images")->capture_default_str();
  cmd->add_option("--gaussian", f->gaussian, "The prior to compare with (stationary Gaussian)")->capture_default_str();
  cmd->add_option("--images", f->images, "Held-out test images: Shepp-Logan, then procedural phantoms")->capture_default_str();
  cmd->add_option("--acceleration", f->acceleration, "k-space undersampling factor R")->capture_default_str();
  cmd->add_option("--pattern", f->pattern, "k-space sampling: random or equispaced columns, poisson or gaussian points")->capture_default_str();
  cmd->add_option("--sigma", f->sigma, "k-space noise standard deviation")->capture_default_str();
  cmd->add_option("--samples", f->samples, "Posterior samples per image")->capture_default_str();
  cmd->add_option("--steps", f->steps, "DDPM steps")->capture_default_str();
  cmd->add_option("--cg-iterations", f->iterations, "MMPS conjugate-gradient iterations per step with --prior (each costs a JVP)")
      ->capture_default_str();
  cmd->add_option("--gaussian-cg-iterations", f->gaussian_iterations, "The same with --gaussian (cheap: FFT products)")->capture_default_str();
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
  ph->add_flag("--unit", p->unit, "Write (x + 1) / 2: values in [0, 1] with a background of 0, as MRI magnitudes are (the priors use [-1, 1])");
  ph->add_option("--coils", p->coils, "Also write smooth synthetic coil sensitivities, dataset maps (K, size, size) c64 (sum_k |S_k|^2 = 1)");
  ph->add_option("--curve", p->curve, "Instead of images, points (count, D) on a fixed smooth closed curve in D dimensions (demo/curve.h)");
  ph->callback([p] { run_phantoms(*p); });
}

}  // namespace tweedie::cli
