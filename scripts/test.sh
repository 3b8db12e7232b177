#!/usr/bin/env bash
# Sets everything up and runs every test: installs the Debian packages, runs the lint gate
# (clang-format, shellcheck: scripts/lint.sh), builds with warnings as errors, runs the unit,
# dataplane and end-to-end suites (and, with CI=true, the sanitizer suites and the fuzzers).
# End-to-end tests need root (they build network namespaces); without it they report
# "skipped", loudly.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/lint.sh

# In CI the sanitizer tree (scripts/asan-build.sh) compiles while the gcc tree builds and the
# suites run, in the CPU time they leave idle; the end-to-end suite leaves about a third of two
# cores idle, most of what that build needs. It runs in a session of its own (one process group
# to kill on an early exit), whose autogroup gets nice 19: with autogroups on (Debian's
# default), the kernel shares the CPU between sessions first, so SCHED_IDLE alone would still
# give that session half of a contended core. SCHED_IDLE covers kernels without autogroups.
asan_build_pid=""
if [ "${CI:-}" = true ]; then
  asan_build_log=$(mktemp)
  setsid bash -c 'echo 19 >/proc/self/autogroup 2>/dev/null; exec chrt --idle 0 "$@"' \
    asan-build bash scripts/asan-build.sh >"$asan_build_log" 2>&1 &
  asan_build_pid=$!
  trap 'kill -- -"$asan_build_pid" 2>/dev/null || true' EXIT
fi

build=${VSNAT_BUILD_DIR:-build}
if [ -f "$build/build.ninja" ]; then
  meson configure "$build" -Dwerror=true >/dev/null
else
  meson setup "$build" -Dwerror=true
fi
ninja -C "$build"
meson test -C "$build" --print-errorlogs --num-processes 2 "$@"

# In CI also the hostile-input checks (issue 8): the unit and dataplane suites under ASan and
# UBSan, then each fuzzer for 35 s from its seed corpus, one a core (the whole CI stays under
# 30 minutes).
# Locally: scripts/sanitize.sh and scripts/fuzz.sh.
if [ "${CI:-}" = true ]; then
  if ! wait "$asan_build_pid"; then
    tail -n 40 "$asan_build_log"
    echo "test.sh: the sanitizer build failed (above)"
    exit 1
  fi
  trap - EXIT
  rm -f "$asan_build_log"
  bash scripts/sanitize.sh
  bash scripts/fuzz.sh --time "${VSNAT_FUZZ_SECONDS:-35}"
fi
