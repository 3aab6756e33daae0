// `tweedie em`: a diffusion prior learned from observations alone, by expectation-maximisation (Rozet
// et al., "Learning Diffusion Priors from Observations by Expectation Maximization", 2024).
//
// Lap 0 fits a Gaussian prior to the observations in closed form (samplers/training/gaussian_em.h).
// Lap k = 1..L draws posterior samples x ~ q_{k-1}(x | y_i) for every observation with MMPS under the
// previous lap's prior, then trains the network on them for S more steps: the same network, optimizer
// and EMA all along, never reinitialised. Each lap leaves a folder that a later run resumes from:
//
//   DIR/run.json               what defines the run (a different run refuses this folder)
//   DIR/log.jsonl              one JSON line per lap, as printed
//   DIR/lap-000/prior.h5       the Gaussian prior (exact prior file)
//   DIR/lap-K/samples.h5       the posterior samples of lap K (dataset x, observation i's at rows i*n..)
//   DIR/lap-K/state.h5         the training state after lap K (io/training_state.h)
//   DIR/lap-K/model.h5         the EMA weights after lap K: written last, it marks the lap complete
//
// Every random draw is keyed by the seed, the lap and the index, so a resumed run gives the files the
// uninterrupted run would have (bitwise on the CPU with the same threads).
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "cli/model_flags.h"
#include "io/atomic_output.h"
#include "io/hdf5_file.h"
#include "io/model_file.h"
#include "io/observation_file.h"
#include "io/prior_file.h"
#include "io/sha256.h"
#include "io/training_state.h"
#include "runtime/error.h"
#include "runtime/timer.h"
#include "samplers/gaussian_denoiser.h"
#include "samplers/metrics.h"
#include "samplers/operators/stacked_operator.h"
#include "samplers/posterior/mmps.h"
#include "samplers/posterior/solve.h"
#include "samplers/sampler.h"
#include "samplers/training/gaussian_em.h"
#include "samplers/training/trainer.h"

namespace tweedie::cli {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

struct EmFlags {
  std::string observations, init = "gaussian", output, truth, gaussian = "auto", device = "cpu";
  ModelFlags model;
  samplers::TrainOptions run;
  samplers::SamplerOptions sampler;
  samplers::MmpsOptions mmps;
  int laps = 0, gaussian_iterations = 16, threads = 0;
  std::int64_t steps_per_lap = 0, per = 1, sample_batch = 0, eval_samples = 1024;
  bool quiet = false, gmres = false;
};

std::string lap_dir(const std::string& dir, int lap) {
  char name[32];
  std::snprintf(name, sizeof name, "lap-%03d", lap);
  return (fs::path(dir) / name).string();
}

// The random streams of lap k: the posterior samples and the prior draws of the metrics.
std::uint64_t lap_seed(std::uint64_t seed, int lap) { return seed ^ (0x9E3779B97F4A7C15ULL * std::uint64_t(lap + 1)); }

// A digest of the observations and their likelihood: a run folder belongs to these and no others.
std::string observation_digest(const Observation& obs) {
  Sha256 h;
  Tensor y = obs.y.to_host();
  h.update(y.raw_data(), std::size_t(y.numel()) * (y.dtype() == DType::c64 ? 8 : 4));
  const std::string specs = obs.op.op->describe() + "\n" + obs.noise.noise->describe();
  h.update(specs.data(), specs.size());
  return Sha256::hex(h.finish());
}

// Writes `text` to `path` through a temporary file, so the file is whole or absent.
void write_text_atomically(const std::string& path, const std::string& text) {
  AtomicOutput out(path);
  {
    std::ofstream f(out.temp_path());
    f << text;
    if (!f) throw IoError(cat(path, ": cannot write"));
  }
  out.commit();
}

// The run folder: new, or one of this very run (its laps are kept). Returns the first lap not yet
// complete. Anything else is refused before a file is touched.
int check_run_folder(const std::string& dir, const json& identity, bool gaussian_start) {
  std::error_code ec;
  const std::string run_file = (fs::path(dir) / "run.json").string();
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) throw ArgumentError(cat("-o ", dir, ": exists and is not a folder"));
  if (fs::exists(run_file, ec)) {
    json held;
    try {
      std::ifstream in(run_file);
      held = json::parse(in);
    } catch (const std::exception& e) {
      throw IoError(cat(run_file, ": not a tweedie em run description (", e.what(), "); nothing was changed"));
    }
    std::string differ;
    for (const auto& [key, value] : identity.items())
      if (!held.contains(key) || held[key] != value) differ += (differ.empty() ? "" : ", ") + key;
    for (const auto& [key, value] : held.items())
      if (!identity.contains(key)) differ += (differ.empty() ? "" : ", ") + key;
    if (!differ.empty())
      throw ArgumentError(cat("-o ", dir, " holds another em run (it differs in: ", differ, "); nothing was changed. Resume it with its own ",
                              "flags, or choose another folder"));
  } else if (fs::exists(dir, ec) && !fs::is_empty(dir, ec)) {
    throw ArgumentError(cat("-o ", dir, ": a folder that holds files but no run.json, so not an em run; nothing was changed. Choose a new or empty folder"));
  } else {
    return gaussian_start ? 0 : 1;  // a new run: the folder is made once lap 0 has succeeded
  }
  if (gaussian_start && !fs::exists(fs::path(lap_dir(dir, 0)) / "prior.h5", ec)) return 0;
  int lap = 1;
  while (fs::exists(fs::path(lap_dir(dir, lap)) / "model.h5", ec)) ++lap;
  return lap;
}

