# shellcheck shell=bash
# tests/e2e/lib.sh — shared code of the end-to-end tests (sourced, not run).
#
# A test script does:
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   e2e_parse_args "$@"        # --workers N (1 or 2): E2E_WORKERS; --af-xdp: E2E_XDP=1;
#                              # --ipv6: E2E_FAMILY=6 (only where the test sets E2E_IPV6_TEST=1
#                              # before: it runs its checks over IPv6, see "Address family")
#   e2e_require_root           # exit 77 (meson: skipped), loudly, when not root
#   e2e_start                  # lab up, hugepages, vsnatd started and ready; cleanup trap set
#   ... checks: pass NAME "detail" / fail NAME "detail"; client CMD ... runs in the client ns
#   e2e_end                    # summary; exit 1 when anything failed
# The EXIT trap always stops vsnatd (by PID: SIGTERM, it must exit 0 within 15 s) and runs
# `scripts/lab.sh down`; a daemon that died, hung or exited non-zero fails the test. When meson
# kills a test that overran its timeout (SIGKILL to its process group, 0.5 s after SIGTERM),
# tests/e2e/guard.sh, in its own session, does that cleanup instead; its lock also keeps the
# next test from building its lab before the cleanup is done.
#
# Environment:
#   VSNATD               the daemon (meson passes the built one; default build/src/app/vsnatd)
#   VSNAT_E2E_KERNEL=1   run the traffic checks against the lab's kernel director
#                        (lab.sh up --kernel-director) instead of vsnatd: validates the tests
#                        themselves. Checks that need vsnatd (telemetry) skip in this mode.
#   VSNAT_E2E_LOG_DIR    where each test keeps its daemon log and captures (default
#                        /tmp/vsnat-e2e/<test>); kept after the run for post-mortems.
#
# Address family: a test written for both (E2E_IPV6_TEST=1) runs over IPv4 by default and over
# IPv6 with --ipv6, on the dual-stack twin of its config (e2e_config) in the dual-stack lab
# (lab.sh, VSNAT_LAB_IPV6=1). It writes its addresses through the E2E_* names e2e_start sets
# for the family (the LAB_* names of lab.env, or their *_V6 twins):
#   E2E_VIP, E2E_CLIENT, E2E_RS1, E2E_RS2, E2E_FTP, E2E_DIRECTOR_OUT, E2E_DIRECTOR_IN (addresses
#   without prefix length), E2E_CLIENT_EXTRA (space-separated), E2E_VIP_URL (the VIP as a URL
#   writes it: 198.18.0.100 or [2001:2:0:18::100]; give curl -g so it does not glob the
#   brackets), E2E_IP (4 or 6: `curl -$E2E_IP`, `ping -$E2E_IP`, a python helper's family).
# An IPv6 run skips (exit 77) when the lab cannot have IPv6 (VSNAT_LAB_IPV6=0, or a kernel
# without it).
#
# Network rule (docs/ARCHITECTURE.md, "The lab"): traffic only inside the lab's namespaces,
# addresses in 198.18.0.0/15 and 2001:2::/48; every loop bounded in count and every client call
# in time.

set -Eeuo pipefail

E2E_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$E2E_DIR/../.." && pwd)"
readonly E2E_DIR REPO_DIR
readonly LAB_SH="$REPO_DIR/scripts/lab.sh"
readonly HUGEPAGES_SH="$REPO_DIR/scripts/hugepages.sh"
readonly TELEMETRY_PY="$E2E_DIR/telemetry.py"
VSNATD="${VSNATD:-$REPO_DIR/build/src/app/vsnatd}"
readonly E2E_KERNEL="${VSNAT_E2E_KERNEL:-0}"
E2E_NAME="$(basename "${BASH_SOURCE[1]:-$0}" .sh)"
readonly E2E_NAME
# Every e2e config uses this EAL --file-prefix; the telemetry socket lives under it.
readonly E2E_PREFIX=vsnat-e2e
readonly READY_TIMEOUT_S=30 STOP_TIMEOUT_S=15

PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)

E2E_WORKERS=1 E2E_XDP=0 E2E_FAMILY=4
E2E_PASSED=0 E2E_FAILED=0
E2E_LOG_DIR=""
E2E_GUARD_PID=""
E2E_LAB_UP=0
E2E_T0=$SECONDS

log() { echo "[$E2E_NAME] $*"; }
pass() { echo "PASS $1: $2"; E2E_PASSED=$((E2E_PASSED + 1)); }
fail() { echo "FAIL $1: $2"; E2E_FAILED=$((E2E_FAILED + 1)); }
kernel_mode() { [[ $E2E_KERNEL == 1 ]]; }

