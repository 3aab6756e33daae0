// The corrupted HDF5 files that crashed or hung `tweedie info` and `tweedie sample --prior` (issue 14),
// run through the real binary: each must end in a clear error naming the file, within a second, with
// no crash and no output file.
#include <algorithm>
#include <chrono>
#include <filesystem>

#include "support.h"
#include "tools/cli_run.h"

using namespace tweedie;
using namespace tweedie::test;
namespace fs = std::filesystem;

// The bound catches hangs; a refusal takes a fraction of it. AddressSanitizer builds run several times
// slower, and one took 1.03 s for prior-07.h5 in a CI run that shared the machine, so they get more room.
#if defined(__SANITIZE_ADDRESS__)
constexpr double kRefusalSeconds = 5.0;
#else
constexpr double kRefusalSeconds = 1.0;
#endif

TEST_CASE("corrupted model and prior files are refused by info and sample within a second") {
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(data("hdf5-crashers")))
    if (entry.path().extension() == ".h5") files.push_back(entry.path().string());
  std::sort(files.begin(), files.end());
  REQUIRE(files.size() == 24);
  std::string out = temp("corrupt-out.h5");
  for (const std::string& file : files) {
    CAPTURE(file);
    bool model = fs::path(file).filename().string().starts_with("model-");
    std::string args = model ? "info " + file : "sample --prior " + file + " --process vp --steps 2 -o " + out;
    fs::remove(out);
    auto start = std::chrono::steady_clock::now();
    Run r = run(args);
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    CHECK(r.status == 1);  // a clean refusal: not a signal (-1), not success
    CHECK_MESSAGE(contains(r.out, "tweedie: error: " + file + ": "), r.out);
    CHECK(seconds < kRefusalSeconds);
    CHECK_FALSE(fs::exists(out));
  }
}

TEST_CASE("the process reading a file dies with its parent, even while libhdf5 spins") {
  // prior-01.h5 makes libhdf5 spin; with a 30 s step limit the child would spin on after a parent
  // killed outright, were it not tied to the parent's life. Only tweedie processes reading this file
  // count (other tests run tweedie beside this one); zombies are dead.
  std::string file = data("hdf5-crashers/prior-01.h5");
  Run r = run_shell(cat("(TWEEDIE_HDF5_VET=30 ", TWEEDIE_CLI, " info ", file, " & p=$!; sleep 0.3; kill -9 $p; wait $p; sleep 0.3; ",
                        "echo left=$(ps -eo stat=,comm=,args= | awk -v f=", file, " '$2 == \"tweedie\" && $1 !~ /Z/ && index($0, f)' | wc -l))"));
  CHECK_MESSAGE(contains(r.out, "left=0"), r.out);
}
