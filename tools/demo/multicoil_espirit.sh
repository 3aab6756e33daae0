#!/usr/bin/env bash
# Multi-coil MRI with coil maps estimated from the data (tweedie coils, ESPIRiT) against the true maps.
# The demo's four held-out 64 x 64 phantoms (seed 7) rescaled to [0, 1] (--unit: a non-negative object,
# as MRI magnitudes are), 8 synthetic coils, noise sigma 0.01; Cartesian R = 3 (24 centre columns) and
# radial R = 4 (26 golden-angle spokes); CG-SENSE (real image, Tikhonov lambda 0.01, 100 CG iterations)
# with either set of maps. Then the time of tweedie coils on a fastMRI-sized problem (320 x 320,
# 15 coils). Prints markdown tables. Run from the project root after building:
#
#     tools/demo/multicoil_espirit.sh [WORK_DIR]
set -euo pipefail
tweedie=${TWEEDIE:-build/cpu/tools/tweedie}
work=${1:-build/multicoil-espirit}
threads=${THREADS:-2}
mkdir -p "$work"
"$tweedie" phantoms --count 4 --size 64 --seed 7 --unit --coils 8 -o "$work/truth.h5" > /dev/null

psnr() {
  python3 -c '
import json, sys
p = json.loads(sys.stdin.read().strip().splitlines()[-1])["psnr"]
print("%s (mean %.2f)" % (", ".join("%.2f" % v for v in p), sum(p) / len(p)))'
}
field() { python3 -c "import json, sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])[\"$1\"])"; }
cg() { "$tweedie" solve --y "$1" --truth "$work/truth.h5" --method map-tikhonov --lambda 0.01 --iterations 100 --threads "$threads" --quiet -o "$work/cg.h5"; }

echo "| sampling | ESPIRiT | CG-SENSE, true maps, PSNR dB | CG-SENSE, ESPIRiT maps, PSNR dB |"
echo "| --- | --- | --- | --- |"
for case in "Cartesian R = 3:mri:R=3:centre=24:24" "radial R = 4:mri:traj=radial:R=4:20"; do
  name=${case%%:*}
  rest=${case#*:}
  operator=${rest%:*}
  calibration=${rest##*:}
  "$tweedie" simulate --operator "$operator:coils=$work/truth.h5#maps" --noise gaussian:sigma=0.01 --x "$work/truth.h5" --seed 1 \
    -o "$work/y.h5" > /dev/null
  report=$("$tweedie" coils --kspace "$work/y.h5" --calibration "$calibration" --threads "$threads" -o "$work/maps.h5" --observation "$work/ye.h5")
  kernels=$(echo "$report" | field kernels)
  seconds=$(echo "$report" | field seconds)
  echo "| $name | $calibration x $calibration centre, $kernels kernels, $(printf '%.2f' "$seconds") s | $(cg "$work/y.h5" | psnr) | $(cg "$work/ye.h5" | psnr) |"
done

echo
echo "| tweedie coils on 320 x 320, 15 coils, Cartesian R = 4 (24 x 24 centre) | seconds |"
echo "| --- | --- |"
"$tweedie" phantoms --count 2 --size 320 --seed 7 --unit --coils 15 -o "$work/big.h5" > /dev/null
"$tweedie" simulate --operator "mri:R=4:centre=24:coils=$work/big.h5#maps" --noise gaussian:sigma=0.01 --x "$work/big.h5" --seed 1 \
  -o "$work/ybig.h5" > /dev/null
for t in 1 "$threads"; do
  s=$("$tweedie" coils --kspace "$work/ybig.h5" --calibration 24 --threads "$t" -o "$work/mapsbig.h5" | field seconds)
  echo "| $t thread(s) | $(printf '%.2f' "$s") |"
done