// Posterior samples of every observation under `prior`: (M * per, item...), observation i's at rows
// i * per .. i * per + per - 1, by MMPS with the run's sampler.
Tensor posterior_samples(Context& ctx, const std::shared_ptr<const samplers::Denoiser>& prior, const Observation& obs, const Tensor& variance,
                         const EmFlags& f, int lap, std::int64_t* evaluations, std::int64_t* fallbacks) {
  const std::int64_t total = obs.y.dim(0) * f.per, batch = f.sample_batch > 0 ? f.sample_batch : total;
  Tensor all = Tensor::empty(samplers::batched(total, prior->item_shape()), ctx.device());
  const std::int64_t before = prior->forward_count + prior->jvp_count;
  for (std::int64_t first = 0; first < total; first += batch) {
    const std::int64_t n = std::min(batch, total - first);
    Tensor y = samplers::observations_for(obs.y, first, n, f.per);
    auto posterior = samplers::make_mmps_denoiser(prior, samplers::operator_for_rows(obs.op.op, first, n, f.per), variance, y, f.mmps);
    Tensor x = samplers::sample(ctx, *posterior, f.sampler, n, lap_seed(f.run.seed, lap), first);
    *fallbacks += samplers::mmps_fallbacks(*posterior);
    Tensor dst = all.slice(first, n);
    dst.copy_from(x);
  }
  *evaluations = prior->forward_count + prior->jvp_count - before;
  return all.to_host();
}

// How close a lap's prior and samples are to the truth (M, item...), when it is known: for vectors the
// sliced W2 between prior draws and the true items; for images the PSNR of each observation's
// posterior mean.
double prior_sliced_w2(Context& ctx, const samplers::Denoiser& prior, const Tensor& truth, const EmFlags& f, int lap) {
  const std::int64_t n = std::min(truth.dim(0), f.eval_samples);
  Tensor draws;
  if (auto* g = dynamic_cast<const samplers::GaussianDenoiser*>(&prior)) {
    draws = Tensor::empty(samplers::batched(n, prior.item_shape()), ctx.device());
    g->sample_prior(ctx, lap_seed(f.run.seed, lap) + 1, draws);
  } else {
    draws = samplers::sample(ctx, prior, f.sampler, n, lap_seed(f.run.seed, lap) + 1);
  }
  return samplers::sliced_wasserstein(draws, truth);
}

double posterior_psnr(const Tensor& samples, const Tensor& truth) {
  samplers::SampleMoments m = samplers::sample_moments(samples, truth.dim(0));
  double sum = 0;
  for (std::int64_t i = 0; i < truth.dim(0); ++i) sum += samplers::psnr(samplers::item_values(m.mean, i), samplers::item_values(truth, i), 2.0);
  return sum / double(truth.dim(0));
}

void save_samples(const std::string& path, const Tensor& samples, int lap, std::int64_t per) {
  H5File out = H5File::create(path);
  out.write("x", samples);
  out.set_attribute("x", "lap", std::int64_t(lap));
  out.set_attribute("x", "samples_per_observation", per);
  out.commit();
}

