#include "cli/training_ranks.h"

#include <algorithm>
#include <vector>

#if TWEEDIE_HAS_MPI
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif
#if TWEEDIE_HAS_NCCL
#include <cuda_runtime.h>
#include <nccl.h>
#endif

#include "cli/distributed.h"
#include "io/model_file.h"
#include "runtime/error.h"

namespace tweedie::cli {
namespace {

#if TWEEDIE_HAS_MPI
// In place over MPI_COMM_WORLD, in pieces whose counts fit MPI's int.
void allreduce_floats(float* values, std::int64_t count) {
  constexpr std::int64_t kPiece = std::int64_t(1) << 30;
  for (std::int64_t at = 0; at < count; at += kPiece)
    MPI_Allreduce(MPI_IN_PLACE, values + at, int(std::min(kPiece, count - at)), MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}

#if TWEEDIE_HAS_NCCL
void nccl_check(ncclResult_t r, const char* what) {
  if (r != ncclSuccess) throw DeviceError(cat("NCCL ", what, ": ", ncclGetErrorString(r)));
}

// One communicator over all ranks, each on its own GPU, made from an id rank 0 draws and broadcasts.
class NcclComm {
 public:
  explicit NcclComm(int device) {
    ncclUniqueId id;
    if (ranks().root()) nccl_check(ncclGetUniqueId(&id), "ncclGetUniqueId");
    MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, MPI_COMM_WORLD);
    if (cudaSetDevice(device) != cudaSuccess) throw DeviceError(cat("rank ", ranks().rank, ": cannot select cuda:", device));
    nccl_check(ncclCommInitRank(&comm_, ranks().size, id, ranks().rank), "ncclCommInitRank");
  }
  ~NcclComm() { ncclCommDestroy(comm_); }
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;

  // Queued on the context's stream, so the optimizer step that follows on that stream sees the sum.
  void sum(Context& ctx, Tensor& values) {
    nccl_check(ncclAllReduce(values.raw_data(), values.raw_data(), std::size_t(values.numel()), ncclFloat, ncclSum, comm_,
                             static_cast<cudaStream_t>(ctx.stream())),
               "ncclAllReduce");
  }

 private:
  ncclComm_t comm_ = nullptr;
};

// NCCL needs one GPU per rank: on every node, no two ranks on the same device. All ranks must agree.
bool every_rank_has_its_own_gpu(const Device& device) {
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, ranks().rank, MPI_INFO_NULL, &node);
  const int mine = device.is_cuda() ? device.index() : -1;
  std::vector<int> all(std::size_t(ranks().local_size));
  MPI_Allgather(&mine, 1, MPI_INT, all.data(), 1, MPI_INT, node);
  MPI_Comm_free(&node);
  std::sort(all.begin(), all.end());
  int ok = all.front() >= 0 && std::adjacent_find(all.begin(), all.end()) == all.end();
  MPI_Allreduce(MPI_IN_PLACE, &ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return ok != 0;
}
#endif

class MpiGroup final : public samplers::ProcessGroup {
 public:
  explicit MpiGroup(const Device& device) {
#if TWEEDIE_HAS_NCCL
    if (every_rank_has_its_own_gpu(device)) nccl_ = std::make_unique<NcclComm>(device.index());
#else
    (void)device;
#endif
  }
  int rank() const override { return ranks().rank; }
  int size() const override { return ranks().size; }

  void sum(Context& ctx, Tensor& values) override {
    if (values.dtype() != DType::f32) throw DTypeError(cat("summing gradients over ranks: ", values.str(), " is not f32"));
#if TWEEDIE_HAS_NCCL
    if (nccl_ && values.device().is_cuda()) return nccl_->sum(ctx, values);
#else
    (void)ctx;
#endif
    if (values.device().is_cpu()) return allreduce_floats(values.data<float>(), values.numel());
    Tensor host = values.to_host();  // ranks sharing a GPU, or a build without NCCL
    allreduce_floats(host.data<float>(), host.numel());
    values.copy_from(host);
  }

  void sum(std::span<double> values) override {
    MPI_Allreduce(MPI_IN_PLACE, values.data(), int(values.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
  }

 private:
#if TWEEDIE_HAS_NCCL
  std::unique_ptr<NcclComm> nccl_;
#endif
};
#endif

}  // namespace

std::shared_ptr<samplers::ProcessGroup> training_group(const Device& device) {
  if (ranks().size == 1) return nullptr;
#if TWEEDIE_HAS_MPI
  return std::make_shared<MpiGroup>(device);
#else
  (void)device;
  return nullptr;  // unreachable: a build without MPI never has several ranks (distributed.cpp)
#endif
}

void expect_same_weights_on_ranks(const nn::ParameterSet& params, const std::string& when) {
  if (ranks().size == 1) return;
#if TWEEDIE_HAS_MPI
  // The digest of `tweedie info`; its characters' minima and maxima over ranks agree only if every
  // rank has the same digest.
  const std::string mine = weights_sha256(params);
  std::string lo(mine.size(), '\0'), hi(mine.size(), '\0');
  MPI_Allreduce(mine.data(), lo.data(), int(mine.size()), MPI_UNSIGNED_CHAR, MPI_MIN, MPI_COMM_WORLD);
  MPI_Allreduce(mine.data(), hi.data(), int(mine.size()), MPI_UNSIGNED_CHAR, MPI_MAX, MPI_COMM_WORLD);
  if (lo != hi)
    throw NumericError(cat("the ranks' weights differ ", when, ": the gradient sum gave the ranks different values, so they no longer train one "
                           "model. Report this with the MPI library and its version"));
#else
  (void)params, (void)when;
#endif
}

}  // namespace tweedie::cli
