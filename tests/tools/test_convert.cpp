// `tweedie convert` end to end: checkpoints written by PyTorch, safetensors and NumPy from the golden
// models are converted, then evaluated by `tweedie eval` against the PyTorch outputs in the golden
// files. Bad inputs exit non-zero, say why, and leave no output file.
#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "io/hdf5_file.h"
#include "support.h"
#include "tools/cli_run.h"

using namespace tweedie;
using namespace tweedie::test;

namespace {

// adm_legacy_scaleshift_updown's config as guided-diffusion flags: attention at downsampling rates
// 2 and 4 of a 16-pixel model is at resolutions 8 and 4.
const std::string kAdmFlags =
    "--arch adm --image_size 16 --num_channels 32 --num_res_blocks 1 --channel_mult 1,1,1 --attention_resolutions 8,4 "
    "--num_heads 2 --learn_sigma true --use_scale_shift_norm true --resblock_updown true";
const std::string kMlpFlags = "--arch mlp --dim 16 --hidden 64 --depth 3 --emb_dim 32";

std::string checkpoint(const std::string& name) { return data("checkpoints/" + name); }

std::string sha256_of(const std::string& model) {
  Run r = run("info --json " + model);
  REQUIRE_MESSAGE(r.status == 0, r.out);
  return nlohmann::json::parse(r.out)["sha256"].get<std::string>();
}

void expect_refused(const std::string& args, const std::string& message, const std::string& out) {
  CAPTURE(args);
  Run r = run("convert " + args + " -o " + out);
  CAPTURE(r.out);
  CHECK(r.status == 1);
  CHECK(contains(r.out, message));
  CHECK_FALSE(std::filesystem::exists(out));
}

}  // namespace

TEST_CASE("an ADM state dict saved by torch.save, safetensors and numpy converts and evaluates like PyTorch") {
  const std::string golden = data("adm_legacy_scaleshift_updown.h5");
  const std::string want_sha = sha256_of(golden);
  for (const char* file : {"adm_legacy.pt", "adm_legacy.safetensors", "adm_legacy.npz"}) {
    for (const char* dtype : {"keep", "f32"}) {
      CAPTURE(file);
      CAPTURE(dtype);
      std::string model = temp("converted.h5"), y = temp("y.h5");
      Run c = run("convert " + checkpoint(file) + " " + kAdmFlags + " --dtype " + dtype + " -o " + model);
      CAPTURE(c.out);
      REQUIRE(c.status == 0);
      CHECK(contains(c.out, "converted 214 tensors (524806 parameters)"));
      H5File m = H5File::open(model);
      CHECK(m.stored_as("parameters/out.2.weight") == (std::string(dtype) == "keep" ? StoredAs::f16 : StoredAs::f32));
      auto diffusion = nlohmann::json::parse(m.string_attribute("", "diffusion"));
      CHECK(diffusion["parameterization"] == "eps");
      CHECK(diffusion["learned_variance"] == true);
      CHECK(diffusion["schedule"]["kind"] == "linear");
      CHECK(diffusion["schedule"]["timesteps"] == 1000);
      CHECK(sha256_of(model) == want_sha);

      Run e = run("eval --model " + model + " --x " + golden + ":golden/x --t 37,911 -o " + y);
      REQUIRE_MESSAGE(e.status == 0, e.out);
      CHECK(max_relative_error(download(H5File::open(y).read("y")), download(H5File::open(golden).read("golden/y"))) < 1e-4);
      std::filesystem::remove(model);
      std::filesystem::remove(y);
    }
  }
}

