#!/usr/bin/env bash
# scripts/bench-kernel.sh — kernel baseline: the lab's nftables DNAT router versus vsnatd on
# net_af_xdp, same link, same generator, same packets: packet rate (issue 7, item 3) and cycles
# per packet (issue 18, item 5).
#
# usage: sudo scripts/bench-kernel.sh [--rounds R] [--seconds S] [--flows N] [--cost-pps P]
#                                     [--wrk-seconds W] [--no-wrk]
#
#   --rounds R       kernel/vsnatd pairs, alternating which goes first (default 3); medians
#   --seconds S      measured seconds of each window per director (default 5)
#   --flows N        TCP flows in the generator's pcap (default 1000)
#   --cost-pps P     the offered load of the cost window, packets/s (default 100000)
#   --wrk-seconds W  each wrk run (default 5): 1 thread, 50 connections (0 = --no-wrk)
#
# Two figures with a target: the packet rate (vsnatd >= 3x the kernel router) and the cost of a
# packet at the same offered load (vsnatd >= 5x fewer cycles). Each director gets two windows.
# Packet rate (the rate window):
#   The generator is dpdk-testpmd --forward-mode=io in the client namespace, from
#   net_pcap0,rx_pcap=FILE,infinite_rx=1 (bench/flowgen.py: 64-byte TCP, N flows, one SYN then
#   one ACK per flow, clients 198.18.0.1-250 -> VIP 198.18.0.100:80, destination MAC the
#   director's) to net_af_packet0,iface=eth0: the client's end of the vsn-out veth. The same
#   generator, file and link feed
#     - kernel: `scripts/lab.sh up --kernel-director` (namespace vsnat-kdir: forwarding +
#       nftables numgen DNAT, scripts/lab/kernel-director.nft);
#     - vsnatd: `scripts/lab.sh up`, vsnatd with 1 worker on net_af_xdp0,iface=vsn-out and
#       net_af_xdp1,iface=vsn-in, static neighbors for the real servers.
#   Delivered = packets per second counted by a netdev ingress rule on each real server's eth0
#   (vsnat-rs1 + vsnat-rs2, read every second for S seconds after 3 s of warm-up, median). So that
#   the servers' own answers (SYN-ACKs, RSTs: the generator is not a TCP stack) do not load the
#   shared CPUs, a netdev ingress rule in each server namespace drops TCP from 198.18.0.0/24
#   after it has been counted (ARP still passes); it is removed before the wrk runs.
#   The generator does not offer both directors the same load: af_packet frees a frame of its TX
#   ring only when the packet's skb is freed, which for the kernel router is after forwarding.
# Cost (the cost window): the same generator, from a pcap of the same flows' SYNs only, paced
#   to P packets/s by a tbf qdisc on the client's eth0 (af_packet with qdisc_bypass=0): both
#   directors see the same offered load, meant to be below what either carries, and can forward
#   all of it (the kernel's conntrack finds the client's ACKs invalid while the servers stay
#   silent, and rejects them: bench/flowgen.py). The servers are read at the window's ends only.
#   Cycles per delivered packet:
#     - kernel: the share of CPU 1's time in system + irq + softirq (/proc/stat): RPS puts
#       vsn-out's receive processing there, and with it all the forwarded packet does on its way
#       to the servers;
#     - vsnatd: the worker's busy_cycles / (busy_cycles + idle_cycles) (`vsnatctl --json
#       stats`: TSC cycles of its loop turns with and without work). Each round also prints the
#       share of a core its thread ran (user + system ticks): near the busy share at full rate,
#       it tells how much of the busy time went to other processes on CPU 1; at low load the
#       thread spins through idle turns and runs almost all the time.
#   A share of a core times the TSC rate, divided by the packets delivered per second (the
#   servers' counter, mean over the window), is cycles per packet. The TSC rate is measured:
#   vsnatd's busy + idle cycles over the wall-clock seconds between the two reads. CPU 0's
#   softirq per packet is printed too (vsnatd's veth XDP receive runs there). Each rate window's
#   line has the same figures, for information only: there the kernel also spends CPU on the
#   ACKs it rejects. bench/README.md says what each figure includes.
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

ROUNDS=3 SECONDS_RUN=5 FLOWS=1000 COST_PPS=100000 WRK_S=5
readonly WARMUP_S=3
args=("$@")
while (($#)); do
  case $1 in
    --rounds) ROUNDS=${2:?}; shift ;;
    --seconds) SECONDS_RUN=${2:?}; shift ;;
    --flows) FLOWS=${2:?}; shift ;;
    --cost-pps) COST_PPS=${2:?}; shift ;;
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
in_range "$COST_PPS" 1000 10000000 || die "--cost-pps must be 1000..10000000"
in_range "$WRK_S" 0 60 || die "--wrk-seconds must be 0..60"