// Lap 0's Gaussian. auto: dense for items of up to 256 values, else the first of diagonal (masks) and
// stationary (single-coil MRI, circular blur) whose structure the operators have.
samplers::GaussianPrior fit_gaussian_start(Context& host, const Observation& obs, const Tensor& variance, const EmFlags& f,
                                           samplers::GaussianEmReport* report, std::string* structure) {
  using Covariance = samplers::GaussianPrior::Covariance;
  samplers::GaussianEmOptions o;
  o.iterations = f.gaussian_iterations;
  const Tensor y = obs.y.to_host();
  auto fit = [&](Covariance kind) {
    o.structure = kind;
    *structure = samplers::covariance_name(kind);
    return samplers::fit_gaussian_em(host, obs.op.op, y, variance, o, report);
  };
  if (f.gaussian == "dense" || (f.gaussian == "auto" && obs.x.shape.numel() <= 256)) return fit(Covariance::dense);
  if (f.gaussian == "diagonal") return fit(Covariance::diagonal);
  if (f.gaussian == "stationary") return fit(Covariance::stationary);
  std::string why;
  for (Covariance kind : {Covariance::diagonal, Covariance::stationary}) {
    try {
      return fit(kind);
    } catch (const ArgumentError& e) {
      why += cat("\n  ", e.what());
    }
  }
  throw ArgumentError(cat("--gaussian auto: items of ", obs.x.shape.numel(), " values are too many for dense, and neither structure fits the operator:",
                          why, "\nStart from a model instead (--init MODEL.h5)"));
}

// Makes the folder of a new run, with its run.json; nothing when it is there.
void make_run_folder(const std::string& dir, const json& identity) {
  const std::string run_file = (fs::path(dir) / "run.json").string();
  std::error_code ec;
  if (fs::exists(run_file, ec)) return;
  fs::create_directories(dir, ec);
  if (ec) throw IoError(cat("-o ", dir, ": cannot create the folder (", ec.message(), ")"));
  write_text_atomically(run_file, identity.dump(2) + "\n");
}

void emit(std::ofstream& log, const json& line) {
  log << line.dump() << "\n" << std::flush;
  std::cout << line.dump() << "\n" << std::flush;
}

