#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, with scripts/asan-build.sh) and runs each for a
# bounded time, starting from its committed seed corpus (tests/fuzz/corpus/TARGET, only read).
#
#   scripts/fuzz.sh [--time SECONDS] [--jobs N] [TARGET...]
#       default: 60 s each, every target, as many at once as there are cores
#
# What each run finds is kept in BUILD/fuzz/TARGET/: corpus/ (new inputs, reused by the next
# run) and crash-*, leak-*, timeout-* or oom-* files, which reproduce with
# `BUILD/tests/fuzz/fuzz_TARGET FILE`; once fixed, copy it into the committed corpus, where
# scripts/sanitize.sh replays it from then on. Prints executions per target; exits 1 if any
# target failed, after printing its crash file.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=60
parallel=$(nproc)
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --time) seconds=$2; shift 2 ;;
    --jobs) parallel=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) targets+=("$1"); shift ;;
  esac
done
if [ ${#targets[@]} -eq 0 ]; then
  for dir in tests/fuzz/corpus/*/; do
    targets+=("$(basename "$dir")")
  done
fi

bash scripts/install-deps.sh
build=${VSNAT_ASAN_BUILD_DIR:-build-asan}
bash scripts/asan-build.sh "${targets[@]/#/tests/fuzz/fuzz_}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
# Runs one target; its exit status goes to $out/last-run.status for the summary.
fuzz_target() {
  local target=$1 out="$build/fuzz/$1" status=0
  # The first corpus directory receives new inputs; the committed one after it is only read.
  "$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -timeout=25 -print_final_stats=1 \
    -artifact_prefix="$out/" "$out/corpus" "tests/fuzz/corpus/$target" >"$out/last-run.log" 2>&1 ||
    status=$?
  echo "$status" >"$out/last-run.status"
}

# Each fuzzer is one process on one core: run as many at once as there are cores.
for target in "${targets[@]}"; do
  out="$build/fuzz/$target"
  mkdir -p "$out/corpus"
  rm -f "$out/last-run.status"
  echo "fuzz: $target for ${seconds}s (log: $out/last-run.log)"
  while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do
    wait -n || true
  done
  fuzz_target "$target" &
done
wait

failed=0
summary=()
for target in "${targets[@]}"; do
  out="$build/fuzz/$target"
  log="$out/last-run.log"
  status=$(cat "$out/last-run.status" 2>/dev/null || echo "no status")
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  if [ "$status" != 0 ]; then
    failed=1
    artifact=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
    grep -E 'ERROR|SUMMARY|invariant|runtime error' "$log" | head -n 20 || true
    summary+=("$target: FAILED (exit $status) after ${execs:-?} executions; crash file: ${artifact:-none, see $log}")
  else
    summary+=("$target: ${execs:-?} executions in ${seconds}s, no crash")
  fi
done
printf 'fuzz: %s\n' "${summary[@]}"
exit "$failed"
