# shellcheck shell=bash
# tests/e2e/pair.sh — a pair of directors for the end-to-end tests (sourced after lib.sh; README.md,
# "A pair of directors"). Director A runs vsnatd on configs/pair-a-1w.yaml and keepalived as
# MASTER (priority 150) in its kernel_netns vsnat-kernel-a; director B the same with
# pair-b-1w.yaml, BACKUP (100), in vsnat-kernel-b; the lab is `scripts/lab.sh up --pair`.
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   source "$E2E_DIR/pair.sh"
#   e2e_require_root
#   pair_start              # lab, hugepages, both vsnatd, both keepalived; A master, B backup
#   pair_kill a             # kill -9 of director A: its vsnatd and its keepalived at once
#   pair_wait_master b MS   # until B holds the VIP and the gateway and A holds neither
#   pair_restart a          # A again: vsnatd, then keepalived
#   pair_restart_vsnatd a   # A's vsnatd only (pair_keepalived_start a later)
#   pair_counter a NAME     # a counter of A: a worker's, summed, or the sync thread's
#   pair_end                # both daemons alive; the summary
# The EXIT trap stops both keepalived, then both vsnatd (SIGTERM; each that the test did not kill
# must exit 0 within 15 s), then runs `lab.sh down`. When meson kills the test, guard.sh does it
# from the records in the log directory (keepalived-NAME.pid, vsnatd-NAME.pid).
#
# Environment: VSNATD as for lib.sh; KEEPALIVED_ADVERT_INT (scripts/lab/keepalived.sh).

# shellcheck source=SCRIPTDIR/../../scripts/lab/keepalived.sh
source "$REPO_DIR/scripts/lab/keepalived.sh"

VSNATCTL="$(dirname "$VSNATD")/vsnatctl"
readonly VSNATCTL
readonly PAIR_VIP_CIDR=198.18.0.100/32 PAIR_GATEWAY_CIDR=198.19.0.1/24
declare -A PAIR_CONFIG=([a]="$E2E_DIR/configs/pair-a-1w.yaml" [b]="$E2E_DIR/configs/pair-b-1w.yaml")
declare -A PAIR_PREFIX=([a]=vsnat-e2e-a [b]=vsnat-e2e-b)
declare -A PAIR_NETNS=([a]=vsnat-kernel-a [b]=vsnat-kernel-b)
declare -A PAIR_MIRROR_OUT=([a]=vsk-a-out [b]=vsk-b-out) PAIR_MIRROR_IN=([a]=vsk-a-in [b]=vsk-b-in)
declare -A PAIR_STATE=([a]=MASTER [b]=BACKUP) PAIR_PRIORITY=([a]=150 [b]=100)
PAIR_KILLED=()

now_ms() { echo $(($(date +%s%N) / 1000000)); }
pair_other() { if [[ $1 == a ]]; then echo b; else echo a; fi; }
pair_keepalived_dir() { echo "${VSNAT_LAB_DIR:-/run/vsnat-lab}/keepalived-$1"; }
pair_keepalived_log() { echo "$(pair_keepalived_dir "$1")/keepalived.log"; }

# `vsnatctl stats --json` of director $1: counter $2, a worker counter summed over the workers
# or one of the sync thread's.
pair_counter() {
  "$VSNATCTL" --prefix "${PAIR_PREFIX[$1]}" stats --json | "$PY" -c '
import json, sys
s, key = json.load(sys.stdin), sys.argv[1]
v = s["sync"][key] if key in s.get("sync", {}) else s[key]
print(sum(v) if isinstance(v, list) else v)' "$2"
}

# Director $1's kernel mirrors hold the VIP and the real servers' gateway (both: the sync group
# moves them together).
pair_holds() {
  local ns=${PAIR_NETNS[$1]} out in
  out=$(ip -n "$ns" -o -4 addr show dev "${PAIR_MIRROR_OUT[$1]}" 2>/dev/null) || return 1
  in=$(ip -n "$ns" -o -4 addr show dev "${PAIR_MIRROR_IN[$1]}" 2>/dev/null) || return 1
  [[ $out == *" inet $PAIR_VIP_CIDR "* && $in == *" inet $PAIR_GATEWAY_CIDR "* ]]
}

