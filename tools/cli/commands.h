#pragma once
// Each `tweedie` subcommand registers itself on the application; main() only parses and reports.
#include <CLI/CLI.hpp>

namespace tweedie::cli {

void add_info_command(CLI::App& app);
void add_check_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_sample_command(CLI::App& app);
void add_convert_command(CLI::App& app);
void add_bench_command(CLI::App& app);
void add_simulate_command(CLI::App& app);
void add_apply_command(CLI::App& app);
void add_solve_command(CLI::App& app);
void add_demo_command(CLI::App& app);
void add_train_command(CLI::App& app);
void add_em_command(CLI::App& app);
void add_coils_command(CLI::App& app);

// Thrown by a command that ran but found a failure it already reported (exit status 1, no message).
struct Failed {};
// Thrown by a command that ends with a particular exit status it already explained (130: interrupted).
struct ExitStatus {
  int code;
};

}  // namespace tweedie::cli
