#!/usr/bin/env bash
# Reverse mean propagation against MMPS's sample mean on the demo's problem: 4x random-column MRI
# (noise sigma 0.01) of four held-out 64 x 64 procedural phantoms (seed 7, which no prior saw), with the
# learned prior tools/demo/phantom_unet.h5. Prints a markdown table: PSNR and SSIM of each posterior
# mean, wall seconds, and network calls. About 7 minutes at 2 threads. Run from the project root after
# building:
#
#     tools/demo/rmp_phantoms.sh [WORK_DIR]
set -euo pipefail
tweedie=${TWEEDIE:-build/cpu/tools/tweedie}
prior=tools/demo/phantom_unet.h5
work=${1:-build/rmp-phantoms}
threads=${THREADS:-2}
mkdir -p "$work"
"$tweedie" phantoms --count 4 --size 64 --seed 7 -o "$work/truth.h5" > /dev/null
"$tweedie" simulate --operator mri:R=4:pattern=random:seed=1 --noise gaussian:sigma=0.01 --x "$work/truth.h5" --seed 1 \
  -o "$work/y.h5" > /dev/null

echo "| method | PSNR dB (4 phantoms) | mean PSNR | mean SSIM | seconds | forward / JVP calls |"
echo "| --- | --- | --- | --- | --- | --- |"
run() {
  local name=$1
  shift
  "$tweedie" solve --prior "$prior" --y "$work/y.h5" --truth "$work/truth.h5" --threads "$threads" --quiet -o "$work/out.h5" "$@" |
    tail -n 1 | NAME="$name" python3 -c '
import json, os, sys
m = json.loads(sys.stdin.read())
p, s = m["psnr"], m["ssim"]
print("| %s | %s | %.2f | %.3f | %.1f | %d / %d |" % (os.environ["NAME"], ", ".join("%.2f" % v for v in p), sum(p) / len(p),
      sum(s) / len(s), m["seconds"], m["network"]["forward"], m["network"]["jvp"]))'
}
run "MMPS, 16 samples, DDPM 50, k = 1 (the demo's settings)" --method mmps --samples 16 --sampler ddpm --steps 50 --cg-iterations 1 --seed 3
run "MMPS sigma_t, 16 samples, DDPM 50, k = 5" --method mmps --covariance sigma_t --samples 16 --sampler ddpm --steps 50 --seed 3
run "MMPS, 4 samples, DDPM 200, k = 3" --method mmps --samples 4 --sampler ddpm --steps 200 --cg-iterations 3 --seed 3
run "RMP VP, T = 50, T_in = 1" --method rmp --steps 50
run "RMP VP, T = 400, T_in = 1 (the paper's)" --method rmp --steps 400
run "RMP VE, T = 10, T_in = 3" --method rmp --process ve --steps 10 --inner 3
run "RMP VE, T = 30, T_in = 20 (the paper's)" --method rmp --process ve
run "RMP VP, T = 50, Tweedie covariance" --method rmp --steps 50 --covariance tweedie --cg-iterations 1