bench_require_root
bench_require_built
for t in wrk curl flock nft tc dpdk-testpmd stdbuf; do
  command -v "$t" >/dev/null || die "$t missing (scripts/install-deps.sh)"
done
bench_lock_lab "${args[@]}"

WORK="${VSNAT_BENCH_DIR:-/tmp/vsnat-bench-kernel}"
readonly PREFIX="vsnat-bench-kernel-$$" GEN_PREFIX="gen-bench-kernel-$$"
mkdir -p "$WORK"
readonly PCAP="$WORK/flows-$FLOWS.pcap" PCAP_SYN="$WORK/flows-$FLOWS-syn.pcap"
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

# start_generator LOG PCAP [PPS]: testpmd from PCAP into the client's eth0; with PPS, through a
# tbf qdisc that lets PPS of the 60-byte frames (480 bits each) pass and holds back the rest.
start_generator() {
  local log=$1 pcap=$2 pps=${3:-} bypass=1
  if [[ -n $pps ]]; then
    # burst: 250 frames, so that a few ms without the generator (two shared CPUs) cost no
    # rate: the bucket then sends them back to back. The af_packet TX ring (512 frames) caps
    # what queues behind it.
    client tc qdisc replace dev eth0 root tbf rate "$((pps * 480))bit" burst 15000 latency 20ms
    bypass=0
  fi
  # The client namespace's eth0 has TX checksum offload off (lab.sh); the pcap's checksums are
  # complete. Both lcores on CPU 0: lcore 1 forwards, lcore 0 (main) sleeps.
  # --in-memory: no hugepage files to leave behind if it has to be killed.
  stdbuf -oL ip netns exec vsnat-client dpdk-testpmd --lcores '0@0,1@0' --no-pci --in-memory \
    --file-prefix "$GEN_PREFIX" --vdev "net_pcap0,rx_pcap=$pcap,infinite_rx=1" \
    --vdev "net_af_packet0,iface=eth0,qdisc_bypass=$bypass" -- --forward-mode=io --stats-period 1 \
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
  client tc qdisc del dev eth0 root 2>/dev/null || true
}

# paced_snapshot: "SECONDS PACKETS" the client's tbf qdisc has sent (0 without one).
paced_snapshot() {
  local t
  t=$(bench_now)
  echo "$t $(client tc -s -j qdisc show dev eth0 | "$PY" -c '
import json, sys
print(sum(q.get("packets", 0) for q in json.load(sys.stdin) if q.get("kind") == "tbf"))')"
}

