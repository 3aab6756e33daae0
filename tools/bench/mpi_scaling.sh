#!/usr/bin/env bash
# Strong and weak scaling of `tweedie solve` over MPI ranks on one machine: MMPS with the shipped
# learned prior on the demo's 64x64 MRI problem (R = 4, sigma = 0.02, DDPM, 50 steps), the median of
# REPEATS runs of the "seconds" the command reports (solve plus the gather, without start-up and I/O).
#   tools/bench/mpi_scaling.sh BUILD_DIR [REPEATS] [ROWS_PER_CORE]
# Strong: ROWS_PER_CORE x cores rows on 1 rank x 1 thread, 1 rank x all threads, one rank per core.
# Weak: ROWS_PER_CORE rows per rank, 1 rank and one rank per core (1 thread each).
set -euo pipefail
build=$1 repeats=${2:-3} per=${3:-2}
tweedie=$build/tools/tweedie demo=$(cd "$(dirname "$0")/../demo" && pwd)
cores=$(nproc)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none

# One observation; the rows the ranks split are its posterior samples.
"$tweedie" sample --prior "$demo/phantom_prior.h5" --process vp --samples 1 --steps 20 -o "$tmp/x.h5" --quiet >/dev/null
"$tweedie" simulate --x "$tmp/x.h5:samples" --operator mri:R=4:seed=1 --noise gaussian:sigma=0.02 -o "$tmp/y.h5" >/dev/null

# median_seconds RANKS THREADS ROWS
median_seconds() {
  local ranks=$1 threads=$2 rows=$3 times=()
  local args=(solve --prior "$demo/phantom_unet.h5" --y "$tmp/y.h5" --method mmps --sampler ddpm --steps 50
              --tweedie-max-noise 1 --samples "$rows" --threads "$threads" --quiet -o "$tmp/out.h5")
  for ((i = 0; i < repeats; ++i)); do
    if [ "$ranks" = 1 ]; then json=$("$tweedie" "${args[@]}")
    else json=$(mpirun -n "$ranks" --bind-to core "$tweedie" "${args[@]}"); fi
    times+=("$(grep -o '"seconds":[0-9.e+-]*' <<<"$json" | cut -d: -f2)")
  done
  printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'
}

echo "cores $cores, rows per core $per, median of $repeats"
echo "| run | ranks x threads | rows | seconds | rows/s |"
echo "| --- | --- | --- | --- | --- |"
row() { local s; s=$(median_seconds "$2" "$3" "$4"); printf '| %s | %s x %s | %s | %.2f | %.3f |\n' "$1" "$2" "$3" "$4" "$s" "$(echo "$4 / $s" | bc -l)"; }
row strong 1 1 $((per * cores))
row strong 1 "$cores" $((per * cores))
row strong "$cores" 1 $((per * cores))
row weak 1 1 "$per"
row weak "$cores" 1 $((per * cores))