TEST_CASE("a guided-diffusion style YAML config file gives the same model as the flags") {
  TempDir dir;
  std::string yaml = dir.file("model_config.yaml"), model = dir.file("m.h5");
  std::ofstream(yaml) << "# DPS-style model config\n"
                         "image_size: 16\nnum_channels: 32\nnum_res_blocks: 1\nchannel_mult: \"1,1,1\"\n"
                         "learn_sigma: True\nclass_cond: False\nuse_checkpoint: False\n"
                         "attention_resolutions: 8,4   # at 8x8 and 4x4\nnum_heads: 2\nnum_head_channels: -1\n"
                         "num_heads_upsample: -1\nuse_scale_shift_norm: True\ndropout: 0.0\nresblock_updown: True\n"
                         "use_fp16: False\nuse_new_attention_order: False\nmodel_path: models/ffhq_10m.pt\n";
  Run r = run("convert " + checkpoint("adm_legacy.pt") + " --config " + yaml + " -o " + model);
  REQUIRE_MESSAGE(r.status == 0, r.out);
  CHECK(sha256_of(model) == sha256_of(data("adm_legacy_scaleshift_updown.h5")));

  // The diffusion settings of such files are recorded; flags override them.
  std::ofstream(yaml, std::ios::app) << "noise_schedule: cosine\ndiffusion_steps: 4000\n";
  Run cosine = run("convert " + checkpoint("adm_legacy.pt") + " --config " + yaml + " -o " + dir.file("cos.h5"));
  REQUIRE_MESSAGE(cosine.status == 0, cosine.out);
  CHECK_FALSE(contains(cosine.out, "ignoring"));
  auto schedule = nlohmann::json::parse(H5File::open(dir.file("cos.h5")).string_attribute("", "diffusion"))["schedule"];
  CHECK(schedule == nlohmann::json::parse(R"({"kind":"cosine","timesteps":4000,"s":0.008})"));
  Run linear = run("convert " + checkpoint("adm_legacy.pt") + " --config " + yaml + " --schedule linear --timesteps 250 -o " + dir.file("lin.h5"));
  REQUIRE_MESSAGE(linear.status == 0, linear.out);
  schedule = nlohmann::json::parse(H5File::open(dir.file("lin.h5")).string_attribute("", "diffusion"))["schedule"];
  CHECK(schedule["kind"] == "linear");
  CHECK(schedule["timesteps"] == 250);
  CHECK(schedule["beta_start"].get<double>() == doctest::Approx(4e-4));  // guided-diffusion's 1000/T scaling
  CHECK(schedule["beta_end"].get<double>() == doctest::Approx(0.08));

  // A flag overrides the file: two res blocks per level no longer match the checkpoint.
  expect_refused(checkpoint("adm_legacy.pt") + " --config " + yaml + " --num_res_blocks 2", "missing: ", dir.file("n.h5"));
}

TEST_CASE("nested checkpoints: the dict is chosen with --key, and an ambiguous one is refused") {
  TempDir dir;
  std::string model = dir.file("mlp.h5");
  expect_refused(checkpoint("mlp_nested.pt") + " " + kMlpFlags, "several dicts of tensors: ema (14 tensors), model (14 tensors)", model);
  expect_refused(checkpoint("mlp_nested.pt") + " " + kMlpFlags + " --key emma", "no dict of tensors under the key 'emma'", model);
  const std::string want = sha256_of(data("mlp_small.h5"));
  Run ema = run("convert " + checkpoint("mlp_nested.pt") + " " + kMlpFlags + " --key ema -o " + model);
  REQUIRE_MESSAGE(ema.status == 0, ema.out);
  CHECK(sha256_of(model) == want);
  Run halved = run("convert " + checkpoint("mlp_nested.pt") + " " + kMlpFlags + " --key model -o " + dir.file("half.h5"));
  REQUIRE_MESSAGE(halved.status == 0, halved.out);
  CHECK(sha256_of(dir.file("half.h5")) != want);
  // No diffusion was stated and the MLP has no conventional one: nothing is recorded.
  CHECK_FALSE(H5File::open(model).has_attribute("", "diffusion"));
}

TEST_CASE("the pre-1.6 PyTorch format converts") {
  TempDir dir;
  Run r = run("convert " + checkpoint("mlp_legacy.pt") + " " + kMlpFlags + " --param x0 --schedule edm -o " + dir.file("m.h5"));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  CHECK(sha256_of(dir.file("m.h5")) == sha256_of(data("mlp_small.h5")));
  auto diffusion = nlohmann::json::parse(H5File::open(dir.file("m.h5")).string_attribute("", "diffusion"));
  CHECK(diffusion["parameterization"] == "x0");
  CHECK(diffusion["schedule"] == nlohmann::json::parse(R"({"kind":"edm","sigma_min":0.002,"sigma_max":80.0,"sigma_data":0.5,"rho":7.0})"));
  CHECK(diffusion["time_input"] == "edm");
}

