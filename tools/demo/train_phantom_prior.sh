#!/usr/bin/env bash
# Trains the learned prior of `tweedie demo` (tools/demo/phantom_unet.h5): a 1.6M-parameter ADM U-Net,
# v-prediction on guided-diffusion's 1000-step linear table, on 10,000 procedural 64 x 64 phantoms
# (`tweedie phantoms`, seed 0: the first 1,000 are the phantoms the stationary Gaussian prior was
# fitted to). About 75 minutes at 2 threads on an idle 2-core x86 machine (1.5 s per step of 16).
# The demo's held-out phantoms use other seeds. Run from the project root after building:
#
#     tools/demo/train_phantom_prior.sh [OUTPUT.h5]
#
# Resumable: rerunning after an interruption continues from the last state file.
set -euo pipefail
tweedie=${TWEEDIE:-build/cpu/tools/tweedie}
out=${1:-tools/demo/phantom_unet.h5}
work=${WORK:-build/phantom-prior}
mkdir -p "$work"
[ -f "$work/phantoms.h5" ] || "$tweedie" phantoms --count 10000 --size 64 --seed 0 -o "$work/phantoms.h5"
[ -f "$work/val.h5" ] || "$tweedie" phantoms --count 64 --size 64 --seed 9 -o "$work/val.h5"
if [ -f "$work/state.h5" ]; then
  "$tweedie" train --resume "$work/state.h5" --state "$work/state.h5" --val "$work/val.h5" --val-every 500 \
    --checkpoint-every 100 --threads 2 --store f16 --log "$work/log.jsonl" -o "$out"
else
  "$tweedie" train --data "$work/phantoms.h5" --val "$work/val.h5" \
    --arch adm --image_size 64 --in_channels 1 --num_channels 32 --num_res_blocks 1 --channel_mult 1,2,2,2 \
    --attention_resolutions 8 --num_head_channels 32 --use_scale_shift_norm true \
    --param v --schedule linear --timesteps 1000 \
    --steps 3000 --batch 16 --lr 1e-3 --warmup 200 --lr-decay cosine --clip 1 --ema 0.999 --flip --seed 0 \
    --val-every 500 --checkpoint-every 100 --state "$work/state.h5" --threads 2 --store f16 --log "$work/log.jsonl" -o "$out"
fi
