// `tweedie train` end to end: a model file the other commands take with no flags, logs, resuming to
// the same weights, Ctrl-C, and refusals that name the problem and leave no file behind.
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "io/hdf5_file.h"
#include "io/model_file.h"
#include "support.h"
#include "tools/cli_run.h"

using namespace tweedie;
using namespace tweedie::test;

namespace {

nlohmann::json last_json(const std::string& out) { return nlohmann::json::parse(out.substr(out.rfind("\n{") == std::string::npos ? out.find('{') : out.rfind("\n{") + 1)); }

// (n, d) vectors in [-1, 1) as dataset x.
void write_vectors(const std::string& path, std::int64_t n, std::int64_t d, std::uint64_t seed, const std::string& name = "x") {
  std::vector<double> v = uniform(std::size_t(n * d), seed);
  H5File f = H5File::create(path);
  f.write(name, Tensor::from_host(std::span<const float>(std::vector<float>(v.begin(), v.end())), {n, d}));
  f.commit();
}

const std::string kMlpNet = " --arch mlp --dim 3 --hidden 32 --depth 2 --emb_dim 16 --param eps --schedule vp --seed 4 --threads 2";
const std::string kMlp = kMlpNet + " --batch 8";

}  // namespace

TEST_CASE("tweedie train writes a model file that sample and eval take as it is, a state file and JSON log lines") {
  TempDir dir;
  write_vectors(dir.file("data.h5"), 50, 3, 1);
  write_vectors(dir.file("val.h5"), 10, 3, 2);
  Run r = run("train --data " + dir.file("data.h5") + " --val " + dir.file("val.h5") + kMlp + " --steps 12 --val-every 6 --log " +
              dir.file("log.jsonl") + " -o " + dir.file("m.h5"));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  nlohmann::json s = last_json(r.out);
  CHECK(s["steps"] == 12);
  CHECK(s["weights"] == "ema");
  CHECK(s["state"] == dir.file("m.h5") + ".state.h5");
  CHECK(s["val_loss"].get<double>() > 0);
  CHECK(std::filesystem::exists(dir.file("m.h5.state.h5")));
  H5File m = H5File::open(dir.file("m.h5"));
  CHECK(read_model_info(m).architecture == "mlp");
  CHECK(nlohmann::json::parse(m.string_attribute("", "diffusion"))["parameterization"] == "eps");
  int steps = 0, validations = 0;
  std::ifstream log(dir.file("log.jsonl"));
  for (std::string line; std::getline(log, line);) {
    nlohmann::json j = nlohmann::json::parse(line);
    if (j.contains("val_loss")) {
      ++validations;
      CHECK(j["val_losses"].size() == 8);
      continue;
    }
    CHECK(j["step"] == ++steps);
    CHECK(j["loss"].get<double>() > 0);
    CHECK(j["lr"].get<double>() > 0);
  }
  CHECK(steps == 12);
  CHECK(validations == 2);  // at step 6 and at the end
  Run info = run("info --json " + dir.file("m.h5.state.h5"));
  REQUIRE_MESSAGE(info.status == 0, info.out);
  nlohmann::json state = last_json(info.out);
  CHECK(state["step"] == 12);
  CHECK(state["data"]["items"] == 50);
  CHECK(state["data"]["item_shape"] == "(3)");
  CHECK(state["run"]["batch"] == 8);
  CHECK(state["run"]["adamw"]["lr"] == 2e-4);

  Run sample = run("sample --prior " + dir.file("m.h5") + " --samples 5 --steps 10 -o " + dir.file("x.h5"));
  CHECK_MESSAGE(sample.status == 0, sample.out);
  CHECK(H5File::open(dir.file("x.h5")).shape("samples") == Shape{5, 3});

  // --init: fine-tuning starts from the model file's weights and diffusion.
  Run tune = run("train --data " + dir.file("data.h5") + " --init " + dir.file("m.h5") + " --steps 2 --batch 4 -o " + dir.file("m2.h5"));
  CHECK_MESSAGE(tune.status == 0, tune.out);
  CHECK(H5File::open(dir.file("m2.h5")).string_attribute("", "diffusion") == m.string_attribute("", "diffusion"));
}

