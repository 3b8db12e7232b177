# shellcheck shell=bash disable=SC2034  # VSNATD_* are read by the scripts that source this
# vsnatd's life for the demo, the end-to-end tests and the benchmarks (sourced, not run): start
# it, wait until it answers on its telemetry socket, stop it by PID. The functions below act on
# the current daemon, whose state is in the VSNATD_* variables; a shell that runs one daemon
# needs nothing more.
#
#   vsnatd_select NAME
#       Several daemons from one shell (a pair of directors): makes the daemon called NAME the
#       current one. The VSNATD_* variables of the daemon that was current are kept under its
#       name and NAME's are brought back (empty for a name not seen before). The first daemon is
#       called "" until a name is selected.
#   vsnatd_start VSNATD CONFIG LOG PREFIX [READY_S]
#       Starts `VSNATD -c CONFIG` in the background (output to LOG) and waits up to READY_S
#       seconds (default 30) until `vsnatctl --prefix PREFIX stats` answers: vsnatd answers only
#       once its workers and telemetry are up and /metrics is served (or, its address taken,
#       being retried: README.md, "Limits of /metrics"). vsnatctl is the one built beside
#       VSNATD. Sets VSNATD_PID and VSNATD_STARTTIME; with VSNATD_PIDFILE set, writes
#       "PID STARTTIME" there too (for a cleanup guard). Returns 0 when ready; 1 when the daemon
#       exited first (VSNATD_EXIT holds its status, VSNATD_PID is cleared); 2 when it is still
#       not answering at the deadline (it is left running: stop it with vsnatd_stop).
#   vsnatd_alive
#       The started daemon still runs (PID and start time match; a zombie counts as gone).
#   vsnatd_stop [TIMEOUT_S]
#       SIGTERM, then up to TIMEOUT_S seconds (default 15) for it to exit, then SIGKILL.
#       Returns its exit status (137 when it had to be killed, 0 when none was started);
#       VSNATD_STOP says what happened in words.
#   vsnatd_log_tail [LINES]
#       The last lines of the log, framed, for a failure report.

# shellcheck source=SCRIPTDIR/proc.sh
source "$(dirname "${BASH_SOURCE[0]}")/proc.sh"

VSNATD_PID="" VSNATD_STARTTIME="" VSNATD_LOG="" VSNATD_EXIT="" VSNATD_STOP=""
VSNATD_NAME=""
declare -gA VSNATD_SAVED=()   # "NAME/FIELD" -> value, for the daemons not current

vsnatd_select() {
  local name=$1 field var
  [[ $name != "$VSNATD_NAME" ]] || return 0
  for field in PID STARTTIME LOG EXIT STOP; do
    var=VSNATD_$field
    VSNATD_SAVED["$VSNATD_NAME/$field"]=${!var}
    printf -v "$var" '%s' "${VSNATD_SAVED["$name/$field"]:-}"
  done
  VSNATD_NAME=$name
}

vsnatd_alive() {
  [[ -n $VSNATD_PID ]] && proc_alive "$VSNATD_PID" "$VSNATD_STARTTIME"
}

vsnatd_start() {
  local vsnatd=$1 config=$2 prefix=$4 ready_s=${5:-30}
  local vsnatctl tries
  vsnatctl="$(dirname "$vsnatd")/vsnatctl"
  VSNATD_LOG=$3 VSNATD_EXIT=""
  "$vsnatd" -c "$config" </dev/null >"$VSNATD_LOG" 2>&1 &
  VSNATD_PID=$!
  VSNATD_STARTTIME=$(proc_starttime "$VSNATD_PID") || VSNATD_STARTTIME=""
  if [[ -n ${VSNATD_PIDFILE:-} ]]; then
    echo "$VSNATD_PID $VSNATD_STARTTIME" >"$VSNATD_PIDFILE"
  fi
  for ((tries = ready_s * 10; tries > 0; tries--)); do
    if ! vsnatd_alive; then
      VSNATD_EXIT=0
      wait "$VSNATD_PID" || VSNATD_EXIT=$?
      VSNATD_PID=""
      return 1
    fi
    if timeout 5 "$vsnatctl" --prefix "$prefix" stats >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  return 2
}

vsnatd_stop() {
  local limit=${1:-15} pid=$VSNATD_PID i rc=0
  [[ -n $pid ]] || return 0
  if ! vsnatd_alive; then
    wait "$pid" || rc=$?
    VSNATD_PID=""
    VSNATD_STOP="vsnatd (pid $pid) had already exited, status $rc"
    return "$rc"
  fi
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < limit * 10; i++)); do
    vsnatd_alive || break
    sleep 0.1
  done
  if vsnatd_alive; then
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    VSNATD_PID=""
    VSNATD_STOP="vsnatd (pid $pid) ignored SIGTERM for $limit s; killed"
    return 137
  fi
  wait "$pid" || rc=$?
  VSNATD_PID=""
  VSNATD_STOP="vsnatd (pid $pid) stopped, exit status $rc"
  return "$rc"
}

vsnatd_log_tail() {
  [[ -n $VSNATD_LOG && -f $VSNATD_LOG ]] || return 0
  echo "---- last lines of $VSNATD_LOG ----"
  tail -n "${1:-25}" "$VSNATD_LOG"
  echo "----"
}
