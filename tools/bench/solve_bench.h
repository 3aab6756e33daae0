#pragma once
// `tweedie bench solve`: the cost of one sampler step of each posterior method, in units of one
// unconditional step (one network forward pass), on a preset U-Net with random weights and random
// inpainting with Gaussian noise. One JSON line per (method, threads):
// {"bench":"solve","op":"mmps-k3","model":"adm-small-64","batch":1,"median_ms":...,"forwards":4.1,...}
// where median_ms is per step and forwards = median_ms / (the unconditional step's median_ms).
#include <ostream>
#include <string>
#include <vector>

#include "bench/measure.h"
#include "runtime/device.h"

namespace tweedie::bench {

struct SolveBenchOptions {
  std::string preset = "adm-small-64";
  Device device;
  std::vector<int> threads;
  std::int64_t batch = 1;
  int steps = 3;  // sampler steps per timed run
  MeasureOptions measure;
};

void run_solve_benchmarks(const SolveBenchOptions& options, std::ostream& out);

// `tweedie bench methods`: every sampling method of `tweedie solve` (samplers/posterior/solve.h) with
// its defaults on the same problem and prior, through solve_rows as the CLI runs them. One JSON line per
// (method, threads) with "bench":"methods", the network calls per step and item (forward, jvp, vjp)
// and the seconds per step; `filter` keeps the methods whose names contain it (empty: all).
void run_method_benchmarks(const SolveBenchOptions& options, const std::string& filter, std::ostream& out);

}  // namespace tweedie::bench
