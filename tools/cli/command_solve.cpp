// `tweedie solve`: posterior samples, mean and standard deviation for observations y = noise(A(x)),
// with a diffusion prior (MMPS, DPS, and for counts the evidence trick), exact MCMC for Gaussian priors
// (elliptical slice sampling), or a classical baseline (MAP with Tikhonov or TV, PnP-ADMM, RED); or the
// posterior mean alone by reverse mean propagation (RMP) over a posterior denoiser; HDF5 results, PNGs
// and one JSON line of metrics.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <optional>
#include <nlohmann/json.hpp>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "cli/distributed.h"
#include "cli/run_checkpoint.h"
#include "io/denoiser_file.h"
#include "io/hdf5_file.h"
#include "io/inference_file.h"
#include "io/observation_file.h"
#include "io/png_file.h"
#include "runtime/error.h"
#include "runtime/memory.h"
#include "runtime/timer.h"
#include "samplers/metrics.h"
#include "samplers/mixture_denoiser.h"
#include "samplers/posterior/baselines.h"
#include "samplers/posterior/count_posterior.h"
#include "samplers/posterior/dps.h"
#include "samplers/posterior/ess.h"
#include "samplers/posterior/guided_denoiser.h"
#include "samplers/posterior/mmps.h"
#include "samplers/posterior/rmp.h"
#include "samplers/posterior/solve.h"
#include "samplers/operators/stacked_operator.h"