# Director $1's mirrors hold neither address (or are gone).
pair_holds_none() {
  local ns=${PAIR_NETNS[$1]} dev addrs
  for dev in "${PAIR_MIRROR_OUT[$1]}" "${PAIR_MIRROR_IN[$1]}"; do
    addrs=$(ip -n "$ns" -o -4 addr show dev "$dev" 2>/dev/null) || continue
    [[ $addrs != *" inet $PAIR_VIP_CIDR "* && $addrs != *" inet $PAIR_GATEWAY_CIDR "* ]] || return 1
  done
}

# pair_wait_master NAME LIMIT_MS: until NAME holds both addresses and the other director
# neither; prints the milliseconds it took; fails at LIMIT_MS.
pair_wait_master() {
  local name=$1 limit=$2 other t0
  other=$(pair_other "$name")
  t0=$(now_ms)
  while (($(now_ms) - t0 < limit)); do
    if pair_holds "$name" && pair_holds_none "$other"; then
      echo $(($(now_ms) - t0))
      return 0
    fi
    sleep 0.01
  done
  return 1
}

# vsnatd of director $1, ready (it answers vsnatctl; its mirrors exist).
pair_vsnatd_start() {
  local name=$1 t0=$SECONDS rc=0
  vsnatd_select "$name"
  log "starting vsnatd $name: $VSNATD -c ${PAIR_CONFIG[$name]} (log $E2E_LOG_DIR/vsnatd-$name.log)"
  VSNATD_PIDFILE="$E2E_LOG_DIR/vsnatd-$name.pid" vsnatd_start "$VSNATD" "${PAIR_CONFIG[$name]}" \
    "$E2E_LOG_DIR/vsnatd-$name.log" "${PAIR_PREFIX[$name]}" "$READY_TIMEOUT_S" || rc=$?
  case $rc in
    0) log "vsnatd $name (pid $VSNATD_PID) ready in $((SECONDS - t0)) s"; return 0 ;;
    1) fail "vsnatd-$name-start" "vsnatd $name exited with status $VSNATD_EXIT before it answered on telemetry" ;;
    *) fail "vsnatd-$name-start" "vsnatd $name did not answer on telemetry within $READY_TIMEOUT_S s" ;;
  esac
  vsnatd_log_tail
  exit 1
}

# keepalived of director $1 in its kernel_netns, once its vsnatd made the mirrors. Sets
# PAIR_KEEPALIVED_STARTED_MS (now_ms) to when it was started.
pair_keepalived_start() {
  local name=$1
  # shellcheck disable=SC2034  # read by the tests
  PAIR_KEEPALIVED_STARTED_MS=$(now_ms)
  if ! keepalived_start "$name" "${PAIR_NETNS[$name]}" "${PAIR_MIRROR_OUT[$name]}" \
    "${PAIR_MIRROR_IN[$name]}" "${PAIR_STATE[$name]}" "${PAIR_PRIORITY[$name]}" \
    "$(pair_keepalived_dir "$name")" "$E2E_LOG_DIR/keepalived-$name.pid"; then
    fail "keepalived-$name-start" "keepalived $name did not start: $(tail -n 5 "$(pair_keepalived_log "$name")")"
    exit 1
  fi
  log "keepalived $name (${PAIR_STATE[$name]}, priority ${PAIR_PRIORITY[$name]}) pids $(keepalived_pids "$name" | xargs) in ${PAIR_NETNS[$name]}"
}

