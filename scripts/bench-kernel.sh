#!/usr/bin/env bash
# scripts/bench-kernel.sh — kernel baseline: the lab's nftables DNAT router versus vsnatd on
# net_af_xdp, same link, same generator, same packets (issue 7, item 3).
#
# usage: sudo scripts/bench-kernel.sh [--rounds R] [--seconds S] [--flows N] [--wrk-seconds W]
#                                     [--no-wrk]
#
#   --rounds R       kernel/vsnatd pairs, alternating which goes first (default 3); medians
#   --seconds S      measured seconds of the packet-rate test per director (default 5)
#   --flows N        TCP flows in the generator's pcap (default 1000)
#   --wrk-seconds W  each wrk run (default 5): 1 thread, 50 connections (0 = --no-wrk)
#
# Packet rate (the figure with a target: vsnatd >= 3x the kernel router):
#   The generator is dpdk-testpmd --forward-mode=io in the client namespace, from
#   net_pcap0,rx_pcap=FILE,infinite_rx=1 (bench/flowgen.py: 64-byte TCP, N flows, one SYN then
#   one ACK per flow, clients 198.18.0.1-250 -> VIP 198.18.0.100:80, destination MAC the
#   director's) to net_af_packet0,iface=eth0: the client's end of the vsn-out veth. The same
#   generator, file and link feed
#     - kernel: `scripts/lab.sh up --kernel-director` (namespace vsnat-kdir: forwarding +
#       nftables numgen DNAT, scripts/lab/kernel-director.nft);
#     - vsnatd: `scripts/lab.sh up`, vsnatd with 1 worker on net_af_xdp0,iface=vsn-out and
#       net_af_xdp1,iface=vsn-in, static neighbors for the real servers.
#   Delivered = packets received per second by the real servers' eth0 (rx_packets of
#   vsnat-rs1 + vsnat-rs2, read every second for S seconds after 3 s of warm-up, median). So that
#   the servers' own answers (SYN-ACKs, RSTs: the generator is not a TCP stack) do not load the
#   shared CPUs, a netdev ingress rule in each server namespace drops TCP from 198.18.0.0/24
#   after it has been counted (ARP still passes); it is removed before the wrk runs.
# Cores (2 here): the generator's lcores are both on CPU 0 (--lcores 0@0,1@0); vsnatd's worker
#   on CPU 1 (its control thread, mostly asleep, on CPU 0); for the kernel router, RPS steers
#   vsn-out's receive processing (routing, conntrack, DNAT, forwarding) to CPU 1, so each
#   director has CPU 1 and the generator CPU 0. Per-CPU user/system/softirq/idle over each
#   measured window is printed.
# wrk (for information; servers, client and director share both CPUs): requests/s through
#   each director, keep-alive and Connection: close (a new connection per request).
#
# The lab's namespaces have fixed names shared with the e2e tests: the script runs under their
# lock (/run/lock/vsnat-e2e.lock, waiting up to 900 s), takes the lab down at the end, and
# stops every process it started by PID, also on Ctrl-C or an error. Traffic stays inside the
# lab's namespaces (198.18.0.0/15).

set -Eeuo pipefail

BENCH_NAME=bench-kernel
# shellcheck source=SCRIPTDIR/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench/lib.sh"

usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

ROUNDS=3 SECONDS_RUN=5 FLOWS=1000 WRK_S=5
readonly WARMUP_S=3
args=("$@")
while (($#)); do
  case $1 in
    --rounds) ROUNDS=${2:?}; shift ;;
    --seconds) SECONDS_RUN=${2:?}; shift ;;
    --flows) FLOWS=${2:?}; shift ;;
    --wrk-seconds) WRK_S=${2:?}; shift ;;
    --no-wrk) WRK_S=0 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument $1" ;;
  esac
  shift
done
in_range "$ROUNDS" 1 10 || die "--rounds must be 1..10"
in_range "$SECONDS_RUN" 2 60 || die "--seconds must be 2..60"
in_range "$FLOWS" 1 100000 || die "--flows must be 1..100000"
in_range "$WRK_S" 0 60 || die "--wrk-seconds must be 0..60"

bench_require_root
bench_require_built
for t in wrk curl flock nft dpdk-testpmd stdbuf; do
  command -v "$t" >/dev/null || die "$t missing (scripts/install-deps.sh)"
done
bench_lock_lab "${args[@]}"

WORK="${VSNAT_BENCH_DIR:-/tmp/vsnat-bench-kernel}"
readonly PREFIX="vsnat-bench-kernel-$$" GEN_PREFIX="gen-bench-kernel-$$"
mkdir -p "$WORK"
readonly PCAP="$WORK/flows-$FLOWS.pcap"
GEN_PID=""

bench_cleanup_on_exit

client() { ip netns exec vsnat-client "$@"; }

