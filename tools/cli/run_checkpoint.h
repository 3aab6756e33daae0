#pragma once
// `--checkpoint FILE --checkpoint-every K --resume` for `sample` and `solve`: long sampling runs that
// survive being killed.
//
// The checkpoint is an HDF5 file, replaced atomically (written aside, renamed) after every K sampler
// steps and after every batch: the rows of the output finished so far, the running batch's x and its
// position in the loop (steps done, next noise id), the network-call counters, and the run's settings.
// A run restarted with --resume continues from it and ends bitwise equal to a run never stopped (same
// device and threads): every noise draw is keyed by (seed, step, sample index), and x is saved exactly.
// On SIGINT/SIGTERM the loop stops after its current step and saves the checkpoint first.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "cli/stop_signals.h"
#include "runtime/tensor.h"
#include "samplers/denoiser.h"
#include "samplers/sampler.h"

namespace tweedie::cli {

struct CheckpointFlags {
  std::string path;
  int every = 10;
  bool resume = false;
};
void add_checkpoint_flags(CLI::App* command, CheckpointFlags& flags);

// The settings that decide a run's result: every option of `command` as parsed (defaults included),
// except those that only say where and how it runs (output paths, checkpoint flags, threads, device,
// progress), and the size of each input file.
std::string run_settings(const CLI::App& command, const std::vector<std::string>& input_files);

class RunCheckpoint {
 public:
  // `settings`: everything that decides the result, as text (a JSON dump); a checkpoint made with other
  // settings is refused. `all`: the run's whole output (total rows), filled by the batches. With --resume
  // and an existing FILE, the finished rows are copied into `all` and the counters into `counters`.
  RunCheckpoint(const CheckpointFlags& flags, const std::string& command, std::string settings, Tensor& all,
                const samplers::Denoiser* counters);
  ~RunCheckpoint();

  std::int64_t finished_rows() const { return finished_; }  // rows of `all` done before this run started
  // The loop hooks for the batch of rows [first, first + count): resume state, saves, stop requests.
  samplers::Resumable batch(Context& ctx, std::int64_t first, std::int64_t count);
  void batch_done(std::int64_t first, std::int64_t count);  // rows [0, first + count) are final
  void finished();  // the output is committed: the checkpoint is no longer needed and is removed
  // After a stop request: saves and throws ExitStatus{128 + signal} with a message saying what was kept.
  [[noreturn]] void stop(int signal, const std::string& where);

 private:
  void save(const samplers::SamplerState* running, std::int64_t first);

  CheckpointFlags flags_;
  std::string command_, settings_;
  Tensor& all_;
  const samplers::Denoiser* counters_;
  std::int64_t finished_ = 0;
  std::optional<samplers::SamplerState> loaded_;  // the running batch's state in the file resumed from
  std::int64_t loaded_first_ = -1;
  StopSignals stop_;
};

}  // namespace tweedie::cli