// The parameters of a model file, by name.
std::vector<std::vector<double>> weights(const std::string& path) {
  H5File f = H5File::open(path);
  std::vector<std::vector<double>> out;
  for (const std::string& name : f.datasets()) out.push_back(download(f.read(name)));
  return out;
}

TEST_CASE("tweedie train --resume continues to the same weights as an uninterrupted run, bit for bit") {
  TempDir dir;
  write_vectors(dir.file("data.h5"), 40, 3, 3);
  const std::string common = " --data " + dir.file("data.h5") + kMlp + " --warmup 2 --clip 0.5";
  Run whole = run("train" + common + " --steps 10 -o " + dir.file("whole.h5"));
  REQUIRE_MESSAGE(whole.status == 0, whole.out);
  Run first = run("train" + common + " --steps 4 -o " + dir.file("a.h5") + " --state " + dir.file("a.state.h5"));
  REQUIRE_MESSAGE(first.status == 0, first.out);
  Run rest = run("train --resume " + dir.file("a.state.h5") + " --steps 10 --threads 2 -o " + dir.file("b.h5"));
  REQUIRE_MESSAGE(rest.status == 0, rest.out);
  CHECK(weights(dir.file("b.h5")) == weights(dir.file("whole.h5")));
  CHECK(weights(dir.file("b.h5.state.h5")) == weights(dir.file("whole.h5.state.h5")));  // weights, EMA, moments
  // A run that is done cannot be resumed to fewer steps; a cosine schedule cannot be stretched.
  check_refused("train --resume " + dir.file("whole.h5.state.h5") + " --steps 8", dir.file("c.h5"), "already at step 10");
  Run cosine = run("train" + common + " --lr-decay cosine --steps 4 -o " + dir.file("cos.h5"));
  REQUIRE(cosine.status == 0);
  check_refused("train --resume " + dir.file("cos.h5.state.h5") + " --steps 10", dir.file("c.h5"), "tied to the run's length");
}

TEST_CASE("Ctrl-C stops tweedie train after the current step with the state written; resuming matches an uninterrupted run") {
  // timeout delivers SIGINT to the process and to its group: twice within microseconds, which must
  // count as one request.
  TempDir dir;
  write_vectors(dir.file("data.h5"), 40, 3, 5);
  const std::string common = " --data " + dir.file("data.h5") + kMlp;
  // SIGINT after 3 s (and SIGKILL 30 s later if that did not stop it).
  Run r = run_shell("timeout --preserve-status -k 30 -s INT 3 " + std::string(TWEEDIE_CLI) + " train" + common +
                    " --steps 100000000 --checkpoint-every 1000000 -o " + dir.file("i.h5"));
  CHECK_MESSAGE(r.status == 130, r.out);
  CHECK(contains(r.out, "interrupted after step"));
  CHECK_FALSE(std::filesystem::exists(dir.file("i.h5")));  // the model file is written only at the end
  const std::int64_t step = std::int64_t(H5File::open(dir.file("i.h5.state.h5")).number_attribute("", "step"));
  REQUIRE(step > 0);
  const std::string total = std::to_string(step + 3);
  Run resumed = run("train --resume " + dir.file("i.h5.state.h5") + " --steps " + total + " --threads 2 -o " + dir.file("r.h5"));
  REQUIRE_MESSAGE(resumed.status == 0, resumed.out);
  Run straight = run("train" + common + " --steps " + total + " -o " + dir.file("u.h5"));
  REQUIRE_MESSAGE(straight.status == 0, straight.out);
  CHECK(weights(dir.file("r.h5")) == weights(dir.file("u.h5")));

  // SIGTERM, what batch schedulers send before a job's time runs out: the same, exit status 143.
  Run term = run_shell("timeout --preserve-status -k 30 -s TERM 3 " + std::string(TWEEDIE_CLI) + " train" + common +
                       " --steps 100000000 -o " + dir.file("t.h5"));
  CHECK_MESSAGE(term.status == 143, term.out);
  CHECK(contains(term.out, "terminated after step"));
  CHECK(H5File::open(dir.file("t.h5.state.h5")).number_attribute("", "step") > 0);
}

