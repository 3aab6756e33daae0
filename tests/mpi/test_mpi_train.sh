#!/usr/bin/env bash
# `mpirun -n 2 tweedie train`: the two ranks split every batch of 5 (3 and 2 items) and sum their
# gradients. Against one process with the same global batch, the logged loss and gradient norm of every
# step agree to float summation order, and so do the weights. Two-rank runs are deterministic: a run
# resumed on two ranks from the state file of step 3 ends bitwise where the straight run ends. Rank 0
# alone writes the log, the state, the model and the summary line.
# With `cuda` (label gpu; exit 77, skipped, without a device), both runs are on cuda:0: the two ranks
# share the one GPU and sum through host memory (NCCL wants a GPU per rank), and cuDNN may pick other
# algorithms for the smaller batches, so the tolerances are wider and only the comparison runs.
#   test_mpi_train.sh TWEEDIE MPIEXEC [cpu|cuda]
set -euo pipefail
tweedie=$1 mpiexec=$2 device=${3:-cpu}
if [ "$device" = cuda ] && ! "$tweedie" info | grep -q '^device *cuda:0'; then
  echo "test_mpi_train: no CUDA device; skipped"
  exit 77
fi
source "$(dirname "$0")/common.sh"
tol_loss=1e-6 tol_norm=1e-5 tol_weights=1e-5
[ "$device" = cuda ] && tol_loss=1e-5 tol_norm=1e-4 tol_weights=1e-4

"$tweedie" phantoms -o "$tmp/ph.h5" --count 40 --size 16 --seed 1 >/dev/null
adm=(--arch adm --image_size 16 --in_channels 1 --num_channels 64 --num_res_blocks 1 --channel_mult 1,2 --attention_resolutions 2
     --num_heads 2 --param eps --schedule linear)
# 64 channels: GroupNorm's 32 groups hold 2 or more channels each. With one channel per group, the
# biases just before a norm get a gradient that is exactly zero but for rounding, which Adam turns into
# steps of size lr in a direction set by the rounding alone, in one process and on two ranks alike.
train=(train --data "$tmp/ph.h5" "${adm[@]}" --batch 5 --seed 3 --flip --lr 1e-3 --warmup 2 --clip 1 --weights raw --device "$device" --quiet)
one "${train[@]}" --steps 6 --log "$tmp/one.jsonl" -o "$tmp/one.h5" >"$tmp/one.json"
ranks2 "${train[@]}" --steps 6 --log "$tmp/two.jsonl" -o "$tmp/two.h5" >"$tmp/two.json"

# KEY of every step line of LOG, one per line.
column() { grep '"loss"' "$1" | grep -o "\"$2\":[^,}]*" | cut -d: -f2; }
# Each step's KEY in the two logs, relative difference below TOL.
agree() {
  local key=$1 tol=$2
  [ "$(column "$tmp/one.jsonl" "$key" | wc -l)" = 6 ] || fail "the one-process log has not 6 steps"
  [ "$(column "$tmp/two.jsonl" "$key" | wc -l)" = 6 ] || fail "the two-rank log has not 6 step lines (rank 0 alone writes it)"
  paste <(column "$tmp/one.jsonl" "$key") <(column "$tmp/two.jsonl" "$key") |
    awk -v key="$key" -v tol="$tol" '{ d = ($1 - $2) / $1; if (d < 0) d = -d; if (d > worst) worst = d; if (d > tol) bad = bad " step " NR ": " $1 " vs " $2 }
      END { printf "test_mpi_train: %s, largest relative difference %.2g\n", key, worst; if (bad != "") { print key " differs:" bad > "/dev/stderr"; exit 1 } }' ||
    fail "$key of one process and two ranks differ"
}
agree loss $tol_loss
agree grad_norm $tol_norm
# The weights after 6 steps of lr 1e-3: one process and two ranks within 1e-5 (cuda: 1e-4).
h5diff -d $tol_weights "$tmp/one.h5" "$tmp/two.h5" /parameters >"$tmp/h5diff.log" 2>&1 || { tail -5 "$tmp/h5diff.log"; fail "the weights of one process and two ranks differ"; }
[ "$(wc -l <"$tmp/two.json")" = 1 ] || fail "two ranks printed $(wc -l <"$tmp/two.json") summary lines; rank 0 alone prints"
grep -q '"ranks":2' "$tmp/two.json" || fail "the summary of the two-rank run does not say ranks 2"
if [ "$device" = cuda ]; then echo "test_mpi_train: train on 2 ranks sharing cuda:0 follows one process"; exit 0; fi

