#!/usr/bin/env bash
# Radial MRI of the demo's held-out phantoms (four 64 x 64 procedural phantoms, seed 7, which no prior
# saw), single coil, R = 4 against pi N / 2 spokes (26 golden-angle spokes of 128 samples, by the NUFFT
# at tolerance 1e-6), noise sigma 0.01: MMPS with the learned prior tools/demo/phantom_unet.h5 and with
# the stationary Gaussian prior, against CG-SENSE (Tikhonov-regularised least squares by CG, the best of
# a lambda sweep scored against the truth, so an optimistic baseline). Prints a markdown table. Run from the project root after building:
#
#     tools/demo/radial_phantoms.sh [WORK_DIR]
set -euo pipefail
tweedie=${TWEEDIE:-build/cpu/tools/tweedie}
work=${1:-build/radial-phantoms}
threads=${THREADS:-2}
operator=${OPERATOR:-mri:traj=radial:R=4}
mkdir -p "$work"
"$tweedie" phantoms --count 4 --size 64 --seed 7 -o "$work/truth.h5" > /dev/null
"$tweedie" simulate --operator "$operator" --noise gaussian:sigma=0.01 --x "$work/truth.h5" --seed 1 -o "$work/y.h5" > /dev/null

echo "| method | PSNR dB (4 phantoms) | mean PSNR | mean SSIM | seconds |"
echo "| --- | --- | --- | --- | --- |"
row() {
  NAME="$1" python3 -c '
import json, os, sys
m = json.loads(sys.stdin.read().strip().splitlines()[-1])
p, s = m["psnr"], m["ssim"]
print("| %s | %s | %.2f | %.3f | %.1f |" % (os.environ["NAME"], ", ".join("%.2f" % v for v in p), sum(p) / len(p), sum(s) / len(s), m["seconds"]))'
}
solve() { "$tweedie" solve --y "$work/y.h5" --truth "$work/truth.h5" --threads "$threads" --quiet -o "$work/out.h5" "$@"; }
best=""
for lambda in 0.003 0.01 0.03 0.1 0.3; do
  line=$(solve --method map-tikhonov --lambda "$lambda" --iterations 100 | tail -n 1)
  psnr=$(echo "$line" | python3 -c 'import json, sys; p = json.loads(sys.stdin.read())["psnr"]; print(sum(p) / len(p))')
  if [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if $psnr > $best else 1)"; then best=$psnr; best_line=$line; best_lambda=$lambda; fi
done
echo "$best_line" | row "CG-SENSE (Tikhonov, lambda $best_lambda of 0.003-0.3, 100 CG iterations)"
solve --method mmps --prior tools/demo/phantom_prior.h5 --process vp --samples 8 --sampler ddpm --steps 50 --cg-iterations 20 --seed 3 |
  row "MMPS, Gaussian prior, 8 samples, DDPM 50, k = 20"
solve --method mmps --prior tools/demo/phantom_unet.h5 --samples 8 --sampler ddpm --steps 50 --cg-iterations 1 --seed 3 |
  row "MMPS, learned prior, 8 samples, DDPM 50, k = 1 (the demo's settings)"
solve --method mmps --prior tools/demo/phantom_unet.h5 --samples 8 --sampler ddpm --steps 50 --cg-iterations 3 --seed 3 |
  row "MMPS, learned prior, 8 samples, DDPM 50, k = 3"
