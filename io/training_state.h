#pragma once
// Training-state files (io/FORMAT.md): everything a `tweedie train` run needs to continue as if it had
// never stopped. The network (architecture, config, diffusion description, current weights), AdamW's
// moments and step count, the EMA, and the run's settings as JSON: batch, seed, time sampling,
// optimizer, EMA decay, flips, and which data (file, dataset, item count and shape, SHA-256 of the
// values). Written through H5File's atomic commit, so an interrupted write leaves the previous state.
#include <cstdint>
#include <memory>
#include <string>

#include "samplers/training/trainer.h"

namespace tweedie {

inline constexpr const char* kTrainingStateFormat = "tweedie-training-state";
inline constexpr std::int64_t kTrainingStateVersion = 1;

// Where the data came from and what it was: resuming on other data would not continue the same run.
struct TrainingDataRecord {
  std::string file, dataset, labels;  // labels: "FILE:DATASET" or ""
  std::int64_t items = 0;
  std::string item_shape, sha256;  // "(1,64,64)", of the f32 values and labels as little-endian bytes
};
TrainingDataRecord describe_training_data(const samplers::TrainingData& data, const std::string& file, const std::string& dataset,
                                          const std::string& labels);

struct TrainingStateInfo {
  std::string architecture, config, diffusion;
  samplers::TrainOptions options;
  TrainingDataRecord data;
  std::int64_t step = 0, total_steps = 0;  // steps done; steps the run was asked for
};

// The root attributes, checked: IoError naming the file and the attribute.
TrainingStateInfo read_training_state_info(const std::string& path);

// Writes the trainer's state after its last step; `diffusion_json` is the model's diffusion description
// (io/FORMAT.md), `total_steps` the steps the run was asked for.
void save_training_state(const std::string& path, samplers::Trainer& trainer, const std::string& diffusion_json,
                         const TrainingDataRecord& data, std::int64_t total_steps);

// Puts a state file's weights, moments, EMA and step into a trainer built from the same info: every
// tensor checked by name and shape (IoError naming the dataset) and for finiteness.
void load_training_state(const std::string& path, samplers::Trainer& trainer);

// The trainer's options as the JSON of the state file, and back (ArgumentError naming `where`).
std::string train_options_json(const samplers::TrainOptions& o);
samplers::TrainOptions train_options_from_json(const std::string& json, const std::string& where);

}  // namespace tweedie
