#pragma once
// Running the real `tweedie` executable from tests.
#include <string>

namespace tweedie::test {

struct Run {
  int status;       // exit status; -1 when killed by a signal
  std::string out;  // stdout and stderr together
};

Run run(const std::string& args);  // `tweedie ARGS`
Run run_shell(const std::string& command);  // a shell command line, stderr with stdout
bool contains(const std::string& text, const std::string& part);
// Runs `tweedie ARGS -o OUT` (OUT removed first) and checks that it is refused: a non-zero exit,
// `expected` in the output, and no file at OUT.
void check_refused(const std::string& args, const std::string& out, const std::string& expected);
// Two draws of an exact prior file by `tweedie sample` (VP, DDIM 50 steps, `seed`), kept in `samples`
// and written again as dataset x of `truth`, the file `simulate --x` and `solve --truth` take.
void write_prior_draws(const std::string& prior, int seed, const std::string& samples, const std::string& truth);
std::string data(const std::string& name);  // a file under tests/data
std::string temp(const std::string& name);  // a per-process path in the temp folder (not created)

}  // namespace tweedie::test