TEST_CASE("tweedie train refuses bad data, models and files by name, and writes nothing") {
  TempDir dir;
  write_vectors(dir.file("data.h5"), 20, 3, 1);
  write_vectors(dir.file("wide.h5"), 20, 4, 1);
  auto refused = [&](const std::string& args, const std::string& expected) { check_refused("train " + args, dir.file("out.h5"), expected); };
  const std::string data = " --data " + dir.file("data.h5");
  refused("--steps 3 --data " + dir.file("wide.h5") + kMlp, "the model takes items (3), so the data must be (N,3)");
  {
    H5File f = H5File::create(dir.file("flat.h5"));
    f.write("x", Tensor::zeros({20}));
    f.commit();
  }
  refused("--steps 3 --data " + dir.file("flat.h5") + kMlp, "training data is (N, D) vectors or (N, C, H, W) images");
  {
    std::vector<float> v(60, 0.5f);
    v[2 * 3 + 1] = NAN;
    H5File f = H5File::create(dir.file("nan.h5"));
    f.write("x", Tensor::from_host(std::span<const float>(v), {20, 3}));
    f.commit();
    std::vector<float> img(4 * 64, 0.5f);
    img[70] = 3.0f;
    H5File g = H5File::create(dir.file("img.h5"));
    g.write("x", Tensor::from_host(std::span<const float>(img), {4, 1, 8, 8}));
    g.commit();
  }
  refused("--steps 3 --data " + dir.file("nan.h5") + kMlp, "item 2 has nan at (1) of its (3) values; training data must be finite");
  const std::string adm = " --arch adm --image_size 8 --in_channels 1 --num_channels 32 --num_res_blocks 1 --channel_mult 1,2 --attention_resolutions 2 --steps 2";
  refused("--data " + dir.file("img.h5") + adm, "values from 0.5 to 3; diffusion priors on images expect [-1, 1]");
  refused("--steps 3" + data, "the model takes items (3,64,64)");  // adm by default
  refused("--steps 3" + data + " --arch mlp --dim 3", "--param and --schedule");
  refused(data + kMlp, "--steps 0: give the number of optimizer steps");
  refused("--steps 3" + data + kMlpNet + " --batch 0", "--batch 0");
  refused("--steps 3" + data + kMlp + " --time cosine", "--time 'cosine'");
  refused("--steps 3" + data + kMlp + " --ema 1", "--ema 1");

  // A model file for other items, and model flags beside --init.
  REQUIRE(run("train --steps 1" + data + kMlp + " -o " + dir.file("mlp.h5")).status == 0);
  refused("--steps 2 --data " + dir.file("img.h5") + " --data-range any --init " + dir.file("mlp.h5"), "the model takes items (3)");
  refused("--steps 2" + data + " --init " + dir.file("mlp.h5") + " --hidden 64", "--init: the network comes from the model file");

  // Outputs that cannot be written are found before training.
  check_refused("train --steps 2" + data + kMlp, dir.path + "/no/such/folder/m.h5", "no/such/folder");

  // State files: not one, cut short, settings beside --resume, other data.
  refused("--resume " + dir.file("mlp.h5"), "is 'tweedie-model', not 'tweedie-training-state'");
  std::vector<std::uint8_t> bytes = read_bytes(dir.file("mlp.h5.state.h5"));
  bytes.resize(bytes.size() / 2);
  write_bytes(dir.file("cut.h5"), bytes);
  refused("--resume " + dir.file("cut.h5"), dir.file("cut.h5"));
  refused("--resume " + dir.file("mlp.h5.state.h5") + " --lr 0.1 --seed 3", "the run's settings come from the state file; drop --seed, --lr");
  refused("--resume " + dir.file("mlp.h5.state.h5") + " --steps 5 --data " + dir.file("nan.h5") + " --data-range any",
          "training data must be finite");
  write_vectors(dir.file("other.h5"), 20, 3, 2);
  refused("--resume " + dir.file("mlp.h5.state.h5") + " --steps 5 --data " + dir.file("other.h5"), "not the data the run in");
}
