#include "io/model_file.h"

#include "runtime/half.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>

#include "nn/mlp.h"
#include "nn/unet.h"
#include "support.h"

using namespace tweedie;
namespace fs = std::filesystem;

using test::TempDir;

namespace {

nn::UNetConfig small_unet() {
  nn::UNetConfig c;
  c.image_size = 8;
  c.in_channels = 2;
  c.model_channels = 32;
  c.out_channels = 2;
  c.num_res_blocks = 1;
  c.attention_resolutions = {2};
  c.channel_mult = {1, 2};
  c.use_scale_shift_norm = true;
  return c;
}

void randomize(nn::ParameterSet& params) {
  std::uint64_t seed = 1;
  for (nn::Parameter* p : params.all()) p->value.copy_from(test::upload(test::uniform(std::size_t(p->value.numel()), seed++), p->value.shape()));
}

// A model file written by hand: the attributes given, and the listed parameters of `net` (all when empty),
// with one shape optionally replaced.
void write_model(const std::string& path, nn::Network& net, const std::string& format, std::int64_t version,
                 const std::string& architecture, const std::string& config, const std::vector<std::string>& skip = {},
                 const std::string& extra = "", const std::string& reshape = "") {
  H5File f = H5File::create(path);
  f.set_attribute("", "format", format);
  f.set_attribute("", "format_version", version);
  f.set_attribute("", "architecture", architecture);
  f.set_attribute("", "config", config);
  for (nn::Parameter* p : net.parameters().all()) {
    if (std::find(skip.begin(), skip.end(), p->name) != skip.end()) continue;
    Tensor value = p->name == reshape ? Tensor::zeros({p->value.numel() + 1}) : p->value;
    f.write("parameters/" + p->name, value);
  }
  if (!extra.empty()) f.write("parameters/" + extra, Tensor::zeros({3}));
  f.commit();
}

}  // namespace

TEST_CASE("a saved model loads back with the same parameters and the same outputs, in every storage format") {
  TempDir dir;
  nn::UNet unet(small_unet(), Device::cpu());
  randomize(unet.parameters());
  for (StoredAs stored : {StoredAs::f32, StoredAs::f16, StoredAs::bf16}) {
    CAPTURE(int(stored));
    std::string path = dir.file("unet.h5");
    save_model(unet, path, stored);
    std::unique_ptr<nn::Network> back = load_model(path, test::device());
    CHECK(back->architecture() == "adm-unet");
    CHECK(back->config_json() == unet.config_json());
    REQUIRE(back->parameters().size() == unet.parameters().size());
    std::int64_t differ = 0;
    for (nn::Parameter* p : unet.parameters().all()) {
      std::vector<float> want = p->value.to_vector(), got = back->parameters().find(p->name)->value.to_vector();
      for (std::size_t i = 0; i < want.size(); ++i) {
        float w = stored == StoredAs::f16 ? f16_to_f32(f32_to_f16(want[i])) : stored == StoredAs::bf16 ? bf16_to_f32(f32_to_bf16(want[i])) : want[i];
        differ += got[i] != w;
      }
    }
    CHECK(differ == 0);
    H5File f = H5File::open(path);
    CHECK(f.stored_as("parameters/out.2.weight") == stored);
  }
  nn::Mlp mlp({4, 16, 2, 8}, Device::cpu());
  save_model(mlp, dir.file("mlp.h5"));
  CHECK(load_model(dir.file("mlp.h5"))->parameters().count_values() == mlp.parameters().count_values());
}

TEST_CASE("bad model files are refused with a message naming the file and the problem") {
  TempDir dir;
  nn::UNet unet(small_unet(), Device::cpu());
  std::string cfg = unet.config_json(), p = dir.file("m.h5");

  write_model(p, unet, "something-else", 1, "adm-unet", cfg);
  CHECK_THROWS_WITH_AS(load_model(p), doctest::Contains("m.h5: not a tweedie model file"), IoError);

  write_model(p, unet, "tweedie-model", 7, "adm-unet", cfg);
  CHECK_THROWS_WITH_AS(load_model(p), doctest::Contains("format version 7"), IoError);

  write_model(p, unet, "tweedie-model", 1, "transformer", cfg);
  CHECK_THROWS_WITH_AS(load_model(p), doctest::Contains("unknown architecture 'transformer' (known: adm-unet, mlp)"), ArgumentError);

  nn::UNetConfig bad = small_unet();
  bad.channel_mult = {1, 1.5};
  write_model(p, unet, "tweedie-model", 1, "adm-unet", bad.to_json());
  CHECK_THROWS_WITH_AS(load_model(p), doctest::Contains("level 1 has 48 channels"), ArgumentError);

  write_model(p, unet, "tweedie-model", 1, "adm-unet", "{\"dims\": 2");
  CHECK_THROWS_WITH_AS(load_model(p), doctest::Contains("m.h5: config: not valid JSON"), ArgumentError);

  write_model(p, unet, "tweedie-model", 1, "adm-unet", cfg, {"input_blocks.1.0.in_layers.2.weight", "out.2.bias"},
              "input_blocks.1.0.in_layers.9.weight");
  std::string mismatch = p + ": the parameters do not match the adm-unet config; 2 missing: "
                             "input_blocks.1.0.in_layers.2.weight, out.2.bias; 1 unexpected: input_blocks.1.0.in_layers.9.weight";
  CHECK_THROWS_WITH_AS(load_model(p), mismatch.c_str(), IoError);

  write_model(p, unet, "tweedie-model", 1, "adm-unet", cfg, {}, "", "middle_block.1.qkv.weight");
  CHECK_THROWS_WITH_AS(load_model(p),
                       (p + ": dataset parameters/middle_block.1.qkv.weight has shape (12289), config expects (192,64,1)").c_str(),
                       IoError);
  CHECK_THROWS_WITH_AS(load_model(dir.file("none.h5")), doctest::Contains("none.h5: no such file"), IoError);
}
