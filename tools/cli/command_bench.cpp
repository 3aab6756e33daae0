// `tweedie bench ...`: benchmarks that print one JSON line per measurement.
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <streambuf>

#include "bench/compare_table.h"
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

// The flags every benchmark takes: where it runs, on how many threads, and how long it times each case.
struct TimingFlags {
  std::string device = "cpu", threads, compare;
  double min_seconds = 0.3;
  int min_runs = 3;
};

// Adds --device, --threads, --min-seconds and --min-runs; `unit` is what one timing covers ("op").
void add_timing_flags(CLI::App* command, TimingFlags& f, const std::string& unit) {
  command->add_option("--device", f.device, "cpu or cuda[:N]")->capture_default_str();
  command->add_option("--threads", f.threads, "Comma-separated host thread counts (default: 1 and all)");
  command->add_option("--min-seconds", f.min_seconds, "Keep timing each " + unit + " at least this long")->capture_default_str();
  command->add_option("--min-runs", f.min_runs, "Time each " + unit + " at least this many times")->capture_default_str();
  command->add_option("--compare", f.compare,
                      "JSON lines of the same cases from another implementation (tools/bench/torch_*.py): after the run, a table "
                      "of both medians and their ratio");
}

// Everything written to it goes to two places: the stream it wraps and a string.
class TeeBuffer : public std::streambuf {
 public:
  TeeBuffer(std::streambuf* to, std::string& copy) : to_(to), copy_(copy) {}

 protected:
  int overflow(int c) override {
    if (c == traits_type::eof()) return traits_type::not_eof(c);
    copy_.push_back(char(c));
    return to_->sputc(char(c));
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    copy_.append(s, std::size_t(n));
    return to_->sputn(s, n);
  }
  int sync() override { return to_->pubsync(); }

 private:
  std::streambuf* to_;
  std::string& copy_;
};

// Runs a benchmark that prints its JSON lines to stdout as they come; with --compare, then prints the
// table of them against the other file's. The file is checked for readability first: a long run
// should not end in "cannot open".
void run_benchmark(const TimingFlags& f, const std::function<void(std::ostream&)>& run) {
  if (f.compare.empty()) return run(std::cout);
  if (!std::ifstream(f.compare)) throw IoError(cat("--compare ", f.compare, ": cannot open for reading"));
  std::string lines;
  TeeBuffer tee(std::cout.rdbuf(), lines);
  std::ostream out(&tee);
  run(out);
  out.flush();
  bench::print_comparison(lines, f.compare, std::cout);
}

// Sets a benchmark's device, thread list and measuring rule from the flags.
template <class Options>
void apply_timing_flags(const TimingFlags& f, Options& o) {
  o.device = Device::parse(f.device);
  o.threads = f.threads.empty() ? default_threads() : parse_thread_list(f.threads);
  o.measure.min_seconds = f.min_seconds;
  o.measure.min_runs = f.min_runs;
}

// The network a U-Net benchmark times: a model file or a preset with random weights, which
// --save-model writes out for the PyTorch script `torch_script`.
struct NetworkFlags {
  std::string model, preset, save_model;
  std::int64_t batch = 1, size = 0;
};

void add_network_flags(CLI::App* command, NetworkFlags& f, const std::string& torch_script) {
  std::string presets;
  for (const std::string& p : bench::unet_presets()) presets += (presets.empty() ? "" : ", ") + p;
  auto* model = command->add_option("--model", f.model, "Model file to time");
  command->add_option("--preset", f.preset, "Or a built-in configuration with random weights: " + presets)->excludes(model);
  command->add_option("--save-model", f.save_model, "Write the preset's random model here (for tools/bench/" + torch_script + ")");
  command->add_option("--batch", f.batch, "Batch size")->capture_default_str();
  command->add_option("--size", f.size, "Image size (default: the model's image_size)");
}

template <class Options>
void apply_network_flags(const NetworkFlags& f, const char* command, Options& o) {
  if (f.model.empty() == f.preset.empty()) throw ArgumentError(cat(command, ": give --model FILE or --preset NAME"));
  o.model = f.model;
  o.preset = f.preset;
  o.save_model = f.save_model;
  o.batch = f.batch;
  o.size = f.size;
}

}  // namespace

