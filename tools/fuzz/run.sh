#!/usr/bin/env bash
# Fuzzes tweedie's file and spec parsers with libFuzzer, one target after another, then merges what
# each run found into the committed corpus (tools/fuzz/corpus/<target>) and records the run in
# tools/fuzz/REPORT.md. Usage:
#
#   tools/fuzz/run.sh [MINUTES] [TARGET...]     MINUTES per target (default 10); default every target
#
# Needs clang (the fuzz preset); builds with -j2 and runs one fuzzer process at a time, so it shares a
# small machine politely. Work corpora and findings stay under build/fuzz/work/<target>/.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
all_targets=(pickle zip numpy safetensors torch_checkpoint spec hdf5)
minutes=${1:-10}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")

# The longest input worth mutating: real headers and small archives fit well inside these.
max_len() {
  case "$1" in
    spec) echo 4096 ;;            # the harness refuses longer specs
    pickle|safetensors) echo 8192 ;;
    hdf5) echo 65536 ;;           # the model, prior and observation seeds are 7 to 39 KB
    *) echo 16384 ;;
  esac
}

cd "$root"
cmake --preset fuzz >/dev/null
cmake --build build/fuzz -j2 --target "${targets[@]/#/fuzz_}"

report=tools/fuzz/REPORT.md
if [ ! -f "$report" ]; then
  cat > "$report" <<'HEAD'
# Fuzzing runs

Written by `tools/fuzz/run.sh`, one row per target and run; README.md says how to read it.

| date | commit | target | minutes | executions | exec/s | cov | ft | corpus files | corpus bytes | findings |
| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |
HEAD
fi
commit=$(git rev-parse --short HEAD 2>/dev/null || echo "?")
[ -z "$(git status --porcelain -- io tools/fuzz 2>/dev/null)" ] || commit="$commit+"

for t in "${targets[@]}"; do
  bin=$root/build/fuzz/tools/fuzz/fuzz_$t
  work=$root/build/fuzz/work/$t
  corpus=$root/tools/fuzz/corpus/$t
  mkdir -p "$work/corpus" "$work/findings" "$corpus"
  dict=()
  [ -f "tools/fuzz/dict/$t.dict" ] && dict=(-dict="$root/tools/fuzz/dict/$t.dict")
  before=$(ls "$work/findings" | wc -l)
  echo "== $t: $minutes min"
  # New inputs go to the first folder (the work corpus); the committed one is only read. Run from the
  # work folder so that specs naming relative files see nothing of the repository.
  set +e
  # hdf5: a file that stalls libhdf5 costs the reader's 0.5 s step limit, so allow 2 s per input.
  timeout=1
  [ "$t" = hdf5 ] && timeout=2
  (cd "$work" && "$bin" "$work/corpus" "$corpus" -max_total_time=$((minutes * 60)) -timeout=$timeout -rss_limit_mb=2048 \
     -max_len="$(max_len "$t")" "${dict[@]}" -print_final_stats=1 -artifact_prefix="$work/findings/" > "$work/log" 2>&1)
  rc=$?
  set -e
  # The committed corpus becomes the smallest set of inputs, old and new, with all their coverage;
  # reproducers of past findings (finding-*) stay whatever coverage they add.
  rm -rf "$work/min" && mkdir -p "$work/min"
  find "$corpus" -maxdepth 1 -name 'finding-*' -exec cp {} "$work/min/" \;
  if "$bin" -merge=1 "$work/min" "$corpus" "$work/corpus" > "$work/merge.log" 2>&1; then
    find "$corpus" -maxdepth 1 -type f -delete
    cp "$work/min"/* "$corpus/"
  else
    echo "merge of $t failed: see $work/merge.log"
  fi

  stat() { sed -n "s/^stat::$1: *//p" "$work/log" | tail -1; }
  execs=$(stat number_of_executed_units)
  rate=$(stat average_exec_per_sec)
  last=$(grep -E '#[0-9]+.*cov: ' "$work/log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<< "$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<< "$last")
  files=$(find "$corpus" -type f | wc -l)
  bytes=$(find "$corpus" -type f -printf '%s\n' | awk '{s += $1} END {print s + 0}')
  found=$(ls -t "$work/findings" | head -n $(( $(ls "$work/findings" | wc -l) - before )) | tr '\n' ' ')
  [ $rc -eq 0 ] || [ -n "$found" ] || found="fuzzer exited $rc (see $work/log)"
  [ -n "$found" ] || found="none"
  line="| $(date -u +%Y-%m-%d) | $commit | $t | $minutes | ${execs:-?} | ${rate:-?} | ${cov:-?} | ${ft:-?} | $files | $bytes | ${found% } |"
  echo "$line" | tee -a "$report"
done
