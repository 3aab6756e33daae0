// Long runs that survive interruption, through the real binary: `sample` and `solve` killed outright
// (SIGKILL) and resumed from their checkpoint end bitwise equal to runs never stopped; SIGINT and
// SIGTERM leave no partial output and say what was kept.
#include <cstring>
#include <filesystem>

#include "io/hdf5_file.h"
#include "support.h"
#include "tools/cli_run.h"

using namespace tweedie;
using namespace tweedie::test;
namespace fs = std::filesystem;

namespace {

const std::string kPrior = std::string(TWEEDIE_TEST_DATA) + "/../../tools/demo/phantom_unet.h5";

// Starts `tweedie ARGS` in the background, waits until FILE exists (its first checkpoint), sends
// SIGNAL, and returns the command's exit status and output.
Run run_and_signal(const std::string& args, const std::string& file, const std::string& signal) {
  std::string log = temp("signalled.log");
  return run_shell(cat("(", TWEEDIE_CLI, " ", args, " > ", log, " 2>&1 & p=$!; while [ ! -f ", file,
                       " ]; do sleep 0.01; done; kill -", signal, " $p; wait $p; echo status=$?; cat ", log, ")"));
}

int status_of(const Run& r) {
  auto at = r.out.find("status=");
  return at == std::string::npos ? -1 : std::stoi(r.out.substr(at + 7));
}

// No file in `folder` whose name contains ".partial-".
bool no_partial_files(const std::string& folder) {
  for (const auto& entry : fs::directory_iterator(folder))
    if (entry.path().filename().string().find(".partial-") != std::string::npos) return false;
  return true;
}

void check_same_dataset(const std::string& a, const std::string& b, const std::string& dataset) {
  CAPTURE(dataset);
  std::vector<float> x = H5File::open(a).read(dataset).to_vector(), y = H5File::open(b).read(dataset).to_vector();
  REQUIRE(x.size() == y.size());
  std::size_t differ = 0;
  for (std::size_t i = 0; i < x.size(); ++i) differ += std::memcmp(&x[i], &y[i], sizeof(float)) != 0;
  CHECK(differ == 0);
}

}  // namespace

TEST_CASE("sample killed with SIGKILL and resumed from its checkpoint ends bitwise equal to an uninterrupted run") {
  // ddpm draws fresh noise every step: resuming must restore x and the noise position exactly;
  // dpm++2m carries the previous step's data prediction, which the checkpoint must keep.
  for (const std::string sampler : {"ddpm", "dpm++2m"}) {
    CAPTURE(sampler);
    TempDir dir;
    const std::string args = "sample --prior " + kPrior + " --sampler " + sampler + " --steps 6 --samples 4 --batch 2 --seed 3 --threads 1 --quiet";
    REQUIRE(run(args + " -o " + dir.file("whole.h5")).status == 0);
    const std::string resumable = args + " -o " + dir.file("resumed.h5") + " --checkpoint " + dir.file("ck.h5") + " --checkpoint-every 2";
    Run killed = run_and_signal(resumable, dir.file("ck.h5"), "KILL");
    CHECK(status_of(killed) == 137);
    REQUIRE_MESSAGE(fs::exists(dir.file("ck.h5")), killed.out);  // killed before the end
    CHECK_FALSE(fs::exists(dir.file("resumed.h5")));
    Run resumed = run(resumable + " --resume");
    REQUIRE_MESSAGE(resumed.status == 0, resumed.out);
    CHECK(contains(resumed.out, "resuming from " + dir.file("ck.h5")));
    CHECK(contains(resumed.out, "\"network_evaluations\":28"));  // the whole run's count, not the resumed part's
    check_same_dataset(dir.file("whole.h5"), dir.file("resumed.h5"), "samples");
    CHECK_FALSE(fs::exists(dir.file("ck.h5")));  // done: the checkpoint is removed
    CHECK(no_partial_files(dir.path));           // the killed run's temporary was cleaned up by the next
  }
}

