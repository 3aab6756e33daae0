#!/usr/bin/env bash
# A command's wall time alone and beside BUSY single-threaded busy loops (other users of a shared node),
# at 1 thread and at one thread per core. The command is given without --threads; it is appended.
# "fair" is the slowdown a perfectly fair scheduler gives a process that scales perfectly: T threads
# beside B busy loops on C cores get T C / (T + B) cores instead of min(T, C). A loaded run near its
# fair slowdown loses only the cores the others took; far above it, threads wait on each other. Medians
# of REPEATS runs, and the slowest loaded run: under load the times spread, and the tail is the harm.
#   tools/bench/under_load.sh [-b BUSY] [-r REPEATS] -- COMMAND ARGS...
set -euo pipefail
busy=$(nproc) repeats=3
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  case $1 in -b) busy=$2; shift 2 ;; -r) repeats=$2; shift 2 ;; *) echo "under_load.sh: unknown option $1" >&2; exit 2 ;; esac
done
shift
cores=$(nproc)
pids=()
stop_busy() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; pids=(); }
trap stop_busy EXIT

# The median and the slowest of REPEATS runs of the command at $threads threads: "median max".
seconds() {
  local times=()
  for ((i = 0; i < repeats; ++i)); do
    local start end
    start=$(date +%s.%N)
    "$@" --threads "$threads" >/dev/null
    end=$(date +%s.%N)
    times+=("$(echo "$end - $start" | bc -l)")
  done
  printf '%s\n' "${times[@]}" | sort -g | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)], a[NR]}'
}

echo "cores $cores, $busy busy loops, median of $repeats: $*"
echo "| threads | alone s | loaded s | loaded / alone | fair | slowest loaded run s |"
echo "| --- | --- | --- | --- | --- | --- |"
for threads in 1 "$cores"; do
  read -r alone _ < <(seconds "$@")
  for ((b = 0; b < busy; ++b)); do (while :; do :; done) & pids+=($!); done
  read -r loaded slowest < <(seconds "$@")
  stop_busy
  fair=$(echo "t = $threads; c = $cores; b = $busy; u = t; if (u > c) u = c; s = t * c / (t + b); if (s > u) s = u; u / s" | bc -l)
  printf '| %s | %.3f | %.3f | %.2f | %.2f | %.3f |\n' "$threads" "$alone" "$loaded" "$(echo "$loaded / $alone" | bc -l)" "$fair" "$slowest"
done
