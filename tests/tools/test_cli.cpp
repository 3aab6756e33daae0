// Runs the real `tweedie` executable and checks what it prints and how it exits.
#include <filesystem>
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
