#pragma once
// The constructor arguments of guided-diffusion's UNetModel, resolved (no "" or -1 defaults left
// except where the model itself interprets them). Stored as JSON in model files (io/FORMAT.md).
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tweedie::nn {

struct UNetConfig {
  int dims = 2;                      // 2: images (N, C, H, W); 1: signals (N, C, L)
  std::int64_t image_size = 0;       // informational: the size the model was trained at
  std::int64_t in_channels = 3;
  std::int64_t model_channels = 128;
  std::int64_t out_channels = 3;     // 2 * in_channels when the model learns its variance
  std::int64_t num_res_blocks = 2;
  std::vector<std::int64_t> attention_resolutions;  // downsample rates (1, 2, 4, ...) with attention
  std::vector<double> channel_mult = {1, 2, 4, 8};  // channels at level l: int(mult[l] * model_channels)
  std::int64_t num_classes = 0;      // 0: not class-conditional
  std::int64_t num_heads = 1;
  std::int64_t num_head_channels = -1;   // when not -1, heads = channels / num_head_channels
  std::int64_t num_heads_upsample = -1;  // heads in the decoder's attention; -1: num_heads
  bool use_scale_shift_norm = false;
  bool resblock_updown = false;
  bool use_new_attention_order = false;
  bool conv_resample = true;
  double dropout = 0;                // training only; ignored here

  // Parses the JSON object of io/FORMAT.md; `where` names its origin in errors ("model.h5: config").
  static UNetConfig from_json(const std::string& json, const std::string& where);
  std::string to_json() const;
  // From guided-diffusion's model flags as text (`num_channels` = "128", `channel_mult` = "",
  // `attention_resolutions` = "16,8", `learn_sigma` = "true", ...), with script_util's defaults for
  // absent ones and create_model's channel_mult by image size. tweedie adds `in_channels`,
  // `out_channels`, `num_classes` and `dims`. ArgumentError names `where` and the flag.
  static UNetConfig from_guided_diffusion(const std::map<std::string, std::string>& flags, const std::string& where);
  static const std::vector<std::string>& guided_diffusion_flags();
  // Throws ArgumentError naming `where` and the offending field.
  void validate(const std::string& where) const;

  std::int64_t channels(std::size_t level) const { return std::int64_t(channel_mult[level] * double(model_channels)); }
  std::int64_t heads_for(std::int64_t channels, bool decoder) const;
};

}  // namespace tweedie::nn
