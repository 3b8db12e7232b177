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

# proc_stop_recorded FILE [TIMEOUT_S]: stops the processes recorded in FILE, one "PID STARTTIME"
# a line, each only while it is still that process: SIGTERM to the first (a parent that stops
# its children), up to TIMEOUT_S seconds (default 10) for all of them to end, then SIGKILL to
# what is left. Prints the PIDs it signalled; fails when none of them was running.
proc_stop_recorded() {
  local file=$1 limit=${2:-10} pid st pids=() starts=() i k alive
  [[ -s $file ]] || return 1
  while read -r pid st; do
    [[ $pid =~ ^[0-9]+$ && -n $st ]] || continue
    if proc_alive "$pid" "$st"; then pids+=("$pid"); starts+=("$st"); fi
  done <"$file"
  ((${#pids[@]} > 0)) || return 1
  kill -TERM "${pids[0]}" 2>/dev/null || true
  for ((i = 0; i < limit * 10; i++)); do
    alive=0
    for k in "${!pids[@]}"; do proc_alive "${pids[k]}" "${starts[k]}" && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for k in "${!pids[@]}"; do
    proc_alive "${pids[k]}" "${starts[k]}" && kill -KILL "${pids[k]}" 2>/dev/null
  done
  echo "${pids[*]}"
}
