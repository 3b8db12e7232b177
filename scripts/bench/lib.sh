# shellcheck shell=bash
# scripts/bench/lib.sh — shared code of scripts/bench*.sh (sourced, not run).
#
# Process handling: vsnatd is started and stopped by scripts/lab/daemon.sh; every other process
# a benchmark starts is recorded by PID and start time (scripts/lab/proc.sh) with bench_track,
# and bench_stop_all stops vsnatd and exactly those (SIGTERM, then SIGKILL after a bounded
# wait): never by name. The scripts call bench_stop_all from their EXIT
# trap, so Ctrl-C or an error cleans up too.

BENCH_LIB_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$BENCH_LIB_DIR/../.." && pwd)"
readonly BENCH_LIB_DIR REPO_DIR
readonly BUILD_DIR="${VSNAT_BUILD_DIR:-$REPO_DIR/build}"
readonly VSNATD="$BUILD_DIR/src/app/vsnatd"
readonly VSNATCTL="$BUILD_DIR/src/app/vsnatctl"
PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)
readonly PY

# shellcheck source=SCRIPTDIR/../lab/daemon.sh
source "$REPO_DIR/scripts/lab/daemon.sh"

BENCH_PIDS=()   # "pid:starttime"

say() { echo "${BENCH_NAME:-bench}: $*"; }
die() {
  echo "${BENCH_NAME:-bench}: error: $*" >&2
  exit 1
}

bench_require_root() {
  [[ $(id -u) -eq 0 ]] || die "must run as root (hugepages, DPDK, network namespaces)"
}

bench_require_built() {
  [[ -x $VSNATD && -x $VSNATCTL ]] ||
    die "no build in $BUILD_DIR: meson setup build -Dwerror=true && ninja -C build"
}

# bench_track PID: remember a started process for bench_stop / bench_stop_all.
bench_track() {
  local st
  st=$(proc_starttime "$1") || return 0   # already gone
  BENCH_PIDS+=("$1:$st")
}

# bench_stop PID [SECONDS]: SIGTERM, wait up to SECONDS (default 15), then SIGKILL. Only if PID
# is still the process bench_track recorded. Returns the exit status when we are its parent.
bench_stop() {
  local pid=$1 limit=${2:-15} entry st="" i rc=0
  for entry in "${BENCH_PIDS[@]}"; do
    [[ ${entry%%:*} == "$pid" ]] && st=${entry#*:}
  done
  [[ -n $st ]] || return 0
  if proc_alive "$pid" "$st"; then
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < limit * 10; i++)); do
      proc_alive "$pid" "$st" || break
      sleep 0.1
    done
    if proc_alive "$pid" "$st"; then
      echo "${BENCH_NAME:-bench}: pid $pid ignored SIGTERM for $limit s: SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  wait "$pid" 2>/dev/null || rc=$?
  local kept=()
  for entry in "${BENCH_PIDS[@]}"; do
    [[ ${entry%%:*} == "$pid" ]] || kept+=("$entry")
  done
  BENCH_PIDS=("${kept[@]}")
  return "$rc"
}

bench_stop_all() {
  local entry
  stop_vsnatd
  for entry in "${BENCH_PIDS[@]}"; do
    bench_stop "${entry%%:*}" 10 || true
  done
}

# bench_cleanup_on_exit: from now on, however the script ends (an error, Ctrl-C, SIGTERM), stop
# vsnatd and every tracked process, take down the lab if it brought it up, give back hugepages
# it raised, then run the function named by BENCH_EXIT_HOOK if the script set one (its own
# leftovers); the exit status is kept.
BENCH_EXIT_HOOK=""
bench_cleanup_on_exit() {
  trap bench_exit EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
# shellcheck disable=SC2317  # invoked by the EXIT trap
bench_exit() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  bench_stop_all
  bench_lab_down
  bench_hugepages_restore
  [[ -z $BENCH_EXIT_HOOK ]] || "$BENCH_EXIT_HOOK"
  exit "$rc"
}

