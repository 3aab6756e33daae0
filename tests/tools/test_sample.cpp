// `tweedie sample` end to end, on an exact mixture prior (statistics checkable) and on a converted
// U-Net (the network path, learned variance and PNG output).
#include <filesystem>

#include <nlohmann/json.hpp>

#include "io/hdf5_file.h"
#include "io/prior_file.h"
#include "support.h"
#include "tools/cli_run.h"

using namespace tweedie;
using namespace tweedie::test;

namespace {

samplers::MixturePrior two_bumps() {
  samplers::MixturePrior p;
  p.dim = 2;
  p.weights = {0.25, 0.75};
  p.means = {-2, 0, 2, 1};
  p.covs = {0.1, 0, 0, 0.1, 0.2, 0.05, 0.05, 0.1};
  return p;
}

}  // namespace

TEST_CASE("tweedie sample draws from an exact mixture prior, the same samples whatever the batch") {
  TempDir dir;
  save_gmm_prior(dir.file("gmm.h5"), two_bumps());
  Run r = run("sample --prior " + dir.file("gmm.h5") + " --process vp --sampler ddim --steps 30 --samples 4000 --seed 3 -o " +
              dir.file("a.h5"));
  REQUIRE_MESSAGE(r.status == 0, r.out);
  auto report = nlohmann::json::parse(r.out.substr(r.out.find('{')));
  CHECK(report["network_evaluations"] == 4000 * 31);  // 30 steps and the final denoising
  H5File a = H5File::open(dir.file("a.h5"));
  CHECK(a.shape("samples") == Shape{4000, 2});
  CHECK(a.string_attribute("samples", "sampler") == "ddim");
  std::vector<double> x = download(a.read("samples"));
  double m0 = 0, m1 = 0;
  for (std::size_t i = 0; i < x.size(); i += 2) m0 += x[i] / 4000, m1 += x[i + 1] / 4000;
  // Mixture mean (1, 0.75); coordinate variances about 3.1 and 0.29 give standard errors 0.03 and 0.009.
  CHECK(std::abs(m0 - 1.0) < 0.12);
  CHECK(std::abs(m1 - 0.75) < 0.04);

  Run b = run("sample --prior " + dir.file("gmm.h5") + " --process vp --sampler ddim --steps 30 --samples 4000 --seed 3 --batch 999 -o " +
              dir.file("b.h5"));
  REQUIRE_MESSAGE(b.status == 0, b.out);
  CHECK(download(H5File::open(dir.file("b.h5")).read("samples")) == x);
}

TEST_CASE("tweedie sample runs a converted U-Net with its recorded diffusion and writes a PNG grid") {
  TempDir dir;
  Run c = run("convert " + data("checkpoints/adm_legacy.pt") +
              " --arch adm --image_size 16 --num_channels 32 --num_res_blocks 1 --channel_mult 1,1,1 --attention_resolutions 8,4"
              " --num_heads 2 --learn_sigma true --use_scale_shift_norm true --resblock_updown true -o " + dir.file("m.h5"));
  REQUIRE_MESSAGE(c.status == 0, c.out);
  for (const char* sampler : {"ddpm", "ddim"}) {
    CAPTURE(sampler);
    std::string out = dir.file(std::string(sampler) + ".h5"), png = dir.file(std::string(sampler) + ".png");
    Run r = run("sample --prior " + dir.file("m.h5") + " --sampler " + sampler + " --steps 3 --samples 2 --clamp --png " + png + " -o " + out);
    REQUIRE_MESSAGE(r.status == 0, r.out);
    H5File f = H5File::open(out);
    CHECK(f.shape("samples") == Shape{2, 3, 16, 16});
    CHECK(f.string_attribute("samples", "process") == "ddpm-linear");
    std::vector<double> x = download(f.read("samples"));
    for (double v : x) REQUIRE(std::abs(v) <= 1.0);  // --clamp
    CHECK(std::filesystem::file_size(png) > 100);
  }
}

TEST_CASE("tweedie sample refuses bad requests by name and writes nothing") {
  TempDir dir;
  save_gmm_prior(dir.file("gmm.h5"), two_bumps());
  const std::string out = dir.file("never.h5"), gmm = dir.file("gmm.h5");
  struct Bad {
    std::string args, message;
  } cases[] = {
      {"--prior " + gmm, "an exact prior needs a noising process: pass --process"},
      {"--prior " + gmm + " --process vp --sampler heun", "unknown sampler 'heun'"},
      {"--prior " + gmm + " --process warp", "--process: "},
      {"--prior " + gmm + " --process ddpm-linear:1000 --sampler em", "is a discrete table: use ddpm or ddim"},
      {"--prior " + gmm + " --process vp --png " + dir.file("x.png"), "--png: the prior's samples have shape (2)"},
      {"--prior " + gmm + " --process vp --samples 0", "--samples: 0"},
      {"--prior " + data("mlp_small.h5"), "does not say what the network predicts"},
      {"--prior " + data("checkpoints/mlp_nested.pt"), "not an HDF5 file"},
  };
  for (const Bad& b : cases) {
    CAPTURE(b.args);
    Run r = run("sample " + b.args + " -o " + out);
    CAPTURE(r.out);
    CHECK(r.status != 0);
    CHECK(contains(r.out, b.message));
    CHECK_FALSE(std::filesystem::exists(out));
  }
}