# Run a command in the client namespace / a real server's namespace.
client() { ip netns exec "$LAB_NS_CLIENT" "$@"; }
in_rs() { local n=$1; shift; ip netns exec "vsnat-rs$n" "$@"; }

e2e_parse_args() {
  while (($#)); do
    case $1 in
      --workers) E2E_WORKERS=${2:-}; shift ;;
      --af-xdp) E2E_XDP=1 ;;
      --ipv6) E2E_FAMILY=6 ;;
      *) echo "$E2E_NAME: unknown argument $1 (known: --workers 1|2, --af-xdp, --ipv6)" >&2; exit 2 ;;
    esac
    shift
  done
  ((E2E_FAMILY == 4 || ${E2E_IPV6_TEST:-0} == 1)) ||
    { echo "$E2E_NAME: no IPv6 variant (--ipv6) of this test" >&2; exit 2; }
  [[ $E2E_WORKERS == 1 || $E2E_WORKERS == 2 ]] || { echo "$E2E_NAME: --workers 1 or 2" >&2; exit 2; }
  ((E2E_XDP == 0 || E2E_WORKERS == 1)) || { echo "$E2E_NAME: --af-xdp works with 1 worker only" >&2; exit 2; }
}

# meson counts exit 77 as "skipped"; say why where a human will see it.
skip() {
  echo "############################################################################"
  echo "SKIP $E2E_NAME: $*"
  echo "############################################################################"
  exit 77
}

e2e_require_root() {
  [[ $(id -u) -eq 0 ]] ||
    skip "needs root (network namespaces, veths, hugepages, AF_XDP); run: sudo meson test -C build --suite e2e"
}

e2e_require_daemon() {
  if [[ ! -x $VSNATD ]]; then
    echo "FAIL $E2E_NAME: vsnatd not found at $VSNATD (build it: ninja -C build, or set VSNATD)"
    exit 1
  fi
}

# The config a test runs with: tests/e2e/configs/<base>-<workers>w[-xdp].yaml (AF_PACKET
# vdevs, like config/lab.yaml; -xdp: AF_XDP). With --ipv6 its dual-stack twin, the same
# services plus their IPv6 ones: vsnat -> dual-<workers>w[-xdp].yaml, any other base B ->
# dual-B-<workers>w[-xdp].yaml.
e2e_variant() { echo "${E2E_WORKERS}w$( ((E2E_XDP == 0)) || echo -xdp)"; }
e2e_config() {
  local base=${1:-vsnat}
  if ((E2E_FAMILY == 6)); then
    if [[ $base == vsnat ]]; then base=dual; else base=dual-$base; fi
  fi
  echo "$E2E_DIR/configs/$base-$(e2e_variant).yaml"
}

# Fresh log directory for this test (and variant, and family).
e2e_logdir() {
  E2E_LOG_DIR="${VSNAT_E2E_LOG_DIR:-/tmp/vsnat-e2e}/$E2E_NAME-$(e2e_variant)$( ((E2E_FAMILY == 4)) || echo -ipv6)"
  rm -rf -- "$E2E_LOG_DIR"
  mkdir -p "$E2E_LOG_DIR"
}

# --- daemon ----------------------------------------------------------------------------------

# Start, readiness (vsnatctl answers), stop by PID: scripts/lab/daemon.sh, shared with the demo
# and the benchmarks. It sources scripts/lab/proc.sh (process identity) too.
# shellcheck source=SCRIPTDIR/../../scripts/lab/daemon.sh
source "$REPO_DIR/scripts/lab/daemon.sh"

# Start vsnatd on config $1 and wait, bounded, until it answers on its telemetry socket.
start_vsnatd() {
  local config=$1 t0=$SECONDS rc=0
  log "starting $VSNATD -c $config (log $E2E_LOG_DIR/vsnatd.log)"
  VSNATD_PIDFILE="$E2E_LOG_DIR/vsnatd.pid" \
    vsnatd_start "$VSNATD" "$config" "$E2E_LOG_DIR/vsnatd.log" "$E2E_PREFIX" "$READY_TIMEOUT_S" ||
    rc=$?
  case $rc in
    0) log "vsnatd (pid $VSNATD_PID) ready in $((SECONDS - t0)) s"; return 0 ;;
    1) fail vsnatd-start "vsnatd exited with status $VSNATD_EXIT before it answered on telemetry" ;;
    *) fail vsnatd-start "vsnatd did not answer on telemetry within $READY_TIMEOUT_S s" ;;
  esac
  vsnatd_log_tail
  exit 1
}

