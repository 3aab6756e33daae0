// `tweedie train`: trains a diffusion prior by denoising score matching and writes a model file that
// `sample`, `solve` and `eval` take as it is. A training-state file is written every K steps (and on
// Ctrl-C or SIGTERM); `--resume STATE` continues the run exactly where it stopped. Under mpirun the
// ranks split every batch and sum their gradients (training_ranks.h); rank 0 writes every file.
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iostream>
#include <optional>
#include <nlohmann/json.hpp>

#include "cli/arguments.h"
#include "cli/commands.h"
#include "cli/distributed.h"
#include "cli/model_flags.h"
#include "cli/stop_signals.h"
#include "cli/train_conjugate.h"
#include "cli/training_ranks.h"
#include "io/denoiser_file.h"
#include "io/hdf5_file.h"
#include "io/model_file.h"
#include "io/training_state.h"
#include "nn/init.h"
#include "nn/registry.h"
#include "runtime/check.h"
#include "runtime/error.h"
#include "runtime/timer.h"
#include "samplers/training/trainer.h"

namespace tweedie::cli {
namespace {

using nlohmann::json;

struct TrainFlags {
  std::string data, labels, val, init, resume, output, state, log, device = "cpu", store = "f32", weights = "ema";
  std::string betas = "0.9,0.999", data_range = "check";
  std::string objective = "dsm", op, noise, process = "vp";  // --objective conjugate: the problem
  ModelFlags model;
  samplers::TrainOptions run;
  std::int64_t steps = 0, checkpoint_every = 0, val_every = 0;
  int threads = 0;
  bool quiet = false;
  std::vector<CLI::Option*> run_options;  // what defines the run: refused with --resume
};

StoredAs parse_store(const std::string& s) {
  if (s == "f32") return StoredAs::f32;
  if (s == "f16") return StoredAs::f16;
  if (s == "bf16") return StoredAs::bf16;
  throw ArgumentError(cat("--store '", s, "': f32, f16 or bf16"));
}

// Class labels: an integer dataset read as f32 holds them exactly up to 2^24.
std::vector<std::int64_t> read_labels(const std::string& text) {
  DatasetRef ref = parse_dataset_ref("--labels", text, "y");
  Tensor t = read_dataset("--labels", ref, Device::cpu());
  std::vector<std::int64_t> out;
  for (float v : t.to_vector<float>()) {
    if (v != std::floor(v) || !(std::abs(v) < 16777216.0f)) throw ArgumentError(cat("--labels ", text, ": ", v, " is not a class label"));
    out.push_back(std::int64_t(v));
  }
  return out;
}

// The data of a run: every value finite; images (N, C, H, W) within [-1, 1] unless --data-range any.
samplers::TrainingData read_training_data(const std::string& flag, const std::string& text, const std::string& labels,
                                          const std::string& range, std::string* file, std::string* dataset) {
  DatasetRef ref = parse_dataset_ref(flag, text, "x");
  samplers::TrainingData d;
  d.x = read_dataset(flag, ref, Device::cpu());
  if (!labels.empty()) d.labels = read_labels(labels);
  const std::string what = cat(flag, " ", ref.file, ":", ref.dataset);
  if (d.x.rank() < 2) throw ShapeError(cat(what, " is ", d.x.shape().str(), "; training data is (N, D) vectors or (N, C, H, W) images"));
  expect_finite_items(d.x, what, "training data must be finite");  // before the range check, which NaN would slip past
  if (range != "check" && range != "any") throw ArgumentError(cat("--data-range '", range, "': check or any"));
  if (range == "check" && d.x.rank() == 4) {
    std::vector<float> v = d.x.to_vector<float>();
    auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    if (*lo < -1.0f || *hi > 1.0f)
      throw ArgumentError(cat(what, ": values from ", *lo, " to ", *hi, "; diffusion priors on images expect [-1, 1] (8-bit pixels: ",
                              "x / 127.5 - 1). Rescale the data, or pass --data-range any if it is normalised otherwise on purpose"));
  }
  *file = ref.file;
  *dataset = ref.dataset;
  return d;
}

using Model = StartingNetwork;

void write_model(samplers::Trainer& trainer, const TrainFlags& f, const std::string& diffusion) {
  std::optional<samplers::EmaWeights> ema;
  if (f.weights == "ema") ema.emplace(trainer);
  save_model(trainer.model().mutable_network(), f.output, parse_store(f.store), diffusion);
}

void run_train(TrainFlags& f, CLI::App* cmd) {
  StopSignals stop;  // from here on, Ctrl-C or SIGTERM stops the run after its current (or first) step
  const Ranks& job = ranks();
  Device device = rank_device(f.device);
  Context ctx(device, f.threads);
  if (f.weights != "ema" && f.weights != "raw") throw ArgumentError(cat("--weights '", f.weights, "': ema or raw"));
  parse_store(f.store);
  if (f.state.empty()) f.state = f.output + ".state.h5";

  Model model;
  TrainingStateInfo resumed;
  std::string data_text = f.data, labels_text = f.labels;
  if (!f.resume.empty()) {
    std::vector<std::string> refused;
    for (const CLI::Option* o : f.run_options)
      if (o->count() > 0) refused.push_back(o->get_name());
    if (f.model.any_given() || !f.init.empty()) refused.push_back("model and diffusion flags");
    if (!refused.empty()) {
      std::string names;
      for (const std::string& r : refused) names += (names.empty() ? "" : ", ") + r;
      throw ArgumentError(cat("--resume ", f.resume, ": the run's settings come from the state file; drop ", names));
    }
    resumed = read_training_state_info(f.resume);
    f.run = resumed.options;
    if (data_text.empty()) data_text = resumed.data.dataset.empty() ? resumed.data.file : resumed.data.file + ":" + resumed.data.dataset;
    if (labels_text.empty()) labels_text = resumed.data.labels;
    if (f.steps == 0) f.steps = resumed.total_steps;
    model.diffusion = resumed.diffusion;
    model.denoiser = make_network_denoiser(nn::make_network(resumed.architecture, resumed.config, device, f.resume), resumed.diffusion, f.resume);
  } else {
    if (data_text.empty()) throw ArgumentError("--data: give the training data, FILE or FILE:DATASET");
    model = starting_network(f.model, f.init, ctx, device, f.run.seed, "tweedie train");
    if (cmd->get_option("--time")->count() == 0) f.run.time.kind = default_time_sampling(model.diffusion);
  }
  if (f.steps < 1) throw ArgumentError(cat("--steps ", f.steps, ": give the number of optimizer steps (at least 1)"));
  if (f.checkpoint_every < 0 || f.val_every < 0) throw ArgumentError("--checkpoint-every and --val-every must be >= 0");
  f.run.adam.total_steps = f.steps;
  if (!f.resume.empty() && f.run.adam.decay == "cosine" && f.steps != resumed.total_steps)
    throw ArgumentError(cat("--steps ", f.steps, ": a cosine learning-rate decay is tied to the run's length (", resumed.total_steps, " steps)"));
  if (f.resume.empty()) {
    std::vector<float> b = parse_floats("--betas", f.betas);
    if (b.size() != 2) throw ArgumentError(cat("--betas '", f.betas, "': two numbers, beta1,beta2"));
    f.run.adam.beta1 = b[0], f.run.adam.beta2 = b[1];
  }
  f.run.validate();

  std::string data_file, data_dataset;
  samplers::TrainingData data = read_training_data("--data", data_text, labels_text, f.data_range, &data_file, &data_dataset);
  const std::int64_t classes = samplers::class_count(model.denoiser->network());
  samplers::check_training_data(data, model.denoiser->item_shape(), classes, "--data " + data_text);
  TrainingDataRecord record = describe_training_data(data, data_file, data_dataset, labels_text);
  if (!f.resume.empty() && (record.sha256 != resumed.data.sha256 || record.items != resumed.data.items))
    throw ArgumentError(cat("--data ", data_text, ": not the data the run in ", f.resume, " was trained on (", resumed.data.items,
                            " items, SHA-256 ", resumed.data.sha256.substr(0, 16), "...); resuming on other data would not continue it"));
  samplers::TrainingData val;
  if (!f.val.empty()) {
    std::string vf, vd;
    if (classes > 0) throw ArgumentError("--val: validation of class-conditional models is not supported yet");
    val = read_training_data("--val", f.val, "", f.data_range, &vf, &vd);
    samplers::check_training_data(val, model.denoiser->item_shape(), classes, "--val " + f.val);
  }

  samplers::Trainer trainer(model.denoiser, std::move(data), f.run, training_group(device));
  if (!f.resume.empty()) {
    load_training_state(f.resume, trainer);
    if (trainer.steps_done() > f.steps)
      throw ArgumentError(cat("--steps ", f.steps, ": the state in ", f.resume, " is already at step ", trainer.steps_done()));
  }
  // Outputs are checked for writability before any training: a bad path fails now, not in an hour.
  if (job.root())
    for (const std::string& path : {f.output, f.state}) H5File::create(path);  // discarded without commit
  std::ofstream log;
  if (!f.log.empty() && job.root()) {
    log.open(f.log, trainer.steps_done() > 0 ? std::ios::app : std::ios::trunc);
    if (!log) throw IoError(cat("--log ", f.log, ": cannot open for writing"));
  }

  const std::int64_t val_every = f.val_every > 0 ? f.val_every : std::max<std::int64_t>(1, f.steps / 10);
  const bool progress = !f.quiet && job.root() && ::isatty(STDERR_FILENO);
  // Rank 0 alone validates and writes (every rank holds the same weights); the others go on to the
  // next step's gradient sum and wait there.
  auto save_state = [&](const std::string& when) {
    expect_same_weights_on_ranks(trainer.model().mutable_network().parameters(), when);
    if (job.root()) save_training_state(f.state, trainer, model.diffusion, record, f.steps);
  };
  auto validate = [&](std::int64_t step) {
    samplers::Validation v = trainer.validate(ctx, val);
    json line{{"step", step}, {"val_loss", v.mean}, {"val_t", v.t}, {"val_losses", v.loss}};
    if (log) log << line.dump() << "\n" << std::flush;
    if (!f.quiet) std::fprintf(stderr, "%sstep %lld  validation loss %.5f\n", progress ? "\n" : "", (long long)step, v.mean);
    return v.mean;
  };

  Timer timer;
  const std::int64_t first = trainer.steps_done();
  double smoothed = NAN, last_val = NAN;
  int interrupted = 0;  // the signal that stopped the run
  while (trainer.steps_done() < f.steps) {
    samplers::TrainStep s = trainer.step(ctx);
    smoothed = std::isnan(smoothed) ? s.loss : 0.98 * smoothed + 0.02 * s.loss;
    const double seconds = timer.seconds(), rate = double(s.step - first) / std::max(seconds, 1e-9);
    if (log)
      log << json{{"step", s.step}, {"loss", s.loss}, {"lr", s.optimizer.lr}, {"grad_norm", s.optimizer.grad_norm}, {"seconds", seconds}}.dump()
          << std::endl;  // flushed: the log is for watching a run
    if (progress)
      std::fprintf(stderr, "\rstep %lld/%lld  loss %.5f  %.2f steps/s  ETA %.0f s   ", (long long)s.step, (long long)f.steps, smoothed, rate,
                   double(f.steps - s.step) / rate);
    if (!f.val.empty() && s.step % val_every == 0 && s.step < f.steps && job.root()) last_val = validate(s.step);
    if (f.checkpoint_every > 0 && s.step % f.checkpoint_every == 0 && s.step < f.steps) save_state(cat("at the state file of step ", s.step));
    // A signal may reach the ranks at different steps: they stop together at the first step any saw it.
    if (const int signal = max_on_ranks(stop.requested())) {
      interrupted = signal;
      break;
    }
  }
  if (progress) std::fprintf(stderr, "\n");
  save_state(cat("after step ", trainer.steps_done()));
  if (interrupted) {
    if (job.root())
      std::fprintf(stderr, "tweedie train: %s after step %lld of %lld; the state is in %s (continue with --resume %s)\n",
                   stop_word(interrupted), (long long)trainer.steps_done(), (long long)f.steps, f.state.c_str(), f.state.c_str());
    wait_for_ranks();  // no rank ends the job before rank 0 has written the state
    throw ExitStatus{128 + interrupted};
  }
  if (!job.root()) return;
  if (!f.val.empty()) last_val = validate(trainer.steps_done());
  write_model(trainer, f, model.diffusion);
  json summary{{"steps", trainer.steps_done()},
               {"seconds", timer.seconds()},
               {"loss_smoothed", smoothed},
               {"parameters", trainer.model().mutable_network().parameters().count_values()},
               {"weights", f.weights},
               {"output", f.output},
               {"state", f.state}};
  if (!std::isnan(last_val)) summary["val_loss"] = last_val;
  if (job.size > 1) summary["ranks"] = job.size;
  std::cout << summary.dump() << "\n";
}

// --objective conjugate: the flags that mean something there, and a refusal of those that do not.
void run_conjugate(TrainFlags& f, CLI::App* cmd) {
  refuse_several_ranks("--objective conjugate");
  for (const char* flag : {"--labels", "--init", "--resume", "--state", "--checkpoint-every", "--weights", "--time", "--p-mean", "--p-std",
                           "--flip", "--data-range"})
    if (cmd->get_option(flag)->count() > 0) throw ArgumentError(cat(flag, ": not used by --objective conjugate"));
  if (f.model.diffusion_given()) throw ArgumentError("--param, --schedule and the other diffusion flags: not used by --objective conjugate (give --process)");
  ConjugateTrainFlags c;
  c.op = f.op, c.noise = f.noise, c.process = f.process, c.data = f.data, c.val = f.val, c.output = f.output, c.log = f.log;
  c.device = f.device, c.store = parse_store(f.store), c.steps = f.steps, c.val_every = f.val_every, c.threads = f.threads, c.quiet = f.quiet;
  c.run.batch = f.run.batch, c.run.seed = f.run.seed, c.run.adam = f.run.adam, c.run.ema = f.run.ema;
  std::vector<float> b = parse_floats("--betas", f.betas);
  if (b.size() != 2) throw ArgumentError(cat("--betas '", f.betas, "': two numbers, beta1,beta2"));
  c.run.adam.beta1 = b[0], c.run.adam.beta2 = b[1];
  run_conjugate_training(c, f.model);
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto f = std::make_shared<TrainFlags>();
  auto* cmd = app.add_subcommand("train", "Train a diffusion prior by denoising score matching (AdamW, EMA, resumable), or an inference network");
  cmd->add_option("--data", f->data, "Training data FILE[:DATASET] (default dataset x): (N, C, H, W) images in [-1, 1] or (N, D) vectors");
  cmd->add_option("--labels", f->labels, "Class labels FILE[:DATASET] (default dataset y), one per item, for class-conditional models");
  cmd->add_option("--val", f->val, "Held-out data FILE[:DATASET]: the DSM loss of the EMA weights on a fixed time grid");
  cmd->add_option("--init", f->init, "Start from this model file (fine-tuning) instead of fresh weights");
  cmd->add_option("--resume", f->resume, "Continue the run saved in this training-state file");
  cmd->add_option("-o,--output", f->output, "Model file to write (EMA weights unless --weights raw)")->required();
  cmd->add_option("--state", f->state, "Training-state file (default: OUTPUT.state.h5)");
  cmd->add_option("--steps", f->steps, "Optimizer steps in all (with --resume: the new total; default the run's)");
  cmd->add_option("--checkpoint-every", f->checkpoint_every, "Write the state file every K steps (0: only at the end)")->capture_default_str();
  cmd->add_option("--val-every", f->val_every, "Validation loss every K steps (default: steps / 10)");
  cmd->add_option("--log", f->log, "Append JSON lines (step, loss, lr, grad_norm, seconds; validation) to this file");
  cmd->add_option("--store", f->store, "Precision of the written weights: f32, f16, bf16")->capture_default_str();
  cmd->add_option("--weights", f->weights, "Which weights the model file gets: ema or raw")->capture_default_str();
  cmd->add_option("--device", f->device, "cpu or cuda[:N]")->capture_default_str();
  cmd->add_option("--threads", f->threads, "Host threads (0: all)")->capture_default_str();
  cmd->add_flag("--quiet", f->quiet, "No progress on stderr");
  f->model.add_to(cmd);

  samplers::TrainOptions& r = f->run;
  auto* g = cmd->add_option_group("run", "The run (fixed once started: --resume takes them from the state)");
  f->run_options = {
      g->add_option("--batch", r.batch, "Items per optimizer step")->capture_default_str(),
      g->add_option("--seed", r.seed, "Seed of the initial weights, the batches, times and noise")->capture_default_str(),
      g->add_option("--time", r.time.kind, "Time sampling: uniform, or edm (log-normal sigma; the default for edm models)"),
      g->add_option("--p-mean", r.time.p_mean, "edm time sampling: mean of ln(sigma)")->capture_default_str(),
      g->add_option("--p-std", r.time.p_std, "edm time sampling: standard deviation of ln(sigma)")->capture_default_str(),
      g->add_flag("--flip", r.flip, "Mirror images left-right with probability 1/2"),
      g->add_option("--lr", r.adam.lr, "AdamW learning rate")->capture_default_str(),
      g->add_option("--betas", f->betas, "AdamW beta1,beta2")->capture_default_str(),
      g->add_option("--adam-eps", r.adam.eps, "AdamW epsilon")->capture_default_str(),
      g->add_option("--weight-decay", r.adam.weight_decay, "AdamW decoupled weight decay")->capture_default_str(),
      g->add_option("--clip", r.adam.clip_norm, "Clip the gradient's global norm to this (0: no clipping)")->capture_default_str(),
      g->add_option("--warmup", r.adam.warmup, "Steps of linear learning-rate warm-up")->capture_default_str(),
      g->add_option("--lr-decay", r.adam.decay, "After warm-up: constant, or cosine to 0 at the last step")->capture_default_str(),
      g->add_option("--ema", r.ema, "EMA decay of the weights (0: none)")->capture_default_str()};
  cmd->add_option("--data-range", f->data_range, "check: refuse images outside [-1, 1]; any: data normalised otherwise")->capture_default_str();
  cmd->add_option("--objective", f->objective,
                  "dsm: a diffusion prior; conjugate: the evidence trick's inference network for one count problem "
                  "(--operator, --noise, --process; --data holds prior draws)")
      ->capture_default_str();
  cmd->add_option("--operator", f->op, "conjugate: the problem's operator SPEC (or an observation file)");
  cmd->add_option("--noise", f->noise, "conjugate: the problem's count noise SPEC (or an observation file)");
  cmd->add_option("--process", f->process, "conjugate: the noising process of the prior the network will serve")->capture_default_str();
  cmd->callback([f, cmd] {
    f->model.keep_given(cmd);
    if (f->objective == "conjugate") return run_conjugate(*f, cmd);
    if (f->objective != "dsm") throw ArgumentError(cat("--objective '", f->objective, "': dsm or conjugate"));
    for (const char* flag : {"--operator", "--noise", "--process"})
      if (cmd->get_option(flag)->count() > 0) throw ArgumentError(cat(flag, " belongs to --objective conjugate"));
    run_train(*f, cmd);
  });
}

}  // namespace tweedie::cli
