#pragma once
// Data-parallel training: several processes (MPI ranks, one GPU each) train one model together.
//
// Every process holds the whole model, the whole data set and a Trainer with the same options. Each
// step's batch is drawn as one process would draw it (trainer.h: item j of step s depends on the seed,
// s and j alone), and process r takes a contiguous part of its items. Each process adds the gradient
// of its part of the *whole* batch's mean loss, the parts are summed over the processes, and every
// process takes the same optimizer step on the same sum. So the run is the one-process run with the
// same global batch, up to the order in which the items' gradients are added in float.
//
// The library never calls MPI or NCCL itself: the command line implements ProcessGroup with them
// (tools/cli/distributed.h), and a code that embeds tweedie can implement it on its own communicator.
#include <cstdint>
#include <span>

#include "runtime/context.h"
#include "runtime/tensor.h"

namespace tweedie::samplers {

class ProcessGroup {
 public:
  virtual ~ProcessGroup() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  // Sums the f32 tensor `values` (on ctx's device, the same length on every process) over the
  // processes, in place. Every process must receive the same bits: the weights stay equal only if
  // every process applies the same update.
  virtual void sum(Context& ctx, Tensor& values) = 0;
  // The same for a few doubles on the host (the loss, flags).
  virtual void sum(std::span<double> values) = 0;
};

// The items [first, first + count) of a batch of `batch` items that process `rank` of `size` trains
// on: contiguous parts whose sizes differ by at most one, the larger ones first.
struct BatchShare {
  std::int64_t first = 0, count = 0;
};
BatchShare batch_share(std::int64_t batch, int rank, int size);

}  // namespace tweedie::samplers
