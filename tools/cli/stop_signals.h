#pragma once
// SIGINT (Ctrl-C) and SIGTERM (what batch schedulers send before a job's time runs out).
//
// Every command: main() installs a handler that removes the temporary files of unfinished outputs and
// then ends the process by the signal, so a killed command leaves no partial output file.
//
// The long loops (train, sample, solve) hold a StopSignals while they run: the first signal only asks
// them to stop after the current step, so that they can save their state or checkpoint and say what
// was kept; they then end with status 128 + signal. A second signal at least a second after the first
// ends the process at once (unfinished outputs still removed; state files on disk are whole, as they
// are committed by rename); one closer than that is the same request delivered twice (`timeout` signals
// both the process and its group) and is ignored.
namespace tweedie::cli {

void install_exit_on_signal();

class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  int requested() const;  // the signal received since construction, or 0
};

// "interrupted" for SIGINT, "terminated" for SIGTERM.
const char* stop_word(int signal);

}  // namespace tweedie::cli
