// `tweedie bench ...`: benchmarks that print one JSON line per measurement.
#include <iostream>
#include <sstream>

#include "bench/kernel_bench.h"
#include "cli/commands.h"
#include "runtime/error.h"
#include "runtime/system_info.h"

namespace tweedie::cli {
namespace {

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
    if (flags->threads.empty()) {
      int all = host_info().openmp_threads;
      o.threads = all > 1 ? std::vector<int>{1, all} : std::vector<int>{1};
    } else {
      o.threads = parse_thread_list(flags->threads);
    }
    o.filter = flags->filter;
    o.measure.min_seconds = flags->min_seconds;
    o.measure.min_runs = flags->min_runs;
    bench::run_kernel_benchmarks(o, std::cout);
  });
}

}  // namespace tweedie::cli
