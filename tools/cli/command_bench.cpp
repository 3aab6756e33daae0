// `tweedie bench ...`: benchmarks that print one JSON line per measurement.
#include <iostream>
#include <sstream>

#include "bench/kernel_bench.h"
#include "bench/operator_bench.h"
#include "bench/solve_bench.h"
#include "bench/train_bench.h"
#include "bench/unet_bench.h"
#include "cli/commands.h"
#include "runtime/error.h"
#include "runtime/system_info.h"

namespace tweedie::cli {
namespace {

std::vector<int> default_threads() {
  int all = host_info().openmp_threads;
  return all > 1 ? std::vector<int>{1, all} : std::vector<int>{1};
}

std::vector<int> parse_thread_list(const std::string& text) {
  std::vector<int> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    try {
      std::size_t used = 0;
      int n = std::stoi(item, &used);
      if (used != item.size() || n < 1) throw std::invalid_argument(item);
      out.push_back(n);
    } catch (const std::exception&) {
      throw ArgumentError(cat("--threads: '", item, "' is not a positive whole number (expected e.g. 1,2,4)"));
    }
  }
  if (out.empty()) throw ArgumentError("--threads: empty list");
  return out;
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Benchmarks; each prints JSON lines (medians in ms, rates, threads)");
  bench->require_subcommand(1);

  auto* kernels = bench->add_subcommand("kernels", "Time each kernel on representative shapes");
  struct Flags {
    std::string device = "cpu", threads, filter;
    double min_seconds = 0.3;
    int min_runs = 5;
  };
  auto flags = std::make_shared<Flags>();
  kernels->add_option("--device", flags->device, "cpu or cuda[:N]")->capture_default_str();
  kernels->add_option("--threads", flags->threads, "Comma-separated host thread counts (default: 1 and all)");
  kernels->add_option("--filter", flags->filter, "Only ops whose name contains this text");
  kernels->add_option("--min-seconds", flags->min_seconds, "Keep timing each case at least this long")->capture_default_str();
  kernels->add_option("--min-runs", flags->min_runs, "Time each case at least this many times")->capture_default_str();
  kernels->callback([flags] {
    bench::KernelBenchOptions o;
    o.device = Device::parse(flags->device);
    o.threads = flags->threads.empty() ? default_threads() : parse_thread_list(flags->threads);
    o.filter = flags->filter;
    o.measure.min_seconds = flags->min_seconds;
    o.measure.min_runs = flags->min_runs;
    bench::run_kernel_benchmarks(o, std::cout);
  });

  auto* operators = bench->add_subcommand("operators", "Time forward operators and their adjoints (MRI, blur, super-resolution, ...)");
  auto oflags = std::make_shared<Flags>();
  operators->add_option("--device", oflags->device, "cpu or cuda[:N]")->capture_default_str();
  operators->add_option("--threads", oflags->threads, "Comma-separated host thread counts (default: 1 and all)");
  operators->add_option("--filter", oflags->filter, "Only operators whose name contains this text");
  operators->add_option("--min-seconds", oflags->min_seconds, "Keep timing each case at least this long")->capture_default_str();
  operators->add_option("--min-runs", oflags->min_runs, "Time each case at least this many times")->capture_default_str();
  operators->callback([oflags] {
    bench::OperatorBenchOptions o;
    o.device = Device::parse(oflags->device);
    o.threads = oflags->threads.empty() ? default_threads() : parse_thread_list(oflags->threads);
    o.filter = oflags->filter;
    o.measure.min_seconds = oflags->min_seconds;
    o.measure.min_runs = oflags->min_runs;
    bench::run_operator_benchmarks(o, std::cout);
  });

  auto* solve = bench->add_subcommand("solve", "Per-step cost of DPS and MMPS (k = 1, 3, 5) in units of one forward pass");
  struct SolveFlags {
    std::string device = "cpu", threads, preset = "adm-small-64";
    std::int64_t batch = 1;
    int steps = 3, min_runs = 3;
    double min_seconds = 0.3;
  };
  auto sflags = std::make_shared<SolveFlags>();
  solve->add_option("--preset", sflags->preset, "U-Net preset (random weights)")->capture_default_str();
  solve->add_option("--batch", sflags->batch, "Items per batch")->capture_default_str();
  solve->add_option("--steps", sflags->steps, "Sampler steps per timed run")->capture_default_str();
  solve->add_option("--device", sflags->device, "cpu or cuda[:N]")->capture_default_str();
  solve->add_option("--threads", sflags->threads, "Comma-separated host thread counts (default: 1 and all)");
  solve->add_option("--min-runs", sflags->min_runs, "Time each method at least this many times")->capture_default_str();
  solve->add_option("--min-seconds", sflags->min_seconds, "Keep timing each method at least this long")->capture_default_str();
  solve->callback([sflags] {
    bench::SolveBenchOptions o;
    o.preset = sflags->preset;
    o.batch = sflags->batch;
    o.steps = sflags->steps;
    o.device = Device::parse(sflags->device);
    o.threads = sflags->threads.empty() ? default_threads() : parse_thread_list(sflags->threads);
    o.measure.min_runs = sflags->min_runs;
    o.measure.min_seconds = sflags->min_seconds;
    bench::run_solve_benchmarks(o, std::cout);
  });

