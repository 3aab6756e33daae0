#include "nn/unet_config.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <typeinfo>

#include "runtime/error.h"

namespace tweedie::nn {
namespace {

using json = nlohmann::json;

template <class T>
T field(const json& j, const char* key, const std::string& where) {
  if (!j.contains(key)) throw ArgumentError(cat(where, ": missing '", key, "'"));
  try {
    return j.at(key).get<T>();
  } catch (const json::exception&) {
    throw ArgumentError(cat(where, ": '", key, "' is ", j.at(key).dump(), ", not a ", typeid(T) == typeid(bool) ? "boolean" : "number"));
  }
}

}  // namespace

UNetConfig UNetConfig::from_json(const std::string& text, const std::string& where) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    throw ArgumentError(cat(where, ": not valid JSON (", e.what(), ")"));
  }
  if (!j.is_object()) throw ArgumentError(cat(where, ": expected a JSON object"));
  UNetConfig c;
  c.dims = field<int>(j, "dims", where);
  c.image_size = field<std::int64_t>(j, "image_size", where);
  c.in_channels = field<std::int64_t>(j, "in_channels", where);
  c.model_channels = field<std::int64_t>(j, "model_channels", where);
  c.out_channels = field<std::int64_t>(j, "out_channels", where);
  c.num_res_blocks = field<std::int64_t>(j, "num_res_blocks", where);
  c.attention_resolutions = field<std::vector<std::int64_t>>(j, "attention_resolutions", where);
  c.channel_mult = field<std::vector<double>>(j, "channel_mult", where);
  c.num_classes = j.contains("num_classes") && !j["num_classes"].is_null() ? field<std::int64_t>(j, "num_classes", where) : 0;
  c.num_heads = field<std::int64_t>(j, "num_heads", where);
  c.num_head_channels = field<std::int64_t>(j, "num_head_channels", where);
  c.num_heads_upsample = field<std::int64_t>(j, "num_heads_upsample", where);
  c.use_scale_shift_norm = field<bool>(j, "use_scale_shift_norm", where);
  c.resblock_updown = field<bool>(j, "resblock_updown", where);
  c.use_new_attention_order = field<bool>(j, "use_new_attention_order", where);
  c.conv_resample = j.contains("conv_resample") ? field<bool>(j, "conv_resample", where) : true;
  c.dropout = j.contains("dropout") ? field<double>(j, "dropout", where) : 0.0;
  c.validate(where);
  return c;
}

std::string UNetConfig::to_json() const {
  json j = {{"dims", dims},
            {"image_size", image_size},
            {"in_channels", in_channels},
            {"model_channels", model_channels},
            {"out_channels", out_channels},
            {"num_res_blocks", num_res_blocks},
            {"attention_resolutions", attention_resolutions},
            {"channel_mult", channel_mult},
            {"num_classes", num_classes > 0 ? json(num_classes) : json(nullptr)},
            {"num_heads", num_heads},
            {"num_head_channels", num_head_channels},
            {"num_heads_upsample", num_heads_upsample},
            {"use_scale_shift_norm", use_scale_shift_norm},
            {"resblock_updown", resblock_updown},
            {"use_new_attention_order", use_new_attention_order},
            {"conv_resample", conv_resample},
            {"dropout", dropout}};
  return j.dump();
}

std::int64_t UNetConfig::heads_for(std::int64_t ch, bool decoder) const {
  if (num_head_channels != -1) return ch / num_head_channels;
  return decoder && num_heads_upsample != -1 ? num_heads_upsample : num_heads;
}

void UNetConfig::validate(const std::string& where) const {
  auto fail = [&](const std::string& what) { throw ArgumentError(cat(where, ": ", what)); };
  if (dims != 1 && dims != 2) fail(cat("dims is ", dims, "; tweedie's U-Net is 1-D or 2-D"));
  if (in_channels < 1 || out_channels < 1) fail("in_channels and out_channels must be positive");
  if (model_channels < 1) fail("model_channels must be positive");
  if (num_res_blocks < 1) fail("num_res_blocks must be at least 1");
  if (channel_mult.empty()) fail("channel_mult is empty");
  if (num_classes < 0) fail("num_classes must be positive or null");
  if (num_head_channels != -1 && num_head_channels < 1) fail("num_head_channels must be positive or -1");
  if (num_heads < 1) fail("num_heads must be positive");
  for (std::size_t l = 0; l < channel_mult.size(); ++l) {
    std::int64_t ch = channels(l);
    if (ch < 32 || ch % 32)
      fail(cat("level ", l, " has ", ch, " channels (", channel_mult[l], " x ", model_channels,
               "); GroupNorm(32) needs a positive multiple of 32"));
    bool has_attention = std::find(attention_resolutions.begin(), attention_resolutions.end(), std::int64_t(1) << l) !=
                         attention_resolutions.end();
    bool last = l + 1 == channel_mult.size();
    for (bool decoder : {false, true}) {
      if (!has_attention && !(last && !decoder)) continue;  // the middle block always has attention
      std::int64_t heads = heads_for(ch, decoder);
      if (heads < 1 || ch % heads)
        fail(cat("level ", l, ": ", ch, " channels do not split into ", heads, " attention heads"));
    }
  }
}

}  // namespace tweedie::nn
