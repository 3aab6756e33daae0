#pragma once
// The ranks of an MPI job (`mpirun -n R tweedie solve | sample | train ...`), or the one process of a plain run.
//
// The split is by rows: solve's (observation, sample) rows and sample's samples are independent, each
// with a noise stream keyed by the seed and the row's index alone (samplers/posterior/solve.h), so rank
// r computes the r-th contiguous block of batches of rows and rank 0 gathers them and writes the one
// output file. On the CPU the file is bitwise the file of one process with the same batch size.
// `train` splits every batch instead (training_ranks.h). Other commands run as one process and refuse
// a job of several ranks (main.cpp), which would only have every rank write the same files.
//
// MPI starts only when a launcher started the process (mpirun, or srun with PMI/PMIx), so plain runs
// and tests never touch it; a build without MPI (TWEEDIE_MPI=OFF) refuses to run under a launcher
// rather than have every rank compute and write the same file. MPI is the command line's alone: the
// library never calls it, so codes that embed tweedie keep their own MPI setup.
#include <cstdint>
#include <string>

#include "runtime/tensor.h"

namespace tweedie::cli {

struct Ranks {
  int rank = 0, size = 1;              // in MPI_COMM_WORLD
  int local_rank = 0, local_size = 1;  // among the ranks on this node
  bool root() const { return rank == 0; }
};

// Call first in main(), inside its error handling: starts MPI when launched by mpirun or srun.
void start_ranks(int* argc, char*** argv);
// On a normal exit.
void finish_ranks();
// After an error on this rank, with its message printed: ends every rank of the job (MPI_Abort), since
// the others would wait forever in the next collective. Returns `status` when there is one process, or
// when it is 0.
int abort_ranks(int status);
const Ranks& ranks();

// The rows a batch holds: --batch as given, or for 0 (all at once) the rows of one rank, so that each
// rank runs one batch.
std::int64_t rank_batch(std::int64_t total, std::int64_t batch);

// This rank's rows: a contiguous block of whole batches of `batch` rows (the last batch may be short),
// the blocks' batch counts differing by at most one. A row's result can depend on the batch it is
// computed in (GEMM blocking changes with the batch size), so ranks run exactly the batches that one
// process with the same batch size runs, and the files agree bitwise.
struct RowShare {
  std::int64_t first = 0, count = 0;
};
RowShare row_share(std::int64_t total, std::int64_t batch);

// Gathers onto rank 0's `all` the rows of every rank's share (row_share(all.dim(0), batch)); other
// ranks' `all` keep what they had. Host or device tensors; a device one travels through host memory.
void gather_rows(Tensor& all, std::int64_t batch);
// The sum (and the maximum) over ranks, on rank 0; other ranks get their own value back.
std::int64_t sum_on_root(std::int64_t value);
double max_on_root(double value);
// The maximum over ranks, on every rank.
int max_on_ranks(int value);
// Returns when every rank has called it.
void wait_for_ranks();

// --device for this rank: "cuda" without an index on several ranks is cuda:(node-local rank modulo
// the GPUs this node shows), one GPU per rank; "cuda:N" and "cpu" are taken as written.
Device rank_device(const std::string& text);
// Throws ArgumentError naming `what` when the job has several ranks: for what cannot be split yet.
void refuse_several_ranks(const std::string& what);

}  // namespace tweedie::cli
