#!/usr/bin/env bash
# Learning a prior from observations alone, on data whose truth is known: points on a smooth closed
# curve in 5 dimensions (`tweedie phantoms --curve 5`), each observed through its own random rank-2
# projection with Gaussian noise sigma 0.01 (Rozet et al. 2024, first experiment). `tweedie em` fits a
# Gaussian (lap 0) and then runs LAPS laps of MMPS sampling and MLP training; a second MLP of the same
# size is trained on the clean points for as many steps in all. Prints per lap the sliced W2 between
# 1,024 prior draws and the true points, and the clean prior's. About 8 minutes at 2 threads on an idle
# 2-core x86 machine. Run from the project root after building:
#
#     tools/demo/em_manifold.sh [WORK_FOLDER]
#
# Rerunning resumes the em run where it stopped.
set -euo pipefail
tweedie=${TWEEDIE:-build/cpu/tools/tweedie}
work=${1:-build/em-manifold}
laps=${LAPS:-32}
steps=${STEPS_PER_LAP:-2000}
threads=${THREADS:-2}
net="--arch mlp --dim 5 --hidden 128 --depth 3 --emb_dim 32 --param eps --schedule vp"
mkdir -p "$work"
[ -f "$work/truth.h5" ] || "$tweedie" phantoms --curve 5 --count 4096 --seed 1 -o "$work/truth.h5" >/dev/null
[ -f "$work/observations.h5" ] || "$tweedie" simulate --x "$work/truth.h5" --operator each:matrix:random=2 --noise gaussian:sigma=0.01 \
  --seed 2 -o "$work/observations.h5" >/dev/null
"$tweedie" em --observations "$work/observations.h5" --truth "$work/truth.h5" $net --laps "$laps" --steps-per-lap "$steps" \
  --ema 0.995 --seed 0 --threads "$threads" -o "$work/run" >/dev/null
if [ ! -f "$work/clean.h5" ]; then
  "$tweedie" train --data "$work/truth.h5" $net --steps $((laps * steps)) --batch 64 --lr 1e-3 --ema 0.995 --seed 0 \
    --threads "$threads" --quiet -o "$work/clean.h5" >/dev/null
fi
clean=$("$tweedie" sample --prior "$work/clean.h5" --samples 1024 --sampler ddpm --steps 64 --seed 1 --reference "$work/truth.h5" \
  --threads "$threads" -o "$work/clean_samples.h5")
echo "lap  sliced W2 (prior draws vs truth)  seconds"
sed 's/.*"lap":\([0-9]*\).*"seconds":\([0-9.]*\).*"sw2":\([0-9.e-]*\).*/\1 \3 \2/' "$work/run/log.jsonl" | awk '{printf "%3d  %.4f  %.1f\n", $1, $2, $3}'
echo "clean: $clean"