# SIGTERM, then up to STOP_TIMEOUT_S for a clean exit with status 0. Returns 1 otherwise.
stop_vsnatd() {
  [[ -n $VSNATD_PID ]] || return 0
  local was_alive=1 rc=0
  vsnatd_alive || was_alive=0
  vsnatd_stop "$STOP_TIMEOUT_S" || rc=$?
  if ((was_alive == 0)); then
    fail vsnatd-alive "died during the test: $VSNATD_STOP"
    vsnatd_log_tail 40
    return 1
  fi
  if ((rc != 0)); then
    fail vsnatd-stop "$VSNATD_STOP after SIGTERM (want exit 0)"
    vsnatd_log_tail
    return 1
  fi
  log "vsnatd stopped cleanly (exit 0); its last lines:"
  tail -n 8 "$VSNATD_LOG" | sed 's/^/  | /'
  return 0
}

# Fail now (and loudly) if the daemon died under the traffic of the previous check.
require_daemon_alive() {
  [[ -n $VSNATD_PID ]] || return 0   # none started (kernel mode), or stopped on purpose
  vsnatd_alive && return 0
  fail vsnatd-alive "vsnatd (pid ${VSNATD_PID:-?}) is gone"
  vsnatd_log_tail 40
  exit 1
}

# `telemetry.py CMD` against the test daemon; prints the reply's value (JSON).
telemetry() { "$PY" "$TELEMETRY_PY" "$1" --prefix "$E2E_PREFIX"; }
# real_server_health SERVICE ADDRESS: "up", "down: REASON" or "" for that real server of SERVICE,
# from vsnatctl list --json.
real_server_health() {
  "$(dirname "$VSNATD")/vsnatctl" --prefix "$E2E_PREFIX" list --json 2>/dev/null | "$PY" -c '
import json, sys
service, address = sys.argv[1], sys.argv[2]
for r in json.load(sys.stdin)["real_servers"]:
    if r["service"] == service and r["address"] == address and r.get("role") == "real":
        h = r.get("health", "?")
        print(h + (": " + r.get("health_reason", "") if h == "down" else ""))
' "$1" "$2"
}

# --- setup and cleanup -----------------------------------------------------------------------

e2e_on_exit() {
  local rc=$?
  trap - EXIT
  set +e
  if [[ -n $VSNATD_PID ]]; then
    stop_vsnatd || rc=1
  fi
  e2e_finish "$rc"
}

# The end of every exit trap, once the daemons are stopped: the lab down, the guard told that
# all is clean, and exit with $1, or 1 when a check failed.
e2e_finish() {
  local rc=$1
  if ((E2E_LAB_UP)); then
    local out
    out=$("$LAB_SH" down 2>&1) || { echo "[$E2E_NAME] lab.sh down failed:"; echo "$out"; rc=1; }
  fi
  if [[ -n $E2E_GUARD_PID ]]; then
    : >"$E2E_LOG_DIR/cleaned"
    kill -TERM "$E2E_GUARD_PID" 2>/dev/null
    wait "$E2E_GUARD_PID" 2>/dev/null
  fi
  ((rc != 0 || E2E_FAILED == 0)) || rc=1
  exit "$rc"
}

# The cleanup guard (guard.sh), in its own session; returns once it holds the e2e lock, so the
# lab may be built. Exits the test when the guard does not start.
e2e_start_guard() {
  setsid bash "$E2E_DIR/guard.sh" "$$" "$(proc_starttime $$)" "$E2E_LOG_DIR" "$LAB_SH" \
    </dev/null >>"$E2E_LOG_DIR/guard.log" 2>&1 &
  E2E_GUARD_PID=$!
  local i
  for ((i = 0; i < 700; i++)); do
    [[ -e $E2E_LOG_DIR/guard.ready ]] && break
    proc_alive "$E2E_GUARD_PID" || break
    sleep 0.1
  done
  if [[ ! -e $E2E_LOG_DIR/guard.ready ]]; then
    fail guard "the cleanup guard did not start: $(cat "$E2E_LOG_DIR/guard.log")"
    exit 1
  fi
}

