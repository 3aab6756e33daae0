#pragma once
// `mpirun -n R tweedie train ...`: the ranks of the job as one data-parallel training group
// (samplers/training/process_group.h). Each rank trains on its part of every batch; the gradients are
// summed with MPI_Allreduce on the host, or with NCCL between GPUs when every rank of a node has a GPU
// of its own (two ranks cannot share one GPU in NCCL; they sum through host memory instead).
//
// Rank 0 alone writes the model, the state file and the log. What every rank must agree on, it agrees
// on by a collective: whether to stop (a signal can reach the ranks at different steps), and, at each
// state file and at the end, whether the weights are still bitwise the same on every rank (their
// SHA-256, io/model_file.h).
#include <cstdint>
#include <memory>
#include <string>

#include "nn/parameter.h"
#include "runtime/device.h"
#include "samplers/training/process_group.h"

namespace tweedie::cli {

// The job's ranks as a training group for a trainer on `device`; nullptr in a job of one rank.
std::shared_ptr<samplers::ProcessGroup> training_group(const Device& device);
// Throws NumericError when the weights differ between ranks (an all-reduce that gave ranks different
// bits would make them train different models); `when` says at which point ("after step 40").
void expect_same_weights_on_ranks(const nn::ParameterSet& params, const std::string& when);

}  // namespace tweedie::cli
