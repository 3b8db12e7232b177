#!/usr/bin/env bash
# scripts/bench.sh — whole-daemon benchmark on vdevs: vsnatd versus testpmd forwarding (io, and
# 5tswap), same vdevs, same traffic, same core, side by side in one invocation.
#
# usage: sudo scripts/bench.sh [--flows N] [--seconds S] [--runs R] [--idle poll|adaptive]
#                              [--data-per-flow K] [--keep]
#
#   --flows N          established TCP flows (default 1000; suffixes k and M: 1k, 100k, 1M)
#   --seconds S        measured seconds per run (default 5), after a warm-up (see below)
#   --runs R           rounds of vsnatd, testpmd io and testpmd 5tswap, alternated (default 3);
#                      medians are reported
#   --idle MODE        vsnatd's `idle` (default adaptive, the product default; under full load
#                      the two are the same code path)
#   --data-per-flow K  ACK rounds per flow in the pcap (default 1: half of all packets are SYNs)
#   --keep             keep the work directory ($VSNAT_BENCH_DIR, default /tmp/vsnat-bench)
#
# What it does:
#  1. bench/flowgen.py writes a pcap of 64-byte TCP packets: one SYN per flow from clients
#     198.18.0.1-250 (ports from 1024) to the VIP 198.18.0.100:80, then K rounds of one ACK per
#     flow. Replayed by net_pcap infinite_rx=1, the first pass opens and establishes every
#     connection; later passes replay SYNs onto ESTABLISHED connections, which LVS's state table
#     keeps ESTABLISHED (conn_reuse only reschedules TIME_WAIT/CLOSE), so the steady state is N
#     established flows, every packet a connection-table hit, rewritten to 198.19.0.2:80 or
#     198.19.0.3:8000 and sent out.
#  2. vsnatd, 1 worker (EAL -l 0-1: control thread lcore 0, worker lcore 1), outside interface
#     net_pcap0,rx_pcap=FILE,infinite_rx=1 (198.18.0.254/24), inside interface net_null0,no-rx=1
#     (198.19.0.1/24), static neighbors for both real servers (no ARP), metrics off,
#     max_connections 5N/4, no source-prefix share (every client is in one /24), packet_buffers
#     sized for the whole pcap. Warm-up: until every flow
#     is in the table, plus 2 s. Then the worker's tx_packets (vsnatctl stats --json) is read
#     once a second for S seconds: the median per-second rate is its Mpps.
#  3. dpdk-testpmd on the same vdev strings, the same lcores (-l 0-1: main lcore 0, forwarding
#     lcore 1), the same mbuf count, the same burst as vsnatd's worker receives (--burst=64),
#     twice: --forward-mode=io (moves mbufs, touches no byte) and --forward-mode=5tswap (swaps
#     the MAC, IP addresses and L4 ports of each packet: reads and writes the header fields a
#     NAT rewrite touches, without checksums or any lookup); the
#     Tx-pps of port 1 from its periodic statistics (--stats-period 1; printed every 1-2 s, each
#     the rate since the previous print): S samples after a warm-up of 3, median.
#  4. Prints the three, vsnatd's ratio to each and the targets (>= 0.9 of io, >= 0.6 of 5tswap).
#
# net_null0 is opened with no-rx=1 for both: otherwise null's RX invents zero-filled packets
# that testpmd would forward back and vsnatd would drop, costing both of them time.
# Memory: the pcap PMD copies its whole file into mbufs at start, about 2.4 KiB of hugepages
# per packet: 1M flows (2M packets) need about 5 GiB; the script raises nr_hugepages for the
# run (scripts/hugepages.sh) and lowers it back afterwards.
# Every process it starts (vsnatd, testpmd) is stopped by PID at the end, also on Ctrl-C or
# an error. Unique EAL --file-prefix values (vsnat-bench-PID, testpmd-bench-PID).

set -Eeuo pipefail