# Lab up --pair, hugepages, A's and B's vsnatd (one after the other: each makes its kernel
# interfaces in the root namespace before moving them), then their keepalived; returns when A
# is master and B backup (exits the test otherwise).
pair_start() {
  e2e_require_daemon
  local tool ms
  for tool in keepalived arping; do
    command -v "$tool" >/dev/null || { fail tools "$tool is missing (scripts/install-deps.sh)"; exit 1; }
  done
  e2e_logdir
  trap pair_on_exit EXIT
  trap 'exit 143' TERM INT   # meson's timeout sends SIGTERM: still clean up
  e2e_start_guard
  # shellcheck disable=SC2034  # lib.sh's e2e_finish reads it
  E2E_LAB_UP=1
  VSNAT_LAB_FILE_MB=0 "$LAB_SH" up --pair | sed 's/^/  /'
  # shellcheck source=/dev/null
  source "${VSNAT_LAB_DIR:-/run/vsnat-lab}/lab.env"
  [[ ${LAB_PAIR:-0} == 1 && $LAB_NS_KERNEL_A == "${PAIR_NETNS[a]}" && $LAB_NS_KERNEL_B == "${PAIR_NETNS[b]}" ]] ||
    { fail lab "lab.sh up --pair wrote no pair to lab.env (LAB_PAIR ${LAB_PAIR:-unset})"; exit 1; }
  "$HUGEPAGES_SH" | sed 's/^/  /'
  pair_vsnatd_start a
  pair_vsnatd_start b
  pair_keepalived_start a
  pair_keepalived_start b
  if ms=$(pair_wait_master a 10000); then
    log "A is master ($PAIR_VIP_CIDR and $PAIR_GATEWAY_CIDR on its mirrors) $ms ms after keepalived started"
  else
    fail pair-start "A does not hold $PAIR_VIP_CIDR and $PAIR_GATEWAY_CIDR alone after 10 s"
    exit 1
  fi
  # B's two instances say they are backups (they start as such, and stay while A's adverts
  # arrive).
  local i
  for ((i = 0; i < 50; i++)); do
    (($(grep -c 'Entering BACKUP STATE' "$(pair_keepalived_log b)") >= 2)) && return 0
    sleep 0.1
  done
  fail pair-start "B's keepalived did not report BACKUP for both instances within 5 s"
  exit 1
}

# kill -9 of director $1, its vsnatd and its keepalived at once. Returns at once: the dead
# vsnatd (which takes a while to give its memory back) is reaped by pair_restart or at exit.
pair_kill() {
  local name=$1 pids
  vsnatd_select "$name"
  mapfile -t pids < <(keepalived_pids "$name")
  kill -KILL "$VSNATD_PID" "${pids[@]}"
  PAIR_KILLED+=("$VSNATD_PID")
  VSNATD_PID=""
  rm -f -- "$E2E_LOG_DIR/vsnatd-$name.pid"
  keepalived_kill "$name"
}

# Reaps the directors' vsnatd that pair_kill killed.
pair_reap() {
  local pid
  for pid in "${PAIR_KILLED[@]}"; do wait "$pid" 2>/dev/null || true; done
  PAIR_KILLED=()
  return 0
}

# Director $1 again, after pair_kill: its vsnatd, then its keepalived.
pair_restart() {
  pair_restart_vsnatd "$1"
  pair_keepalived_start "$1"
}

# Director $1's vsnatd again, after pair_kill. First waits (5 s at most) until the kernel
# namespace the killed vsnatd made is gone (its guard process removes it): a new vsnatd must make
# it afresh, or it would keep one that is about to be removed.
pair_restart_vsnatd() {
  local name=$1 i
  pair_reap
  for ((i = 0; i < 50; i++)); do
    ip netns list | awk '{print $1}' | grep -qxF -- "${PAIR_NETNS[$name]}" || break
    sleep 0.1
  done
  if ((i == 50)); then
    fail "restart-$name" "${PAIR_NETNS[$name]} still there 5 s after vsnatd $name was killed"
    exit 1
  fi
  pair_vsnatd_start "$name"
}

# Both daemons still run (exits the test otherwise).
pair_require_alive() {
  local name
  for name in a b; do
    vsnatd_select "$name"
    require_daemon_alive
  done
}

pair_on_exit() {
  local rc=$? name
  trap - EXIT
  set +e
  for name in b a; do
    keepalived_stop "$name"
    # Their logs are in the lab's state dir, which lab.sh down removes.
    cp -- "$(pair_keepalived_log "$name")" "$E2E_LOG_DIR/keepalived-$name.log" 2>/dev/null
  done
  for name in a b; do
    vsnatd_select "$name"
    if [[ -n $VSNATD_PID ]]; then
      stop_vsnatd || rc=1
    fi
  done
  pair_reap
  e2e_finish "$rc"
}

pair_end() {
  pair_require_alive
  log "$E2E_PASSED passed, $E2E_FAILED failed in $((SECONDS - E2E_T0)) s; logs in $E2E_LOG_DIR"
  ((E2E_FAILED == 0))   # the EXIT trap turns any failure into exit 1
}
