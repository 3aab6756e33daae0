#!/usr/bin/env bash
# tweedie against PyTorch on one U-Net: forward, JVP after linearize and VJP at several batch sizes and
# image sizes, alternating rounds (tweedie, then each PyTorch, REPEATS times) so that a shared
# machine's drift hits all; every round is kept in OUT/tweedie.jsonl and OUT/torchN.jsonl (N: the
# position of the Python in the list), and a table per PyTorch joins their medians (compare.py:
# other / tweedie, above 1 tweedie is faster). Each run's peak resident memory (the whole process:
# weights, runtime and the largest op) goes to OUT/rss.tsv.
#   tools/bench/unet_table.sh BUILD_DIR PYTHON[,PYTHON...] MODEL.h5 OUT_DIR [THREADS] [REPEATS] [BATCHES] [SIZES]
# e.g. tools/bench/unet_table.sh build/cpu /usr/bin/python3,venv/bin/python mid.h5 out 2 3 "1 4 16" "64 256"
# MODEL.h5 from `tweedie bench unet --preset adm-mid-64 --save-model mid.h5`. Each PYTHON needs torch
# and h5py. Environment: TORCH_OPS_LARGE, the ops PyTorch times above 128x128 (default
# "forward,vjp,linearize+jvp": tracing torch.func.linearize there takes minutes and more memory than
# the rest); MEMORY_LIMIT_KB, the address space of each run (default 20000000), so that a run that
# would exhaust the machine fails alone: the failure is noted in OUT/failures.txt and the table goes on.
set -uo pipefail
build=$1 pythons=$2 model=$3 out=$4 threads=${5:-$(nproc)} repeats=${6:-3} batches=${7:-"1 4 16"} sizes=${8:-"64 256"}
large_ops=${TORCH_OPS_LARGE:-forward,vjp,linearize+jvp}
limit=${MEMORY_LIMIT_KB:-20000000}
here=$(cd "$(dirname "$0")" && pwd)
model=$(realpath "$model")
mkdir -p "$out"
IFS=, read -r -a interpreters <<<"$pythons"

# run NAME FILE CMD...: appends CMD's JSON lines to FILE and its peak memory to rss.tsv.
run() {
  local name=$1 file=$2
  shift 2
  local rss
  rss=$(mktemp)
  if ! (ulimit -v "$limit" && /usr/bin/time -f %M -o "$rss" "$@" >>"$file" 2>"$out/last_error.txt"); then
    echo "$name: failed ($(tail -1 "$out/last_error.txt"))" | tee -a "$out/failures.txt" >&2
  fi
  printf '%s\t%s KB\n' "$name" "$(tail -1 "$rss")" >>"$out/rss.tsv"
  rm -f "$rss"
}

for size in $sizes; do
  ops=""
  [ "$size" -gt 128 ] && ops=$large_ops
  for batch in $batches; do
    for ((r = 0; r < repeats; ++r)); do
      run "tweedie $size b$batch" "$out/tweedie.jsonl" \
        "$build/tools/tweedie" bench unet --model "$model" --batch "$batch" --size "$size" --threads "$threads"
      for i in "${!interpreters[@]}"; do
        run "torch$i $size b$batch" "$out/torch$i.jsonl" \
          bash -c 'cd "$1" && shift && exec "$@"' _ "$here" "${interpreters[$i]}" torch_unet.py --model "$model" \
          --batch "$batch" --size "$size" --threads "$threads" --filter "$ops"
      done
    done
  done
done
for i in "${!interpreters[@]}"; do
  echo "== ${interpreters[$i]}: $(grep -o '"version": "[^"]*"' "$out/torch$i.jsonl" | head -1)"
  python3 "$here/compare.py" "$out/tweedie.jsonl" "$out/torch$i.jsonl"
done
