#include "bench/unet_bench.h"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <map>

#include "io/model_file.h"
#include "kernels/random.h"
#include "nn/unet.h"
#include "runtime/error.h"
#include "runtime/memory.h"

namespace tweedie::bench {
namespace {

// Configurations worth timing. adm-ffhq-256 is the FFHQ model DPS uses (guided-diffusion flags
// --num_channels 128 --num_res_blocks 1 --attention_resolutions 16 --num_head_channels 64
// --learn_sigma True --use_scale_shift_norm True --resblock_updown True).
std::map<std::string, nn::UNetConfig> presets() {
  nn::UNetConfig ffhq;
  ffhq.image_size = 256;
  ffhq.model_channels = 128;
  ffhq.out_channels = 6;
  ffhq.num_res_blocks = 1;
  ffhq.attention_resolutions = {16};
  ffhq.channel_mult = {1, 1, 2, 2, 4, 4};
  ffhq.num_heads = 4;
  ffhq.num_head_channels = 64;
  ffhq.use_scale_shift_norm = true;
  ffhq.resblock_updown = true;
  nn::UNetConfig small;  // a 64x64 model that times in seconds on a laptop
  small.image_size = 64;
  small.model_channels = 64;
  small.out_channels = 3;
  small.num_res_blocks = 1;
  small.attention_resolutions = {8};
  small.channel_mult = {1, 2, 2, 2};
  small.num_head_channels = 32;
  small.use_scale_shift_norm = true;
  small.resblock_updown = true;
  // Issue 19's held-out configuration: 5.46 M parameters, learned variance, attention at 16x16.
  nn::UNetConfig mid;
  mid.image_size = 64;
  mid.model_channels = 64;
  mid.out_channels = 6;
  mid.num_res_blocks = 1;
  mid.attention_resolutions = {4};
  mid.channel_mult = {1, 2, 2};
  mid.num_head_channels = 32;
  mid.use_scale_shift_norm = true;
  mid.resblock_updown = true;
  return {{"adm-ffhq-256", ffhq}, {"adm-small-64", small}, {"adm-mid-64", mid}};
}

Tensor noise(Context& ctx, const Shape& shape, std::uint64_t stream, float scale = 1.0f) {
  Tensor t = Tensor::empty(shape, ctx.device());
  fill_normal(ctx, t, {7, stream}, 0.0f, scale);
  return t;
}

}  // namespace

std::vector<std::string> unet_presets() {
  std::vector<std::string> names;
  for (auto& [name, config] : presets()) names.push_back(name);
  return names;
}

std::unique_ptr<nn::Network> random_unet(const std::string& preset, Device device) {
  auto all = presets();
  auto found = all.find(preset);
  if (found == all.end()) throw ArgumentError(cat("--preset: unknown preset '", preset, "'"));
  auto net = std::make_unique<nn::UNet>(found->second, device);
  Context ctx(device);
  std::uint64_t stream = 100;
  for (nn::Parameter* p : net->parameters().all()) {
    std::int64_t fan_in = p->value.rank() > 1 ? p->value.numel() / p->value.dim(0) : 1;
    fill_normal(ctx, p->value, {11, stream++}, 0.0f, p->value.rank() > 1 ? 1.0f / std::sqrt(float(fan_in)) : 0.1f);
  }
  return net;
}

std::unique_ptr<nn::Network> benchmark_network(const std::string& model, const std::string& preset, const std::string& save_model_to,
                                               Device device, std::string* name) {
  if (!model.empty()) {
    *name = std::filesystem::path(model).stem().string();  // as tools/bench/torch_*.py name it, for compare.py
    return load_model(model, device);
  }
  *name = preset;
  std::unique_ptr<nn::Network> net = random_unet(preset, device);
  if (!save_model_to.empty()) save_model(*net, save_model_to);
  return net;
}

void run_unet_benchmarks(const UnetBenchOptions& o, std::ostream& out) {
  std::string name;
  std::unique_ptr<nn::Network> net = benchmark_network(o.model, o.preset, o.save_model, o.device, &name);
  nlohmann::json config = nlohmann::json::parse(net->config_json());
  std::int64_t size = o.size ? o.size : config.value("image_size", std::int64_t(0));
  std::int64_t channels = config.value("in_channels", std::int64_t(3)), dims = config.value("dims", 2);
  Shape x_shape = dims == 2 ? Shape{o.batch, channels, size, size} : Shape{o.batch, channels, size};

  for (int threads : o.threads) {
    Context ctx(o.device, threads);
    Tensor x = noise(ctx, x_shape, 1);
    Shape y_shape = net->output_shape(x_shape);
    std::vector<std::int64_t> big(x_shape.dims().begin(), x_shape.dims().end());
    big[0] *= o.tangents;
    Tensor y = Tensor::empty(y_shape, o.device), v = noise(ctx, Shape(big), 2), u = noise(ctx, y_shape, 3);
    std::vector<std::int64_t> big_y(y_shape.dims().begin(), y_shape.dims().end());
    big_y[0] *= o.tangents;
    Tensor jv = Tensor::empty(Shape(big_y), o.device), ju = Tensor::empty(x_shape, o.device);
    nn::Conditioning c{{500.0f}, {}};
    if (config.contains("num_classes") && !config["num_classes"].is_null()) c.labels = {1};
    std::unique_ptr<nn::Linearization> lin;

    // Only the JVP and VJP run with a linearization alive from before: the peak memory of the others
    // is their own (a new linearization replaces the old one, as a sampler's next step does).
    struct Op {
      std::string name;
      bool needs_linearization;
      std::function<void()> run;
    };
    std::vector<Op> ops = {
        {"forward", false, [&] { net->forward(ctx, x, c, y); }},
        {"linearize", false, [&] {
           lin.reset();
           lin = net->linearize(ctx, x, c, y);
         }},
        {"linearize+jvp", false, [&] {
           lin.reset();
           lin = net->linearize(ctx, x, c, y);
           net->jvp(ctx, *lin, v, jv);
         }},
        {"jvp", true, [&] { net->jvp(ctx, *lin, v, jv); }},
        {"vjp", true, [&] { net->vjp(ctx, *lin, u, ju, false); }},
    };
    for (const auto& [op, needs_linearization, run] : ops) {
      if (!o.filter.empty() && op.find(o.filter) == std::string::npos) continue;
      lin.reset();
      if (needs_linearization) lin = net->linearize(ctx, x, c, y);
      ctx.synchronize();
      reset_peak_memory(o.device);
      Measurement m = measure(ctx, run, o.measure);
      out << nlohmann::json{{"bench", "unet"}, {"impl", "tweedie"}, {"model", name}, {"op", op},
                            {"batch", o.batch}, {"size", size}, {"tangents", op.find("jvp") != std::string::npos ? o.tangents : 1},
                            {"device", o.device.str()}, {"threads", ctx.threads()}, {"median_ms", m.median_ms},
                            {"min_ms", m.min_ms}, {"runs", m.runs}, {"peak_bytes", memory_stats(o.device).peak},
                            {"parameters", net->parameters().count_values()}}
                 .dump()
          << std::endl;
    }
  }
}

}  // namespace tweedie::bench
