# shellcheck shell=bash
# keepalived for the directors of the lab pair (scripts/lab.sh up --pair; README.md, "A pair of
# directors"), sourced, not run: start it in a director's kernel_netns, stop it by PID. One
# keepalived per director NAME (a, b), any number per shell.
#
#   keepalived_start NAME NETNS MIRROR_OUT MIRROR_IN STATE PRIORITY DIR [RECORD]
#       Writes DIR/keepalived.conf from keepalived.conf.in beside this file (advert_int
#       $KEEPALIVED_ADVERT_INT) and starts keepalived in network namespace NETNS
#       (`ip netns exec`): VRRP only, in the foreground of a background job (-n, so $! is
#       keepalived), its child not respawned (-R), logging to DIR/keepalived.log, its pid files
#       DIR/keepalived.pid, DIR/vrrp.pid and DIR/checkers.pid. NETNS must hold the mirrors
#       already: start keepalived once vsnatd answers (it makes them at start). Waits up to 5 s
#       for the VRRP process; returns 0 then, 1 when keepalived exited or made none (see the
#       log). Records both processes as "PID STARTTIME" lines, the parent first, in
#       KEEPALIVED_PROCS[NAME] and, given RECORD, in that file (for a cleanup guard).
#   keepalived_stop NAME [TIMEOUT_S]
#       SIGTERM to keepalived (it removes its addresses and stops its VRRP process), up to
#       TIMEOUT_S seconds (default 5), then SIGKILL to whatever of the two is left.
#   keepalived_kill NAME
#       SIGKILL to both processes at once, as a crash of the director would.
#   keepalived_pids NAME
#       The PIDs of NAME's processes that still run.

# shellcheck source=SCRIPTDIR/proc.sh
source "$(dirname "${BASH_SOURCE[0]}")/proc.sh"

KEEPALIVED_TEMPLATE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/keepalived.conf.in"
# The VRRP advertisement interval, seconds. keepalived 2.2.7 takes 0.01 to 255 with VRRPv3
# (whole seconds with v2). In the lab 0.01 failed over in 50-110 ms, but with both CPUs busy the
# backup now and then missed 3.4 intervals of adverts (they pass 3 threads of each vsnatd) and
# took over for a moment while the master lived; 0.02 (the backup waits 72 ms) failed over in
# about 100 ms and did not. The backup takes over after 3 intervals and its skew
# ((256 - priority) / 256 of one).
KEEPALIVED_ADVERT_INT=${KEEPALIVED_ADVERT_INT:-0.02}
declare -gA KEEPALIVED_PROCS=() KEEPALIVED_RECORD=()

keepalived_start() {
  local name=$1 netns=$2 out=$3 in=$4 state=$5 priority=$6 dir=$7 record=${8:-}
  local pid st vrrp="" i
  mkdir -p "$dir"
  rm -f -- "$dir/keepalived.pid" "$dir/vrrp.pid" "$dir/checkers.pid"
  sed -e "s|@NAME@|$name|g" -e "s|@STATE@|$state|g" -e "s|@PRIORITY@|$priority|g" \
    -e "s|@ADVERT_INT@|$KEEPALIVED_ADVERT_INT|g" -e "s|@OUT@|$out|g" -e "s|@IN@|$in|g" \
    "$KEEPALIVED_TEMPLATE" >"$dir/keepalived.conf"
  ip netns exec "$netns" keepalived --dont-fork --vrrp --dont-respawn --log-console \
    --log-detail --no-syslog --use-file "$dir/keepalived.conf" --pid "$dir/keepalived.pid" \
    --vrrp_pid "$dir/vrrp.pid" --checkers_pid "$dir/checkers.pid" </dev/null \
    >>"$dir/keepalived.log" 2>&1 &
  pid=$!
  st=$(proc_starttime "$pid") || st=""
  KEEPALIVED_PROCS[$name]="$pid $st"
  KEEPALIVED_RECORD[$name]=$record
  [[ -z $record ]] || echo "$pid $st" >"$record"
  for ((i = 0; i < 50; i++)); do
    proc_alive "$pid" "$st" || return 1
    if [[ -s $dir/vrrp.pid ]]; then
      vrrp=$(<"$dir/vrrp.pid")
      if [[ $vrrp =~ ^[0-9]+$ ]] && st=$(proc_starttime "$vrrp"); then
        KEEPALIVED_PROCS[$name]+=$'\n'"$vrrp $st"
        [[ -z $record ]] || echo "$vrrp $st" >>"$record"
        return 0
      fi
    fi
    sleep 0.1
  done
  return 1
}

keepalived_pids() {
  local pid st
  while read -r pid st; do
    [[ -n $pid ]] && proc_alive "$pid" "$st" && echo "$pid"
  done <<<"${KEEPALIVED_PROCS[$1]:-}"
  return 0
}

# Reaps the parent (a child of this shell) once it is gone, and forgets NAME's processes.
keepalived_forget() {
  local pid
  read -r pid _ <<<"${KEEPALIVED_PROCS[$1]:-}"
  [[ -z $pid ]] || wait "$pid" 2>/dev/null || true
  KEEPALIVED_PROCS[$1]=""
  [[ -z ${KEEPALIVED_RECORD[$1]:-} ]] || rm -f -- "${KEEPALIVED_RECORD[$1]}"
}

keepalived_stop() {
  local name=$1 limit=${2:-5} tmp
  [[ -n ${KEEPALIVED_PROCS[$name]:-} ]] || return 0
  tmp=$(mktemp)
  echo "${KEEPALIVED_PROCS[$name]}" >"$tmp"
  proc_stop_recorded "$tmp" "$limit" >/dev/null || true
  rm -f -- "$tmp"
  keepalived_forget "$name"
}

keepalived_kill() {
  local pids
  mapfile -t pids < <(keepalived_pids "$1")
  ((${#pids[@]} == 0)) || kill -KILL "${pids[@]}" 2>/dev/null || true
  keepalived_forget "$1"
}
