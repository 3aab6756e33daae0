#include "nn/unet_config.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <sstream>
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

// Flag values as guided-diffusion's argparse would read them.
struct FlagReader {
  const std::map<std::string, std::string>& flags;
  const std::string& where;

  const std::string* find(const char* name) const {
    auto it = flags.find(name);
    return it == flags.end() ? nullptr : &it->second;
  }
  [[noreturn]] void bad(const char* name, const std::string& value, const char* expected) const {
    throw ArgumentError(cat(where, ": ", name, " = \"", value, "\" is not ", expected));
  }
  // `parse` is std::stoll or std::stod; the whole text must be consumed.
  template <class T, class Parse>
  T parsed(const char* name, T fallback, const char* expected, Parse parse) const {
    const std::string* v = find(name);
    if (!v) return fallback;
    std::size_t used = 0;
    T x{};
    try {
      x = parse(*v, &used);
    } catch (const std::exception&) {
      bad(name, *v, expected);
    }
    if (used != v->size()) bad(name, *v, expected);
    return x;
  }
  std::int64_t integer(const char* name, std::int64_t fallback) const {
    return parsed<std::int64_t>(name, fallback, "an integer", [](const std::string& s, std::size_t* used) { return std::stoll(s, used); });
  }
  double number(const char* name, double fallback) const {
    return parsed<double>(name, fallback, "a number", [](const std::string& s, std::size_t* used) { return std::stod(s, used); });
  }
  bool boolean(const char* name, bool fallback) const {
    const std::string* v = find(name);
    if (!v) return fallback;
    std::string s = *v;
    for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
    if (s == "true" || s == "1" || s == "yes") return true;
    if (s == "false" || s == "0" || s == "no") return false;
    bad(name, *v, "true or false");
  }
  // "1,1,2,2" or "(1, 1, 2, 2)" or "[1,1,2,2]"; "" gives an empty list.
  std::vector<double> numbers(const char* name) const {
    const std::string* v = find(name);
    std::vector<double> out;
    if (!v) return out;
    std::string s;
    for (char c : *v)
      if (!std::isspace(static_cast<unsigned char>(c)) && c != '(' && c != ')' && c != '[' && c != ']' && c != '"' && c != '\'')
        s += c;
    std::stringstream in(s);
    for (std::string item; std::getline(in, item, ',');) {
      if (item.empty()) continue;
      std::size_t used = 0;
      double x = 0;
      try {
        x = std::stod(item, &used);
      } catch (const std::exception&) {
        bad(name, *v, "a comma-separated list of numbers");
      }
      if (used != item.size()) bad(name, *v, "a comma-separated list of numbers");
      out.push_back(x);
    }
    return out;
  }
};

}  // namespace

const std::vector<std::string>& UNetConfig::guided_diffusion_flags() {
  static const std::vector<std::string> names = {
      "image_size",     "num_channels",         "num_res_blocks",       "channel_mult",    "attention_resolutions",
      "num_heads",      "num_head_channels",    "num_heads_upsample",   "learn_sigma",     "class_cond",
      "use_scale_shift_norm", "resblock_updown", "use_new_attention_order", "dropout", "in_channels",
      "out_channels",   "num_classes",          "dims"};
  return names;
}

UNetConfig UNetConfig::from_guided_diffusion(const std::map<std::string, std::string>& flags, const std::string& where) {
  for (const auto& [name, value] : flags)
    if (std::find(guided_diffusion_flags().begin(), guided_diffusion_flags().end(), name) == guided_diffusion_flags().end())
      throw ArgumentError(cat(where, ": unknown ADM model flag '", name, "'"));
  FlagReader f{flags, where};
  UNetConfig c;
  // Defaults of guided-diffusion's script_util.model_and_diffusion_defaults().
  c.image_size = f.integer("image_size", 64);
  c.dims = int(f.integer("dims", 2));
  c.model_channels = f.integer("num_channels", 128);
  c.num_res_blocks = f.integer("num_res_blocks", 2);
  c.num_heads = f.integer("num_heads", 4);
  c.num_head_channels = f.integer("num_head_channels", -1);
  c.num_heads_upsample = f.integer("num_heads_upsample", -1);
  c.use_scale_shift_norm = f.boolean("use_scale_shift_norm", true);
  c.resblock_updown = f.boolean("resblock_updown", false);
  c.use_new_attention_order = f.boolean("use_new_attention_order", false);
  c.dropout = f.number("dropout", 0.0);
  c.in_channels = f.integer("in_channels", 3);
  bool learn_sigma = f.boolean("learn_sigma", false);
  c.out_channels = f.integer("out_channels", learn_sigma ? 2 * c.in_channels : c.in_channels);
  if (learn_sigma && c.out_channels != 2 * c.in_channels)
    throw ArgumentError(cat(where, ": learn_sigma needs out_channels = 2 in_channels (", 2 * c.in_channels, "), not ", c.out_channels));
  // class_cond means ImageNet's 1000 classes in guided-diffusion; num_classes sets another count.
  c.num_classes = f.integer("num_classes", f.boolean("class_cond", false) ? 1000 : 0);

  c.channel_mult = f.numbers("channel_mult");
  if (c.channel_mult.empty()) {
    // create_model's choice by image size.
    switch (c.image_size) {
      case 512: c.channel_mult = {0.5, 1, 1, 2, 2, 4, 4}; break;
      case 256: c.channel_mult = {1, 1, 2, 2, 4, 4}; break;
      case 128: c.channel_mult = {1, 1, 2, 3, 4}; break;
      case 64: c.channel_mult = {1, 2, 3, 4}; break;
      default:
        throw ArgumentError(cat(where, ": no default channel_mult for image_size ", c.image_size,
                                " (guided-diffusion has them for 64, 128, 256, 512); pass channel_mult"));
    }
  }
  // Resolutions (16 = "at 16x16") become downsampling rates, as create_model does.
  std::vector<double> resolutions = f.find("attention_resolutions") ? f.numbers("attention_resolutions") : std::vector<double>{16, 8};
  for (double r : resolutions) {
    auto res = std::int64_t(r);
    if (double(res) != r || res < 1 || c.image_size % res)
      throw ArgumentError(cat(where, ": attention_resolutions entry ", r, " does not divide image_size ", c.image_size));
    c.attention_resolutions.push_back(c.image_size / res);
  }
  c.validate(where);
  return c;
}

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
