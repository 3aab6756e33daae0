#pragma once
// Training a network denoiser by denoising score matching (dsm.h): minibatches from a dataset held in
// memory, AdamW with clipping and a learning-rate schedule, and the EMA of the weights
// (nn/train/adamw.h, ema.h).
//
// Every random choice of step s, item j is Philox keyed by the seed and (s, j) alone: which data item
// (drawn with replacement), its horizontal flip, its time and its noise. A run's batches therefore
// depend on nothing but the seed, the batch size and the step, and a run resumed from its state file
// (io/training_state.h) after step s draws exactly the batches the uninterrupted run would have: with
// the same thread count on the CPU the final weights are bitwise the same. The same keying lets several
// processes split every batch between them (process_group.h).
#include <cstdint>
#include <memory>
#include <vector>

#include "nn/train/adamw.h"
#include "nn/train/ema.h"
#include "runtime/context.h"
#include "runtime/tensor.h"
#include "samplers/network_denoiser.h"
#include "samplers/training/dsm.h"
#include "samplers/training/process_group.h"

namespace tweedie::samplers {

struct TrainingData {
  Tensor x;                          // (N, item...) f32, on the host
  std::vector<std::int64_t> labels;  // empty, or one class label per item
};

struct TrainOptions {
  std::int64_t batch = 16;
  std::uint64_t seed = 0;
  TimeSampling time;
  bool flip = false;  // mirror images (N, C, H, W) left-right with probability 1/2
  nn::AdamWOptions adam;
  double ema = 0.999;  // nn::Ema's decay
  void validate() const;
};

struct TrainStep {
  std::int64_t step = 0;  // counted from 1
  double loss = 0;        // the batch's DSM loss before the update
  nn::StepReport optimizer;
};

struct Validation {
  std::vector<double> t, loss;  // the loss at each time of validation_times
  double mean = 0;              // their mean
};

class Trainer {
 public:
  // The model's network is trained in place. data.x must hold items of the model's item shape.
  // With a process group of several processes, this process trains on its share of every batch
  // (batch_share) and the gradients are summed over the group before each optimizer step; every
  // process of the group must construct its Trainer from the same model, data and options.
  Trainer(std::shared_ptr<NetworkDenoiser> model, TrainingData data, TrainOptions options,
          std::shared_ptr<ProcessGroup> group = nullptr);

  // Trains on other data from the next step on (learning from observations draws new samples every
  // lap); the items must keep the model's shape. Optimizer, EMA and step count carry on.
  void set_data(TrainingData data);

  // Draws the batch of the next step (this process's share of it), takes one optimizer step and
  // updates the EMA. The loss reported is the whole batch's, the same on every process.
  TrainStep step(Context& ctx);
  std::int64_t steps_done() const { return adam_.steps(); }

  // The batch of step s (from 1) on ctx's device, as one process draws it; or only its items `part`.
  DsmBatch batch(Context& ctx, std::int64_t step) const;
  DsmBatch batch(Context& ctx, std::int64_t step, BatchShare part) const;
  // This process's items of every batch (all of them without a group).
  BatchShare share() const;

  // The DSM loss of the EMA weights on `data` at `times` fixed times (validation_times), each item with
  // the same noise at every call, in batches of the training batch size.
  Validation validate(Context& ctx, const TrainingData& data, int times = 8);

  // Exchanges the network's weights with the EMA's (twice restores them): to evaluate or save the EMA.
  void swap_ema();

  NetworkDenoiser& model() { return *model_; }
  const TrainOptions& options() const { return options_; }
  const TrainingData& data() const { return data_; }
  nn::AdamW& optimizer() { return adam_; }
  nn::Ema& ema() { return ema_; }

 private:
  std::shared_ptr<NetworkDenoiser> model_;
  TrainingData data_;
  TrainOptions options_;
  nn::AdamW adam_;
  nn::Ema ema_;
  std::shared_ptr<ProcessGroup> group_;
  Tensor summed_;  // every parameter's gradient in one tensor, for the group's sum

  void sum_gradients(Context& ctx);
};

// Puts the EMA's weights in the trainer's network for the lifetime of the guard (to evaluate or save
// them), and the trained weights back at its end, also when an exception leaves the scope.
class EmaWeights {
 public:
  explicit EmaWeights(Trainer& trainer) : trainer_(trainer) { trainer_.swap_ema(); }
  ~EmaWeights() { trainer_.swap_ema(); }
  EmaWeights(const EmaWeights&) = delete;
  EmaWeights& operator=(const EmaWeights&) = delete;

 private:
  Trainer& trainer_;
};

// The number of class labels the network is conditioned on (0: none).
std::int64_t class_count(const nn::Network& network);

// Checks a dataset against a model before training on it: f32 on the host, items of `item` shape,
// every value finite, labels (if any) one per item in [0, classes) (classes 0: the model takes none).
// `what` names the data in messages ("--data phantoms.h5:x").
void check_training_data(const TrainingData& data, const Shape& item, std::int64_t classes, const std::string& what);

}  // namespace tweedie::samplers