# worker_ticks: user + system clock ticks of vsnatd's worker threads (DPDK's lcore threads:
# rte-worker-N in 22.11, lcore-worker-N before, dpdk-workerN after), softirq work run in their
# context included.
worker_ticks() {
  local task total=0
  for task in /proc/"$VSNATD_PID"/task/*; do
    [[ $(<"$task/comm") == *worker* ]] && total=$((total + $(proc_cpu_ticks "${task#/proc/}")))
  done
  echo "$total"
}

# worker_snapshot: "SECONDS BUSY IDLE TX TICKS" of vsnatd's workers (summed) at one moment,
# SECONDS taken just before the query (the TSC rate is measured from it).
worker_snapshot() {
  local t
  t=$(bench_now)
  echo "$t $("$VSNATCTL" --prefix "$PREFIX" --json stats | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
total = lambda v: sum(v) if isinstance(v, list) else v
print(" ".join(str(total(d[k])) for k in ("busy_cycles", "idle_cycles", "tx_packets")))') $(worker_ticks)"
}

# worker_window BEFORE AFTER (two worker_snapshot lines): "BUSY_SHARE TSC_HZ TX_MPPS CPU_SHARE":
# the share of the worker's TSC cycles in turns with work, the TSC rate (busy + idle cycles over
# the seconds between the snapshots: the worker's turns cover all of its time), its tx rate,
# and the share of a core its thread ran (CPU time, as the kernel's figure is).
worker_window() {
  echo "$1 $2" | awk -v hz="$(getconf CLK_TCK)" '{ b = $7 - $2; i = $8 - $3; s = $6 - $1
    printf "%.4f %.0f %.3f %.4f\n", b / (b + i), (b + i) / s, ($9 - $4) / s / 1e6, ($10 - $5) / hz / s }'
}

pct() { awk -v v="$1" 'BEGIN { printf "%.1f%%", 100 * v }'; }

# per_packet_ns SHARE PPS: nanoseconds of a core per packet, at SHARE of a core for PPS packets/s.
per_packet_ns() { awk -v s="$1" -v p="$2" 'BEGIN { printf "%.0f", (p > 0 ? s * 1e9 / p : 0) }'; }

# Median of the generator's port 1 (af_packet) Tx-pps samples, in Mpps: the offered load.
generator_mpps() {
  local v=()
  mapfile -t v < <(awk '/NIC statistics for port 1/ {p = 1} /NIC statistics for port 0/ {p = 0}
    p && /Tx-pps:/ && $2 > 0 {printf "%.3f\n", $2 / 1e6}' "$1" | tail -n +3)
  bench_median "${v[@]}"
}

# window_test NAME ROUND rate|cost: packets/s delivered to the servers while the generator runs
# (the SYN pcap paced to --cost-pps in the cost window), and what the director spent on them.
# Appends "NAME WINDOW delivered_mpps offered_mpps mean_pps share cpu0_softirq_share tsc_hz" to
# results.txt (tsc_hz "-" for the kernel); CPU usage to cpu.txt.
window_test() {
  local name=$1 round=$2 window=$3 pcap=$PCAP pace="" glog c0 c1 w0="" w1="" q0 q1 x0 x1 t0 t1
  local xs ts i rates=()
  [[ $window == cost ]] && pcap=$PCAP_SYN pace=$COST_PPS
  glog="$WORK/gen-$name-$window-$round.log"
  sink on
  start_generator "$glog" "$pcap" "$pace"
  sleep "$WARMUP_S"
  # Nested reads (servers, tbf, worker, CPU; the reverse at the end), every figure a rate over
  # its own pair's interval: the CPU pair innermost, so that the other reads' processes (ip,
  # nft, tc, vsnatctl, python) are not in the CPU time counted as the kernel router's. The
  # rate window also reads the servers every second (its median rate) inside it; the cost
  # window at its ends only.
  local step=1 steps=$SECONDS_RUN
  [[ -n $pace ]] && step=$SECONDS_RUN steps=1
  t0=$(bench_now) x0=$(server_rx)
  ts=$t0 xs=$x0
  [[ -n $pace ]] && q0=$(paced_snapshot)
  [[ $name == vsnatd ]] && w0=$(worker_snapshot)
  c0=$(cpu_snapshot)
  for ((i = 1; i <= steps; i++)); do
    sleep "$step"
    if ((i == steps)); then
      c1=$(cpu_snapshot)
      [[ $name == vsnatd ]] && w1=$(worker_snapshot)
      [[ -n $pace ]] && q1=$(paced_snapshot)
    fi
    t1=$(bench_now) x1=$(server_rx)
    rates+=("$(awk -v a="$x0" -v b="$x1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.4f", (b - a) / (e - s) / 1e6 }')")
    t0=$t1 x0=$x1
  done
  stop_generator
  sink off
  local d o pps share cpu0 tsc=- what tx thread
  d=$(bench_median "${rates[@]}")
  if [[ -n $pace ]]; then
    o=$(echo "$q0 $q1" | awk '{ printf "%.4f", ($4 - $2) / ($3 - $1) / 1e6 }')
  else
    o=$(generator_mpps "$glog")
  fi
  pps=$(awk -v a="$xs" -v b="$x1" -v s="$ts" -v e="$t1" 'BEGIN { printf "%.0f", (b - a) / (e - s) }')
  cpu0=$(cpu_share "$c0" "$c1" cpu0 softirq)
  if [[ $name == kernel ]]; then
    share=$(cpu_share "$c0" "$c1" cpu1 system irq softirq)
    what="CPU 1 system + irq + softirq (system alone $(pct "$(cpu_share "$c0" "$c1" cpu1 system)"))"
  else
    read -r share tsc tx thread < <(worker_window "$w0" "$w1")
    what="worker busy (its tx $tx Mpps; TSC $tsc Hz); its thread ran $(pct "$thread") = $(per_packet_ns "$thread" "$pps") ns"
  fi
  echo "$name $window $d $o $pps $share $cpu0 $tsc" >>"$WORK/results.txt"
  {
    echo "round $round $name, $window window: delivered $d Mpps (per second: ${rates[*]}; mean $pps/s), offered $o Mpps"
    echo "    cost: $(pct "$share") of a core = $(per_packet_ns "$share" "$pps") ns a delivered packet: $what"
    echo "    CPU 0 softirq: $(pct "$cpu0") = $(per_packet_ns "$cpu0" "$pps") ns a delivered packet"
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
  window_test kernel "$1" rate
  window_test kernel "$1" cost
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
  window_test vsnatd "$1" rate
  window_test vsnatd "$1" cost
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
"$PY" "$REPO_DIR/bench/flowgen.py" --flows "$FLOWS" --out "$PCAP_SYN" --data-per-flow 0 \
  --dst-mac 02:00:c6:12:00:fe --src-mac 02:00:c6:12:00:01
for ((r = 1; r <= ROUNDS; r++)); do
  if ((r % 2)); then run_kernel "$r"; run_vsnatd "$r"; else run_vsnatd "$r"; run_kernel "$r"; fi
done

col() { awk -v n="$1" -v k="$2" '$1 == n {print $k}' "$3"; }
# res NAME WINDOW K: column K of results.txt's lines for NAME's WINDOW, one per round.
res() { awk -v n="$1" -v w="$2" -v k="$3" '$1 == n && $2 == w {print $k}' "$WORK/results.txt"; }
# ratios A B: per round, A[i] / B[i] of two arrays passed by name.
ratios() {
  local -n a_=$1 b_=$2
  local i
  for ((i = 0; i < ${#a_[@]}; i++)); do bench_ratio "${a_[i]}" "${b_[i]}"; done
}
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t ? "MET" : "NOT MET") }'; }

mapfile -t kd < <(res kernel rate 3)
mapfile -t vd < <(res vsnatd rate 3)
mapfile -t ko < <(res kernel rate 4)
mapfile -t vo < <(res vsnatd rate 4)
mapfile -t rr < <(ratios vd kd)
mr=$(bench_median "${rr[@]}")
echo
printf 'same link, same generator: 64 B TCP, %s flows, testpmd pcap replay on af_packet (client eth0), %s x %s s\n' \
  "$FLOWS" "$ROUNDS" "$SECONDS_RUN"
printf '  kernel nftables DNAT   delivered median %7.3f Mpps (runs: %s; offered %s)\n' \
  "$(bench_median "${kd[@]}")" "${kd[*]}" "${ko[*]}"
printf '  vsnatd (af_xdp)        delivered median %7.3f Mpps (runs: %s; offered %s)\n' \
  "$(bench_median "${vd[@]}")" "${vd[*]}" "${vo[*]}"
printf '  ratio vsnatd/kernel    median %7.2f (per round: %s)   target >= 3: %s\n' "$mr" "${rr[*]}" \
  "$(verdict "$mr" 3)"

# Cost: per round, cycles per delivered packet = share of a core x TSC Hz / packets per second,
# at the TSC rate vsnatd's counters measured (median of its cost windows).
mapfile -t tscs < <(res vsnatd cost 8)
hz=$(bench_median "${tscs[@]}")
# cycles NAME: per round, cycles per delivered packet of the director's share of a core in the
# cost window.
cycles() {
  awk -v n="$1" -v h="$hz" '$1 == n && $2 == "cost" { printf "%.0f\n", ($5 ? $6 * h / $5 : 0) }' \
    "$WORK/results.txt"
}
mapfile -t kc < <(cycles kernel)
mapfile -t vc < <(cycles vsnatd)
mapfile -t cr < <(ratios kc vc)
mcr=$(bench_median "${cr[@]}")
printf 'cost at the same offered load (SYNs paced to %s/s): cycles per delivered packet, TSC %.3f GHz\n' \
  "$COST_PPS" "$(awk -v h="$hz" 'BEGIN { print h / 1e9 }')"
printf '  kernel nftables DNAT   median %7.0f (runs: %s; offered %s Mpps)   CPU 1 system+irq+softirq\n' \
  "$(bench_median "${kc[@]}")" "${kc[*]}" "$(res kernel cost 4 | paste -sd ' ')"
printf '  vsnatd (af_xdp)        median %7.0f (runs: %s; offered %s Mpps)   worker busy_cycles\n' \
  "$(bench_median "${vc[@]}")" "${vc[*]}" "$(res vsnatd cost 4 | paste -sd ' ')"
printf '  ratio kernel/vsnatd    median %7.2f (per round: %s)   target >= 5: %s\n' "$mcr" "${cr[*]}" \
  "$(verdict "$mcr" 5)"
if ((WRK_S > 0)); then
  for n in kernel vsnatd; do
    mapfile -t a < <(col "$n" 2 "$WORK/wrk.txt")
    mapfile -t b < <(col "$n" 3 "$WORK/wrk.txt")
    printf '  wrk %-7s keep-alive median %9s req/s, Connection: close median %9s req/s\n' "$n" \
      "$(bench_median "${a[@]}")" "$(bench_median "${b[@]}")"
  done
fi
say "CPU use per window in $WORK/cpu.txt; logs in $WORK"