void run_em(EmFlags& f, CLI::App* cmd) {
  Device device = Device::parse(f.device);
  Context ctx(device, f.threads), host(Device::cpu(), f.threads);
  if (f.laps < 1) throw ArgumentError(cat("--laps ", f.laps, ": at least 1"));
  if (f.steps_per_lap < 1) throw ArgumentError(cat("--steps-per-lap ", f.steps_per_lap, ": at least 1"));
  if (f.per < 1) throw ArgumentError(cat("--samples-per-observation ", f.per, ": at least 1"));
  if (f.gaussian_iterations < 0) throw ArgumentError(cat("--gaussian-iterations ", f.gaussian_iterations, ": at least 0"));
  if (f.gaussian != "auto" && f.gaussian != "dense" && f.gaussian != "diagonal" && f.gaussian != "stationary")
    throw ArgumentError(cat("--gaussian ", f.gaussian, ": auto, dense, diagonal or stationary"));
  f.mmps.solver = f.gmres ? "gmres" : "cg";
  if (f.eval_samples < 2) throw ArgumentError(cat("--eval-samples ", f.eval_samples, ": at least 2"));
  const bool gaussian_start = f.init == "gaussian";

  // The observations: a linear operator (shared, or one per observation) with Gaussian noise.
  Observation obs = load_observation(f.observations, device);
  if (obs.x.dtype != DType::f32) throw ArgumentError(cat("--observations ", f.observations, ": complex unknowns need a prior on complex images, which tweedie does not have yet"));
  const samplers::Operator& op = *obs.op.op;
  if (!op.is_linear()) throw ArgumentError(cat("--observations ", f.observations, ": operator '", op.describe(), "' is nonlinear; em draws its samples by MMPS, which needs a linear one"));
  Tensor variance = obs.noise.noise ? obs.noise.noise->gaussian_variance(ctx, op.output().shape) : Tensor();
  if (!variance.defined())
    throw ArgumentError(cat("--observations ", f.observations, ": ",
                            obs.noise.noise ? samplers::independent_gaussian_refusal(ctx, *obs.noise.noise, op.output().shape,
                                                                                     "em needs Gaussian noise with a diagonal Sigma_y (its lap 0 is Gaussian EM)")
                                            : "noise 'none'; em needs Gaussian noise (its lap 0 and MMPS are Gaussian)"));
  Tensor truth;  // (M, item...) on the host, or undefined
  if (!f.truth.empty()) {
    truth = read_dataset("--truth", parse_dataset_ref("--truth", f.truth, "x"), Device::cpu());
    op.batch_of_input(host, truth, "--truth");
    if (truth.dim(0) != obs.y.dim(0)) throw ShapeError(cat("--truth has ", truth.dim(0), " items for ", obs.y.dim(0), " observations"));
  }

  StartingNetwork net = starting_network(f.model, gaussian_start ? "" : f.init, ctx, device, f.run.seed, "tweedie em");
  if (!(net.denoiser->item_shape() == obs.x.shape))
    throw ShapeError(cat("--observations ", f.observations, ": the unknowns are ", obs.x.str(), " but the network's items are ", net.denoiser->item_shape().str()));
  if (samplers::class_count(net.denoiser->network()) > 0) throw ArgumentError("tweedie em trains unconditional priors; the network takes class labels");
  if (!cmd->get_option("--time")->count()) f.run.time.kind = default_time_sampling(net.diffusion);
  f.run.adam.total_steps = f.steps_per_lap * f.laps;
  f.run.validate();

  json identity{{"tweedie", "em-run"},
                {"observations", {{"sha256", observation_digest(obs)}}},  // not the path: the data may move
                {"model", {{"architecture", net.denoiser->network().architecture()}, {"config", json::parse(net.denoiser->network().config_json())},
                           {"diffusion", json::parse(net.diffusion)}}},
                {"init", gaussian_start ? json{{"kind", "gaussian"}, {"structure", f.gaussian}, {"iterations", f.gaussian_iterations}}
                                        : json{{"kind", "model"}, {"file", fs::absolute(f.init).string()}}},
                {"steps_per_lap", f.steps_per_lap},
                {"samples_per_observation", f.per},
                {"sampler", {{"kind", f.sampler.kind}, {"steps", f.sampler.steps}, {"eta", f.sampler.eta}}},
                {"mmps", {{"solver", f.mmps.solver}, {"iterations", f.mmps.krylov.max_iterations}, {"tolerance", f.mmps.krylov.tolerance},
                          {"covariance", f.mmps.covariance}, {"by_vjp", f.mmps.by_vjp},
                          {"tweedie_max_noise", std::isinf(f.mmps.tweedie_max_noise) ? json("inf") : json(f.mmps.tweedie_max_noise)}}},
                {"train", json::parse(train_options_json(f.run))}};
  // The learning-rate schedule's length follows --laps, which a resumed run may raise; only a constant
  // rate is offered, so the length does not define the run.
  for (auto& [key, value] : identity["train"].items())
    if (value.is_object()) value.erase("total_steps");
  int lap = check_run_folder(f.output, identity, gaussian_start);
  if (lap > f.laps) {
    std::cerr << "tweedie em: all " << f.laps << " laps of " << f.output << " are done (" << lap - 1 << " there)\n";
    return;
  }
  const bool progress = !f.quiet;
  std::ofstream log;
  auto open_log = [&] {
    make_run_folder(f.output, identity);
    log.open((fs::path(f.output) / "log.jsonl").string(), std::ios::app);
    if (!log) throw IoError(cat("-o ", f.output, ": cannot append to log.jsonl"));
  };

  // Lap 0: the Gaussian start.
  std::shared_ptr<const samplers::Denoiser> prior;
  auto gaussian_prior = [&](const samplers::GaussianPrior& g) {
    json schedule = json::parse(net.diffusion).at("schedule");
    return std::make_shared<samplers::GaussianDenoiser>(g, samplers::process_from_json(schedule.dump(), "the network's schedule"), device,
                                                        "lap 0 prior");
  };
  const std::string prior0 = (fs::path(lap_dir(f.output, 0)) / "prior.h5").string();
  if (gaussian_start && lap == 0) {
    Timer timer;
    samplers::GaussianEmReport report;
    std::string structure;
    samplers::GaussianPrior g = fit_gaussian_start(host, obs, variance.to_host(), f, &report, &structure);
    open_log();
    fs::create_directories(lap_dir(f.output, 0));
    save_gaussian_prior(prior0, g);
    prior = gaussian_prior(g);
    json line{{"lap", 0}, {"prior", "gaussian"}, {"structure", structure}, {"iterations", f.gaussian_iterations},
              {"log_evidence", report.log_evidence}, {"seconds", timer.seconds()}};
    if (truth.defined() && truth.rank() == 2) line["sw2"] = prior_sliced_w2(ctx, *prior, truth, f, 0);
    emit(log, line);
    if (progress) std::fprintf(stderr, "tweedie em: lap 0  Gaussian (%s) fitted by %d EM iterations, mean log evidence %.4f\n", structure.c_str(),
                               f.gaussian_iterations, report.log_evidence.back());
    lap = 1;
  } else {
    open_log();
    if (gaussian_start && lap == 1) prior = gaussian_prior(read_prior(prior0).gaussian);
  }

  // The network, its optimizer and EMA: from the last completed lap's state when resuming.
  samplers::TrainingData placeholder{Tensor::zeros(samplers::batched(1, obs.x.shape)), {}};
  samplers::Trainer trainer(net.denoiser, placeholder, f.run);
  if (lap > 1) load_training_state((fs::path(lap_dir(f.output, lap - 1)) / "state.h5").string(), trainer);

  for (; lap <= f.laps; ++lap) {
    Timer timer;
    const std::string folder = lap_dir(f.output, lap);
    fs::create_directories(folder);
    // E: posterior samples under the previous lap's prior (the Gaussian, or the network's EMA weights).
    std::int64_t evaluations = 0, fallbacks = 0;
    Tensor samples;
    {
      std::optional<samplers::EmaWeights> ema;
      std::shared_ptr<const samplers::Denoiser> current = prior;
      if (!(gaussian_start && lap == 1)) {
        ema.emplace(trainer);
        current = net.denoiser;
      }
      samples = posterior_samples(ctx, current, obs, variance, f, lap, &evaluations, &fallbacks);
    }
    const double sampling_seconds = timer.seconds();
    save_samples((fs::path(folder) / "samples.h5").string(), samples, lap, f.per);
    // M: more training of the same network on them.
    samplers::TrainingData data{samples, {}};
    TrainingDataRecord record = describe_training_data(data, (fs::path(folder) / "samples.h5").string(), "x", "");
    trainer.set_data(std::move(data));
    double loss = 0;
    for (std::int64_t s = 0; s < f.steps_per_lap; ++s) loss += trainer.step(ctx).loss;
    loss /= double(f.steps_per_lap);
    const double training_seconds = timer.seconds() - sampling_seconds;
    save_training_state((fs::path(folder) / "state.h5").string(), trainer, net.diffusion, record, f.run.adam.total_steps);
    json line{{"lap", lap}, {"steps", trainer.steps_done()}, {"loss", loss}, {"network_evaluations", evaluations},
              {"covariance_fallbacks", fallbacks},
              {"sampling_seconds", sampling_seconds}, {"training_seconds", training_seconds}};
    {
      samplers::EmaWeights ema(trainer);
      if (truth.defined() && truth.rank() == 2) line["sw2"] = prior_sliced_w2(ctx, *net.denoiser, truth, f, lap);
      save_model(trainer.model().mutable_network(), (fs::path(folder) / "model.h5").string(), StoredAs::f32, net.diffusion);
    }
    if (truth.defined() && truth.rank() > 2) line["posterior_psnr"] = posterior_psnr(samples, truth);
    line["seconds"] = timer.seconds();
    emit(log, line);
    if (progress) {
      std::fprintf(stderr, "tweedie em: lap %d/%d  sampling %.1f s  training %.1f s  loss %.4f", lap, f.laps, sampling_seconds, training_seconds, loss);
      if (line.contains("sw2")) std::fprintf(stderr, "  sw2 %.4f", line["sw2"].get<double>());
      if (line.contains("posterior_psnr")) std::fprintf(stderr, "  posterior PSNR %.2f dB", line["posterior_psnr"].get<double>());
      std::fprintf(stderr, "\n");
    }
  }
}

}  // namespace

