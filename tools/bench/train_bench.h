#pragma once
// `tweedie bench train`: the cost of one training step on a U-Net, as `tweedie train` takes it. One
// JSON line per (op, threads):
//   loss+gradient   zero the gradients, the DSM loss of a batch and its parameter gradients
//                   (linearize + VJP)
//   optimizer       AdamW over every parameter, then the EMA update
//   step            the two together: one optimizer step
// The model is eps-parameterised on guided-diffusion's 1000-step linear table, the batch fixed random
// images with random times. tools/bench/torch_train.py times the same step in PyTorch on the same
// weights, batch and threads.
#include <ostream>
#include <string>
#include <vector>

#include "bench/measure.h"
#include "runtime/device.h"

namespace tweedie::bench {

struct TrainBenchOptions {
  std::string model;       // a model file, or
  std::string preset;      // a U-Net preset of `bench unet` (random weights)
  std::string save_model;  // write the (preset) model here, for the PyTorch side
  std::string save_batch;  // write the batch (x0, noise, t) here, for the PyTorch side
  Device device;
  std::vector<int> threads;
  std::int64_t batch = 16, size = 0;  // size 0: the model's image_size
  MeasureOptions measure;
};

void run_train_benchmarks(const TrainBenchOptions& options, std::ostream& out);

}  // namespace tweedie::bench
