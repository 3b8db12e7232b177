#!/usr/bin/env bash
# The unit and dataplane suites under AddressSanitizer and UndefinedBehaviorSanitizer, built by
# scripts/asan-build.sh, and each fuzz target over its committed corpus once (suite fuzz). Any
# report aborts its test, so the run fails. Extra arguments go to `meson test` (e.g. a test name).
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
bash scripts/asan-build.sh

# UBSan cannot go on past a report (-fno-sanitize-recover=all); ASan aborts so a core or a
# debugger sees the report's stack.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
meson test -C "${VSNAT_ASAN_BUILD_DIR:-build-asan}" --print-errorlogs --num-processes 2 \
  --suite unit --suite dp --suite fuzz "$@"
