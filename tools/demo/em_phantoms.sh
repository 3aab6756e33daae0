#!/usr/bin/env bash
# Learning an image prior from corrupted images alone: 512 procedural 16 x 16 phantoms
# (`tweedie phantoms`), each observed with 75% of its pixels missing (its own random mask) and Gaussian
# noise sigma 0.01. `tweedie em` fits a diagonal Gaussian (lap 0), then runs LAPS laps of MMPS sampling
# (one sample per observation, DDPM 32 steps, 1 CG iteration) and training of a 0.7M-parameter ADM
# U-Net. A twin network trained on the 512 clean phantoms for as many steps in all is the reference, and
# so is the dense Gaussian EM fit (`--gaussian dense`, the stronger start at this size). Every prior is
# judged on 64 held-out phantoms observed the same way: the PSNR of the MMPS posterior mean of 4
# samples. About 40 minutes at 2 threads on an idle 2-core x86 machine. Run from the project root after
# building:
#
#     tools/demo/em_phantoms.sh [WORK_FOLDER]
#
# Rerunning resumes the em run where it stopped and skips what is already there.
set -euo pipefail
tweedie=${TWEEDIE:-build/cpu/tools/tweedie}
work=${1:-build/em-phantoms}
laps=${LAPS:-8}
steps=${STEPS_PER_LAP:-1000}
threads=${THREADS:-2}
net="--arch adm --image_size 16 --in_channels 1 --num_channels 32 --num_res_blocks 1 --channel_mult 1,2 --attention_resolutions 2
     --num_head_channels 32 --param eps --schedule vp"
sampling="--sampler ddpm --steps 32 --cg-iterations 1"
mkdir -p "$work"
[ -f "$work/truth.h5" ] || "$tweedie" phantoms --count 512 --size 16 --seed 0 -o "$work/truth.h5" >/dev/null
[ -f "$work/heldout_truth.h5" ] || "$tweedie" phantoms --count 64 --size 16 --seed 7 -o "$work/heldout_truth.h5" >/dev/null
for set in observations:truth:2 heldout:heldout_truth:3; do
  IFS=: read -r name x seed <<<"$set"
  [ -f "$work/$name.h5" ] || "$tweedie" simulate --x "$work/$x.h5" --operator each:inpaint:p=0.25 --noise gaussian:sigma=0.01 \
    --seed "$seed" -o "$work/$name.h5" >/dev/null
done
"$tweedie" em --observations "$work/observations.h5" --truth "$work/truth.h5" $net $sampling --gaussian diagonal --laps "$laps" \
  --steps-per-lap "$steps" --batch 32 --lr 1e-3 --ema 0.995 --seed 0 --threads "$threads" -o "$work/run" >/dev/null
# The dense Gaussian EM fit alone (lap 0 of a run started with --gaussian dense).
[ -f "$work/dense/lap-000/prior.h5" ] || "$tweedie" em --observations "$work/observations.h5" $net --gaussian dense --laps 1 \
  --steps-per-lap 1 --threads "$threads" -o "$work/dense" >/dev/null
if [ ! -f "$work/clean.h5" ]; then
  "$tweedie" train --data "$work/truth.h5" $net --steps $((laps * steps)) --batch 32 --lr 1e-3 --ema 0.995 --seed 0 \
    --threads "$threads" --quiet -o "$work/clean.h5" >/dev/null
fi
# The held-out posterior mean under a prior: mean PSNR over the 64 phantoms.
heldout_psnr() {
  local out="$work/eval-$1.json"
  [ -f "$out" ] || "$tweedie" solve --prior "$2" ${3:-} --y "$work/heldout.h5" --truth "$work/heldout_truth.h5" --method mmps $sampling \
    --samples 4 --tweedie-max-noise 1 --seed 5 --threads "$threads" --quiet -o "$work/eval-$1.h5" >"$out"
  grep -o '"psnr":\[[^]]*\]' "$out" | tr -d '"psnr:[]' | tr ',' '\n' | awk '{s += $1; n += 1} END {printf "%.2f", s / n}'
}
echo "prior        held-out posterior-mean PSNR (dB)  lap seconds"
printf "dense Gauss  %s\n" "$(heldout_psnr dense "$work/dense/lap-000/prior.h5" "--process vp")"
printf "lap 0        %s\n" "$(heldout_psnr lap-000 "$work/run/lap-000/prior.h5" "--process vp")"
for lap in $(seq 1 "$laps"); do
  dir=$(printf "%s/run/lap-%03d" "$work" "$lap")
  seconds=$(sed -n "$((lap + 1))p" "$work/run/log.jsonl" | grep -o '"seconds":[0-9.]*' | cut -d: -f2)
  printf "lap %-8d %s  %.0f\n" "$lap" "$(heldout_psnr "$(basename "$dir")" "$dir/model.h5")" "$seconds"
done
printf "clean        %s\n" "$(heldout_psnr clean "$work/clean.h5")"
