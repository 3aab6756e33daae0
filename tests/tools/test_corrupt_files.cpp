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
    CHECK(seconds < 1.0);
    CHECK_FALSE(fs::exists(out));
  }
}
