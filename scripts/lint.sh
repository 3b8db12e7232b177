#!/usr/bin/env bash
# The lint gate (scripts/test.sh runs it before building): the C++ must be formatted as
# .clang-format says, and every shell script must be clean under shellcheck (sourced files
# followed). Prints each finding; exits 1 when there is any.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

rc=0
mapfile -t cpp < <(git ls-files '*.cpp' '*.hpp' '*.h')
if ! clang-format --dry-run --Werror "${cpp[@]}"; then
  echo "lint: clang-format: the files above differ from .clang-format (fix: clang-format -i FILE)"
  rc=1
fi
mapfile -t shells < <(git ls-files '*.sh' .ci/run)
# A few scripts a process, one process a core: each follows its sourced files again, so one
# process for all took over a minute.
if ! printf '%s\0' "${shells[@]}" | xargs -0 -n 6 -P "$(nproc)" shellcheck -x; then
  echo "lint: shellcheck: findings above"
  rc=1
fi
((rc != 0)) || echo "lint: clang-format (${#cpp[@]} files) and shellcheck (${#shells[@]} scripts) clean"
exit "$rc"