namespace tweedie::cli {
namespace {

struct SolveFlags {
  std::string prior, process, label, y, op, noise, method = "mmps", truth, output, png, device = "cpu", x_shape;
  std::string ellipse = "auto";  // ess
  std::string hyper = "moment", inference_net;  // evidence
  std::string guidance = "auto";                   // rmp: mmps, evidence, plugin
  double gamma = 1.0;                              // rmp --guidance plugin
  samplers::SamplerOptions sampler;
  samplers::MmpsOptions mmps;
  samplers::DpsOptions dps;
  samplers::DiffpirOptions diffpir;
  samplers::DapsOptions daps;
  samplers::TdsOptions tds;
  samplers::DdrmOptions ddrm;
  samplers::RepaintOptions repaint;
  samplers::BaselineOptions baseline;
  samplers::CountPosteriorOptions counts;
  samplers::EssOptions ess;
  samplers::RmpOptions rmp;
  std::int64_t samples = 1, batch = 0;
  std::uint64_t seed = 0;
  int threads = 0;
  bool quiet = false, clamp = false, gmres = false;
  CheckpointFlags checkpoint;
  const CLI::App* command = nullptr;
};

// The observations and the likelihood that explains them: an observation file (tweedie simulate), or a
// plain dataset with --operator and --noise.
Observation read_problem(const SolveFlags& f, const samplers::Signal& x, Device device) {
  std::error_code ec;
  DatasetRef ref = parse_dataset_ref("--y", f.y, "y");
  bool observation_file = false;
  if (ref.dataset == "y" && !ref.named && std::filesystem::exists(ref.file, ec)) {
    H5File file = H5File::open(ref.file);
    observation_file = file.has_attribute("", "tweedie") && file.string_attribute("", "tweedie") == "observation";
  }
  if (observation_file && f.op.empty() && f.noise.empty()) return load_observation(ref.file, device);
  if (f.op.empty()) throw ArgumentError(cat("--y ", f.y, " is not an observation file (tweedie simulate writes them): give --operator and --noise"));
  if (x.shape.rank() == 0)
    throw ArgumentError(cat("--y ", f.y, " is a plain dataset and there is no --prior to tell the unknowns' shape: give --x-shape C,H,W (one item)"));
  Observation o;
  o.path = ref.file;
  o.x = x;
  o.y = read_dataset("--y", ref, device, /*keep_complex=*/true);
  SpecOptions options;
  if (o.y.rank() >= 1) options.items = o.y.dim(0);
  o.op = build_operator(f.op, x, device, options);
  o.noise = build_noise(f.noise.empty() ? "none" : f.noise, o.op.op->output(), device);
  check_observations(o.y, o.op, o.noise, cat(ref.file, ": dataset '", ref.dataset, "'"));
  return o;
}

// Image batches only; other items (vectors) get no picture.
void write_image_png(const std::string& path, const Tensor& images, bool own_range) {
  if (images.rank() == 4 && (images.dim(1) == 1 || images.dim(1) == 3)) write_png_view(path, images, own_range);
}

void run_solve(const SolveFlags& f) {
  Device device = rank_device(f.device);
  Context ctx(device, f.threads);
  const Ranks& job = ranks();
  const bool sampling = samplers::solve_method_samples(f.method);
  const bool needs_prior = samplers::solve_method_needs_prior(f.method);
  if (!samplers::known_solve_method(f.method)) throw ArgumentError(cat("--method ", f.method, ": one of ", samplers::kSolveMethods));
  if (f.samples < 1) throw ArgumentError(cat("--samples ", f.samples, ": need at least 1"));
  if (f.batch < 0) throw ArgumentError(cat("--batch ", f.batch, ": need at least 1, or 0 for all at once"));
  if (f.method == "ess" && f.samples != 1)
    throw ArgumentError("--samples: --method ess keeps chains x (iterations - burn-in) / thin draws per observation; set those instead");
  if (!sampling && f.samples != 1) throw ArgumentError(cat("--samples: ", f.method, " gives one estimate per observation"));
  if (needs_prior && f.prior.empty()) throw ArgumentError(cat("--method ", f.method, " needs --prior"));
  const std::string& v = f.counts.variance;
  if (v != "auto" && v != "exact" && v != "probes" && v != "heuristic" && v != "none")
    throw ArgumentError(cat("--variance ", v, ": one of auto, exact, probes, heuristic, none"));
  if (f.counts.probes < 1) throw ArgumentError(cat("--probes ", f.counts.probes, ": need at least 1"));
  if (!(f.counts.clip >= 0) || !std::isfinite(f.counts.clip)) throw ArgumentError(cat("--clip ", f.counts.clip, ": need a finite value >= 0 (0: no clipping)"));
  if (f.guidance != "auto" && f.guidance != "mmps" && f.guidance != "evidence" && f.guidance != "plugin")
    throw ArgumentError(cat("--guidance ", f.guidance, ": one of auto, mmps, evidence, plugin"));
  if (f.method != "rmp" && (f.guidance != "auto" || f.command->count("--inner") || f.command->count("--gamma") ||
                            f.command->count("--rmp-step") || f.command->count("--rmp-prior-variance")))
    throw ArgumentError("--guidance, --inner, --gamma, --rmp-step, --rmp-prior-variance: these set --method rmp");
  // Each method's own flags: given to another method, they would be ignored silently.
  struct OwnFlags {
    std::string method;
    std::vector<std::string> flags;
  };
  for (const OwnFlags& own : {OwnFlags{"diffpir", {"--diffpir-lambda", "--diffpir-zeta"}},
                              OwnFlags{"daps", {"--langevin-steps", "--langevin-lr", "--ode-steps"}},
                              OwnFlags{"tds", {"--particles", "--resample-below", "--twist-variance"}},
                              OwnFlags{"ddrm", {"--ddrm-eta-b"}},
                              OwnFlags{"repaint", {"--resamples"}}})
    for (const std::string& flag : own.flags)
      if (f.method != own.method && f.command->count(flag)) throw ArgumentError(cat(flag, ": this sets --method ", own.method));
  if (f.command->count("--ddrm-eta") && f.method != "ddrm" && f.method != "ddnm")
    throw ArgumentError("--ddrm-eta: this sets --method ddrm or ddnm");
  if (f.method == "tds" && f.command->count("--sampler") && f.sampler.kind != "ddpm")
    throw ArgumentError(cat("--sampler ", f.sampler.kind, ": tds runs DDPM ancestral steps, the chain its weights are exact for"));
  const bool rmp = f.method == "rmp";
  if (rmp && (f.command->count("--sampler") || f.command->count("--eta")))
    throw ArgumentError("--sampler, --eta: rmp runs no sampler; its steps are --steps (T) and --inner (T_in)");
  // What conditions the denoiser on y: the method itself, or for rmp its --guidance.
  const std::string posterior_kind = rmp ? (f.guidance == "auto" ? "mmps" : f.guidance) : f.method;
  if (rmp && f.command->count("--gamma") && posterior_kind != "plugin")
    throw ArgumentError(cat("--gamma weighs the plug-in likelihood (--guidance plugin); --guidance ", posterior_kind, " has no weight"));
  const bool evidence = posterior_kind == "evidence";
  if (f.hyper != "moment" && f.hyper != "network") throw ArgumentError(cat("--hyper ", f.hyper, ": moment or network"));
  if (f.hyper == "network" && (!evidence || f.inference_net.empty()))
    throw ArgumentError("--hyper network: the evidence trick's hyperparameters from a trained network need --method evidence (or rmp --guidance evidence) and --inference-net FILE");
  if (f.hyper == "moment" && !f.inference_net.empty()) throw ArgumentError("--inference-net: give --hyper network to use it");

  std::shared_ptr<samplers::Denoiser> prior;
  samplers::Signal x{{}, DType::f32};
  if (!f.prior.empty()) {
    DenoiserOptions o;
    o.process_spec = f.process;
    // ess never diffuses: an exact prior's process is irrelevant to it, so none has to be named.
    if (f.method == "ess" && o.process_spec.empty()) o.process_spec = "vp";
    o.clamp = f.clamp;
    if (!f.label.empty()) o.labels = parse_integers("--label", f.label);
    prior = load_denoiser(f.prior, o, device);
    x.shape = prior->item_shape();
  }
  if (!f.x_shape.empty()) {
    Shape given = parse_shape("--x-shape", f.x_shape);
    if (prior && !(given == x.shape))
      throw ShapeError(cat("--x-shape ", given.str(), " differs from the prior's items ", x.shape.str(), " (", f.prior, ")"));
    x.shape = given;
  }
  Observation obs = read_problem(f, x, device);
  if (!f.x_shape.empty() && !(obs.x.shape == x.shape))
    throw ShapeError(cat("--x-shape ", x.shape.str(), " differs from the unknowns of ", obs.path, ", ", obs.x.shape.str()));
  if (prior && !(obs.x.shape == prior->item_shape()))
    throw ShapeError(cat("--y ", obs.path, ": the unknowns are ", obs.x.str(), " but the prior's items are ", prior->item_shape().str()));
  if (obs.x.dtype != DType::f32) throw ArgumentError(cat("--y ", obs.path, ": complex unknowns (x_dtype c64) need a prior on complex images, which tweedie does not have yet"));
  const samplers::Operator& op = *obs.op.op;
  const std::int64_t m = obs.y.dim(0);
  samplers::EssOptions ess = f.ess;
  if (f.method == "ess") ess.iterations = f.command->count("--iterations") ? f.baseline.iterations : 2000;
  if (f.method == "ess") {
    ess.ellipse = samplers::parse_ellipse(f.ellipse);
    try {
      samplers::check_ess_options(ess);
    } catch (const ArgumentError& e) {
      throw ArgumentError(cat("--chains, --iterations, --burn-in, --thin: ", e.what()));
    }
    // Every chain of every observation in one pass; --batch and checkpoints do not apply.
    if (!f.checkpoint.path.empty()) throw ArgumentError("--checkpoint: --method ess runs in one pass and has no checkpoints");
    refuse_several_ranks("--method ess (its chains run in one pass)");
  }
  if (!f.checkpoint.path.empty()) refuse_several_ranks("--checkpoint");
  const std::int64_t per = f.method == "ess" ? std::int64_t(ess.chains) * ((ess.iterations - ess.burn_in + ess.thin - 1) / std::max(ess.thin, 1))
                                             : f.samples;
  const std::int64_t total = m * per;
  if (!obs.noise.noise)
    throw ArgumentError(cat("--y ", obs.path, ": the noise model is none, so there is no likelihood to solve with; give --noise (gaussian:sigma=S, ...)"));
  samplers::Likelihood lik(obs.op.op, obs.noise.noise);
  CountModel count_model;
  const bool counts = obs.noise.noise->count_model(count_model);
  const std::string what = rmp ? cat("--method rmp --guidance ", posterior_kind) : cat("--method ", f.method);
  samplers::SolveOptions solve;
  solve.method = f.method;
  if (rmp) solve.guidance = posterior_kind;
  solve.gamma = f.gamma;
  solve.seed = f.seed;
  solve.sampler = f.sampler;
  solve.mmps = f.mmps;
  solve.mmps.solver = f.gmres ? "gmres" : "cg";
  solve.dps = f.dps;
  solve.diffpir = f.diffpir;
  solve.daps = f.daps;
  solve.tds = f.tds;
  solve.ddrm = f.ddrm;
  solve.repaint = f.repaint;
  solve.baseline = f.baseline;
  samplers::SolveProblem problem{prior, obs.op.op, obs.noise.noise, obs.y};
  if (f.method != "ess") samplers::check_solve_problem(ctx, solve, problem, what);
  const samplers::GaussianDenoiser* gaussian = dynamic_cast<const samplers::GaussianDenoiser*>(prior.get());
  if (f.method == "ess" && dynamic_cast<const samplers::StackedOperator*>(&op))
    throw ArgumentError(cat("--method ess: operator '", op.describe(), "' differs per observation, which ess does not handle yet; use mmps"));
  if (f.method == "ess" && !gaussian)
    throw ArgumentError(cat("--method ess samples exactly from Gaussian priors only, and --prior ", f.prior, " is not an exact Gaussian prior file"));
  samplers::CountPosteriorOptions count_options = f.counts;
  if (f.hyper == "network") {
    count_options.inference = load_inference_network(f.inference_net, device);
    count_options.inference->check_problem(prior->item_shape(), op, *obs.noise.noise, "--inference-net " + f.inference_net);
    if (count_options.inference->process().name() != prior->process().name())
      throw ArgumentError(cat("--inference-net ", f.inference_net, ": trained on x_t of the '", count_options.inference->process().name(),
                              "' process, but the prior samples with '", prior->process().name(), "' (--process)"));
  }
  // rmp feeds the prior noise-free means, where a network's Jacobian is no covariance (rmp.h): there
  // the posterior denoisers take no products of it unless asked to.
  const bool exact_prior = gaussian || dynamic_cast<const samplers::MixtureDenoiser*>(prior.get());
  const bool rmp_over_network = rmp && !exact_prior;
  if (rmp_over_network && !f.command->count("--variance")) count_options.variance = "heuristic";
  const std::string mmps_covariance = rmp_over_network && !f.command->count("--covariance") ? "sigma_t" : f.mmps.covariance;
  samplers::RmpOptions rmp_options = f.rmp;
  if (rmp) {
    rmp_options.steps = f.command->count("--steps") ? f.sampler.steps : 0;
    try {
      rmp_options = samplers::resolve_rmp_options(rmp_options, prior->process());
    } catch (const ArgumentError& e) {
      throw ArgumentError(cat("--steps, --inner, --rmp-step, --rmp-prior-variance: ", e.what()));
    }
  }
  solve.counts = count_options;
  solve.mmps.covariance = mmps_covariance;
  solve.rmp = rmp_options;
  Tensor truth;
  if (!f.truth.empty()) {
    truth = read_dataset("--truth", parse_dataset_ref("--truth", f.truth, "x"), device);
    op.batch_of_input(ctx, truth, "--truth");
    if (truth.dim(0) != m) throw ShapeError(cat("--truth has ", truth.dim(0), " items for ", m, " observations"));
  }
  // Rank 0 writes everything; early, so that a bad path fails before any work.
  std::optional<H5File> out;
  if (job.root()) {
    if (!f.png.empty()) std::filesystem::create_directories(f.png);
    out.emplace(H5File::create(f.output));
  }

  reset_peak_memory(device);
  Timer timer;
  Tensor all = Tensor::empty(samplers::batched(total, op.input().shape), device);
  const std::int64_t batch = rank_batch(total, f.batch);
  const bool progress = !f.quiet && job.root() && ::isatty(STDERR_FILENO);
  RunCheckpoint checkpoint(f.checkpoint, "solve", run_settings(*f.command, {f.prior, f.y.substr(0, f.y.find(':'))}), all, prior.get());
  samplers::EssReport ess_report;
  samplers::SolveReport report;
  if (f.method == "ess") {
    all.copy_from(samplers::elliptical_slice_sampling(ctx, *gaussian, lik, obs.y, ess, f.seed, &ess_report));
  }
  // This rank's block of rows, in batches; the rows of a plain run are all of them.
  const RowShare share = row_share(total, batch);
  const std::int64_t end = f.method == "ess" ? 0 : share.first + share.count;
  for (std::int64_t first = share.first + checkpoint.finished_rows(); first < end; first += batch) {
    const std::int64_t n = std::min(batch, end - first);
    samplers::StepHook hook;
    if (progress && (sampling || rmp))
      hook = [&, start = timer.seconds()](const samplers::StepInfo& s) {
        double rate = (s.step + 1) / std::max(timer.seconds() - start, 1e-9);
        std::fprintf(stderr, "\r%s items %lld-%lld of %lld  step %d/%d  %.2f steps/s  ETA %.0f s   ", f.method.c_str(), (long long)first,
                     (long long)(first + n - 1), (long long)total, s.step + 1, s.steps, rate, (s.steps - s.step - 1) / rate);
      };
    Tensor result = samplers::solve_rows(ctx, solve, problem, per, first, n, hook, checkpoint.batch(ctx, first, n), &report);
    Tensor dst = all.slice(first, n);
    dst.copy_from(result);
    checkpoint.batch_done(first, n);
  }
  if (progress) std::fprintf(stderr, "\n");
  ctx.synchronize();
  gather_rows(all, batch);
  const double seconds = timer.seconds();
  // Totals over ranks; only rank 0 goes on to write them.
  const std::int64_t fallbacks = sum_on_root(report.covariance_fallbacks);
  const double peak_bytes = max_on_root(double(memory_stats(device).peak));
  std::int64_t forward = 0, jvp = 0, vjp = 0;
  if (prior) forward = sum_on_root(prior->forward_count), jvp = sum_on_root(prior->jvp_count), vjp = sum_on_root(prior->vjp_count);
  if (!job.root()) return;

  // Mean and standard deviation over each observation's samples.
  samplers::SampleMoments moments = samplers::sample_moments(all, m);
  const Tensor& mean_t = moments.mean;
  const Tensor& std_t = moments.std;

  nlohmann::json metrics{{"method", f.method}, {"operator", op.describe()}, {"noise", obs.noise.noise ? obs.noise.noise->describe() : "none"},
                         {"observations", m}, {"samples", per}, {"seconds", seconds}, {"peak_bytes", std::int64_t(peak_bytes)}};
  if (job.size > 1) metrics["ranks"] = job.size;
  if (sampling) metrics["sampler"] = {{"kind", f.sampler.kind}, {"steps", f.sampler.steps}};
  if (rmp) {
    metrics.erase("samples");  // one estimate, the mean
    metrics["rmp"] = {{"guidance", posterior_kind}, {"covariance", mmps_covariance},
                      {"variance", count_options.variance}, {"steps", rmp_options.steps}, {"inner", rmp_options.inner},
                      {"step_size", rmp_options.step_size},
                      {"prior_variance", std::isinf(rmp_options.prior_variance) ? nlohmann::json("inf") : nlohmann::json(rmp_options.prior_variance)}};
    if (posterior_kind == "plugin") metrics["rmp"]["gamma"] = f.gamma;
  }
  if (f.method == "ess")
    metrics["mcmc"] = nlohmann::json{{"chains", ess.chains}, {"iterations", ess.iterations}, {"burn_in", ess.burn_in}, {"thin", ess.thin},
                       {"rhat", ess_report.rhat}, {"ess", ess_report.ess}, {"shrinks_per_iteration", ess_report.shrinks_per_iteration},
                       {"likelihood_evaluations", ess_report.likelihood_evaluations}, {"stuck_iterations", ess_report.stuck_iterations},
                       {"ellipse", samplers::ellipse_name(ess_report.ellipse)}};
  if (f.method == "ess" && ess_report.ellipse == samplers::EssEllipse::laplace)
    metrics["mcmc"].update({{"laplace_newton_iterations", ess_report.laplace_iterations}, {"laplace_converged", ess_report.laplace_converged}});
  if (posterior_kind == "mmps" && !counts) metrics["covariance_fallbacks"] = fallbacks;
  if (prior) metrics["network"] = {{"forward", forward}, {"jvp", jvp}, {"vjp", vjp}};
  // Data consistency |y - A(mean)| / |y| per observation.
  Tensor a_mean = op.make_output(m, device);
  op.apply(ctx, mean_t.to(device), a_mean);
  std::vector<double> consistency;
  for (std::int64_t o = 0; o < m; ++o) {
    std::vector<double> fit = samplers::item_values(a_mean.dtype() == DType::c64 ? a_mean.view_as_real() : a_mean, o);
    std::vector<double> data = samplers::item_values(obs.y.dtype() == DType::c64 ? obs.y.view_as_real() : obs.y, o);
    double r = 0, yy = 0;
    for (std::size_t i = 0; i < fit.size(); ++i) r += (data[i] - fit[i]) * (data[i] - fit[i]), yy += data[i] * data[i];
    consistency.push_back(std::sqrt(r / std::max(yy, 1e-300)));
  }
  metrics["data_consistency"] = consistency;
  if (truth.defined()) {
    std::vector<double> p, s;
    for (std::int64_t o = 0; o < m; ++o) {
      std::vector<double> t = samplers::item_values(truth, o), mu = samplers::item_values(mean_t, o);
      p.push_back(samplers::psnr(mu, t, 2.0));
      if (op.input().shape.rank() == 3) s.push_back(samplers::ssim(mu, t, op.input().shape, 2.0));
    }
    metrics["psnr"] = p;
    if (!s.empty()) metrics["ssim"] = s;
  }

  std::vector<std::int64_t> dims{m, per};
  for (std::int64_t v : op.input().shape.dims()) dims.push_back(v);
  // rmp's estimate is the mean alone: no samples, and no spread to report.
  if (!rmp) out->write("samples", all.reshape(Shape(std::span<const std::int64_t>(dims))));
  out->write("mean", mean_t);
  if (!rmp) out->write("std", std_t);
  out->set_attribute("", "method", f.method);
  out->set_attribute("", "operator", op.describe());
  out->set_attribute("", "metrics", metrics.dump());
  if (!f.png.empty()) {
    namespace fs = std::filesystem;
    write_image_png((fs::path(f.png) / "mean.png").string(), mean_t, false);
    if (!rmp) {
      write_image_png((fs::path(f.png) / "std.png").string(), std_t, true);
      write_image_png((fs::path(f.png) / "samples.png").string(), all.slice(0, std::min<std::int64_t>(total, 16)), false);
    }
    if (truth.defined()) write_image_png((fs::path(f.png) / "truth.png").string(), truth, false);
    if (op.is_linear()) {  // the observation brought back to image space: zero-filled for MRI
      Tensor back = op.make_input(m, device);
      op.adjoint(ctx, obs.y, back);
      write_image_png((fs::path(f.png) / "observation.png").string(), back, false);
    } else if (op.output().shape.rank() == 3) {
      write_image_png((fs::path(f.png) / "observation.png").string(), obs.y, true);
    }
  }
  out->commit();
  std::cout << metrics.dump() << "\n";
}

}  // namespace

void add_solve_command(CLI::App& app) {
  auto f = std::make_shared<SolveFlags>();
  auto* cmd = app.add_subcommand("solve", "Posterior samples, mean and std for observations (MMPS, DPS), the mean alone (RMP) or a baseline estimate");
  cmd->add_option("--prior", f->prior, "Model file or exact prior file (not needed by map-tikhonov, map-tv)");
  cmd->add_option("--y", f->y, "Observation file from tweedie simulate, or FILE[:DATASET] of y with --operator and --noise")->required();
  cmd->add_option("--operator", f->op, "Operator SPEC, when --y is not an observation file (see tweedie simulate --help)");
  cmd->add_option("--noise", f->noise, "Noise SPEC, when --y is not an observation file");
  cmd->add_option("--x-shape", f->x_shape, "Shape of one unknown item, C,H,W, when --y is not an observation file and there is no --prior");
  cmd->add_option("--method", f->method, samplers::kSolveMethods)->capture_default_str();
  cmd->add_option("-o,--output", f->output, "Output HDF5: samples (M, K, ...), mean and std (M, ...); rmp: mean only")->required();
  cmd->add_option("--truth", f->truth, "True signals FILE[:DATASET] (M, ...): adds PSNR and SSIM (images in [-1, 1])");
  cmd->add_option("--png", f->png, "Folder for PNGs: mean, std, samples, truth, observation (A^T y; zero-filled for MRI)");
  cmd->add_option("--samples", f->samples, "Samples per observation (the sampling methods: all but rmp, ess and the baselines)")->capture_default_str();
  cmd->add_option("--batch", f->batch, "Items per batch (0: all at once; under mpirun, each rank's items at once)")->capture_default_str();
  cmd->add_option("--seed", f->seed, "Seed: a sample's noise depends only on it and the sample's index")->capture_default_str();
  cmd->add_option("--sampler", f->sampler.kind, samplers::sampler_kind_list())->capture_default_str();
  cmd->add_option("--order", f->sampler.order, "eab: order of the exponential Adams-Bashforth step, 1..3")->capture_default_str();
  cmd->add_option("--steps", f->sampler.steps, "Sampler steps; rmp: outer steps T (default 400 for VP, 30 for VE)")->capture_default_str();
  cmd->add_option("--eta", f->sampler.eta, "ddim: 0 deterministic .. 1 ancestral")->capture_default_str();
  cmd->add_option("--process", f->process, "Process for exact priors, or to run a model under (the network sees its own noise levels)");
  cmd->add_option("--label", f->label, "Class label(s) for class-conditional models");
  cmd->add_flag("--clamp", f->clamp, "Clip E[x | x_t] to [-1, 1]");
  cmd->add_option("--cg-iterations", f->mmps.krylov.max_iterations, "mmps: solver iterations per step (k)")->capture_default_str();
  cmd->add_option("--tolerance", f->mmps.krylov.tolerance, "mmps: stop the solver at this relative residual (0: always k)")->capture_default_str();
  cmd->add_flag("--gmres", f->gmres, "mmps: GMRES instead of conjugate gradient");
  cmd->add_flag("--by-vjp", f->mmps.by_vjp, "mmps: covariance products by VJP instead of JVP");
  cmd->add_option("--tweedie-max-noise", f->mmps.tweedie_max_noise,
                  "mmps: Tweedie's covariance up to this noise level sigma/alpha, sigma_t above (default: everywhere)");
  cmd->add_option("--covariance", f->mmps.covariance,
                  "mmps: tweedie, sigma_t (heuristic), gaussian (Gaussian priors); rmp over a network defaults to sigma_t (pigdm and "
                  "tmpd set their own)")
      ->capture_default_str();
  cmd->add_option("--zeta", f->dps.zeta, "dps: step size")->capture_default_str();
  cmd->add_option("--diffpir-lambda", f->diffpir.lambda, "diffpir: weight of the prior in the data step")->capture_default_str();
  cmd->add_option("--diffpir-zeta", f->diffpir.zeta, "diffpir: share of fresh noise per step, 0..1")->capture_default_str();
  cmd->add_option("--langevin-steps", f->daps.langevin_steps, "daps: Langevin steps on x0 per annealing step")->capture_default_str();
  cmd->add_option("--langevin-lr", f->daps.lr, "daps: Langevin step in units of 1 / (1/r^2 + curvature), in (0, 1]")->capture_default_str();
  cmd->add_option("--ode-steps", f->daps.ode_steps, "daps: probability-flow steps for x0^ (1: E[x | x_t])")->capture_default_str();
  cmd->add_option("--ddrm-eta", f->ddrm.eta, "ddrm, ddnm: share of fresh noise in each step, 0..1")->capture_default_str();
  cmd->add_option("--ddrm-eta-b", f->ddrm.eta_b, "ddrm: weight of y where it is noisier than the step, 0..1")->capture_default_str();
  cmd->add_option("--resamples", f->repaint.resamples, "repaint: passes per step (1: no resampling)")->capture_default_str();
  cmd->add_option("--particles", f->tds.particles, "tds: particles K per sample (K network calls per step)")->capture_default_str();
  cmd->add_option("--resample-below", f->tds.resample_below, "tds: resample when the ESS falls below this fraction of K")
      ->capture_default_str();
  cmd->add_option("--twist-variance", f->tds.twist_variance, "tds: r_t^2 of the twist: sigma_t, pigdm, none (bootstrap filter)")
      ->capture_default_str();
  cmd->add_option("--guidance", f->guidance,
                  "rmp: the likelihood's score from mmps (linear operators; Gaussian or count noise), evidence (counts), or "
                  "plugin (grad log p(y | E[x | x_t]), any operator and noise); auto: mmps")
      ->capture_default_str();
  cmd->add_option("--inner", f->rmp.inner, "rmp: natural-gradient iterations per step, T_in (0: 1 for VP, 20 for VE)")->capture_default_str();
  cmd->add_option("--gamma", f->gamma, "rmp --guidance plugin: weight of the likelihood term")->capture_default_str();
  cmd->add_option("--rmp-step", f->rmp.step_size, "rmp: natural-gradient step size rho in (0, 2)")->capture_default_str();
  cmd->add_option("--rmp-prior-variance", f->rmp.prior_variance,
                  "rmp: c in the precision a^2/b^2 + 1/(sigma^2 + alpha^2 c); 0: every inner step contracts; inf: the "
                  "transition alone (the ancestral step, unstable on coarse grids)")
      ->capture_default_str();
  cmd->add_option("--variance", f->counts.variance,
                  "mmps and evidence with count noise: Var[A x | x_t] per entry by auto, exact, probes, heuristic, none")
      ->capture_default_str();
  cmd->add_option("--hyper", f->hyper,
                  "evidence: the conjugate hyperparameters by moment matching, or from a trained inference network (--inference-net)")
      ->capture_default_str();
  cmd->add_option("--inference-net", f->inference_net, "evidence: the inference network FILE (tweedie train --objective conjugate)");
  cmd->add_option("--probes", f->counts.probes, "--variance probes: Rademacher vectors per step")->capture_default_str();
  cmd->add_option("--clip", f->counts.clip, "evidence: clip the likelihood gradient to [-clip, clip] (0: none; the paper uses 10)")
      ->capture_default_str();
  cmd->add_option("--chains", f->ess.chains, "ess: chains per observation")->capture_default_str();
  cmd->add_option("--burn-in", f->ess.burn_in, "ess: iterations dropped at the start of each chain")->capture_default_str();
  cmd->add_option("--thin", f->ess.thin, "ess: keep every thin-th iteration")->capture_default_str();
  cmd->add_option("--ellipse", f->ellipse,
                  "ess: slice ellipses of the prior, or of each observation's Laplace approximation (linear operators, "
                  "Gaussian or count noise, up to 4096 unknowns); auto takes laplace where it can")
      ->capture_default_str();
  cmd->add_option("--lambda", f->baseline.lambda, "map-*, red: regularisation weight")->capture_default_str();
  cmd->add_option("--iterations", f->baseline.iterations, "map-*, pnp, red: iterations (default 200); ess: per chain (default 2000)");
  cmd->add_option("--noise-level", f->baseline.noise_level, "pnp, red: the denoiser's noise level")->capture_default_str();
  cmd->add_option("--rho", f->baseline.rho, "pnp: ADMM penalty")->capture_default_str();
  cmd->add_option("--device", f->device, "cpu or cuda[:N]")->capture_default_str();
  cmd->add_option("--threads", f->threads, "Host threads (0: all)")->capture_default_str();
  cmd->add_flag("--quiet", f->quiet, "No progress on stderr");
  add_checkpoint_flags(cmd, f->checkpoint);
  f->command = cmd;
  cmd->callback([f] { run_solve(*f); });
}

}  // namespace tweedie::cli
