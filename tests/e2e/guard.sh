#!/usr/bin/env bash
# tests/e2e/guard.sh — cleans up after an end-to-end test that was killed (started by lib.sh).
#
# usage: guard.sh TEST_PID TEST_STARTTIME LOG_DIR LAB_SH
#
# meson ends a test that overruns its timeout with SIGTERM to the test's process group and
# SIGKILL 0.5 s later: too soon for the test's EXIT trap to stop vsnatd and take the lab down.
# lib.sh starts this guard in its own session (setsid), out of reach of that SIGKILL. The guard
#   1. takes the e2e lock (/run/lock/vsnat-e2e.lock) and writes LOG_DIR/guard.ready: the test
#      builds its lab only then, so one test's cleanup never races the next test's lab;
#   2. waits for the test's shell (TEST_PID, checked against its start time) to go;
#   3. unless the test wrote LOG_DIR/cleaned, stops the vsnatd recorded in LOG_DIR/vsnatd.pid
#      ("PID STARTTIME", so a reused PID is never hit: SIGTERM, 10 s, SIGKILL) and runs
#      `lab.sh down`; then releases the lock by exiting.
# A test that cleans up itself writes LOG_DIR/cleaned and ends the guard with SIGTERM.

set -uo pipefail

readonly TEST_PID=$1 TEST_ST=$2 LOG_DIR=$3 LAB_SH=$4
readonly LOCK=/run/lock/vsnat-e2e.lock

# shellcheck source=SCRIPTDIR/../../scripts/lab/proc.sh
source "$(dirname "${BASH_SOURCE[0]}")/../../scripts/lab/proc.sh"
alive() { proc_alive "$1" "$2"; }

exec 9>"$LOCK"
# Bounded: a previous guard finishes its cleanup within ~15 s.
flock -w 60 9 || { echo "guard: e2e lock still held after 60 s"; exit 1; }
echo ready >"$LOG_DIR/guard.ready"

while alive "$TEST_PID" "$TEST_ST"; do sleep 0.2; done
[[ -e $LOG_DIR/cleaned ]] && exit 0

echo "guard: test shell $TEST_PID ended without cleaning up; cleaning up"
if [[ -s $LOG_DIR/vsnatd.pid ]]; then
  read -r pid st <"$LOG_DIR/vsnatd.pid"
  if alive "$pid" "$st"; then
    kill -TERM "$pid"
    for ((i = 0; i < 100; i++)); do alive "$pid" "$st" || break; sleep 0.1; done
    if alive "$pid" "$st"; then kill -KILL "$pid"; fi
    echo "guard: stopped vsnatd $pid"
  fi
fi
"$LAB_SH" down
