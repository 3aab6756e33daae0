// Runs the real `tweedie` executable and checks what it prints and how it exits.
#include <sys/wait.h>

#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "support.h"

namespace {

struct Run {
  int status;
  std::string out;  // stdout and stderr together
};

Run run(const std::string& args) {
  std::string command = std::string(TWEEDIE_CLI) + " " + args + " 2>&1";
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buffer[4096];
  for (std::size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) out.append(buffer, n);
  int status = pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("tweedie info describes the build and says where it will run") {
  Run r = run("info");
  CHECK(r.status == 0);
  CHECK(contains(r.out, "tweedie " TWEEDIE_VERSION));
  CHECK(contains(r.out, "blas      OpenBLAS"));
  CHECK(contains(r.out, "fft       fftw-3"));
  CHECK(contains(r.out, "device    "));
  Run j = run("info --json");
  CHECK(j.status == 0);
  nlohmann::json info = nlohmann::json::parse(j.out);
  CHECK(info["version"] == TWEEDIE_VERSION);
  CHECK(info["cuda"]["compiled"] == bool(TWEEDIE_HAS_CUDA));
  CHECK((info["default_device"] == "cpu") == info["cuda"]["devices"].empty());
}

TEST_CASE("tweedie check passes on this machine") {
  Run r = run("check");
  CAPTURE(r.out);
  CHECK(r.status == 0);
  CHECK(contains(r.out, "checks passed"));
  CHECK(contains(r.out, "check cpu     gemm vs naive double           ok"));
}

TEST_CASE("tweedie bench kernels prints one JSON line per case") {
  Run r = run("bench kernels --filter gemm --threads 1 --min-runs 1 --min-seconds 0");
  CAPTURE(r.out);
  REQUIRE(r.status == 0);
  int lines = 0;
  std::size_t start = 0;
  while (start < r.out.size()) {
    std::size_t end = r.out.find('\n', start);
    nlohmann::json line = nlohmann::json::parse(r.out.substr(start, end - start));
    CHECK(line["bench"] == "kernels");
    CHECK(std::string(line["op"]).rfind("gemm", 0) == 0);
    CHECK(line["threads"] == 1);
    CHECK(line["median_ms"].get<double>() > 0);
    CHECK(line["gflops"].get<double>() > 0);
    ++lines;
    start = end + 1;
  }
  CHECK(lines == 7);
}

TEST_CASE("bad flags exit non-zero with a message naming the flag") {
  Run r = run("bench kernels --threads 2,x");
  CHECK(r.status != 0);
  CHECK(contains(r.out, "--threads: 'x' is not a positive whole number"));
  Run d = run("bench kernels --device gpu --filter silu");
  CHECK(d.status != 0);
  CHECK(contains(d.out, "unknown device 'gpu'"));
  Run u = run("frobnicate");
  CHECK(u.status != 0);
  Run none = run("");
  CHECK(none.status != 0);
}
