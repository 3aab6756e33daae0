// The `tweedie` command line: a thin layer that parses flags and calls the library.
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "cli/distributed.h"
#include "cli/openmp_wait.h"
#include "cli/stop_signals.h"
#include "runtime/error.h"
#include "runtime/memory.h"

namespace {

// " (rank 1 of 4)" in a job of several ranks, so that a message says which failed; else empty.
std::string rank_label() {
  const tweedie::cli::Ranks& r = tweedie::cli::ranks();
  return r.size > 1 ? tweedie::cat(" (rank ", r.rank, " of ", r.size, ")") : std::string();
}

// Under mpirun, the commands that split their work over the ranks; any other would have every rank
// do the same work and write the same files.
void refuse_ranks_for_single_process_commands(int argc, char** argv) {
  const tweedie::cli::Ranks& r = tweedie::cli::ranks();
  if (r.size == 1) return;
  for (int i = 1; i < argc; ++i) {
    const std::string word = argv[i];
    if (word.empty() || word[0] == '-') continue;
    if (word == "solve" || word == "sample" || word == "train") return;
    throw tweedie::ArgumentError(tweedie::cat("tweedie ", word, " runs as one process (this job has ", r.size,
                                              " ranks); solve, sample and train are the commands that split over MPI ranks"));
  }
}

}  // namespace

int main(int argc, char** argv) {
  tweedie::cli::limit_openmp_spinning(argv);  // may execute this program again, with the setting in place
  tweedie::retain_freed_host_memory();  // the loops reallocate the same activations every step
  tweedie::cli::install_exit_on_signal();  // a killed command leaves no partial output
  CLI::App app{"tweedie: Bayesian inverse problems with diffusion priors", "tweedie"};
  app.set_version_flag("--version", TWEEDIE_VERSION);
  app.require_subcommand(1);
  app.footer("Operator and noise SPECs (mri:R=4, inpaint:p=0.25, sr:4, blur:gauss:61:3, gaussian:sigma=0.05, ...): "
             "tweedie simulate --help");
  tweedie::cli::add_info_command(app);
  tweedie::cli::add_check_command(app);
  tweedie::cli::add_convert_command(app);
  tweedie::cli::add_eval_command(app);
  tweedie::cli::add_sample_command(app);
  tweedie::cli::add_simulate_command(app);
  tweedie::cli::add_apply_command(app);
  tweedie::cli::add_solve_command(app);
  tweedie::cli::add_demo_command(app);
  tweedie::cli::add_train_command(app);
  tweedie::cli::add_em_command(app);
  tweedie::cli::add_coils_command(app);
  tweedie::cli::add_bench_command(app);
  // Under mpirun every rank runs the command; one that fails ends the job, since the others would
  // wait for it in their next collective (tools/cli/distributed.h).
  try {
    tweedie::cli::start_ranks(&argc, &argv);
    refuse_ranks_for_single_process_commands(argc, argv);
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return tweedie::cli::abort_ranks(app.exit(e));
  } catch (const tweedie::cli::Failed&) {
    return tweedie::cli::abort_ranks(1);
  } catch (const tweedie::cli::ExitStatus& e) {
    return tweedie::cli::abort_ranks(e.code);
  } catch (const tweedie::Error& e) {
    std::fprintf(stderr, "tweedie: error%s: %s\n", rank_label().c_str(), e.what());
    return tweedie::cli::abort_ranks(1);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tweedie: internal error%s: %s\n", rank_label().c_str(), e.what());
    return tweedie::cli::abort_ranks(3);
  }
  tweedie::cli::finish_ranks();
  return 0;
}
