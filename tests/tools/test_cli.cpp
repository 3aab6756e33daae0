// Runs the real `tweedie` executable and checks what it prints and how it exits.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "io/hdf5_file.h"
#include "support.h"
#include "tools/cli_run.h"

using tweedie::test::contains;
using tweedie::test::data;
using tweedie::test::run;
using tweedie::test::run_shell;
using tweedie::test::Run;
using tweedie::test::temp;

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
  // The host convolution route: oneDNN where the build has it, im2col + GEMM on request.
  CHECK(info["libraries"]["conv"]["host_route"] == (TWEEDIE_HAS_ONEDNN ? "onednn" : "gemm"));
  CHECK(contains(run_shell("TWEEDIE_HOST_CONV=gemm " TWEEDIE_CLI " info").out, "conv      host route gemm"));
  Run bad = run_shell("TWEEDIE_HOST_CONV=fast " TWEEDIE_CLI " info");
  CHECK(bad.status != 0);
  CHECK(contains(bad.out, "TWEEDIE_HOST_CONV=fast: expected gemm or onednn"));
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

TEST_CASE("tweedie bench --compare joins another implementation's lines and prints the ratio of medians") {
  // The other side: every case of the run twice (two rounds), at 10 and 30 ms, so its median is 20,
  // with a peak of 64 MiB.
  Run first = run("bench kernels --filter silu --threads 1 --min-runs 1 --min-seconds 0");
  REQUIRE(first.status == 0);
  const std::string other = temp("other.jsonl");
  {
    std::ofstream f(other);
    std::istringstream lines(first.out);
    for (std::string line; std::getline(lines, line);)
      for (double ms : {10.0, 30.0}) {
        nlohmann::json j = nlohmann::json::parse(line);
        j["impl"] = "torch", j["median_ms"] = ms, j["peak_bytes"] = 64 << 20;
        f << j.dump() << "\n";
      }
    f << "{\"op\": \"silu\", \"shape\": [1], \"device\": \"cpu\", \"threads\": 1, \"median_ms\": 1}\n";  // a case this run lacks
  }
  Run r = run("bench kernels --filter silu --threads 1 --min-runs 1 --min-seconds 0 --compare " + other);
  CAPTURE(r.out);
  REQUIRE(r.status == 0);
  std::map<std::string, nlohmann::json> ours;  // case -> this run's line
  int table_rows = 0;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with("{")) {
      nlohmann::json j = nlohmann::json::parse(line);
      ours[j["op"].get<std::string>() + " " + j["shape"].dump()] = j;
    } else if (line.starts_with("| silu")) {
      // | op | case | device | threads | rounds | tweedie ms | other ms | other / tweedie | tweedie MiB | other MiB |
      std::vector<std::string> cells;
      std::istringstream row(line.substr(1));
      for (std::string cell; std::getline(row, cell, '|');) cells.push_back(cell.substr(1, cell.size() - 2));
      REQUIRE(cells.size() == 10);
      const nlohmann::json& mine = ours.at(cells[0] + " " + cells[1]);
      CHECK(cells[2] == "cpu");
      CHECK(cells[3] == "1");
      CHECK(cells[4] == "1");
      CHECK(std::stod(cells[6]) == 20.0);
      CHECK(std::abs(std::stod(cells[7]) - 20.0 / mine["median_ms"].get<double>()) <= 0.0051);
      CHECK(std::abs(std::stod(cells[8]) - mine["peak_bytes"].get<double>() / 1048576.0) <= 0.051);
      CHECK(cells[9] == "64.0");
      ++table_rows;
    }
  }
  CHECK(table_rows == int(ours.size()));
  CHECK(table_rows > 0);
  CHECK(contains(r.out, "| op | case | device | threads | rounds | tweedie ms | other ms | other / tweedie | tweedie MiB | other MiB |"));

  // A file with no matching case, a missing file (refused before the run) and a broken line.
  std::ofstream(temp("unrelated.jsonl")) << "{\"op\": \"gemm\", \"shape\": [9], \"device\": \"cpu\", \"threads\": 1, \"median_ms\": 1}\n";
  Run none = run("bench kernels --filter silu --threads 1 --min-runs 1 --min-seconds 0 --compare " + temp("unrelated.jsonl"));
  CHECK(none.status == 1);
  CHECK(contains(none.out, "--compare " + temp("unrelated.jsonl") + ": none of its 1 cases matches"));
  Run missing = run("bench kernels --filter silu --compare " + temp("absent.jsonl"));
  CHECK(missing.status == 1);
  CHECK(contains(missing.out, "--compare " + temp("absent.jsonl") + ": cannot open for reading"));
  CHECK_FALSE(contains(missing.out, "median_ms"));
  std::ofstream(temp("broken.jsonl")) << "{\"op\": \"silu\", \"median_ms\": \n";
  Run broken = run("bench kernels --filter silu --threads 1 --min-runs 1 --min-seconds 0 --compare " + temp("broken.jsonl"));
  CHECK(broken.status == 1);
  CHECK(contains(broken.out, "--compare " + temp("broken.jsonl") + ", line 1: not a benchmark JSON line"));
}