# Resumed on two ranks from step 3: bitwise the straight two-rank run (weights, EMA, moments).
ranks2 "${train[@]}" --steps 6 --checkpoint-every 3 -o "$tmp/full.h5" >/dev/null
ranks2 "${train[@]}" --steps 3 -o "$tmp/half.h5" >/dev/null
ranks2 train --resume "$tmp/half.h5.state.h5" --steps 6 --weights raw --device "$device" --quiet -o "$tmp/resumed.h5" >/dev/null
h5diff "$tmp/full.h5" "$tmp/resumed.h5" /parameters >"$tmp/h5diff.log" 2>&1 || { tail -5 "$tmp/h5diff.log"; fail "a resumed two-rank run differs from the straight one"; }
h5diff "$tmp/full.h5.state.h5" "$tmp/resumed.h5.state.h5" >"$tmp/h5diff.log" 2>&1 || { tail -5 "$tmp/h5diff.log"; fail "the state of a resumed two-rank run differs"; }
h5diff "$tmp/two.h5" "$tmp/full.h5" /parameters >/dev/null 2>&1 || fail "two two-rank runs of the same training differ"

# SIGTERM to one rank alone: both stop after the same step, rank 0 writes the state and says so, the
# job ends with 128 + 15, and the state resumes on two ranks.
"$tweedie" phantoms -o "$tmp/curve.h5" --count 50 --curve 2 >/dev/null
mlp=(train --data "$tmp/curve.h5" --arch mlp --dim 2 --hidden 16 --depth 1 --emb_dim 8 --param eps --schedule vp --batch 4 --quiet)
ranks2 "${mlp[@]}" --steps 1000000 --log "$tmp/sig.jsonl" -o "$tmp/sig.h5" >/dev/null 2>"$tmp/sig.err" &
job=$!
for _ in $(seq 300); do [ "$(cat "$tmp/sig.jsonl" 2>/dev/null | wc -l)" -ge 3 ] && break; sleep 0.1; done
rank=$(pgrep -f -- "--log $tmp/sig.jsonl" | grep -vx "$job" | tail -1)
[ -n "$rank" ] || fail "no rank of the training job to signal"
kill -TERM "$rank"
status=0; wait "$job" || status=$?
[ "$status" = 143 ] || { cat "$tmp/sig.err"; fail "a job with a terminated rank ended with $status, not 143"; }
grep -q "terminated after step [0-9]* of 1000000; the state is in $tmp/sig.h5.state.h5" "$tmp/sig.err" || { cat "$tmp/sig.err"; fail "rank 0 did not report the stop"; }
stopped=$(grep -o "terminated after step [0-9]*" "$tmp/sig.err" | grep -o "[0-9]*$")
ranks2 train --resume "$tmp/sig.h5.state.h5" --steps $((stopped + 3)) --quiet -o "$tmp/sig2.h5" >"$tmp/sig2.json" || fail "the stopped job's state does not resume"
grep -q "\"steps\":$((stopped + 3))" "$tmp/sig2.json" || fail "the resumed job did not end at step $((stopped + 3))"

# A batch smaller than the job is refused, naming the flag; nothing is written.
if ranks2 train --data "$tmp/ph.h5" "${adm[@]}" --batch 1 --steps 2 --quiet -o "$tmp/b1.h5" >/dev/null 2>"$tmp/err.txt"; then fail "--batch 1 ran on two ranks"; fi
grep -q -- "--batch 1 split over 2 processes" "$tmp/err.txt" || { cat "$tmp/err.txt"; fail "--batch 1 was not refused by name"; }
ls "$tmp"/b1.h5* >/dev/null 2>&1 && fail "a refused training left files"
echo "test_mpi_train: train on 2 ranks follows one process to float summation order; resumes bitwise; stops together on a signal; refuses a batch smaller than the job"