BENCH_NAME=bench
# shellcheck source=SCRIPTDIR/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench/lib.sh"

usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

FLOWS=1000 SECONDS_RUN=5 RUNS=3 IDLE=adaptive DATA_PER_FLOW=1 KEEP=0
readonly WARMUP_S=2
WORK="${VSNAT_BENCH_DIR:-/tmp/vsnat-bench}"
TESTPMD_PID="" RESULT=""

parse_count() {
  local v=$1
  case $v in
    *[kK]) v=$((${v%[kK]} * 1000)) ;;
    *M) v=$((${v%M} * 1000000)) ;;
  esac
  [[ $v =~ ^[0-9]+$ ]] || die "not a count: $1"
  echo "$v"
}

while (($#)); do
  case $1 in
    --flows) FLOWS=$(parse_count "${2:?}"); shift ;;
    --seconds) SECONDS_RUN=${2:?}; shift ;;
    --runs) RUNS=${2:?}; shift ;;
    --idle) IDLE=${2:?}; shift ;;
    --data-per-flow) DATA_PER_FLOW=${2:?}; shift ;;
    --keep) KEEP=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument $1" ;;
  esac
  shift
done
((FLOWS >= 1 && FLOWS <= 10000000)) || die "--flows must be 1..10M"
in_range() { [[ $1 =~ ^[0-9]+$ ]] && (($1 >= $2 && $1 <= $3)); }
in_range "$SECONDS_RUN" 2 120 || die "--seconds must be 2..120"
in_range "$RUNS" 1 20 || die "--runs must be 1..20"
[[ $IDLE == poll || $IDLE == adaptive ]] || die "--idle poll|adaptive"
in_range "$DATA_PER_FLOW" 1 16 || die "--data-per-flow must be 1..16"

bench_require_root
bench_require_built
command -v dpdk-testpmd >/dev/null || die "dpdk-testpmd missing (Debian package dpdk; scripts/install-deps.sh)"

readonly PACKETS=$((FLOWS * (1 + DATA_PER_FLOW)))
readonly MBUFS=$((PACKETS + 16384))
readonly MAX_CONNS=$(((FLOWS * 5 / 4) > 4096 ? (FLOWS * 5 / 4) : 4096))
readonly PREFIX="vsnat-bench-$$" TP_PREFIX="testpmd-bench-$$"
PCAP="$WORK/flows-$FLOWS-$DATA_PER_FLOW.pcap"
readonly PCAP
readonly OUT_DEV="net_pcap0,rx_pcap=$PCAP,infinite_rx=1" IN_DEV="net_null0,no-rx=1"
readonly BURST=64  # vsnatd's worker receives up to this many packets a poll (src/dp/worker.cpp)

