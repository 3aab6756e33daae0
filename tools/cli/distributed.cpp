#include "cli/distributed.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <vector>

#if TWEEDIE_HAS_MPI
// The C API alone: without these, mpi.h pulls in the deprecated C++ bindings and their library.
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#endif

#include "runtime/error.h"
#include "runtime/system_info.h"

namespace tweedie::cli {
namespace {

Ranks g_ranks;
bool g_started = false;  // MPI_Init ran

// Whether a launcher started this process: Open MPI's mpirun, PMIx (srun --mpi=pmix), PMI (MPICH's
// hydra, srun --mpi=pmi2). A batch script's own environment sets none of these.
bool launched_by_mpi() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK") || std::getenv("PMI_SIZE");
}

#if !TWEEDIE_HAS_MPI
// The job size a launcher announced, where it says (0 when it does not).
long announced_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (const char* v = std::getenv(name)) return std::strtol(v, nullptr, 10);
  return 0;
}
#endif

// Whole batches of `batch` rows (the last may be short) in contiguous blocks, one block per rank.
RowShare share_of(std::int64_t total, std::int64_t batch, std::int64_t rank, std::int64_t size) {
  const std::int64_t batches = (total + batch - 1) / batch, base = batches / size, extra = batches % size;
  const std::int64_t first = rank * base + std::min(rank, extra), count = base + (rank < extra ? 1 : 0);
  const std::int64_t begin = std::min(total, first * batch), end = std::min(total, (first + count) * batch);
  return {begin, end - begin};
}

}  // namespace

const Ranks& ranks() { return g_ranks; }

void start_ranks(int* argc, char*** argv) {
  if (!launched_by_mpi()) return;
#if TWEEDIE_HAS_MPI
  // MPI is called from the main thread only; the OpenMP threads never call it.
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  g_started = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &g_ranks.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &g_ranks.size);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_ranks.rank, MPI_INFO_NULL, &node);
  MPI_Comm_rank(node, &g_ranks.local_rank);
  MPI_Comm_size(node, &g_ranks.local_size);
  MPI_Comm_free(&node);
#else
  (void)argc, (void)argv;
  if (announced_size() > 1)
    throw ArgumentError(cat("started by an MPI launcher as one of ", announced_size(),
                            " ranks, but this tweedie was built without MPI (TWEEDIE_MPI=OFF, or libopenmpi-dev missing); "
                            "every rank would compute and write the same output. Rebuild with -DTWEEDIE_MPI=ON"));
#endif
}

void finish_ranks() {
#if TWEEDIE_HAS_MPI
  if (g_started) MPI_Finalize();
#endif
  g_started = false;
}

int abort_ranks(int status) {
#if TWEEDIE_HAS_MPI
  if (g_started && g_ranks.size > 1 && status != 0) {
    std::fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, status);
  }
#endif
  finish_ranks();
  return status;
}

std::int64_t rank_batch(std::int64_t total, std::int64_t batch) {
  if (batch > 0) return batch;
  return std::max<std::int64_t>(1, (total + g_ranks.size - 1) / g_ranks.size);
}

RowShare row_share(std::int64_t total, std::int64_t batch) { return share_of(total, batch, g_ranks.rank, g_ranks.size); }

void gather_rows(Tensor& all, std::int64_t batch) {
  if (g_ranks.size == 1) return;
#if TWEEDIE_HAS_MPI
  const std::int64_t total = all.dim(0);
  const std::size_t row_bytes = total > 0 ? all.nbytes() / std::size_t(total) : 0;
  if (row_bytes == 0) return;
  if (row_bytes > std::size_t(std::numeric_limits<int>::max()) || total > std::numeric_limits<int>::max())
    throw ArgumentError(cat("gathering ", total, " rows of ", row_bytes, " bytes over MPI: rows above 2 GiB or 2^31 rows are not supported"));
  // One row is one element of a contiguous datatype, so counts stay small integers however large the rows.
  MPI_Datatype row;
  MPI_Type_contiguous(int(row_bytes), MPI_BYTE, &row);
  MPI_Type_commit(&row);
  std::vector<int> counts(g_ranks.size), firsts(g_ranks.size);
  for (int r = 0; r < g_ranks.size; ++r) {
    RowShare s = share_of(total, batch, r, g_ranks.size);
    counts[r] = int(s.count), firsts[r] = int(s.first);
  }
  const RowShare own = row_share(total, batch);
  Tensor host = all.device().is_cpu() ? all : all.to_host();
  char* base = static_cast<char*>(host.raw_data());
  if (g_ranks.root())
    MPI_Gatherv(MPI_IN_PLACE, 0, row, base, counts.data(), firsts.data(), row, 0, MPI_COMM_WORLD);
  else
    MPI_Gatherv(base + own.first * row_bytes, int(own.count), row, nullptr, nullptr, nullptr, row, 0, MPI_COMM_WORLD);
  MPI_Type_free(&row);
  if (g_ranks.root() && !all.device().is_cpu()) all.copy_from(host);
#endif
}

std::int64_t sum_on_root(std::int64_t value) {
#if TWEEDIE_HAS_MPI
  if (g_ranks.size > 1) {
    std::int64_t sum = 0;
    MPI_Reduce(&value, &sum, 1, MPI_INT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
    if (g_ranks.root()) return sum;
  }
#endif
  return value;
}

double max_on_root(double value) {
#if TWEEDIE_HAS_MPI
  if (g_ranks.size > 1) {
    double max = 0;
    MPI_Reduce(&value, &max, 1, MPI_DOUBLE, MPI_MAX, 0, MPI_COMM_WORLD);
    if (g_ranks.root()) return max;
  }
#endif
  return value;
}

int max_on_ranks(int value) {
#if TWEEDIE_HAS_MPI
  if (g_ranks.size > 1) MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
#endif
  return value;
}

void wait_for_ranks() {
#if TWEEDIE_HAS_MPI
  if (g_ranks.size > 1) MPI_Barrier(MPI_COMM_WORLD);
#endif
}

Device rank_device(const std::string& text) {
  Device device = Device::parse(text);
  if (g_ranks.size == 1 || text != "cuda") return device;
  const int count = cuda_device_count();
  if (count == 0) throw ArgumentError(cat("--device cuda: rank ", g_ranks.rank, " sees no CUDA device"));
  return Device::cuda(g_ranks.local_rank % count);
}

void refuse_several_ranks(const std::string& what) {
  if (g_ranks.size > 1) throw ArgumentError(cat(what, ": not with several MPI ranks (this job has ", g_ranks.size, "); run it as one process"));
}

}  // namespace tweedie::cli