TEST_CASE("bfloat16 weights stay bfloat16 and keep their exact values") {
  TempDir dir;
  std::string model = dir.file("bf16.h5");
  Run r = run("convert " + checkpoint("mlp_bf16.safetensors") + " " + kMlpFlags + " -o " + model);
  REQUIRE_MESSAGE(r.status == 0, r.out);
  CHECK(contains(r.out, "stored bf16"));
  H5File got = H5File::open(model), want = H5File::open(checkpoint("mlp_bf16_expected.h5"));
  for (const std::string& name : want.datasets()) {
    CAPTURE(name);
    CHECK(got.stored_as("parameters/" + name) == StoredAs::bf16);
    CHECK(download(got.read("parameters/" + name)) == download(want.read(name)));
  }
}

TEST_CASE("NaN weights are an error unless --nan warn") {
  TempDir dir;
  expect_refused(checkpoint("mlp_nan.safetensors") + " " + kMlpFlags, "output.weight: 1 of 1024 values are NaN or infinite", dir.file("a.h5"));
  Run r = run("convert " + checkpoint("mlp_nan.safetensors") + " " + kMlpFlags + " --nan warn -o " + dir.file("b.h5"));
  CHECK(r.status == 0);
  CHECK(contains(r.out, "warning: "));
  CHECK(std::filesystem::exists(dir.file("b.h5")));
}

TEST_CASE("tweedie convert refuses bad checkpoints and configs by name and writes nothing") {
  TempDir dir;
  const std::string out = dir.file("never.h5"), pt = checkpoint("adm_legacy.pt");

  std::vector<std::uint8_t> bytes = read_bytes(pt);
  std::vector<std::uint8_t> cut(bytes.begin(), bytes.begin() + std::ptrdiff_t(bytes.size() / 2));
  write_bytes(dir.file("truncated.pt"), cut);
  expect_refused(dir.file("truncated.pt") + " " + kAdmFlags, "truncated.pt: ", out);

  std::ofstream(dir.file("notes.pt")) << "these are not weights\n";
  expect_refused(dir.file("notes.pt") + " " + kAdmFlags, "not a recognised checkpoint", out);

  std::vector<std::uint8_t> st = read_bytes(checkpoint("tensors.safetensors"));
  std::uint64_t huge = st.size();
  std::memcpy(st.data(), &huge, 8);
  write_bytes(dir.file("long_header.safetensors"), st);
  expect_refused(dir.file("long_header.safetensors") + " " + kAdmFlags, "is longer than the file", out);

  expect_refused(pt + " " + kAdmFlags + " --num_res_blocks 2", "parameters do not match the adm-unet config; ", out);
  expect_refused(checkpoint("mlp_legacy.pt") + " --arch mlp --dim 16 --hidden 64 --depth 2 --emb_dim 32",
                 "2 unexpected: blocks.2.bias, blocks.2.weight", out);
  expect_refused(pt + " " + kAdmFlags + " --num_channels 64", "time_embed.0.weight has shape (128,32), the config expects (256,64)", out);
  expect_refused(pt + " " + kAdmFlags + " --image_size 100 --channel_mult ''", "no default channel_mult for image_size 100", out);
  expect_refused(pt + " " + kAdmFlags + " --schedule quadratic", "--schedule: 'quadratic' is not", out);
  expect_refused(pt + " " + kAdmFlags + " --learn_sigma maybe", "learn_sigma = \"maybe\" is not true or false", out);
  expect_refused(pt + " --arch transformer", "--arch: unknown architecture 'transformer'", out);
  expect_refused(dir.file("absent.pt") + " " + kAdmFlags, "absent.pt: cannot open", out);

  // Hostile and corrupt PyTorch files (tools/golden/make_torch_fixtures.py); the readers' own tests
  // cover many more.
  expect_refused(checkpoint("torch_os_system.pt") + " " + kMlpFlags, "refusing GLOBAL posix.system", out);
  expect_refused(checkpoint("torch_offset_past_end.pt") + " " + kMlpFlags, "storage offset 6 is past the end of its storage", out);
  expect_refused(checkpoint("torch_shape_overflow.pt") + " " + kMlpFlags, "shape too large", out);

  std::string header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  std::vector<std::uint8_t> overlapping(8 + header.size() + 12, 0);
  std::uint64_t length = header.size();
  std::memcpy(overlapping.data(), &length, 8);
  std::memcpy(overlapping.data() + 8, header.data(), header.size());
  write_bytes(dir.file("overlap.safetensors"), overlapping);
  expect_refused(dir.file("overlap.safetensors") + " " + kMlpFlags, "overlapping data_offsets", out);
}
