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
#   3. unless the test wrote LOG_DIR/cleaned, stops the keepalived recorded in
#      LOG_DIR/keepalived-*.pid (a pair of directors: tests/e2e/pair.sh), then the vsnatd
#      recorded in LOG_DIR/vsnatd.pid (or, for a pair, LOG_DIR/vsnatd-*.pid): lines of "PID
#      STARTTIME", so a reused PID is never hit; SIGTERM, 10 s, SIGKILL. Then it runs
#      `lab.sh down` and releases the lock by exiting.
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
# keepalived first: it gives its addresses up while its mirrors are still there.
for record in "$LOG_DIR"/keepalived-*.pid "$LOG_DIR"/vsnatd.pid "$LOG_DIR"/vsnatd-*.pid; do
  [[ -s $record ]] || continue
  if stopped=$(proc_stop_recorded "$record" 10); then
    echo "guard: stopped $(basename "$record" .pid) (pid $stopped)"
  fi
done
"$LAB_SH" down
