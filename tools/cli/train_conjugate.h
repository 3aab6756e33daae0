#pragma once
// `tweedie train --objective conjugate`: trains the evidence trick's inference network
// (samplers/posterior/inference_network.h) on prior draws for one count problem, named by its operator
// and noise specs (an observation file carries both), and writes it as a model file with the root
// attribute `inference`.
#include <cstdint>
#include <string>

#include "cli/model_flags.h"
#include "io/hdf5_file.h"
#include "samplers/training/conjugate_training.h"

namespace tweedie::cli {

struct ConjugateTrainFlags {
  std::string op, noise, process = "vp", data, val, output, log, device = "cpu";
  StoredAs store = StoredAs::f32;
  samplers::ConjugateTrainOptions run;
  std::int64_t steps = 0, val_every = 0;
  int threads = 0;
  bool quiet = false;
};

void run_conjugate_training(const ConjugateTrainFlags& f, ModelFlags& model);

}  // namespace tweedie::cli