# shellcheck disable=SC2317  # invoked at exit
remove_pcaps() { ((KEEP)) || rm -f -- "$WORK"/*.pcap; }
BENCH_EXIT_HOOK=remove_pcaps
bench_cleanup_on_exit

mkdir -p "$WORK"
# 2.4 KiB per mbuf (2176 B data room + headers), twice (1 pool in each process, but they run
# one after the other: once), the connection table (~0.5 KiB per connection, generous), 256
# pages of slack for EAL, rings and the other tables.
pages=$(((MBUFS * 2432 + MAX_CONNS * 512) / 2097152 + 256))
bench_hugepages "$pages"

# Frames addressed to the outside port's own MAC: vsnatd drops IPv4 sent to any other
# (not_our_mac). net_pcap gives its first port 02:70:63:61:70:00, and the outside interface is
# vsnatd's first port.
readonly PCAP_PORT_MAC=02:70:63:61:70:00
"$PY" "$REPO_DIR/bench/flowgen.py" --flows "$FLOWS" --data-per-flow "$DATA_PER_FLOW" \
  --dst-mac "$PCAP_PORT_MAC" --out "$PCAP"

CONFIG="$WORK/vsnatd.yaml"
cat >"$CONFIG" <<EOF
# Written by scripts/bench.sh.
eal: ["-l", "0-1", "--file-prefix", "$PREFIX", "--no-pci"]
workers: 1
max_connections: $MAX_CONNS
packet_buffers: $MBUFS
idle: $IDLE
metrics: off
# The generator's flows all come from 198.18.0.1-250, one /24: the default source-prefix share
# (half a table) would refuse the rest of them. A throughput benchmark measures the table full.
table_shares: {source_prefix: 100%}
interfaces:
  - {name: outside, device: "$OUT_DEV", address: 198.18.0.254/24}
  - {name: inside, device: "$IN_DEV", address: 198.19.0.1/24}
EOF
bench_services_yaml --static >>"$CONFIG"
"$VSNATD" -c "$CONFIG" --check >/dev/null || die "the generated config is refused: $("$VSNATD" -c "$CONFIG" --check 2>&1)"

# run_vsnatd N: RESULT = the median Mpps of one vsnatd run. (Not in a $(...) subshell: the
# processes it starts must stay known to this shell's cleanup.)
run_vsnatd() {
  local log="$WORK/vsnatd-$1.log" tries t0 t1 x0 x1 rates=() conns i
  start_vsnatd "$CONFIG" "$log" "$PREFIX"
  # Warm-up: every flow in the table (bounded), then WARMUP_S.
  tries=600
  while ((tries-- > 0)); do
    conns=$(vsnat_counter "$PREFIX" connections_total)
    ((conns >= FLOWS)) && break
    sleep 0.1
  done
  ((conns >= FLOWS)) || die "only $conns of $FLOWS connections after 60 s (log $log)"
  sleep "$WARMUP_S"
  t0=$(bench_now)
  x0=$(vsnat_counter "$PREFIX" tx_packets)
  for ((i = 0; i < SECONDS_RUN; i++)); do
    sleep 1
    t1=$(bench_now)
    x1=$(vsnat_counter "$PREFIX" tx_packets)
    rates+=("$(awk -v a="$x0" -v b="$x1" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.3f", (b - a) / (e - s) / 1e6 }')")
    t0=$t1 x0=$x1
  done
  "$VSNATCTL" --prefix "$PREFIX" stats >"$WORK/vsnatd-$1.stats" 2>&1 || true
  "$VSNATCTL" --prefix "$PREFIX" --json stats >"$WORK/vsnatd-$1.stats.json" 2>&1 || true
  stop_vsnatd
  echo "vsnatd run $1: per-second Mpps ${rates[*]}" >>"$WORK/samples.txt"
  RESULT=$(bench_median "${rates[@]}")
}

# run_testpmd N MODE: RESULT = the median Mpps of one testpmd run in --forward-mode=MODE.
run_testpmd() {
  local log="$WORK/testpmd-$2-$1.log" tries rates=()
  # stdbuf: line-buffered, so the periodic statistics reach the log as they are printed.
  stdbuf -oL dpdk-testpmd -l 0-1 --no-pci --file-prefix "$TP_PREFIX" --vdev "$OUT_DEV" --vdev "$IN_DEV" -- \
    --forward-mode="$2" --burst="$BURST" --stats-period 1 --total-num-mbufs="$MBUFS" </dev/null >"$log" 2>&1 &
  TESTPMD_PID=$!
  bench_track "$TESTPMD_PID"
  # testpmd prints its statistics every 1-2 s (it sleeps 1 s between checks of a 1 s period),
  # each with the rate since the previous print. Wanted: SECONDS_RUN samples of port 1 after
  # the first non-zero one (partly pcap loading) and WARMUP_S more; bounded wait.
  local want=$((WARMUP_S + SECONDS_RUN + 1)) limit=$((1200 + 40 * (WARMUP_S + SECONDS_RUN)))
  tries=$limit
  while ((tries-- > 0)); do
    (($(tx_pps_samples "$log" | awk '$1 > 0 {n++} END {print n + 0}') >= want)) && break
    proc_alive "$TESTPMD_PID" || { tail -n 20 "$log" >&2; die "testpmd exited early (log $log)"; }
    sleep 0.1
  done
  bench_stop "$TESTPMD_PID" 10 || true   # SIGTERM: testpmd prints its totals and exits
  TESTPMD_PID=""
  mapfile -t rates < <(tx_pps_samples "$log" | awk -v skip="$((WARMUP_S + 1))" -v n="$SECONDS_RUN" '
    $1 > 0 {seen++; if (seen > skip && seen <= skip + n) printf "%.3f\n", $1 / 1e6}')
  ((${#rates[@]} > 0)) || die "no testpmd rate samples (log $log)"
  echo "testpmd $2 run $1: per-second Mpps ${rates[*]}" >>"$WORK/samples.txt"
  RESULT=$(bench_median "${rates[@]}")
}

# Port 1's Tx-pps values from testpmd's periodic statistics (the second Tx-pps of each block).
tx_pps_samples() {
  awk '/NIC statistics for port 1/ {p1 = 1} /NIC statistics for port 0/ {p1 = 0}
       p1 && /Tx-pps:/ {print $2}' "$1" 2>/dev/null
}

: >"$WORK/samples.txt"
say "$FLOWS flows ($PACKETS packets of 64 B in $PCAP), $RUNS runs of $SECONDS_RUN s, vsnatd idle: $IDLE"
say "cores: vsnatd control thread on lcore 0 / worker on lcore 1; testpmd main lcore 0 / forwarding lcore 1 (EAL -l 0-1 for both, one after the other)"
vs=() io=() swap=() io_ratios=() swap_ratios=()
for ((r = 1; r <= RUNS; r++)); do
  run_vsnatd "$r"
  v=$RESULT
  run_testpmd "$r" io
  i=$RESULT
  run_testpmd "$r" 5tswap
  t=$RESULT
  vs+=("$v") io+=("$i") swap+=("$t")
  io_ratios+=("$(bench_ratio "$v" "$i")") swap_ratios+=("$(bench_ratio "$v" "$t")")
  say "run $r: vsnatd $v Mpps, testpmd io $i Mpps (ratio ${io_ratios[-1]}), 5tswap $t Mpps (ratio ${swap_ratios[-1]})"
done
# verdict RATIO TARGET: MET or NOT MET.
verdict() { awk -v r="$1" -v t="$2" 'BEGIN { print (r >= t ? "MET" : "NOT MET") }'; }
mv=$(bench_median "${vs[@]}") mi=$(bench_median "${io[@]}") mt=$(bench_median "${swap[@]}")
mri=$(bench_median "${io_ratios[@]}") mrt=$(bench_median "${swap_ratios[@]}")
echo
printf 'flows %s, 64 B TCP, 1 worker, net_pcap(infinite_rx) -> net_null, bursts of %s, %s x %s s\n' \
  "$FLOWS" "$BURST" "$RUNS" "$SECONDS_RUN"
printf '  %-24s  median %8.2f Mpps   (runs: %s)\n' "vsnatd (idle $IDLE)" "$mv" "${vs[*]}"
printf '  testpmd --forward io      median %8.2f Mpps   (runs: %s)\n' "$mi" "${io[*]}"
printf '  testpmd --forward 5tswap  median %8.2f Mpps   (runs: %s)\n' "$mt" "${swap[*]}"
printf '  ratio vsnatd/io           median %8.3f        (per run: %s)   target >= 0.900: %s\n' \
  "$mri" "${io_ratios[*]}" "$(verdict "$mri" 0.9)"
printf '  ratio vsnatd/5tswap       median %8.3f        (per run: %s)   target >= 0.600: %s\n' \
  "$mrt" "${swap_ratios[*]}" "$(verdict "$mrt" 0.6)"
say "per-second samples, logs and vsnatd's final stats in $WORK"
