#!/usr/bin/env bash
# tweedie against PyTorch on one U-Net: forward, JVP after linearize and VJP at several batch sizes and
# image sizes, alternating rounds (tweedie, then PyTorch, REPEATS times) so that a shared machine's
# drift hits both; every round is kept in OUT/tweedie.jsonl and OUT/torch.jsonl, and the table joins
# their medians (compare.py: other / tweedie, above 1 tweedie is faster).
#   tools/bench/unet_table.sh BUILD_DIR PYTHON MODEL.h5 OUT_DIR [THREADS] [REPEATS] [BATCHES] [SIZES]
# e.g. tools/bench/unet_table.sh build/cpu python3 mid.h5 out 2 3 "1 4 16" "64 256"
# MODEL.h5 from `tweedie bench unet --preset adm-mid-64 --save-model mid.h5`. PYTHON needs torch, h5py.
set -euo pipefail
build=$1 python=$2 model=$3 out=$4 threads=${5:-$(nproc)} repeats=${6:-3} batches=${7:-"1 4 16"} sizes=${8:-"64 256"}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$out"
for size in $sizes; do
  for batch in $batches; do
    for ((r = 0; r < repeats; ++r)); do
      "$build/tools/tweedie" bench unet --model "$model" --batch "$batch" --size "$size" --threads "$threads" >>"$out/tweedie.jsonl"
      (cd "$here" && "$python" torch_unet.py --model "$(realpath "$model")" --batch "$batch" --size "$size" --threads "$threads") >>"$out/torch.jsonl"
    done
  done
done
"$python" "$here/compare.py" "$out/tweedie.jsonl" "$out/torch.jsonl"
