# shellcheck shell=bash
# Process identity for the lab and the e2e tests (sourced, not run).
#
# A process is named by its PID and its start time (field 22 of /proc/PID/stat, clock ticks
# since boot), so a reused PID is never mistaken for it. A zombie counts as gone: daemons are
# reparented to PID 1, which on some machines reaps only every few seconds, and a zombie still
# answers kill -0. The comm field may contain spaces: read after its ')'.

# proc_starttime PID: prints the start time while PID runs; fails otherwise.
proc_starttime() {
  local stat rest fields
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  rest=${stat##*) }
  read -ra fields <<<"$rest"
  [[ ${fields[0]} != [ZX] ]] || return 1
  echo "${fields[19]}"
}

# proc_alive PID [STARTTIME]: PID runs (and, given STARTTIME, is still that process).
proc_alive() {
  local st
  st=$(proc_starttime "$1") || return 1
  [[ -z ${2:-} || $st == "$2" ]]
}
