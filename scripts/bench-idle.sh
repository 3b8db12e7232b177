#!/usr/bin/env bash
# scripts/bench-idle.sh — what idle back-off costs: latency and peak rate through vsnatd in the
# namespace lab with `idle: poll` versus `idle: adaptive` (issue 7, item 4).
#
# usage: sudo scripts/bench-idle.sh [--rounds R] [--pings N] [--curls N] [--wrk-seconds S]
#                                   [--af-xdp]
#
#   --rounds R       poll/adaptive pairs, alternated (default 3); medians are reported
#   --pings N        pings of the VIP per round, 0.2 s apart (default 30)
#   --curls N        sequential HTTP requests per round, each a new connection (default 30)
#   --wrk-seconds S  wrk run per round (default 5): 1 thread, 50 keep-alive connections
#   --af-xdp         vsnatd on net_af_xdp vdevs instead of the lab's net_af_packet
#
# For each mode and round: the lab (scripts/lab.sh up, no access logs), vsnatd with the lab's
# services (1 worker; EAL -l 0-1: control lcore 0, worker lcore 1; metrics off; its own
# --file-prefix), then from the client namespace:
#   - ping -i 0.2 VIP: answered by vsnatd's worker itself (the director's echo reply). With
#     0.2 s between pings an adaptive worker has backed off to its longest sleep (100 us) when
#     each ping arrives: this is the wake-up cost;
#   - curl http://VIP/, sequential, each a new connection: time_connect (SYN -> SYN-ACK through
#     vsnatd to a real server and back) and time_total, medians;
#   - wrk for S seconds: requests/s under load (back-off never engages under load);
#   - vsnatd's CPU use while idle (3 s without traffic), in % of one core.
# The pcap benchmark gives the other peak-rate figure: scripts/bench.sh --idle poll|adaptive.
#
# The lab's namespaces have fixed names shared with the e2e tests: the script runs under their
# lock (/run/lock/vsnat-e2e.lock, waiting up to 900 s) and always takes the lab down at the end,
# and stops vsnatd by PID, also on Ctrl-C or an error. Traffic stays inside the lab
# (198.18.0.0/15).

set -Eeuo pipefail

BENCH_NAME=bench-idle
# shellcheck source=SCRIPTDIR/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench/lib.sh"

usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

ROUNDS=3 PINGS=30 CURLS=30 WRK_S=5 XDP=0
args=("$@")
while (($#)); do
  case $1 in
    --rounds) ROUNDS=${2:?}; shift ;;
    --pings) PINGS=${2:?}; shift ;;
    --curls) CURLS=${2:?}; shift ;;
    --wrk-seconds) WRK_S=${2:?}; shift ;;
    --af-xdp) XDP=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument $1" ;;
  esac
  shift
done
in_range "$ROUNDS" 1 10 || die "--rounds must be 1..10"
in_range "$PINGS" 3 300 || die "--pings must be 3..300"
in_range "$CURLS" 3 300 || die "--curls must be 3..300"
in_range "$WRK_S" 1 60 || die "--wrk-seconds must be 1..60"

bench_require_root
bench_require_built
for t in wrk curl ping flock; do command -v "$t" >/dev/null || die "$t missing (scripts/install-deps.sh)"; done
bench_lock_lab "${args[@]}"

WORK="${VSNAT_BENCH_DIR:-/tmp/vsnat-bench-idle}"
readonly PREFIX="vsnat-bench-idle-$$"
mkdir -p "$WORK"

bench_cleanup_on_exit

write_config() {
  local idle=$1 out=$2 pmd=net_af_packet
  ((XDP)) && pmd=net_af_xdp
  cat >"$out" <<EOF
# Written by scripts/bench-idle.sh: the lab (config/lab.yaml) with idle: $idle.
eal: ["-l", "0-1", "--file-prefix", "$PREFIX", "--no-pci"]
workers: 1
max_connections: 1048576
idle: $idle
metrics: off
interfaces:
  - {name: outside, device: "${pmd}0,iface=vsn-out", address: 198.18.0.254/24}
  - {name: inside, device: "${pmd}1,iface=vsn-in", address: 198.19.0.1/24}
EOF
  # shellcheck disable=SC2119  # without --static: ARP resolves the servers
  bench_services_yaml >>"$out"
}

