#!/usr/bin/env bash
# scripts/bench-health.sh — what health checks cost vsnatd: the CPU of its checker thread
# (vsnat-health) with 1,000 real servers checked every second, in the namespace lab.
#
# usage: sudo scripts/bench-health.sh [--servers N] [--seconds S] [--type tcp|http|both]
#
#   --servers N  real servers (default 1000): 10 services on VIP 198.18.0.100, N/10 each
#   --seconds S  measured time per check type (default 20), after 3 s of warm-up
#   --type T     tcp, http or both (default both), each its own vsnatd run
#
# The lab (scripts/lab.sh up), then 100 more addresses on each real server's namespace
# (198.19.0.10 - 198.19.0.209) and, in each, 5 listeners (tests/e2e/health_server.py on every
# address, ports 9001-9005): N real servers are N (address, port) pairs of those. vsnatd runs
# with the lab's interfaces and kernel mirrors in vsnat-kernel (the probes leave from there),
# 1 worker, checks every 1 s with a 500 ms timeout. Reported per type: probes per second and
# failures (from /metrics), servers up, and the vsnat-health thread's CPU (utime + stime from
# /proc) in % of one core over the measured time; target: under 5%.
#
# Runs under the lab's lock (/run/lock/vsnat-e2e.lock, waiting up to 900 s), takes the lab down
# at the end and stops what it started by PID. Traffic stays inside the lab (198.18.0.0/15).

set -Eeuo pipefail

BENCH_NAME=bench-health
# shellcheck source=SCRIPTDIR/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench/lib.sh"

usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

SERVERS=1000 SECONDS_MEASURED=20 TYPES=(tcp http)
args=("$@")
while (($#)); do
  case $1 in
    --servers) SERVERS=${2:?}; shift ;;
    --seconds) SECONDS_MEASURED=${2:?}; shift ;;
    --type)
      case ${2:?} in
        tcp | http) TYPES=("$2") ;;
        both) TYPES=(tcp http) ;;
        *) die "--type must be tcp, http or both" ;;
      esac
      shift ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument $1" ;;
  esac
  shift
done
in_range "$SERVERS" 10 1000 || die "--servers must be 10..1000"
in_range "$SECONDS_MEASURED" 5 300 || die "--seconds must be 5..300"

bench_require_root
bench_require_built
bench_lock_lab "${args[@]}"

WORK="${VSNAT_BENCH_DIR:-/tmp/vsnat-bench-health}"
readonly PREFIX="vsnat-bench-health-$$" PORTS=(9001 9002 9003 9004 9005) EXTRA=100
mkdir -p "$WORK"
bench_cleanup_on_exit
bench_hugepages 256
bench_lab_up dpdk

# 100 more addresses on each real server's namespace, 5 listeners on all of them.
rs_addresses=()
for n in 1 2; do
  ns="vsnat-rs$n"
  for ((i = 0; i < EXTRA; i++)); do
    addr="198.19.0.$((10 + (n - 1) * EXTRA + i))"
    ip -n "$ns" addr add "$addr/24" dev eth0
    rs_addresses+=("$addr")
  done
  for port in "${PORTS[@]}"; do
    ip netns exec "$ns" "$PY" "$REPO_DIR/tests/e2e/health_server.py" --bind 0.0.0.0 \
      --http-port "$port" --udp-port "$((port + 100))" --name "rs$n" \
      --status-file "$WORK/status" --pidfile "$WORK/rs$n-$port.pid" >>"$WORK/servers.log" 2>&1 &
    bench_track $!
  done
done
sleep 2

# write_config TYPE FILE: the lab's interfaces with kernel mirrors; 10 services of N/10 servers.
write_config() {
  local type=$1 out=$2 per=$((SERVERS / 10)) s k i=0 check path=""
  [[ $type != http ]] || path=", path: /"
  check="{type: $type, interval: 1s, timeout: 500ms, rise: 2, fall: 2$path}"
  cat >"$out" <<EOF
# Written by scripts/bench-health.sh: $SERVERS real servers, $type checks every second.
eal: ["-l", "0-1", "--file-prefix", "$PREFIX", "--no-pci"]
workers: 1
kernel_netns: vsnat-kernel
interfaces:
  - {name: outside, device: "net_af_packet0,iface=vsn-out", address: 198.18.0.254/24,
     gateway: 198.18.0.1, kernel: vsk-out, kernel_type: tap}
  - {name: inside, device: "net_af_packet1,iface=vsn-in", address: 198.19.0.1/24,
     kernel: vsk-in, kernel_type: tap}
services:
EOF
  for ((s = 0; s < 10; s++)); do
    echo "  - name: s$s"
    echo "    protocol: tcp"
    echo "    vip: 198.18.0.100"
    echo "    port: $((10001 + s))"
    echo "    health_check: $check"
    echo "    real_servers:"
    for ((k = 0; k < per; k++, i++)); do
      echo "      - {address: ${rs_addresses[i % ${#rs_addresses[@]}]}, port: ${PORTS[i / ${#rs_addresses[@]}]}}"
    done
  done >>"$out"
}

# metric NAME: the sum of a /metrics family over every real server.
metric() {
  curl -s --max-time 5 http://127.0.0.1:9640/metrics |
    awk -v f="$1" 'index($0, f "{") == 1 {s += $NF} END {printf "%.0f\n", s}'
}

for type in "${TYPES[@]}"; do
  cfg="$WORK/health-$type.yaml"
  write_config "$type" "$cfg"
  start_vsnatd "$cfg" "$WORK/vsnatd-$type.log" "$PREFIX"
  tid=""
  for t in /proc/"$VSNATD_PID"/task/*; do
    [[ $(cat "$t/comm" 2>/dev/null) == vsnat-health ]] && tid=${t##*/}
  done
  [[ -n $tid ]] || die "no vsnat-health thread in vsnatd $VSNATD_PID"
  sleep 3  # the first probes are spread over one interval
  probes0=$(metric vsnat_real_server_health_checks_total)
  failures0=$(metric vsnat_real_server_health_check_failures_total)
  ticks0=$(proc_cpu_ticks "$VSNATD_PID/task/$tid")
  t0=$(bench_now)
  sleep "$SECONDS_MEASURED"
  ticks1=$(proc_cpu_ticks "$VSNATD_PID/task/$tid")
  t1=$(bench_now)
  probes=$(($(metric vsnat_real_server_health_checks_total) - probes0))
  failures=$(($(metric vsnat_real_server_health_check_failures_total) - failures0))
  up=$(metric vsnat_real_server_up)
  stop_vsnatd
  awk -v d="$((ticks1 - ticks0))" -v hz="$(getconf CLK_TCK)" -v t0="$t0" -v t1="$t1" \
    -v p="$probes" -v f="$failures" -v up="$up" -v n="$SERVERS" -v type="$type" 'BEGIN {
      pct = 100 * d / hz / (t1 - t0)
      printf "%-4s checks, %d real servers every 1 s: %.0f probes/s, %d failed, %d up; " \
             "vsnat-health thread %.1f%% of one core (target < 5%%: %s)\n",
             type, n, p / (t1 - t0), f, up, pct, pct < 5 ? "met" : "not met" }'
done
