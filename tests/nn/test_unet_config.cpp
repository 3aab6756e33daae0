#include "nn/unet_config.h"

#include "runtime/error.h"
#include "support.h"

using namespace tweedie;
using nn::UNetConfig;

TEST_CASE("guided-diffusion flags resolve with script_util's defaults and create_model's channel_mult") {
  UNetConfig d = UNetConfig::from_guided_diffusion({}, "test");
  CHECK(d.image_size == 64);
  CHECK(d.model_channels == 128);
  CHECK(d.num_res_blocks == 2);
  CHECK(d.num_heads == 4);
  CHECK(d.use_scale_shift_norm);
  CHECK_FALSE(d.resblock_updown);
  CHECK(d.channel_mult == std::vector<double>{1, 2, 3, 4});
  CHECK(d.attention_resolutions == std::vector<std::int64_t>{4, 8});  // 16 and 8 pixels of 64
  CHECK(d.in_channels == 3);
  CHECK(d.out_channels == 3);
  CHECK(d.num_classes == 0);

  // DPS's FFHQ model config.
  UNetConfig ffhq = UNetConfig::from_guided_diffusion(
      {{"image_size", "256"}, {"num_channels", "128"}, {"num_res_blocks", "1"}, {"channel_mult", ""},
       {"learn_sigma", "True"}, {"class_cond", "False"}, {"attention_resolutions", "16"}, {"num_heads", "4"},
       {"num_head_channels", "64"}, {"num_heads_upsample", "-1"}, {"use_scale_shift_norm", "True"},
       {"dropout", "0.0"}, {"resblock_updown", "True"}, {"use_new_attention_order", "False"}},
      "ffhq");
  CHECK(ffhq.channel_mult == std::vector<double>{1, 1, 2, 2, 4, 4});
  CHECK(ffhq.attention_resolutions == std::vector<std::int64_t>{16});
  CHECK(ffhq.out_channels == 6);
  CHECK(ffhq.num_head_channels == 64);
  CHECK(UNetConfig::from_guided_diffusion({{"image_size", "512"}}, "t").channel_mult == std::vector<double>{0.5, 1, 1, 2, 2, 4, 4});
  CHECK(UNetConfig::from_guided_diffusion({{"image_size", "128"}}, "t").channel_mult == std::vector<double>{1, 1, 2, 3, 4});
  CHECK(UNetConfig::from_guided_diffusion({{"class_cond", "true"}}, "t").num_classes == 1000);
  CHECK(UNetConfig::from_guided_diffusion({{"channel_mult", "(1, 2)"}, {"attention_resolutions", "[32]"}}, "t").channel_mult ==
        std::vector<double>{1, 2});
}

TEST_CASE("bad guided-diffusion flags name the flag and the value") {
  auto refused = [](std::map<std::string, std::string> flags, const char* message) {
    CAPTURE(message);
    CHECK_THROWS_WITH_AS(UNetConfig::from_guided_diffusion(flags, "convert"), doctest::Contains(message), ArgumentError);
  };
  refused({{"num_channels", "12x"}}, "convert: num_channels = \"12x\" is not an integer");
  refused({{"dropout", "lots"}}, "dropout = \"lots\" is not a number");
  refused({{"use_scale_shift_norm", "sometimes"}}, "is not true or false");
  refused({{"attention_resolutions", "24"}}, "attention_resolutions entry 24 does not divide image_size 64");
  refused({{"image_size", "96"}}, "no default channel_mult for image_size 96");
  refused({{"num_chanels", "64"}}, "unknown ADM model flag 'num_chanels'");
  refused({{"learn_sigma", "true"}, {"out_channels", "3"}}, "learn_sigma needs out_channels = 2 in_channels (6), not 3");
  refused({{"num_channels", "48"}}, "GroupNorm(32) needs a positive multiple of 32");
}