# The E2E_* address names of the test's family (see "Address family" above), from lab.env.
# shellcheck disable=SC2034  # read by the tests that source this file
e2e_family_env() {
  E2E_IP=$E2E_FAMILY
  if ((E2E_FAMILY == 6)); then
    [[ ${LAB_IPV6:-0} == 1 ]] ||
      skip "the lab was built without IPv6 (lab.env LAB_IPV6=${LAB_IPV6:-unset}: VSNAT_LAB_IPV6=0, or no IPv6 in this kernel)"
    E2E_VIP=$LAB_VIP_V6 E2E_VIP_URL="[$LAB_VIP_V6]" E2E_CLIENT=$LAB_CLIENT_V6
    E2E_CLIENT_EXTRA=$LAB_CLIENT_EXTRA_V6 E2E_RS1=$LAB_RS1_V6 E2E_RS2=$LAB_RS2_V6
    E2E_FTP=$LAB_FTP_V6 E2E_DIRECTOR_OUT=${LAB_DIRECTOR_OUT_V6%/*}
    E2E_DIRECTOR_IN=${LAB_DIRECTOR_IN_V6%/*}
  else
    E2E_VIP=$LAB_VIP E2E_VIP_URL=$LAB_VIP E2E_CLIENT=$LAB_CLIENT
    E2E_CLIENT_EXTRA=$LAB_CLIENT_EXTRA E2E_RS1=$LAB_RS1 E2E_RS2=$LAB_RS2
    E2E_FTP=$LAB_FTP E2E_DIRECTOR_OUT=${LAB_DIRECTOR_OUT%/*}
    E2E_DIRECTOR_IN=${LAB_DIRECTOR_IN%/*}
  fi
}

# Lab up (2 veth queues for 2 workers), hugepages, vsnatd with config $1 (default
# e2e_config vsnat). VSNAT_LAB_FILE_MB defaults to 0 here: only the download test needs a file.
e2e_start() {
  local config=${1:-$(e2e_config vsnat)}
  if ((E2E_FAMILY == 6)); then
    [[ ${VSNAT_LAB_IPV6:-1} != 0 ]] || skip "VSNAT_LAB_IPV6=0: the lab is built without IPv6"
    [[ -d /proc/sys/net/ipv6 ]] || skip "this kernel has no IPv6 (/proc/sys/net/ipv6 is absent)"
  fi
  kernel_mode || e2e_require_daemon
  e2e_logdir
  trap e2e_on_exit EXIT
  trap 'exit 143' TERM INT   # meson's timeout sends SIGTERM: still clean up
  e2e_start_guard
  E2E_LAB_UP=1
  if kernel_mode; then
    log "VSNAT_E2E_KERNEL=1: testing the lab's kernel director, not vsnatd"
    VSNAT_LAB_FILE_MB=${VSNAT_LAB_FILE_MB:-0} "$LAB_SH" up --kernel-director | sed 's/^/  /'
  else
    VSNAT_LAB_FILE_MB=${VSNAT_LAB_FILE_MB:-0} VSNAT_LAB_QUEUES=$E2E_WORKERS "$LAB_SH" up | sed 's/^/  /'
  fi
  # shellcheck source=/dev/null
  source "${VSNAT_LAB_DIR:-/run/vsnat-lab}/lab.env"
  e2e_family_env
  if ! kernel_mode; then
    "$HUGEPAGES_SH" | sed 's/^/  /'
    start_vsnatd "$config"
  fi
}

e2e_end() {
  require_daemon_alive
  log "$E2E_PASSED passed, $E2E_FAILED failed in $((SECONDS - E2E_T0)) s$([[ -n $E2E_LOG_DIR ]] && echo "; logs in $E2E_LOG_DIR")"
  ((E2E_FAILED == 0))   # the EXIT trap turns any failure into exit 1
}

# --- traffic helpers -------------------------------------------------------------------------

# http_sequential N [PATH]: N sequential curl requests to http://VIP:80PATH from the client,
# each a new connection, in the test's family (E2E_VIP_URL; the IPv4 VIP before e2e_start).
# One line per request on stdout:
#   "ok <remote_ip>:<remote_port> <local_port> <body>"   or   "err <curl exit> <message>"
# (an IPv6 remote_ip is bare, as curl writes it). Gives up after 3 failures (a dead director
# would otherwise cost N x 2 s).
http_sequential() {
  local n=$1 path=${2:-/} i out rc errors=0
  for ((i = 0; i < n; i++)); do
    rc=0
    out=$(client curl -sS -g "-$E2E_FAMILY" --max-time 2 \
      -w '|%{remote_ip}:%{remote_port}|%{local_port}' "http://${E2E_VIP_URL:-$LAB_VIP}$path" 2>&1) || rc=$?
    if ((rc == 0)); then
      local body=${out%%|*} rest=${out#*|}
      echo "ok ${rest%%|*} ${rest#*|} ${body%$'\n'}"
    else
      echo "err $rc $(tr '\n' ' ' <<<"$out")"
      ((++errors < 3)) || return 0
    fi
  done
}
