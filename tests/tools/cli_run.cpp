#include "tools/cli_run.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "io/hdf5_file.h"
#include "support.h"

namespace tweedie::test {

void check_refused(const std::string& args, const std::string& out, const std::string& expected) {
  CAPTURE(args);
  std::filesystem::remove(out);
  Run r = run(args + " -o " + out);
  CHECK(r.status != 0);
  CHECK_MESSAGE(contains(r.out, expected), r.out);
  CHECK_FALSE(std::filesystem::exists(out));
}

void write_prior_draws(const std::string& prior, int seed, const std::string& samples, const std::string& truth) {
  Run r = run("sample --prior " + prior + " --process vp --sampler ddim --steps 50 --samples 2 --seed " + std::to_string(seed) + " -o " + samples);
  REQUIRE_MESSAGE(r.status == 0, r.out);
  H5File s = H5File::open(samples);
  H5File x = H5File::create(truth);
  x.write("x", s.read("samples"));
  x.commit();
}

Run run(const std::string& args) { return run_shell(std::string(TWEEDIE_CLI) + " " + args); }

Run run_shell(const std::string& line) {
  std::string command = line + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buffer[4096];
  for (std::size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

std::string data(const std::string& name) { return std::string(TWEEDIE_TEST_DATA) + "/" + name; }

std::string temp(const std::string& name) {
  return (std::filesystem::temp_directory_path() / (std::to_string(::getpid()) + "-" + name)).string();
}

}  // namespace tweedie::test