# Packets the real servers received addressed to themselves: the sink's counters (below), not
# eth0's rx_packets, which also counts frames the lab's bridge floods to both servers while it
# has not learned a server's MAC (a sunk server sends nothing it could learn from).
server_rx() {
  local n total=0 v
  for n in 1 2; do
    v=$(ip netns exec "vsnat-rs$n" nft -j list table netdev vsnat_bench_sink | "$PY" -c '
import json, sys
rules = [i["rule"] for i in json.load(sys.stdin)["nftables"] if "rule" in i]
print(sum(e["counter"]["packets"] for r in rules for e in r["expr"] if "counter" in e))')
    total=$((total + v))
  done
  echo "$total"
}

sink() {
  local n
  for n in 1 2; do
    if [[ $1 == on ]]; then
      ip netns exec "vsnat-rs$n" nft -f - <<EOF
table netdev vsnat_bench_sink {
    chain ingress {
        type filter hook ingress device "eth0" priority 0; policy accept;
        ip daddr 198.19.0.$((n + 1)) ip saddr 198.18.0.0/24 meta l4proto tcp counter drop
        ip saddr 198.18.0.0/24 meta l4proto tcp drop
    }
}
EOF
    else
      ip netns exec "vsnat-rs$n" nft delete table netdev vsnat_bench_sink 2>/dev/null || true
    fi
  done
}

start_generator() {
  local log=$1
  # The client namespace's eth0 has TX checksum offload off (lab.sh); the pcap's checksums are
  # complete. Both lcores on CPU 0: lcore 1 forwards, lcore 0 (main) sleeps.
  # --in-memory: no hugepage files to leave behind if it has to be killed.
  stdbuf -oL ip netns exec vsnat-client dpdk-testpmd --lcores '0@0,1@0' --no-pci --in-memory \
    --file-prefix "$GEN_PREFIX" --vdev "net_pcap0,rx_pcap=$PCAP,infinite_rx=1" \
    --vdev net_af_packet0,iface=eth0 -- --forward-mode=io --stats-period 1 \
    --total-num-mbufs=$((2 * FLOWS + 16384)) </dev/null >"$log" 2>&1 &
  GEN_PID=$!
  bench_track "$GEN_PID"
  local tries=600
  while ((tries-- > 0)); do
    grep -q 'Tx-pps: *[1-9]' "$log" 2>/dev/null && return 0
    proc_alive "$GEN_PID" || { tail -n 20 "$log" >&2; die "generator exited early (log $log)"; }
    sleep 0.1
  done
  die "the generator sent nothing within 60 s (log $log)"
}

stop_generator() {
  [[ -n $GEN_PID ]] || return 0
  bench_stop "$GEN_PID" 10 || true
  GEN_PID=""
}

# Median of the generator's port 1 (af_packet) Tx-pps samples, in Mpps: the offered load.
generator_mpps() {
  local v=()
  mapfile -t v < <(awk '/NIC statistics for port 1/ {p = 1} /NIC statistics for port 0/ {p = 0}
    p && /Tx-pps:/ && $2 > 0 {printf "%.3f\n", $2 / 1e6}' "$1" | tail -n +3)
  bench_median "${v[@]}"
}

# rate_test NAME ROUND: packets/s delivered to the servers while the generator runs.
# Appends "NAME delivered_mpps offered_mpps" to results; CPU usage to cpu.txt.
rate_test() {
  local name=$1 round=$2 glog="$WORK/gen-$1-$2.log" x0 x1 t0 t1 c0 c1 i rates=()
  sink on
  start_generator "$glog"
  sleep "$WARMUP_S"
  c0=$(cpu_snapshot)
  t0=$(bench_now) x0=$(server_rx)
  for ((i = 0; i < SECONDS_RUN; i++)); do
    sleep 1
    t1=$(bench_now) x1=$(server_rx)
    rates+=("$(awk -v a="$x0" -v b="$x1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.4f", (b - a) / (e - s) / 1e6 }')")
    t0=$t1 x0=$x1
  done
  c1=$(cpu_snapshot)
  stop_generator
  sink off
  local d o
  d=$(bench_median "${rates[@]}") o=$(generator_mpps "$glog")
  echo "$name $d $o" >>"$WORK/results.txt"
  {
    echo "round $round $name: delivered ${d} Mpps (per second: ${rates[*]}), offered ${o} Mpps"
    cpu_report "$c0" "$c1"
  } | tee -a "$WORK/cpu.txt" | sed "s/^/$BENCH_NAME: /"
}

# wrk_test NAME: keep-alive and Connection: close req/s; appends to wrk.txt.
wrk_test() {
  ((WRK_S > 0)) || return 0
  local name=$1 ka cl
  client curl -s -o /dev/null --max-time 3 "http://198.18.0.100/" || true
  ka=$(client timeout $((WRK_S + 10)) wrk -t1 -c50 -d"${WRK_S}s" --timeout 2s "http://198.18.0.100/" 2>&1 |
    awk '/^Requests\/sec:/ {print $2}')
  cl=$(client timeout $((WRK_S + 10)) wrk -t1 -c50 -d"${WRK_S}s" --timeout 2s -H 'Connection: close' \
    "http://198.18.0.100/" 2>&1 | awk '/^Requests\/sec:/ {print $2}')
  echo "$name ${ka:-nan} ${cl:-nan}" >>"$WORK/wrk.txt"
  say "$name: wrk keep-alive ${ka:-nan} req/s, Connection: close ${cl:-nan} req/s"
}

run_kernel() {
  bench_lab_up kernel
  # RPS: vsn-out's receive processing on CPU 1 (mask 2), away from the generator on CPU 0.
  ip netns exec vsnat-kdir sh -c 'echo 2 > /sys/class/net/vsn-out/queues/rx-0/rps_cpus'
  rate_test kernel "$1"
  wrk_test kernel
  bench_lab_down
}

run_vsnatd() {
  bench_lab_up dpdk
  local cfg="$WORK/vsnatd.yaml"
  cat >"$cfg" <<EOF
# Written by scripts/bench-kernel.sh: the lab on AF_XDP, static neighbors.
eal: ["-l", "0-1", "--file-prefix", "$PREFIX", "--no-pci"]
workers: 1
max_connections: 1048576
metrics: off
interfaces:
  - {name: outside, device: "net_af_xdp0,iface=vsn-out", address: 198.18.0.254/24}
  - {name: inside, device: "net_af_xdp1,iface=vsn-in", address: 198.19.0.1/24}
EOF
  bench_services_yaml --static >>"$cfg"
  start_vsnatd "$cfg" "$WORK/vsnatd-$1.log" "$PREFIX"
  rate_test vsnatd "$1"
  "$VSNATCTL" --prefix "$PREFIX" stats >"$WORK/vsnatd-$1.stats" 2>&1 || true
  wrk_test vsnatd
  stop_vsnatd
  bench_lab_down
}

: >"$WORK/results.txt"
: >"$WORK/cpu.txt"
: >"$WORK/wrk.txt"
"$REPO_DIR/scripts/hugepages.sh" >/dev/null || die "scripts/hugepages.sh failed"
"$PY" "$REPO_DIR/bench/flowgen.py" --flows "$FLOWS" --out "$PCAP" \
  --dst-mac 02:00:c6:12:00:fe --src-mac 02:00:c6:12:00:01
for ((r = 1; r <= ROUNDS; r++)); do
  if ((r % 2)); then run_kernel "$r"; run_vsnatd "$r"; else run_vsnatd "$r"; run_kernel "$r"; fi
done

col() { awk -v n="$1" -v k="$2" '$1 == n {print $k}' "$3"; }
mapfile -t kd < <(col kernel 2 "$WORK/results.txt")
mapfile -t vd < <(col vsnatd 2 "$WORK/results.txt")
mapfile -t ko < <(col kernel 3 "$WORK/results.txt")
mapfile -t vo < <(col vsnatd 3 "$WORK/results.txt")
ratios=()
for ((i = 0; i < ${#kd[@]}; i++)); do ratios+=("$(bench_ratio "${vd[i]}" "${kd[i]}")"); done
mk=$(bench_median "${kd[@]}") mv=$(bench_median "${vd[@]}") mr=$(bench_median "${ratios[@]}")
echo
printf 'same link, same generator: 64 B TCP, %s flows, testpmd pcap replay on af_packet (client eth0), %s x %s s\n' \
  "$FLOWS" "$ROUNDS" "$SECONDS_RUN"
printf '  kernel nftables DNAT   delivered median %7.3f Mpps (runs: %s; offered %s)\n' "$mk" "${kd[*]}" "${ko[*]}"
printf '  vsnatd (af_xdp)        delivered median %7.3f Mpps (runs: %s; offered %s)\n' "$mv" "${vd[*]}" "${vo[*]}"
printf '  ratio vsnatd/kernel    median %7.2f (per round: %s)   target >= 3: %s\n' "$mr" "${ratios[*]}" \
  "$(awk -v r="$mr" 'BEGIN { print (r >= 3 ? "MET" : "NOT MET") }')"
if ((WRK_S > 0)); then
  for n in kernel vsnatd; do
    mapfile -t a < <(col "$n" 2 "$WORK/wrk.txt")
    mapfile -t b < <(col "$n" 3 "$WORK/wrk.txt")
    printf '  wrk %-7s keep-alive median %9s req/s, Connection: close median %9s req/s\n' "$n" \
      "$(bench_median "${a[@]}")" "$(bench_median "${b[@]}")"
  done
fi
say "CPU use per window in $WORK/cpu.txt; logs in $WORK"