TEST_CASE("the command line limits OpenMP spinning (GOMP_SPINCOUNT) unless the environment says how to wait") {
  auto info_with = [](const std::string& settings) {
    return run_shell(tweedie::cat("env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT -u KMP_BLOCKTIME -u TWEEDIE_OPENMP_WAIT_SET ", settings, " ", TWEEDIE_CLI, " info"));
  };
  Run ours = info_with("");
  CAPTURE(ours.out);
  CHECK(ours.status == 0);
  CHECK(contains(ours.out, "openmp    GOMP_SPINCOUNT=10000 (tweedie's default on shared nodes"));
  CHECK(contains(ours.out, "cpu       "));  // the re-executed process ran the command, once
  CHECK(ours.out.find("openmp    ") == ours.out.rfind("openmp    "));
  Run user = info_with("GOMP_SPINCOUNT=5");
  CAPTURE(user.out);
  CHECK(contains(user.out, "openmp    OMP_WAIT_POLICY=(unset), GOMP_SPINCOUNT=5, KMP_BLOCKTIME=(unset) (from the environment)"));
  Run passive = info_with("OMP_WAIT_POLICY=passive");
  CHECK(contains(passive.out, "OMP_WAIT_POLICY=passive, GOMP_SPINCOUNT=(unset)"));
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


TEST_CASE("tweedie eval reproduces PyTorch's output, JVP and VJP from a golden file") {
  std::string model = data("adm_neworder_plain_classcond.h5"), out = temp("eval.h5");
  Run r = run("eval --model " + model + " --x " + model + ":golden/x --t 37,911 --label 3,7 --tangent " + model +
              ":golden/tangent --cotangent " + model + ":golden/cotangent -o " + out);
  CAPTURE(r.out);
  REQUIRE(r.status == 0);
  tweedie::H5File got = tweedie::H5File::open(out), want = tweedie::H5File::open(model);
  for (const char* name : {"y", "jvp", "vjp"}) {
    CAPTURE(name);
    CHECK(tweedie::test::max_relative_error(tweedie::test::download(got.read(name)),
                                            tweedie::test::download(want.read(std::string("golden/") + name))) < 1e-4);
  }
  CHECK(got.string_attribute("", "architecture") == "adm-unet");
  std::filesystem::remove(out);
}

TEST_CASE("tweedie eval refuses bad input by name and writes nothing") {
  std::string model = data("adm_1d.h5"), out = temp("never.h5");
  struct Bad {
    std::string args, message;
  } cases[] = {
      {"--x " + model + ":golden/x --t 1", "--output is required"},
      {"--x " + model + ":golden/nope --t 1 -o " + out, "--x: " + model + " has no dataset 'golden/nope'"},
      {"--x " + model + ":golden/x --t 1,2,3 -o " + out, "3 time values for a batch of 2"},
      {"--x " + model + ":golden/x --t soon -o " + out, "--t: 'soon' is not a number"},
      {"--x " + model + ":golden/x --t 1 --label 4 -o " + out, "labels given, but the model is not class-conditional"},
      {"--x " + model + ":parameters/out.2.weight --t 1 -o " + out, "adm-unet: input (1,32,3) is not (N, 1, L)"},
      {"--x " + model + ":golden/x --t 1 --tangent " + model + ":parameters/out.2.bias -o " + out, "--tangent: "},
      {"--x " + model + ":golden/x --t 1 --device cuda:7 -o " + out, "cuda:7"},
  };
  for (const Bad& b : cases) {
    CAPTURE(b.args);
    Run r = run("eval --model " + model + " " + b.args);
    CAPTURE(r.out);
    CHECK(r.status != 0);
    CHECK(contains(r.out, b.message));
    CHECK_FALSE(std::filesystem::exists(out));
  }
  Run missing = run("eval --model " + temp("no-such-model.h5") + " --x " + model + " --t 1 -o " + out);
  CHECK(missing.status != 0);
  CHECK(contains(missing.out, "no-such-model.h5: no such file"));
}