void add_em_command(CLI::App& app) {
  auto f = std::make_shared<EmFlags>();
  // Defaults for posterior sampling and training at scale (the sampler must be stochastic: a
  // deterministic one gives one point per observation, not samples of its posterior).
  f->sampler.kind = "ddpm";
  f->sampler.steps = 64;
  f->mmps.krylov.max_iterations = 1;  // measured: 3 iterations through an MLP prior diverged after 12 laps, 1 did not in 24
  f->mmps.tweedie_max_noise = 1.0;  // a network's Jacobian fresh from few steps of training is no covariance at high noise
  f->run.batch = 64;
  f->run.adam.lr = 1e-3;
  auto* cmd = app.add_subcommand("em", "Learn a diffusion prior from observations alone: Gaussian EM, then laps of MMPS posterior sampling and training");
  cmd->add_option("--observations", f->observations, "Observation file (tweedie simulate): linear operator, shared or each:, Gaussian noise")->required();
  cmd->add_option("-o,--output", f->output, "Run folder: one sub-folder per lap; rerun with the same flags to resume")->required();
  cmd->add_option("--laps", f->laps, "Laps of sampling and training after lap 0 (a resumed run may ask for more)")->required();
  cmd->add_option("--steps-per-lap", f->steps_per_lap, "Optimizer steps per lap")->required();
  cmd->add_option("--samples-per-observation", f->per, "Posterior samples drawn per observation per lap")->capture_default_str();
  cmd->add_option("--init", f->init, "gaussian: start from the closed-form Gaussian EM (lap 0); or a MODEL.h5 to sample lap 1 from and train on")
      ->capture_default_str();
  cmd->add_option("--gaussian", f->gaussian, "Lap 0's covariance: dense (vectors, D <= 2048), diagonal (masks), auto (dense up to D = 256)")
      ->capture_default_str();
  cmd->add_option("--gaussian-iterations", f->gaussian_iterations, "Lap 0's EM iterations")->capture_default_str();
  cmd->add_option("--truth", f->truth, "The true signals FILE[:DATASET] (M, ...), for the metrics of each lap: sw2 of prior draws (vectors), posterior PSNR (images)");
  cmd->add_option("--eval-samples", f->eval_samples, "Prior draws for the sliced W2 against --truth (at most the truth's items)")->capture_default_str();
  cmd->add_option("--sampler", f->sampler.kind, "Posterior sampler: " + samplers::sampler_kind_list())->capture_default_str();
  cmd->add_option("--order", f->sampler.order, "eab: order of the exponential Adams-Bashforth step, 1..3")->capture_default_str();
  cmd->add_option("--steps", f->sampler.steps, "Sampler steps")->capture_default_str();
  cmd->add_option("--eta", f->sampler.eta, "ddim: 0 deterministic .. 1 ancestral")->capture_default_str();
  cmd->add_option("--cg-iterations", f->mmps.krylov.max_iterations, "MMPS solver iterations per step")->capture_default_str();
  cmd->add_option("--covariance", f->mmps.covariance, "MMPS covariance: tweedie or sigma_t")->capture_default_str();
  cmd->add_option("--tolerance", f->mmps.krylov.tolerance, "MMPS: stop the solver at this relative residual (0: always the iterations)")
      ->capture_default_str();
  cmd->add_option("--tweedie-max-noise", f->mmps.tweedie_max_noise,
                  "MMPS: Tweedie's covariance up to this noise level sigma/alpha, the sigma_t one above (samplers/posterior/mmps.h)")
      ->capture_default_str();
  cmd->add_flag("--by-vjp", f->mmps.by_vjp, "MMPS covariance products by VJP instead of JVP");
  cmd->add_flag("--gmres", f->gmres, "MMPS: GMRES instead of conjugate gradient");
  cmd->add_option("--sample-batch", f->sample_batch, "Posterior samples per batch (0: all at once)")->capture_default_str();
  cmd->add_option("--device", f->device, "cpu or cuda[:N]")->capture_default_str();
  cmd->add_option("--threads", f->threads, "Host threads (0: all)")->capture_default_str();
  cmd->add_flag("--quiet", f->quiet, "No progress lines on stderr");
  f->model.add_to(cmd);
  samplers::TrainOptions& r = f->run;
  cmd->add_option("--batch", r.batch, "Training items per optimizer step")->capture_default_str();
  cmd->add_option("--seed", r.seed, "Seed of the initial weights, the batches, the samples of every lap")->capture_default_str();
  cmd->add_option("--time", r.time.kind, "Training time sampling: uniform, or edm (the default for edm models)");
  cmd->add_option("--lr", r.adam.lr, "AdamW learning rate")->capture_default_str();
  cmd->add_option("--weight-decay", r.adam.weight_decay, "AdamW decoupled weight decay")->capture_default_str();
  cmd->add_option("--clip", r.adam.clip_norm, "Clip the gradient's global norm (0: no clipping)")->capture_default_str();
  cmd->add_option("--warmup", r.adam.warmup, "Steps of linear learning-rate warm-up")->capture_default_str();
  cmd->add_option("--ema", r.ema, "EMA decay of the weights")->capture_default_str();
  cmd->callback([f, cmd] {
    f->model.keep_given(cmd);
    run_em(*f, cmd);
  });
}

}  // namespace tweedie::cli
