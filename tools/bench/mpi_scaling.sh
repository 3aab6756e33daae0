#!/usr/bin/env bash
# Strong and weak scaling over MPI ranks on one machine, of
#   solve  MMPS with the shipped learned prior on the demo's 64x64 MRI problem (R = 4, sigma = 0.02,
#          DDPM, 50 steps); the units split are rows (posterior samples of one observation)
#   train  the same U-Net (1.63 M parameters) fine-tuned on procedural phantoms for 20 steps; the units
#          split are the items of each batch
# timed by the "seconds" the command reports (its loop and the ranks' communication, without start-up
# and I/O), the median of REPEATS runs.
#   tools/bench/mpi_scaling.sh BUILD_DIR [solve|train] [REPEATS] [UNITS_PER_CORE]
# Strong: UNITS_PER_CORE x cores units on 1 rank x 1 thread, 1 rank x all threads, one rank per core.
# Weak: UNITS_PER_CORE units per rank, 1 rank and one rank per core (1 thread each).
set -euo pipefail
build=$1 what=${2:-solve} repeats=${3:-3}
tweedie=$build/tools/tweedie demo=$(cd "$(dirname "$0")/../demo" && pwd)
cores=$(nproc)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_btl_vader_single_copy_mechanism=none

case $what in
  solve)
    per=${4:-2} steps=1 unit=rows timed=seconds
    "$tweedie" sample --prior "$demo/phantom_prior.h5" --process vp --samples 1 --steps 20 -o "$tmp/x.h5" --quiet >/dev/null
    "$tweedie" simulate --x "$tmp/x.h5:samples" --operator mri:R=4:seed=1 --noise gaussian:sigma=0.02 -o "$tmp/y.h5" >/dev/null
    command_for() {  # UNITS THREADS
      args=(solve --prior "$demo/phantom_unet.h5" --y "$tmp/y.h5" --method mmps --sampler ddpm --steps 50
            --tweedie-max-noise 1 --samples "$1" --threads "$2" --quiet -o "$tmp/out.h5")
    } ;;
  train)
    per=${4:-4} steps=20 unit=items timed="seconds per step"
    "$tweedie" phantoms -o "$tmp/ph.h5" --count 200 --size 64 --seed 5 >/dev/null
    command_for() {
      args=(train --data "$tmp/ph.h5" --init "$demo/phantom_unet.h5" --steps "$steps" --batch "$1" --threads "$2" --quiet -o "$tmp/m.h5")
    } ;;
  *) echo "mpi_scaling.sh: '$what': solve or train" >&2; exit 2 ;;
esac

# median_seconds RANKS THREADS UNITS
median_seconds() {
  local ranks=$1 times=()
  command_for "$3" "$2"
  for ((i = 0; i < repeats; ++i)); do
    if [ "$ranks" = 1 ]; then json=$("$tweedie" "${args[@]}")
    else json=$(mpirun -n "$ranks" --bind-to core "$tweedie" "${args[@]}"); fi
    times+=("$(grep -o '"seconds":[0-9.e+-]*' <<<"$json" | cut -d: -f2)")
  done
  printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'
}

echo "$what: cores $cores, $unit per core $per, median of $repeats"
echo "| run | ranks x threads | $unit | $timed | $unit/s |"
echo "| --- | --- | --- | --- | --- |"
row() {
  local s; s=$(median_seconds "$2" "$3" "$4")
  printf '| %s | %s x %s | %s | %.3f | %.2f |\n' "$1" "$2" "$3" "$4" "$(echo "$s / $steps" | bc -l)" "$(echo "$4 * $steps / $s" | bc -l)"
}
row strong 1 1 $((per * cores))
row strong 1 "$cores" $((per * cores))
row strong "$cores" 1 $((per * cores))
row weak 1 1 "$per"
row weak "$cores" 1 $((per * cores))