TEST_CASE("solve (MMPS) killed with SIGKILL and resumed ends bitwise equal; other settings are refused") {
  TempDir dir;
  REQUIRE(run("phantoms --count 2 --size 64 --seed 5 -o " + dir.file("truth.h5")).status == 0);
  REQUIRE(run("simulate --operator inpaint:p=0.5 --noise gaussian:sigma=0.05 --x " + dir.file("truth.h5") + " --seed 2 -o " +
              dir.file("y.h5"))
              .status == 0);
  const std::string args = "solve --method mmps --prior " + kPrior + " --y " + dir.file("y.h5") +
                           " --sampler ddpm --steps 4 --samples 2 --batch 2 --seed 4 --threads 1 --quiet";
  REQUIRE(run(args + " -o " + dir.file("whole.h5")).status == 0);
  const std::string resumable = args + " -o " + dir.file("resumed.h5") + " --checkpoint " + dir.file("ck.h5") + " --checkpoint-every 1";
  Run killed = run_and_signal(resumable, dir.file("ck.h5"), "KILL");
  CHECK(status_of(killed) == 137);
  REQUIRE_MESSAGE(fs::exists(dir.file("ck.h5")), killed.out);
  std::string five_steps = args;
  five_steps.replace(five_steps.find("--steps 4"), 9, "--steps 5");
  Run other = run(five_steps + " -o " + dir.file("other.h5") + " --checkpoint " + dir.file("ck.h5") + " --resume");
  CHECK(other.status == 1);
  CHECK_MESSAGE(contains(other.out, "was made by a run with other settings:\n  saved: steps=4\n  now:   steps=5"), other.out);
  Run fresh = run(resumable);  // without --resume an existing checkpoint is not overwritten
  CHECK(fresh.status == 1);
  CHECK(contains(fresh.out, "exists: give --resume to continue from it"));
  Run resumed = run(resumable + " --resume");
  REQUIRE_MESSAGE(resumed.status == 0, resumed.out);
  for (const char* dataset : {"samples", "mean", "std"}) check_same_dataset(dir.file("whole.h5"), dir.file("resumed.h5"), dataset);
}

TEST_CASE("SIGTERM and SIGINT stop sample after the current step: no output file, the checkpoint kept, or nothing") {
  TempDir dir;
  const std::string args = "sample --prior " + kPrior + " --sampler ddpm --steps 20 --samples 2 --seed 3 --threads 1 --quiet -o " +
                           dir.file("out.h5");
  Run term = run_and_signal(args + " --checkpoint " + dir.file("ck.h5") + " --checkpoint-every 2", dir.file("ck.h5"), "TERM");
  CHECK(status_of(term) == 143);
  CHECK_MESSAGE(contains(term.out, "tweedie sample: terminated at rows 0-1 after step "), term.out);
  CHECK(contains(term.out, "no output file was written; the checkpoint " + dir.file("ck.h5") + " keeps the progress"));
  CHECK(fs::exists(dir.file("ck.h5")));
  CHECK_FALSE(fs::exists(dir.file("out.h5")));
  CHECK(no_partial_files(dir.path));

  // Without a checkpoint: wait for the output's temporary file instead, which appears before sampling.
  fs::remove(dir.file("ck.h5"));
  std::string started = "$(ls " + dir.path + "/out.h5.partial-* 2>/dev/null | head -1)";
  Run interrupted = run_shell(cat("(", TWEEDIE_CLI, " ", args, " > ", dir.file("log"), " 2>&1 & p=$!; while [ -z \"", started,
                                  "\" ]; do sleep 0.01; done; sleep 0.3; kill -INT $p; wait $p; echo status=$?; cat ", dir.file("log"), ")"));
  CHECK(status_of(interrupted) == 130);
  CHECK_MESSAGE(contains(interrupted.out, "tweedie sample: interrupted at rows 0-1 after step "), interrupted.out);
  CHECK(contains(interrupted.out, "nothing was kept (no --checkpoint)"));
  CHECK_FALSE(fs::exists(dir.file("out.h5")));
  CHECK(no_partial_files(dir.path));
}
