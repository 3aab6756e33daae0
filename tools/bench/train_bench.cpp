#include "bench/train_bench.h"

#include <nlohmann/json.hpp>

#include <functional>

#include "bench/unet_bench.h"
#include "io/denoiser_file.h"
#include "io/hdf5_file.h"
#include "kernels/random.h"
#include "nn/train/adamw.h"
#include "nn/train/ema.h"
#include "runtime/error.h"
#include "runtime/memory.h"
#include "samplers/training/dsm.h"
#include "samplers/training/trainer.h"

namespace tweedie::bench {

void run_train_benchmarks(const TrainBenchOptions& o, std::ostream& out) {
  std::string name;
  std::unique_ptr<nn::Network> net = benchmark_network(o.model, o.preset, o.save_model, o.device, &name);
  if (net->architecture() != "adm-unet") throw ArgumentError(cat("bench train: ", name, " is a ", net->architecture(), "; the benchmark times U-Nets"));
  nlohmann::json config = nlohmann::json::parse(net->config_json());
  const std::int64_t size = o.size ? o.size : config.value("image_size", std::int64_t(0));
  const std::int64_t channels = config.value("in_channels", std::int64_t(3));
  const bool learned_variance = config.value("out_channels", channels) == 2 * channels;
  const std::string diffusion = nlohmann::json{{"parameterization", "eps"},
                                               {"learned_variance", learned_variance},
                                               {"schedule", {{"kind", "linear"}, {"timesteps", 1000}}}}
                                    .dump();
  const std::int64_t classes = samplers::class_count(*net);
  auto model = make_network_denoiser(std::move(net), diffusion, name);
  nn::ParameterSet& params = model->mutable_network().parameters();

  // A fixed batch: images in [-1, 1), standard normal noise, times spread over the table.
  const Shape shape{o.batch, channels, size, size};
  samplers::DsmBatch batch;
  {
    Context host(Device::cpu());
    Tensor x0 = Tensor::empty(shape), noise = Tensor::empty(shape);
    fill_uniform(host, x0, {5, 1}, -1.0f, 1.0f);
    fill_normal(host, noise, {5, 2});
    for (std::int64_t i = 0; i < o.batch; ++i) batch.t.push_back(double((i * 389 + 17) % 1000));
    if (classes > 0)
      for (std::int64_t i = 0; i < o.batch; ++i) batch.labels.push_back(i % classes);
    if (!o.save_batch.empty()) {
      H5File f = H5File::create(o.save_batch);
      f.write("x0", x0);
      f.write("noise", noise);
      std::vector<float> t(batch.t.begin(), batch.t.end());
      f.write("t", Tensor::from_host(std::span<const float>(t), {o.batch}));
      f.commit();
    }
    batch.x0 = x0.to(o.device);
    batch.noise = noise.to(o.device);
  }

  for (int threads : o.threads) {
    Context ctx(o.device, threads);
    nn::AdamWOptions adam_options;
    nn::AdamW adam(params, adam_options);
    nn::Ema ema(params, 0.999);
    std::int64_t step = 0;
    auto gradient = [&] {
      params.zero_gradients(ctx);
      samplers::dsm_loss(ctx, *model, batch, true);
    };
    auto optimizer = [&] {
      adam.step(ctx);
      ema.update(ctx, params, ++step);
    };
    std::vector<std::pair<std::string, std::function<void()>>> ops = {
        {"loss+gradient", gradient}, {"optimizer", optimizer}, {"step", [&] { gradient(), optimizer(); }}};
    for (auto& [op, run] : ops) {
      ctx.synchronize();
      reset_peak_memory(o.device);
      Measurement m = measure(ctx, run, o.measure);
      out << nlohmann::json{{"bench", "train"}, {"impl", "tweedie"}, {"model", name}, {"op", op}, {"batch", o.batch}, {"size", size},
                            {"device", o.device.str()}, {"threads", ctx.threads()}, {"median_ms", m.median_ms}, {"min_ms", m.min_ms},
                            {"runs", m.runs}, {"peak_bytes", memory_stats(o.device).peak}, {"parameters", params.count_values()}}
                 .dump()
          << std::endl;
    }
  }
}

}  // namespace tweedie::bench