# bench_median N...: the median of numbers (mean of the middle two for an even count).
bench_median() {
  printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {
    if (NR == 0) { print "nan"; exit }
    if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# bench_ratio A B: A / B with 3 decimals ("nan" when B is 0).
bench_ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0) print "nan"; else printf "%.3f\n", a / b }'
}

# bench_now: seconds since the epoch with nanoseconds.
bench_now() { date +%s.%N; }

# in_range VALUE MIN MAX: an integer within [MIN, MAX].
in_range() { [[ $1 =~ ^[0-9]+$ ]] && (($1 >= $2 && $1 <= $3)); }

# The benchmarks' vsnatd services: the lab's web service (VIP 198.18.0.100:80, wrr 1:2 over
# 198.19.0.2:80 and 198.19.0.3:8000), as YAML for the end of a config. With `--static`, also
# the real servers' MACs as static neighbors (no ARP on vdevs that cannot answer it).
bench_services_yaml() {
  if [[ ${1:-} == --static ]]; then
    cat <<EOF
neighbors:
  - {address: 198.19.0.2, mac: "02:00:c6:13:00:02", interface: inside}
  - {address: 198.19.0.3, mac: "02:00:c6:13:00:03", interface: inside}
EOF
  fi
  cat <<EOF
services:
  - name: web
    protocol: tcp
    vip: 198.18.0.100
    port: 80
    scheduler: wrr
    real_servers:
      - {address: 198.19.0.2, port: 80, weight: 1}
      - {address: 198.19.0.3, port: 8000, weight: 2}
EOF
}

# start_vsnatd CONFIG LOG PREFIX: start the daemon in the background and wait (bounded by
# $VSNATD_READY_S, default 120 s: loading a big pcap takes a while) until it answers on its
# telemetry socket (scripts/lab/daemon.sh). Sets VSNATD_PID.
start_vsnatd() {
  local rc=0
  vsnatd_start "$VSNATD" "$1" "$2" "$3" "${VSNATD_READY_S:-120}" || rc=$?
  case $rc in
    0) return 0 ;;
    1) vsnatd_log_tail 20 >&2; die "vsnatd exited with status $VSNATD_EXIT before it was ready" ;;
    *) vsnatd_log_tail 20 >&2; die "vsnatd not ready within ${VSNATD_READY_S:-120} s (log $2)" ;;
  esac
}

# stop_vsnatd: SIGTERM; vsnatd must exit 0 (it logs its final counters).
stop_vsnatd() {
  vsnatd_stop 20 || echo "${BENCH_NAME:-bench}: warning: $VSNATD_STOP" >&2
}

# vsnat_counter PREFIX KEY: KEY (e.g. tx_packets) summed over workers, from `vsnatctl stats --json`.
vsnat_counter() {
  "$VSNATCTL" --prefix "$1" --json stats | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
v = d.get(sys.argv[1], 0)
print(sum(v) if isinstance(v, list) else v)' "$2"
}

# Hugepages: raise nr_hugepages to at least $1 for this run; bench_hugepages_restore lowers it
# back afterwards, and only if nobody changed it meanwhile.
HUGE_BEFORE="" HUGE_SET=""
bench_hugepages() {
  local want=$1 have
  have=$(</proc/sys/vm/nr_hugepages)
  if ((have < want)); then
    HUGE_BEFORE=$have
    "$REPO_DIR/scripts/hugepages.sh" "$want" >/dev/null ||
      die "cannot reserve $want hugepages of 2 MiB (have $have)"
    HUGE_SET=$(</proc/sys/vm/nr_hugepages)
    say "hugepages raised from $have to $HUGE_SET for this run (restored at the end)"
  else
    "$REPO_DIR/scripts/hugepages.sh" "$have" >/dev/null || die "hugepages.sh failed"
  fi
}
bench_hugepages_restore() {
  [[ -n $HUGE_BEFORE ]] || return 0
  if [[ $(</proc/sys/vm/nr_hugepages) == "$HUGE_SET" ]]; then
    echo "$HUGE_BEFORE" >/proc/sys/vm/nr_hugepages || true
  fi
  HUGE_BEFORE=""
}