void add_bench_command(CLI::App& app) {
  auto* bench = app.add_subcommand("bench", "Benchmarks; each prints JSON lines (medians in ms, rates, threads)");
  bench->require_subcommand(1);

  auto* kernels = bench->add_subcommand("kernels", "Time each kernel on representative shapes");
  struct FilteredFlags {
    FilteredFlags() { timing.min_runs = 5; }  // these cases are short
    TimingFlags timing;
    std::string filter;
  };
  auto k = std::make_shared<FilteredFlags>();
  add_timing_flags(kernels, k->timing, "case");
  kernels->add_option("--filter", k->filter, "Only ops whose name contains this text");
  kernels->callback([k] {
    bench::KernelBenchOptions o;
    apply_timing_flags(k->timing, o);
    o.filter = k->filter;
    run_benchmark(k->timing, [&](std::ostream& out) { bench::run_kernel_benchmarks(o, out); });
  });

  auto* operators = bench->add_subcommand("operators", "Time forward operators and their adjoints (MRI, blur, super-resolution, ...)");
  auto op = std::make_shared<FilteredFlags>();
  add_timing_flags(operators, op->timing, "case");
  operators->add_option("--filter", op->filter, "Only operators whose name contains this text");
  operators->callback([op] {
    bench::OperatorBenchOptions o;
    apply_timing_flags(op->timing, o);
    o.filter = op->filter;
    run_benchmark(op->timing, [&](std::ostream& out) { bench::run_operator_benchmarks(o, out); });
  });

  // bench solve and bench methods time posterior sampling steps on the same problem, with the same flags.
  struct PosteriorFlags {
    TimingFlags timing;
    std::string filter, preset = "adm-small-64";
    std::int64_t batch = 1;
    int steps = 3;
  };
  auto posterior_command = [&](const char* name, const char* what, bool with_filter,
                               std::function<void(const bench::SolveBenchOptions&, const std::string&, std::ostream&)> run) {
    auto* cmd = bench->add_subcommand(name, what);
    auto flags = std::make_shared<PosteriorFlags>();
    cmd->add_option("--preset", flags->preset, "U-Net preset (random weights)")->capture_default_str();
    cmd->add_option("--batch", flags->batch, "Items per batch")->capture_default_str();
    cmd->add_option("--steps", flags->steps, "Steps per timed run")->capture_default_str();
    if (with_filter) cmd->add_option("--filter", flags->filter, "Only the methods whose names contain this");
    add_timing_flags(cmd, flags->timing, "method");
    cmd->callback([flags, run] {
      bench::SolveBenchOptions o;
      apply_timing_flags(flags->timing, o);
      o.preset = flags->preset;
      o.batch = flags->batch;
      o.steps = flags->steps;
      run_benchmark(flags->timing, [&](std::ostream& out) { run(o, flags->filter, out); });
    });
  };
  posterior_command("solve", "Per-step cost of DPS and MMPS (k = 1, 3, 5) in units of one forward pass", false,
                    [](const bench::SolveBenchOptions& o, const std::string&, std::ostream& out) { bench::run_solve_benchmarks(o, out); });
  posterior_command("methods", "Network calls and time per step of every sampling method of tweedie solve, with its defaults", true,
                    [](const bench::SolveBenchOptions& o, const std::string& filter, std::ostream& out) {
                      bench::run_method_benchmarks(o, filter, out);
                    });

  auto* unet = bench->add_subcommand("unet", "Time a U-Net's forward pass, linearization, JVP and VJP");
  struct UnetFlags {
    TimingFlags timing;
    NetworkFlags network;
    std::int64_t tangents = 1;
    std::string filter;
  };
  auto u = std::make_shared<UnetFlags>();
  add_network_flags(unet, u->network, "torch_unet.py");
  unet->add_option("--tangents", u->tangents, "Tangents per item pushed by one JVP")->capture_default_str();
  unet->add_option("--filter", u->filter, "Only ops whose name contains this text");
  add_timing_flags(unet, u->timing, "op");
  unet->callback([u] {
    bench::UnetBenchOptions o;
    apply_network_flags(u->network, "bench unet", o);
    if (o.batch < 1 || u->tangents < 1 || o.size < 0) throw ArgumentError("bench unet: --batch and --tangents must be positive");
    apply_timing_flags(u->timing, o);
    o.tangents = u->tangents;
    o.filter = u->filter;
    run_benchmark(u->timing, [&](std::ostream& out) { bench::run_unet_benchmarks(o, out); });
  });

  auto* train = bench->add_subcommand("train", "Time one training step of a U-Net: DSM loss and gradient, AdamW and EMA");
  struct TrainFlags {
    TrainFlags() { network.batch = 16; }
    TimingFlags timing;
    NetworkFlags network;
    std::string save_batch;
  };
  auto t = std::make_shared<TrainFlags>();
  add_network_flags(train, t->network, "torch_train.py");
  train->add_option("--save-batch", t->save_batch, "Write the timed batch (x0, noise, t) here (for tools/bench/torch_train.py)");
  add_timing_flags(train, t->timing, "op");
  train->callback([t] {
    bench::TrainBenchOptions o;
    apply_network_flags(t->network, "bench train", o);
    if (o.batch < 1 || o.size < 0) throw ArgumentError("bench train: --batch must be positive");
    apply_timing_flags(t->timing, o);
    o.save_batch = t->save_batch;
    run_benchmark(t->timing, [&](std::ostream& out) { bench::run_train_benchmarks(o, out); });
  });
}

}  // namespace tweedie::cli