client() { ip netns exec vsnat-client "$@"; }

# measure MODE ROUND: appends "MODE ping_ms connect_ms total_ms wrk_rps idle_cpu%" to results.
measure() {
  local mode=$1 round=$2 cfg="$WORK/vsnatd-$1.yaml" log="$WORK/vsnatd-$1-$2.log"
  local ping_ms connect_ms total_ms rps t0 t1 idle_pct i
  write_config "$mode" "$cfg"
  start_vsnatd "$cfg" "$log" "$PREFIX"
  # The first request resolves the real servers' MACs (ARP); not measured.
  client curl -s -o /dev/null --max-time 3 "http://198.18.0.100/" || true
  client curl -s -o /dev/null --max-time 3 "http://198.18.0.100/" || true

  # Idle CPU: 3 s with no traffic, after 1 s to settle.
  sleep 1
  t0=$(proc_cpu_ticks "$VSNATD_PID")
  sleep 3
  t1=$(proc_cpu_ticks "$VSNATD_PID")
  idle_pct=$(awk -v d="$((t1 - t0))" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.0f", 100 * d / hz / 3 }')

  local p=()
  mapfile -t p < <(client ping -n -c "$PINGS" -i 0.2 -W 1 198.18.0.100 2>/dev/null |
    sed -n 's/.*time=\([0-9.]*\) ms.*/\1/p')
  ((${#p[@]} > 0)) || die "no ping of the VIP answered ($mode, log $log)"
  ping_ms=$(bench_median "${p[@]}")
  local c=() t=() out
  for ((i = 0; i < CURLS; i++)); do
    out=$(client curl -s -o /dev/null --max-time 2 -w '%{time_connect} %{time_total}' "http://198.18.0.100/") || continue
    c+=("$(awk -v x="${out% *}" 'BEGIN { printf "%.3f", x * 1000 }')")
    t+=("$(awk -v x="${out#* }" 'BEGIN { printf "%.3f", x * 1000 }')")
    sleep 0.1
  done
  ((${#c[@]} > 0)) || die "no HTTP request through vsnatd ($mode) succeeded (log $log)"
  connect_ms=$(bench_median "${c[@]}")
  total_ms=$(bench_median "${t[@]}")
  rps=$(client timeout $((WRK_S + 10)) wrk -t1 -c50 -d"${WRK_S}s" --timeout 2s "http://198.18.0.100/" 2>&1 |
    awk '/^Requests\/sec:/ {print $2}')
  stop_vsnatd
  echo "$mode $ping_ms $connect_ms $total_ms ${rps:-nan} $idle_pct" >>"$WORK/results.txt"
  say "round $round $mode: ping ${ping_ms} ms, curl connect ${connect_ms} ms / total ${total_ms} ms, wrk ${rps:-nan} req/s, idle CPU ${idle_pct}% of a core"
}

: >"$WORK/results.txt"
say "lab up"
bench_lab_up dpdk
"$REPO_DIR/scripts/hugepages.sh" >/dev/null || die "scripts/hugepages.sh failed"
for ((r = 1; r <= ROUNDS; r++)); do
  # Alternate which mode goes first, so drift on the shared machine hits both alike.
  if ((r % 2)); then order=(poll adaptive); else order=(adaptive poll); fi
  for m in "${order[@]}"; do measure "$m" "$r"; done
done

echo
printf 'idle back-off, vsnatd 1 worker on %s in the lab, %s rounds (medians)\n' \
  "$( ((XDP)) && echo net_af_xdp || echo net_af_packet)" "$ROUNDS"
printf '  %-9s %12s %16s %14s %12s %10s\n' mode "ping VIP ms" "curl connect ms" "curl total ms" "wrk req/s" "idle CPU%"
for m in poll adaptive; do
  cols=()
  for k in 2 3 4 5 6; do
    mapfile -t vals < <(awk -v m="$m" -v k="$k" '$1 == m {print $k}' "$WORK/results.txt")
    cols+=("$(bench_median "${vals[@]}")")
  done
  printf '  %-9s %12s %16s %14s %12s %10s\n' "$m" "${cols[@]}"
done
say "per-round results in $WORK/results.txt"