  auto* unet = bench->add_subcommand("unet", "Time a U-Net's forward pass, linearization, JVP and VJP");
  struct UnetFlags {
    std::string model, preset, save_model, device = "cpu", threads, filter;
    std::int64_t batch = 1, size = 0, tangents = 1;
    double min_seconds = 0.3;
    int min_runs = 3;
  };
  auto u = std::make_shared<UnetFlags>();
  std::string presets;
  for (const std::string& p : bench::unet_presets()) presets += (presets.empty() ? "" : ", ") + p;
  auto* model = unet->add_option("--model", u->model, "Model file to time");
  unet->add_option("--preset", u->preset, "Or a built-in configuration with random weights: " + presets)->excludes(model);
  unet->add_option("--save-model", u->save_model, "Write the preset's random model here (for tools/bench/torch_unet.py)");
  unet->add_option("--batch", u->batch, "Batch size")->capture_default_str();
  unet->add_option("--size", u->size, "Image size (default: the model's image_size)");
  unet->add_option("--tangents", u->tangents, "Tangents per item pushed by one JVP")->capture_default_str();
  unet->add_option("--filter", u->filter, "Only ops whose name contains this text");
  unet->add_option("--device", u->device, "cpu or cuda[:N]")->capture_default_str();
  unet->add_option("--threads", u->threads, "Comma-separated host thread counts (default: 1 and all)");
  unet->add_option("--min-seconds", u->min_seconds, "Keep timing each op at least this long")->capture_default_str();
  unet->add_option("--min-runs", u->min_runs, "Time each op at least this many times")->capture_default_str();
  unet->callback([u] {
    if (u->model.empty() == u->preset.empty()) throw ArgumentError("bench unet: give --model FILE or --preset NAME");
    if (u->batch < 1 || u->tangents < 1 || u->size < 0) throw ArgumentError("bench unet: --batch and --tangents must be positive");
    bench::UnetBenchOptions o;
    o.model = u->model;
    o.preset = u->preset;
    o.save_model = u->save_model;
    o.device = Device::parse(u->device);
    o.threads = u->threads.empty() ? default_threads() : parse_thread_list(u->threads);
    o.batch = u->batch;
    o.size = u->size;
    o.tangents = u->tangents;
    o.filter = u->filter;
    o.measure.min_seconds = u->min_seconds;
    o.measure.min_runs = u->min_runs;
    bench::run_unet_benchmarks(o, std::cout);
  });

  auto* train = bench->add_subcommand("train", "Time one training step of a U-Net: DSM loss and gradient, AdamW and EMA");
  struct TrainFlags {
    std::string model, preset, save_model, save_batch, device = "cpu", threads;
    std::int64_t batch = 16, size = 0;
    double min_seconds = 0.3;
    int min_runs = 3;
  };
  auto t = std::make_shared<TrainFlags>();
  auto* tmodel = train->add_option("--model", t->model, "Model file to time");
  train->add_option("--preset", t->preset, "Or a built-in configuration with random weights: " + presets)->excludes(tmodel);
  train->add_option("--save-model", t->save_model, "Write the preset's random model here (for tools/bench/torch_train.py)");
  train->add_option("--save-batch", t->save_batch, "Write the timed batch (x0, noise, t) here (for tools/bench/torch_train.py)");
  train->add_option("--batch", t->batch, "Batch size")->capture_default_str();
  train->add_option("--size", t->size, "Image size (default: the model's image_size)");
  train->add_option("--device", t->device, "cpu or cuda[:N]")->capture_default_str();
  train->add_option("--threads", t->threads, "Comma-separated host thread counts (default: 1 and all)");
  train->add_option("--min-seconds", t->min_seconds, "Keep timing each op at least this long")->capture_default_str();
  train->add_option("--min-runs", t->min_runs, "Time each op at least this many times")->capture_default_str();
  train->callback([t] {
    if (t->model.empty() == t->preset.empty()) throw ArgumentError("bench train: give --model FILE or --preset NAME");
    if (t->batch < 1 || t->size < 0) throw ArgumentError("bench train: --batch must be positive");
    bench::TrainBenchOptions o;
    o.model = t->model;
    o.preset = t->preset;
    o.save_model = t->save_model;
    o.save_batch = t->save_batch;
    o.device = Device::parse(t->device);
    o.threads = t->threads.empty() ? default_threads() : parse_thread_list(t->threads);
    o.batch = t->batch;
    o.size = t->size;
    o.measure.min_seconds = t->min_seconds;
    o.measure.min_runs = t->min_runs;
    bench::run_train_benchmarks(o, std::cout);
  });
}

}  // namespace tweedie::cli
