// `tweedie em` end to end: laps that leave their files and JSON lines, a resumed run that ends with the
// very weights of the uninterrupted one, and refusals (another run's folder, observations it cannot
// learn from) that name the problem and change nothing.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "io/hdf5_file.h"
#include "io/model_file.h"
#include "support.h"
#include "tools/cli_run.h"

using namespace tweedie;
using namespace tweedie::test;
namespace fs = std::filesystem;

namespace {

const std::string kNet = " --arch mlp --dim 3 --hidden 32 --depth 2 --emb_dim 16 --param eps --schedule vp --seed 4 --threads 2";
const std::string kLaps = " --steps-per-lap 30 --batch 16 --steps 16 --eval-samples 64";

nlohmann::json last_json(const std::string& out) { return nlohmann::json::parse(out.substr(out.rfind("\n{") == std::string::npos ? out.find('{') : out.rfind("\n{") + 1)); }

std::vector<nlohmann::json> log_lines(const std::string& path) {
  std::vector<nlohmann::json> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(nlohmann::json::parse(line));
  return lines;
}

std::string text_of(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// 128 points on the 3-D curve, each seen through its own random rank-2 projection.
void write_curve_problem(const TempDir& dir, const std::string& noise = "gaussian:sigma=0.05") {
  REQUIRE(run("phantoms --curve 3 --count 128 --seed 1 -o " + dir.file("truth.h5")).status == 0);
  Run r = run("simulate --x " + dir.file("truth.h5") + " --operator each:matrix:random=2 --noise " + noise + " --seed 2 -o " + dir.file("obs.h5"));
  REQUIRE_MESSAGE(r.status == 0, r.out);
}

}  // namespace

TEST_CASE("tweedie em: a Gaussian lap 0, laps of samples and training, and a resumed run that ends bitwise where one run does") {
  TempDir dir;
  write_curve_problem(dir);
  const std::string common = "em --observations " + dir.file("obs.h5") + " --truth " + dir.file("truth.h5") + kNet + kLaps;
  Run r = run(common + " --laps 2 -o " + dir.file("a"));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  std::vector<nlohmann::json> lines = log_lines(dir.file("a/log.jsonl"));
  REQUIRE(lines.size() == 3);
  CHECK(lines[0]["lap"] == 0);
  CHECK(lines[0]["structure"] == "dense");  // D = 3
  std::vector<double> evidence = lines[0]["log_evidence"];
  CHECK(evidence.size() == 17);
  for (std::size_t i = 1; i < evidence.size(); ++i) CHECK(evidence[i] >= evidence[i - 1] - 1e-9);
  for (int lap = 1; lap <= 2; ++lap) {
    CAPTURE(lap);
    CHECK(lines[std::size_t(lap)]["lap"] == lap);
    CHECK(lines[std::size_t(lap)]["steps"] == 30 * lap);
    CHECK(lines[std::size_t(lap)]["sw2"].get<double>() > 0);
    CHECK(lines[std::size_t(lap)]["network_evaluations"].get<std::int64_t>() > 0);
    for (const char* file : {"samples.h5", "state.h5", "model.h5"}) CHECK(fs::exists(dir.file(cat("a/lap-00", lap, "/", file))));
  }
  CHECK(fs::exists(dir.file("a/lap-000/prior.h5")));
  // Lap 1's samples: one per observation, drawn under the Gaussian; the model file is a prior sample takes.
  H5File samples = H5File::open(dir.file("a/lap-001/samples.h5"));
  CHECK(samples.read("x").shape() == Shape{128, 3});
  Run s = run("sample --prior " + dir.file("a/lap-002/model.h5") + " --samples 8 --threads 2 --reference " + dir.file("truth.h5") + " -o " +
              dir.file("s.h5"));
  REQUIRE_MESSAGE(s.status == 0, s.out);
  CHECK(last_json(s.out)["sliced_w2"].get<double>() > 0);
  // solve takes the same observations, one operator each, with several samples per observation.
  for (const std::string method : {"mmps", "dps"}) {
    CAPTURE(method);
    Run solved = run(cat("solve --prior ", dir.file("a/lap-000/prior.h5"), " --process vp --y ", dir.file("obs.h5"), " --method ", method,
                         " --samples 2 --steps 20 --batch 100 --threads 2 -o ", dir.file("solved.h5")));
    REQUIRE_MESSAGE(solved.status == 0, solved.out);
    // Under the Gaussian that fits these data, the posterior means explain the observations (|y - A mean|
    // / |y|, median; measured 0.56 for DPS at 20 steps); another observation's operator would give
    // about sqrt(2).
    std::vector<double> fit = last_json(solved.out)["data_consistency"];
    CHECK(fit.size() == 128);
    std::sort(fit.begin(), fit.end());
    CHECK(fit[64] < (method == "mmps" ? 0.1 : 0.8));
  }

  // One lap, then a second run with --laps 2 resumes: the same final weights, bit for bit.
  REQUIRE(run(common + " --laps 1 -o " + dir.file("b")).status == 0);
  Run resumed = run(common + " --laps 2 -o " + dir.file("b"));
  REQUIRE_MESSAGE(resumed.status == 0, resumed.out);
  CHECK(log_lines(dir.file("b/log.jsonl")).size() == 3);
  CHECK(summarize_model(dir.file("b/lap-002/model.h5")).sha256 == summarize_model(dir.file("a/lap-002/model.h5")).sha256);
  // Asking a finished run for what it has changes nothing.
  const std::string before = text_of(dir.file("a/log.jsonl"));
  Run again = run(common + " --laps 2 -o " + dir.file("a"));
  CHECK(again.status == 0);
  CHECK(contains(again.out, "all 2 laps"));
  CHECK(text_of(dir.file("a/log.jsonl")) == before);
}

TEST_CASE("tweedie em on images: per-observation masks, a diagonal Gaussian, posterior PSNR against the truth") {
  TempDir dir;
  REQUIRE(run("phantoms --count 16 --size 8 --seed 3 -o " + dir.file("x.h5")).status == 0);
  REQUIRE(run("simulate --x " + dir.file("x.h5") + " --operator each:inpaint:p=0.5 --noise gaussian:sigma=0.05 --seed 1 -o " + dir.file("y.h5"))
              .status == 0);
  Run r = run("em --observations " + dir.file("y.h5") + " --truth " + dir.file("x.h5") +
              " --arch adm --image_size 8 --in_channels 1 --num_channels 32 --num_res_blocks 1 --channel_mult 1,2 --attention_resolutions 2"
              " --num_head_channels 32 --param eps --schedule vp --gaussian diagonal --laps 1 --steps-per-lap 3 --batch 4 --steps 4"
              " --threads 2 -o " +
              dir.file("run"));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  std::vector<nlohmann::json> lines = log_lines(dir.file("run/log.jsonl"));
  REQUIRE(lines.size() == 2);
  CHECK(lines[0]["structure"] == "diagonal");
  CHECK(lines[1]["posterior_psnr"].get<double>() > 5);
  CHECK(H5File::open(dir.file("run/lap-001/samples.h5")).read("x").shape() == Shape{16, 1, 8, 8});
}

TEST_CASE("tweedie em picks lap 0's structure from the operator: stationary for single-coil MRI, none for a reflect-padded blur") {
  TempDir dir;
  REQUIRE(run("phantoms --count 8 --size 20 --seed 3 -o " + dir.file("x.h5")).status == 0);
  const std::string net = " --arch adm --image_size 20 --in_channels 1 --num_channels 32 --num_res_blocks 1 --channel_mult 1,2"
                          " --attention_resolutions 2 --num_head_channels 32 --param eps --schedule vp --laps 1 --steps-per-lap 1 --batch 2"
                          " --steps 2 --threads 2";
  REQUIRE(run("simulate --x " + dir.file("x.h5") + " --operator mri:R=2 --noise gaussian:sigma=0.05 -o " + dir.file("mri.h5")).status == 0);
  Run r = run("em --observations " + dir.file("mri.h5") + net + " -o " + dir.file("mri"));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  CHECK(log_lines(dir.file("mri/log.jsonl"))[0]["structure"] == "stationary");  // 400 values: not dense by default
  REQUIRE(run("simulate --x " + dir.file("x.h5") + " --operator blur:gauss:5:1:reflect --noise gaussian:sigma=0.05 -o " + dir.file("blur.h5"))
              .status == 0);
  Run b = run("em --observations " + dir.file("blur.h5") + net + " -o " + dir.file("blur"));
  CHECK(b.status != 0);
  CHECK_MESSAGE(contains(b.out, "neither structure fits"), b.out);
  CHECK_MESSAGE(contains(b.out, "not a circular convolution"), b.out);
  CHECK_FALSE(fs::exists(dir.file("blur")));  // no folder for a run that never started
}

TEST_CASE("tweedie em refuses another run's folder and observations it cannot learn from, and changes nothing") {
  TempDir dir;
  write_curve_problem(dir);
  const std::string base = "em --observations " + dir.file("obs.h5") + kNet + kLaps + " --laps 1";
  REQUIRE(run(base + " -o " + dir.file("run")).status == 0);
  const std::string run_json = text_of(dir.file("run/run.json")), log = text_of(dir.file("run/log.jsonl"));
  auto refused = [&](const std::string& args, const std::string& folder, const std::string& expected) {
    CAPTURE(args);
    Run r = run(args + " -o " + folder);
    CHECK(r.status != 0);
    CHECK_MESSAGE(contains(r.out, expected), r.out);
  };
  // Another run's folder: a different lap length, another seed.
  refused("em --observations " + dir.file("obs.h5") + kNet + " --steps-per-lap 31 --batch 16 --steps 16 --laps 2", dir.file("run"),
          "holds another em run (it differs in: steps_per_lap)");
  refused(base + " --lr 0.01", dir.file("run"), "differs in: train");
  CHECK(text_of(dir.file("run/run.json")) == run_json);
  CHECK(text_of(dir.file("run/log.jsonl")) == log);
  // A folder of other files.
  fs::create_directories(dir.file("other"));
  std::ofstream(dir.file("other/notes.txt")) << "mine\n";
  refused(base, dir.file("other"), "no run.json, so not an em run");
  CHECK(text_of(dir.file("other/notes.txt")) == "mine\n");

  // Observations em cannot use, each refused before any folder is made.
  Run counts = run("simulate --x " + dir.file("truth.h5") + " --operator each:matrix:random=2 --noise poisson:scale=5:link=softplus -o " +
                   dir.file("counts.h5"));
  REQUIRE_MESSAGE(counts.status == 0, counts.out);
  refused("em --observations " + dir.file("counts.h5") + kNet + kLaps + " --laps 1", dir.file("x1"), "em needs Gaussian noise");
  refused(base + " --truth " + dir.file("obs.h5") + ":y", dir.file("x2"), "--truth");
  refused("em --observations " + dir.file("obs.h5") + " --arch mlp --dim 4 --hidden 8 --depth 1 --emb_dim 8 --param eps --schedule vp" + kLaps +
              " --laps 1",
          dir.file("x3"), "the network's items are (4)");
  for (const char* folder : {"x1", "x2", "x3"}) CHECK_FALSE(fs::exists(dir.file(folder)));
  // An 'each:' operator whose dataset holds matrices for another number of observations.
  {
    H5File f = H5File::create(dir.file("bad.h5"));
    f.write("y", Tensor::zeros({4, 2}));
    f.write("operator/a", Tensor::zeros({3, 2, 3}));
    f.set_attribute("", "tweedie", "observation");
    f.set_attribute("", "operator", "each:matrix:a=#operator/a");
    f.set_attribute("", "noise", "gaussian:sigma=0.1");
    f.set_attribute("", "x_shape", "3");
    f.commit();
  }
  refused("em --observations " + dir.file("bad.h5") + kNet + kLaps + " --laps 1", dir.file("x4"), "one entry per observation along its first axis (4)");
}
