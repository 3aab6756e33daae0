#!/usr/bin/env bash
# `mpirun -n 2 tweedie solve | sample` against one process with the same batch size: the datasets of
# the output files must be bitwise equal (h5diff with no tolerance). Row counts are odd, so the two
# ranks' shares differ; --batch 0 on two ranks is one batch per rank. Then the ways a job can fail:
# an output rank 0 cannot create, a flag that cannot be split; each must end every rank quickly with a
# message that names it, and leave no file; and a command that runs as one process is refused.
#   test_mpi.sh TWEEDIE MPIEXEC DEMO_DIR
set -euo pipefail
tweedie=$1 mpiexec=$2 demo=$3
source "$(dirname "$0")/common.sh"
same() {  # FILE_A FILE_B DATASET...
  local a=$1 b=$2; shift 2
  for d in "$@"; do h5diff "$a" "$b" "$d" >"$tmp/h5diff.log" 2>&1 || { cat "$tmp/h5diff.log"; fail "$d of $a and $b differ"; }; done
}

net=$demo/phantom_unet.h5
"$tweedie" sample --prior "$demo/phantom_prior.h5" --process vp --samples 3 --steps 20 -o "$tmp/x.h5" --quiet >/dev/null
"$tweedie" simulate --x "$tmp/x.h5:samples" --operator mri:R=4:seed=1 --noise gaussian:sigma=0.05 -o "$tmp/y.h5" >/dev/null

# MMPS through the network's JVP: 3 observations x 1 sample, shares of 2 and 1 rows.
solve=(solve --prior "$net" --y "$tmp/y.h5" --method mmps --sampler ddpm --steps 8 --tweedie-max-noise 1 --seed 7 --quiet)
one "${solve[@]}" --batch 2 -o "$tmp/mmps1.h5" >"$tmp/mmps1.json"
ranks2 "${solve[@]}" --batch 0 -o "$tmp/mmps2.h5" >"$tmp/mmps2.json"
same "$tmp/mmps1.h5" "$tmp/mmps2.h5" samples mean std
[ "$(wc -l <"$tmp/mmps2.json")" = 1 ] || fail "two ranks printed $(wc -l <"$tmp/mmps2.json") metric lines; rank 0 alone prints"
grep -q '"ranks":2' "$tmp/mmps2.json" || fail "the metrics of the two-rank run do not say ranks 2"
# The network counters are totals over ranks.
c1=$(grep -o '"network":{[^}]*}' "$tmp/mmps1.json") c2=$(grep -o '"network":{[^}]*}' "$tmp/mmps2.json")
[ "$c1" = "$c2" ] || fail "network counters: one process $c1, two ranks $c2"

# DPS through the network's VJP: 3 observations x 5 samples, batches of 2 (rows 0-7 and 8-14).
"$tweedie" simulate --x "$tmp/x.h5:samples" --operator sr:2 --noise gaussian:sigma=0.05 -o "$tmp/y_sr.h5" >/dev/null
dps=(solve --prior "$net" --y "$tmp/y_sr.h5" --method dps --samples 5 --sampler ddpm --steps 8 --seed 3 --quiet)
one "${dps[@]}" --batch 2 -o "$tmp/dps1.h5" >/dev/null
ranks2 "${dps[@]}" --batch 2 -o "$tmp/dps2.h5" >/dev/null
same "$tmp/dps1.h5" "$tmp/dps2.h5" samples mean std

# Unconditional samples: 5 in batches of 2 (rows 0-3 and 4).
sample=(sample --prior "$net" --samples 5 --sampler ddpm --steps 8 --seed 11 --quiet)
one "${sample[@]}" --batch 2 -o "$tmp/s1.h5" >/dev/null
ranks2 "${sample[@]}" --batch 2 -o "$tmp/s2.h5" >/dev/null
same "$tmp/s1.h5" "$tmp/s2.h5" samples

# Rank 0 cannot create the output: the job ends (rank 1 does not wait forever), names the path, no file.
if ranks2 "${sample[@]}" -o "$tmp/missing/s.h5" >/dev/null 2>"$tmp/err.txt"; then fail "a job whose output cannot be created succeeded"; fi
grep -q "$tmp/missing/s.h5" "$tmp/err.txt" || { cat "$tmp/err.txt"; fail "the error does not name the output"; }
[ ! -e "$tmp/missing" ] || fail "a failed job left $tmp/missing"
# What cannot be split over ranks is refused up front.
if ranks2 "${sample[@]}" --checkpoint "$tmp/ck" -o "$tmp/s3.h5" >/dev/null 2>"$tmp/err.txt"; then fail "--checkpoint ran on two ranks"; fi
grep -q -- "--checkpoint: not with several MPI ranks" "$tmp/err.txt" || { cat "$tmp/err.txt"; fail "--checkpoint was not refused by name"; }
ls "$tmp"/s3.h5* >/dev/null 2>&1 && fail "a refused job left its output"
# Commands that do not split over ranks refuse a job of several, rather than all write the same file.
if ranks2 phantoms -o "$tmp/ph.h5" --count 4 --size 8 >/dev/null 2>"$tmp/err.txt"; then fail "phantoms ran on two ranks"; fi
grep -q "tweedie phantoms runs as one process (this job has 2 ranks)" "$tmp/err.txt" || { cat "$tmp/err.txt"; fail "phantoms was not refused by name"; }
[ ! -e "$tmp/ph.h5" ] || fail "a refused phantoms job wrote its output"
echo "test_mpi: solve (mmps, dps) and sample on 2 ranks equal one process bitwise; failures end the job"
