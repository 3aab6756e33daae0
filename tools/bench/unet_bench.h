#pragma once
// `tweedie bench unet`: the cost of one network evaluation and of its derivatives, on a model file or
// a built-in preset with random weights. One JSON line per (op, threads):
//   forward          y = f(x)
//   linearize        forward, keeping what derivatives need
//   linearize+jvp    the two together (what a single JVP at a new point costs)
//   jvp              one more tangent through an existing linearization
//   vjp              one cotangent back through an existing linearization (input cotangent only)
// tools/bench/torch_unet.py times the same ops in PyTorch on the same weights.
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "bench/measure.h"
#include "nn/network.h"
#include "runtime/device.h"

namespace tweedie::bench {

struct UnetBenchOptions {
  std::string model;          // a model file, or
  std::string preset;         // a built-in configuration (random weights)
  std::string save_model;     // write the (preset) model here, for the PyTorch side
  Device device;
  std::vector<int> threads;
  std::int64_t batch = 1, size = 0;  // size 0: the model's image_size
  std::int64_t tangents = 1;         // tangents per item pushed in one jvp
  std::string filter;                // only ops whose name contains this
  MeasureOptions measure;
};

std::vector<std::string> unet_presets();
// A preset's U-Net with random weights ~ N(0, 1/fan_in) (activations of order one), for timing.
std::unique_ptr<nn::Network> random_unet(const std::string& preset, Device device);

// The network a benchmark times: the model file `model`, or else the preset (written to `save_model`
// when given). `name` is set as the PyTorch scripts name it: the preset, or the file's stem.
std::unique_ptr<nn::Network> benchmark_network(const std::string& model, const std::string& preset, const std::string& save_model,
                                               Device device, std::string* name);
void run_unet_benchmarks(const UnetBenchOptions& options, std::ostream& out);

}  // namespace tweedie::bench
