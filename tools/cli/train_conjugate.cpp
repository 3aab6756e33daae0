#include "cli/train_conjugate.h"

#include <unistd.h>

#include <cmath>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/arguments.h"
#include "io/inference_file.h"
#include "io/operator_spec.h"
#include "nn/init.h"
#include "nn/mlp.h"
#include "nn/registry.h"
#include "runtime/check.h"
#include "runtime/error.h"
#include "runtime/timer.h"

namespace tweedie::cli {
namespace {

using nlohmann::json;

Tensor read_draws(const std::string& flag, const std::string& text) {
  DatasetRef ref = parse_dataset_ref(flag, text, "x");
  Tensor x = read_dataset(flag, ref, Device::cpu());
  if (x.rank() < 2) throw ShapeError(cat(flag, " ", text, " is ", x.shape().str(), "; prior draws are (N, item...)"));
  expect_finite_items(x, cat(flag, " ", text), "prior draws must be finite");
  return x;
}

}  // namespace

void run_conjugate_training(const ConjugateTrainFlags& f, ModelFlags& model) {
  Device device = Device::parse(f.device);
  Context ctx(device, f.threads);
  if (f.data.empty()) throw ArgumentError("--data: give draws of the prior, FILE or FILE:DATASET");
  if (f.op.empty() || f.noise.empty())
    throw ArgumentError("--objective conjugate: give the problem the network is for: --operator SPEC and --noise SPEC (an observation file carries both)");
  if (f.steps < 1) throw ArgumentError(cat("--steps ", f.steps, ": give the number of optimizer steps (at least 1)"));
  const Tensor data = read_draws("--data", f.data);
  const Shape item(std::span<const std::int64_t>(data.shape().dims().data() + 1, std::size_t(data.rank() - 1)));
  const samplers::Signal x{item, DType::f32};
  SpecOptions spec_options;
  BuiltOperator op = build_operator(f.op, x, device, spec_options);
  BuiltNoise noise = build_noise(f.noise, op.op->output(), device, spec_options);
  CountModel count;
  if (!noise.noise || !noise.noise->count_model(count))
    throw ArgumentError(cat("--noise ", f.noise, ": an inference network is for count data (poisson or binomial noise)"));
  if (!op.op->is_linear() || op.op->output().dtype != DType::f32)
    throw ArgumentError(cat("--operator ", f.op, ": the evidence trick needs a linear operator with real outputs"));

  samplers::InferenceSpec spec;
  spec.law = count.law;
  spec.process = f.process;
  spec.item = item;
  spec.outputs = op.op->output().shape.numel();
  spec.operator_description = op.op->describe();
  spec.noise_description = noise.noise->describe();

  // The MLP of the model flags (--arch mlp --hidden H --depth L --emb_dim E), sized for the problem.
  if (model.arch != "mlp") throw ArgumentError(cat("--arch ", model.arch, ": inference networks are MLPs (--arch mlp)"));
  std::string architecture;
  bool learned_variance = false;
  json config = json::parse(model.model_config(&architecture, &learned_variance));
  if (model.model.count("dim") && config["dim"].get<std::int64_t>() != item.numel())
    throw ArgumentError(cat("--dim ", config["dim"].get<std::int64_t>(), ": the data's items have ", item.numel(), " values"));
  config["dim"] = item.numel();
  config["out_dim"] = 2 * spec.outputs;
  std::shared_ptr<nn::Network> net = nn::make_network("mlp", config.dump(), device, "--arch mlp");
  nn::initialize_parameters(ctx, *net, f.run.seed);
  auto network = std::make_shared<samplers::InferenceNetwork>(net, spec, "tweedie train");

  samplers::ConjugateTrainOptions run = f.run;
  run.adam.total_steps = f.steps;
  samplers::ConjugateTrainer trainer(network, data, op.op, run);
  Tensor val;
  if (!f.val.empty()) {
    val = read_draws("--val", f.val);
    if (val.numel() / val.dim(0) != item.numel()) throw ShapeError(cat("--val ", f.val, " is ", val.shape().str(), " but --data's items are ", item.str()));
    val = val.reshape(samplers::batched(val.dim(0), item));
  }
  H5File::create(f.output);  // a bad path fails now, not after training
  std::ofstream log;
  if (!f.log.empty()) {
    log.open(f.log, std::ios::trunc);
    if (!log) throw IoError(cat("--log ", f.log, ": cannot open for writing"));
  }
  const std::int64_t val_every = f.val_every > 0 ? f.val_every : std::max<std::int64_t>(1, f.steps / 10);
  const bool progress = !f.quiet && ::isatty(STDERR_FILENO);
  Timer timer;
  double smoothed = NAN, last_val = NAN;
  for (std::int64_t s = 1; s <= f.steps; ++s) {
    const double loss = trainer.step(ctx);
    smoothed = std::isnan(smoothed) ? loss : 0.98 * smoothed + 0.02 * loss;
    if (log) log << json{{"step", s}, {"loss", loss}, {"seconds", timer.seconds()}}.dump() << std::endl;
    if (progress) std::fprintf(stderr, "\rstep %lld/%lld  loss %.5f   ", (long long)s, (long long)f.steps, smoothed);
    if (val.defined() && (s % val_every == 0 || s == f.steps)) {
      last_val = trainer.validate(ctx, val);
      if (log) log << json{{"step", s}, {"val_loss", last_val}}.dump() << std::endl;
    }
  }
  if (progress) std::fprintf(stderr, "\n");
  trainer.swap_ema();
  save_inference_network(*network, f.output, f.store);
  json summary{{"steps", f.steps}, {"seconds", timer.seconds()}, {"loss_smoothed", smoothed}, {"objective", "conjugate"},
               {"parameters", net->parameters().count_values()}, {"inference", json::parse(spec.to_json())}, {"output", f.output}};
  if (!std::isnan(last_val)) summary["val_loss"] = last_val;
  std::cout << summary.dump() << "\n";
}

}  // namespace tweedie::cli