# --- the namespace lab (scripts/lab.sh) -------------------------------------------------------

readonly LAB_SH="$REPO_DIR/scripts/lab.sh"
readonly E2E_LOCK=/run/lock/vsnat-e2e.lock
LAB_STARTED=0

# bench_lock_lab "$@": the lab's namespaces have fixed names shared with the e2e tests, which
# hold $E2E_LOCK while they use them: re-run this script under the same lock (waiting up to
# 900 s). flock -o: the lock is held by flock itself, not inherited by what we start.
bench_lock_lab() {
  [[ -n ${VSNAT_BENCH_LOCKED:-} ]] && return 0
  say "waiting for $E2E_LOCK (at most 900 s)"
  exec flock -o -w 900 "$E2E_LOCK" env VSNAT_BENCH_LOCKED=1 "$0" "$@"
}

# bench_lab_up dpdk|kernel: the lab for vsnatd or with the kernel director; no download file,
# no access logs (not measured).
bench_lab_up() {
  local opt=()
  [[ $1 == kernel ]] && opt=(--kernel-director)
  LAB_STARTED=1
  VSNAT_LAB_FILE_MB=0 VSNAT_LAB_ACCESS_LOG=0 "$LAB_SH" up "${opt[@]}" | sed 's/^/  /'
  # shellcheck source=/dev/null
  source "${VSNAT_LAB_DIR:-/run/vsnat-lab}/lab.env"
}
bench_lab_down() {
  ((LAB_STARTED)) || return 0
  LAB_STARTED=0
  "$LAB_SH" down | sed 's/^/  /' || true
}

# --- CPU accounting ---------------------------------------------------------------------------

# cpu_snapshot: one line per CPU "cpuN user nice system idle iowait irq softirq steal".
cpu_snapshot() { grep -E '^cpu[0-9]+ ' /proc/stat; }

# cpu_report BEFORE AFTER: per CPU, the share of the interval in user, system and softirq
# (softirq: the kernel's packet processing, e.g. veth and netfilter) and idle.
cpu_report() {
  awk 'NR == FNR {for (i = 2; i <= NF; i++) a[$1, i] = $i; next}
       {t = 0; for (i = 2; i <= 9; i++) {d[i] = $i - a[$1, i]; t += d[i]}
        if (t == 0) t = 1
        printf "    %s: user %3.0f%%  system %3.0f%%  softirq %3.0f%%  idle %3.0f%%\n", $1,
          100 * (d[2] + d[3]) / t, 100 * d[4] / t, 100 * (d[7] + d[8]) / t, 100 * (d[5] + d[6]) / t}' \
    <(echo "$1") <(echo "$2")
}

# cpu_share BEFORE AFTER CPU FIELD...: the share (0..1) of CPU's time between two snapshots that
# went to the named /proc/stat fields (user nice system idle iowait irq softirq steal). The
# snapshots' own tick totals are the interval, so no separate clock has to line up with them.
cpu_share() {
  local before=$1 after=$2 cpu=$3
  shift 3
  awk -v cpu="$cpu" -v fields="$*" '
    BEGIN { split("user nice system idle iowait irq softirq steal", names)
            for (i in names) col[names[i]] = i + 1
            m = split(fields, want) }
    $1 != cpu { next }
    NR == FNR { for (i = 2; i <= 9; i++) a[i] = $i; next }
    { t = 0; s = 0
      for (i = 2; i <= 9; i++) t += $i - a[i]
      for (j = 1; j <= m; j++) s += $(col[want[j]]) - a[col[want[j]]]
      printf "%.4f\n", t ? s / t : 0 }' <(echo "$before") <(echo "$after")
}

# proc_cpu_ticks PID: user + system clock ticks of PID so far.
proc_cpu_ticks() {
  local stat rest f
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
  rest=${stat##*) }
  read -ra f <<<"$rest"
  echo $((f[11] + f[12]))
}
