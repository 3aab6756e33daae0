#pragma once
// How long an idle OpenMP thread spins before it sleeps, for the `tweedie` command line.
//
// At the end of every parallel loop the threads wait for each other. GNU libgomp's default lets a
// waiting thread spin for 300,000 rounds (GOMP_SPINCOUNT), which is several milliseconds on current
// x86 cores, before it sleeps. On a node shared with other processes that is the collapse seen in
// issue 19: the thread a barrier waits for has been descheduled, and its team-mates spin away the
// time slices it needs. Measured on 2 cores beside 2 busy processes (tools/bench/under_load.sh),
// MAP-Tikhonov on 8-coil 128x128 MRI at 2 threads went from 0.67 s alone to 9.7 s loaded; with
// 10,000 rounds it takes 1.26 s loaded (the fair share of the cores gives 2x) and the same 0.65 s
// alone, and U-Net passes are unchanged alone.
//
// libgomp reads the setting once, when it is loaded, before main() runs; so the command line sets
// GOMP_SPINCOUNT=10000 (and KMP_BLOCKTIME=1, the same knob of LLVM's runtime) and executes itself
// again, once, unless the environment already says how to wait (OMP_WAIT_POLICY, GOMP_SPINCOUNT or
// KMP_BLOCKTIME: the user's choice is kept). Codes that embed the library choose for themselves.
#include <string>

namespace tweedie::cli {

// Call first in main(). Returns only when no re-execution was needed or it failed.
void limit_openmp_spinning(char** argv);
// For `tweedie info`: the setting in effect and where it came from.
std::string openmp_wait_description();

}  // namespace tweedie::cli
