// The `tweedie` command line: a thin layer that parses flags and calls the library.
#include <cstdio>

#include "cli/commands.h"
#include "cli/stop_signals.h"
#include "runtime/error.h"
#include "runtime/memory.h"

int main(int argc, char** argv) {
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
  tweedie::cli::add_bench_command(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const tweedie::cli::Failed&) {
    return 1;
  } catch (const tweedie::cli::ExitStatus& e) {
    return e.code;
  } catch (const tweedie::Error& e) {
    std::fprintf(stderr, "tweedie: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tweedie: internal error: %s\n", e.what());
    return 3;
  }
  return 0;
}
