#!/usr/bin/env bash
# scripts/pktgen.sh — the Pktgen-DPDK scenarios (pktgen-scenarios/pktgen/*.lua) against vsnatd
# in the namespace lab: Pktgen 23.06.1 in namespace vsnat-client on its veth (net_af_packet on
# eth0), vsnatd on the lab's vsn-out / vsn-in, one fresh vsnatd per scenario.
#
# usage: sudo scripts/pktgen.sh (--pktgen-src DIR | --pktgen BIN) [--rate PCT] [--seconds S]
#                               SCENARIO
#
#   SCENARIO          established | syn_flood | udp_dns | imix | all
#   --pktgen-src DIR  a Pktgen-DPDK source tree at tag pktgen-23.06.1 (a clone, or an export
#                     of the tag); built in DIR/build with Lua (needs liblua5.3-dev, meson,
#                     ninja, libdpdk-dev: scripts/install-deps.sh) unless DIR/build/app/pktgen
#                     is newer than every source file (a DIR/build without Lua is refused)
#   --pktgen BIN      an existing Pktgen 23.06.1 binary built with -Denable_lua=true
#   --rate PCT        Pktgen's rate, % of the port's line rate (VSNAT_PG_RATE, default 1: the
#                     af_packet port says 10 Gbit/s, so 148,810 packets/s of 64 B)
#   --seconds S       sending time at that rate (VSNAT_PG_SECONDS, default 10, 3..120)
#
# Logs, configs, Pktgen's screen and result files, vsnatd's counters: $VSNAT_PKTGEN_DIR
# (default /tmp/vsnat-pktgen), overwritten by the next run. VSNAT_PG_SRC_MIN/MAX and
# VSNAT_PG_SPORT_MIN/MAX, when set, reach the scenarios (other client ranges).
#
# For each scenario: a vsnatd config from config/lab.yaml (same interfaces on the lab's veths,
# the web and dns services with the lab's real servers 198.19.0.2 and 198.19.0.3), started
# with scripts/lab/daemon.sh; Pktgen runs the scenario's Lua script in vsnat-client, bounded
# in count (the packets S seconds take at the rate) and time (twice that, +5 s), then quits
# (past 90 s + 3 S, +150 s for the established scenario, this script stops it by PID and
# fails); the script reads `vsnatctl --json stats`
# before and after and prints one line per scenario:
#   the generator's TX (packets, Mpps: the median of Pktgen's per-second rate while sending),
#   what vsnatd forwarded (tx_packets) and opened (connections_created), its drops by reason,
# and fails (exit 1) when vsnatd forwarded — for the SYN flood, opened — less than 99% of
# what Pktgen sent, or a scenario reported an error.
#
# Honest numbers, in this lab:
#  * The real servers must not answer: the ACKs of the established scenario belong to no
#    connection on their side, and a real TCP stack (the lab's nginx) answers each with a RST,
#    which ends the connection in vsnatd; SYN-ACKs and UDP echoes would add return traffic to
#    what vsnatd forwards. So the config gives the real servers' addresses a static neighbor
#    MAC that no lab host has (02:00:c6:13:00:fe): vsnatd forwards to it, the LAN bridge floods
#    the frames and the real servers' kernels discard them (another host's MAC), as a port
#    that only counts would on real NICs. vsnatd's tx_packets is then exactly what it
#    forwarded from the clients.
#  * vsnatd's outside vdev gets framecnt=8192 (the AF_PACKET ring: 512 frames by default).
#    Pktgen sends bursts of 64 and shares the machine's two cores with vsnatd: with 512
#    frames a worker that is off its core for a few milliseconds loses packets, and DPDK
#    22.11's net_af_packet counts that loss nowhere (port "missed" stays 0).
#  * Cores: vsnatd's worker is lcore 1 on CPU 1 (EAL -l 0-1); Pktgen runs with
#    --lcores 0@1,1@0, so its busy-polling port lcore is on CPU 0 and its main lcore (the Lua
#    script, sleeping in pktgen.delay) on CPU 1.
#  * Pktgen's range mode holds 24,576 prebuilt packets per TX queue (see
#    pktgen-scenarios/pktgen/common.lua): the established and UDP scenarios use 24,576 flows;
#    the SYN flood sends rounds of 24,576 new flows, rebuilding the pool between rounds, which
#    sets its rate.
#
# The established scenario opens its connections first: a SYN phase (two passes of SYNs over
# the 24,576 flows), then the script checks that vsnatd opened every one of them before it lets
# the ACK phase start (through files in VSNAT_PG_SYNC); the ACK phase is what is measured.
#
# Network rule: traffic only inside the lab's namespaces, addresses in 198.18.0.0/15. The lab
# is brought up and down under /run/lock/vsnat-e2e.lock (shared with the e2e tests); hugepages
# are raised for the run and given back; vsnatd and Pktgen are stopped by PID.

set -Eeuo pipefail

BENCH_NAME=pktgen
# shellcheck source=SCRIPTDIR/bench/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/bench/lib.sh"

usage() { sed -n '2,/^$/{s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"; }

PKTGEN_SRC="" PKTGEN="" RATE=${VSNAT_PG_RATE:-1} SECONDS_RUN=${VSNAT_PG_SECONDS:-10}
SCENARIO=""
ARGS=("$@")
while (($#)); do
  case $1 in
    --pktgen-src) PKTGEN_SRC=${2:?--pktgen-src needs a directory}; shift ;;
    --pktgen) PKTGEN=${2:?--pktgen needs a binary}; shift ;;
    --rate) RATE=${2:?--rate needs a percentage}; shift ;;
    --seconds) SECONDS_RUN=${2:?--seconds needs a number}; shift ;;
    -h | --help) usage; exit 0 ;;
    -*) usage >&2; die "unknown option $1" ;;
    *) [[ -z $SCENARIO ]] || die "one scenario only (or all)"; SCENARIO=$1 ;;
  esac
  shift
done

readonly ALL_SCENARIOS=(established syn_flood udp_dns imix)
case $SCENARIO in
  established | syn_flood | udp_dns | imix) SCENARIOS=("$SCENARIO") ;;
  all) SCENARIOS=("${ALL_SCENARIOS[@]}") ;;
  "") usage >&2; die "which scenario? established, syn_flood, udp_dns, imix or all" ;;
  *) die "unknown scenario '$SCENARIO' (established, syn_flood, udp_dns, imix, all)" ;;
esac
[[ -n $PKTGEN_SRC || -n $PKTGEN ]] || die "give --pktgen-src DIR (Pktgen-DPDK at pktgen-23.06.1) or --pktgen BIN"
[[ -z $PKTGEN_SRC || -z $PKTGEN ]] || die "--pktgen-src and --pktgen exclude each other"
in_range "$SECONDS_RUN" 3 120 || die "--seconds must be 3..120"
if ! [[ $RATE =~ ^[0-9]*\.?[0-9]+$ ]] || ! awk -v r="$RATE" 'BEGIN { exit !(r > 0 && r <= 100) }'; then
  die "--rate must be a percentage in (0, 100]"
fi

bench_require_root
bench_require_built
for tool in script flock ip; do
  command -v "$tool" >/dev/null || die "$tool missing (scripts/install-deps.sh)"
done

WORK="${VSNAT_PKTGEN_DIR:-/tmp/vsnat-pktgen}"
mkdir -p "$WORK"

# --- Pktgen: build or check ------------------------------------------------------------------

readonly PKTGEN_VERSION=23.06.1

# build_pktgen DIR: DIR/build/app/pktgen, built with Lua unless it is newer than every source.
build_pktgen() {
  local src=$1 bin stale="" log="$WORK/pktgen-build.log"
  [[ -f $src/meson.build && -f $src/app/lpktgenlib.c ]] || die "$src is not a Pktgen-DPDK source tree"
  [[ $(cat "$src/VERSION" 2>/dev/null) == "$PKTGEN_VERSION" ]] ||
    die "$src is Pktgen $(cat "$src/VERSION" 2>/dev/null || echo '?'), the scenarios are for $PKTGEN_VERSION (git checkout pktgen-$PKTGEN_VERSION)"
  bin="$src/build/app/pktgen"
  if [[ -e $src/build/build.ninja ]] && ! grep -q LUA_ENABLED "$src/build/build.ninja"; then
    die "$src/build is configured without Lua: remove it (this script then configures it with Lua) or give --pktgen"
  fi
  if [[ -x $bin ]]; then
    stale=$(find "$src" -path "$src/build" -prune -o -type f \
      \( -name '*.[ch]' -o -name meson.build -o -name meson_options.txt \) -newer "$bin" -print -quit)
    if [[ -z $stale ]]; then
      PKTGEN=$bin
      [[ -n ${VSNAT_BENCH_LOCKED:-} ]] || say "Pktgen: $bin is up to date"
      return 0
    fi
  fi
  for tool in meson ninja pkg-config; do
    command -v "$tool" >/dev/null || die "$tool missing (scripts/install-deps.sh)"
  done
  pkg-config --exists libdpdk || die "libdpdk-dev missing (scripts/install-deps.sh)"
  pkg-config --exists lua5.3 || die "liblua5.3-dev missing (scripts/install-deps.sh)"
  say "Pktgen: building $bin${stale:+ ($stale changed)} (log $log)"
  local ok=1
  if [[ ! -e $src/build/build.ninja ]]; then
    # Without DPDK's include path in CFLAGS, Pktgen's Lua library misses rte_version.h.
    (cd "$src" && CFLAGS="$(pkg-config --cflags libdpdk)" nice meson setup build \
      -Denable_lua=true -Dwerror=false) >"$log" 2>&1 || ok=0
  fi
  ((ok)) && { nice ninja -C "$src/build" >>"$log" 2>&1 || ok=0; }
  ((ok)) || { tail -n 20 "$log" >&2; die "building Pktgen failed (log $log)"; }
  [[ -x $bin ]] || die "no $bin after the build (log $log)"
  PKTGEN=$bin
}

if [[ -n $PKTGEN_SRC ]]; then
  PKTGEN_SRC=$(cd "$PKTGEN_SRC" && pwd) || die "no directory $PKTGEN_SRC"
  build_pktgen "$PKTGEN_SRC"
else
  [[ -x $PKTGEN ]] || die "$PKTGEN is not an executable"
  PKTGEN=$(cd "$(dirname "$PKTGEN")" && pwd)/$(basename "$PKTGEN")
fi
# Strings only a Pktgen 23.06.1 built with Lua carries (its version, its Lua help text).
grep -aqF "$PKTGEN_VERSION" "$PKTGEN" || die "$PKTGEN is not Pktgen $PKTGEN_VERSION"
grep -aqF "Pktgen Lua functions" "$PKTGEN" || die "$PKTGEN is built without Lua (-Denable_lua=true)"

# Built, so the lab lock is not held while compiling: from here on, under the lock.
bench_lock_lab "${ARGS[@]}"

# --- the run -----------------------------------------------------------------------------------

readonly PREFIX="vsnat-pktgen-$$" PG_PREFIX="pktgen-$$"
readonly SINK_MAC=02:00:c6:13:00:fe    # no lab host has it (scripts/lab.sh's MACs end :01-:03)
readonly POOL=24576                     # Pktgen 23.06.1's range pool, one TX queue
PG_PID="" PG_CHILD="" FAILED=0 RESULTS=()

# Our own EAL leftovers (the prefixes carry this script's PID) and the phase files.
# shellcheck disable=SC2317  # invoked at exit
remove_leftovers() {
  rm -rf -- "/var/run/dpdk/$PREFIX" "/var/run/dpdk/$PG_PREFIX"
  rm -f -- "/dev/hugepages/${PREFIX}map_"* "/dev/hugepages/${PG_PREFIX}map_"*
  rm -rf -- "$WORK/sync"
}
BENCH_EXIT_HOOK=remove_leftovers
bench_cleanup_on_exit

# Packets of 64 B the scenario sends at most (the SYN flood: whole pools), for table sizes.
max_packets() {
  awk -v r="$RATE" -v s="$SECONDS_RUN" -v pool="$POOL" \
    'BEGIN { p = 10000e6 / (84 * 8) * r / 100 * s; printf "%d\n", (int(p / pool) + 1) * pool }'
}

# Hugepages: Pktgen's pools (five of 24,576 mbufs of 10 KiB for its one queue: 1.2 GiB; 512
# pages were not enough, 2048 are) and vsnatd's (packet pool, tables: about 0.5 KiB per
# connection, generous). Added to what others use now.
readonly PG_PAGES=2048
syn_conns=$(($(max_packets) * 17 / 16 + 65536))
readonly VSNATD_PAGES=$((256 + syn_conns * 512 / 2097152))
in_use=$(($(awk '/^HugePages_Total:/ {print $2}' /proc/meminfo) - $(awk '/^HugePages_Free:/ {print $2}' /proc/meminfo)))
bench_hugepages $((in_use + PG_PAGES + VSNATD_PAGES))

bench_lab_up dpdk

# write_config SCENARIO FILE: config/lab.yaml's interfaces and services (web, dns) with the
# sink neighbors; max_connections above what the scenario opens.
write_config() {
  local scenario=$1 file=$2 conns=65536
  [[ $scenario == syn_flood ]] && conns=$syn_conns
  cat >"$file" <<EOF
# Written by scripts/pktgen.sh for the $scenario scenario: config/lab.yaml's interfaces and
# services, real servers behind a MAC no lab host has (they must not answer), a deep RX ring.
eal: ["-l", "0-1", "--file-prefix", "$PREFIX", "--no-pci"]
workers: 1
max_connections: $conns
metrics: off
# Every generated client is in one /24 and opens one protocol's connections, by design of the
# scenario: the table's shares (a flood defence) would measure themselves, not the forwarding.
table_shares: {protocol: 100%, source_prefix: 100%}
interfaces:
  - {name: outside, device: "net_af_packet0,iface=$LAB_IF_OUT,framecnt=8192", address: 198.18.0.254/24}
  - {name: inside, device: "net_af_packet1,iface=$LAB_IF_IN", address: 198.19.0.1/24}
neighbors:
  - {address: $LAB_RS1, mac: "$SINK_MAC", interface: inside}
  - {address: $LAB_RS2, mac: "$SINK_MAC", interface: inside}
timeouts: {tcp_syn: 60s, tcp_established: 15m, tcp_fin: 60s, udp: 5m}
services:
  - name: web
    protocol: tcp
    vip: $LAB_VIP
    port: 80
    scheduler: wrr
    real_servers:
      - {address: $LAB_RS1, port: $LAB_RS1_HTTP_PORT, weight: 1}
      - {address: $LAB_RS2, port: $LAB_RS2_HTTP_PORT, weight: 2}
  - name: dns
    protocol: udp
    vip: $LAB_VIP
    port: $LAB_UDP_PORT
    scheduler: wrr
    real_servers:
      - {address: $LAB_RS1, port: $LAB_UDP_PORT, weight: 1}
      - {address: $LAB_RS2, port: $LAB_UDP_PORT, weight: 1}
EOF
  "$VSNATD" -c "$file" --check >/dev/null || die "the generated config is refused: $("$VSNATD" -c "$file" --check 2>&1)"
}

# snapshot FILE: vsnatd's counters (vsnatctl --json stats).
snapshot() {
  "$VSNATCTL" --prefix "$PREFIX" --json stats >"$1" || die "vsnatctl stats failed"
}

# settle: wait (at most 5 s) until vsnatd's rx_packets stops moving: the last packets are in.
settle() {
  local prev=-1 now i
  for ((i = 0; i < 25; i++)); do
    now=$(vsnat_counter "$PREFIX" rx_packets)
    [[ $now == "$prev" ]] && return 0
    prev=$now
    sleep 0.2
  done
}

# delta BEFORE AFTER: "tx_packets created rx_packets drops", drops as "reason n, ..." or "none".
delta() {
  "$PY" - "$1" "$2" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
def total(d, k):
    v = d.get(k, 0)
    return sum(v) if isinstance(v, list) else v
d = {k: total(b, k) - total(a, k) for k in b if not isinstance(b[k], dict) and k != "ports"}
drops = ", ".join(f"{k[5:]} {v}" for k, v in sorted(d.items()) if k.startswith("drop_") and v)
print(d.get("tx_packets", 0), d.get("connections_created", 0), d.get("rx_packets", 0), drops or "none")
EOF
}

# established_count: connections of the web service in ESTABLISHED (active), all real servers.
established_count() {
  "$VSNATCTL" --prefix "$PREFIX" --json list | "$PY" -c '
import json, sys
d = json.load(sys.stdin)
print(sum(r.get("active", 0) for r in d["real_servers"] if r.get("service") == "web"))'
}

# field LINE KEY: the value of KEY=... in a result line.
field() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<"$1"; }

pktgen_alive() { [[ -n $PG_PID ]] && proc_alive "$PG_PID"; }

# start_pktgen SCENARIO RESULT SYNC: Pktgen in the client namespace, under `script` (it wants a
# terminal), screen to $WORK/pktgen-SCENARIO.screen. Tracks `script` and Pktgen by PID.
start_pktgen() {
  local scenario=$1 result=$2 sync=$3 cmd i
  printf -v cmd 'exec %q --lcores 0@1,1@0 --file-prefix %q --huge-unlink --no-pci --vdev %q -- -m 1.0 -l %q -f %q' \
    "$PKTGEN" "$PG_PREFIX" "net_af_packet0,iface=eth0" "$WORK/pktgen-$scenario.log" \
    "pktgen-scenarios/pktgen/$scenario.lua"
  (cd "$REPO_DIR" && exec ip netns exec "$LAB_NS_CLIENT" env VSNAT_PG_OUT="$result" \
    VSNAT_PG_RATE="$RATE" VSNAT_PG_SECONDS="$SECONDS_RUN" VSNAT_PG_DST_MAC="$LAB_MAC_OUT" \
    VSNAT_PG_VIP="$LAB_VIP" VSNAT_PG_SYNC="$sync" \
    script -qfec "$cmd" /dev/null) </dev/null >"$WORK/pktgen-$scenario.screen" 2>&1 &
  PG_PID=$!
  bench_track "$PG_PID"
  PG_CHILD=""
  for ((i = 0; i < 50; i++)); do   # script's child, which execs Pktgen
    PG_CHILD=$(awk '{print $1}' "/proc/$PG_PID/task/$PG_PID/children" 2>/dev/null || true)
    [[ -n $PG_CHILD ]] && break
    pktgen_alive || break
    sleep 0.1
  done
  [[ -z $PG_CHILD ]] || bench_track "$PG_CHILD"
}

stop_pktgen() {
  [[ -z $PG_CHILD ]] || bench_stop "$PG_CHILD" 10 || true
  [[ -z $PG_PID ]] || bench_stop "$PG_PID" 10 || true
  PG_PID="" PG_CHILD=""
}

# fail_scenario NAME WHY: report, count, clean up the scenario's processes.
fail_scenario() {
  echo "pktgen: FAIL $1: $2" >&2
  RESULTS+=("$1: FAIL: $2")
  FAILED=1
  stop_pktgen
  stop_vsnatd
}

run_scenario() {
  local s=$1
  local config="$WORK/vsnatd-$s.yaml" result="$WORK/result-$s.txt" sync=""
  local before="$WORK/stats-$s-before.json" after="$WORK/stats-$s-after.json"
  local limit deadline line syn_line opened_syn=0 flows est="" tx fwd opened rx drops pct check
  local kernel_rx0 kernel_rx
  say "--- $s"
  write_config "$s" "$config"
  rm -f -- "$result"
  start_vsnatd "$config" "$WORK/vsnatd-$s.log" "$PREFIX"
  snapshot "$before"
  if [[ $s == established ]]; then
    sync="$WORK/sync"
    rm -rf -- "$sync"
    mkdir -p "$sync"
  fi
  kernel_rx0=$(<"/sys/class/net/$LAB_IF_OUT/statistics/rx_packets")
  start_pktgen "$s" "$result" "$sync"
  # Bound: Pktgen's start (< 30 s here), the scenario's own bounds (2 S + 5 per phase, 120 s
  # between phases), and slack.
  limit=$((90 + 3 * SECONDS_RUN))
  [[ $s == established ]] && limit=$((limit + 150))
  deadline=$((SECONDS + limit))
  while pktgen_alive && ((SECONDS < deadline)); do
    if [[ -n $sync && -e $sync/syn.done && ! -e $sync/ack.go ]]; then
      settle
      syn_line=$(grep '^established phase=syn ' "$result" || true)
      flows=$(field "$syn_line" flows)
      opened_syn=$(vsnat_counter "$PREFIX" connections_created)
      if [[ -z $flows ]] || ((opened_syn < flows)); then
        fail_scenario "$s" "the SYN phase opened $opened_syn of ${flows:-?} connections (are the range's TCP flags SYN? $result)"
        return 0
      fi
      snapshot "$before"
      kernel_rx0=$(<"/sys/class/net/$LAB_IF_OUT/statistics/rx_packets")
      : >"$sync/ack.go"
    fi
    sleep 0.2
  done
  if pktgen_alive; then
    fail_scenario "$s" "Pktgen still running after $limit s (screen $WORK/pktgen-$s.screen)"
    return 0
  fi
  stop_pktgen
  if grep -q '^ERROR' "$result" 2>/dev/null; then
    fail_scenario "$s" "$(grep '^ERROR' "$result" | head -n 1)"
    return 0
  fi
  line=$(grep "^$s " "$result" 2>/dev/null | grep -v ' phase=syn ' | tail -n 1 || true)
  if [[ -z $line ]]; then
    fail_scenario "$s" "no result from Pktgen (is it built with Lua? screen $WORK/pktgen-$s.screen)"
    return 0
  fi
  settle
  snapshot "$after"
  kernel_rx=$(($(<"/sys/class/net/$LAB_IF_OUT/statistics/rx_packets") - kernel_rx0))
  [[ $s == established ]] && est=$(established_count)
  "$VSNATCTL" --prefix "$PREFIX" stats >"$WORK/vsnatd-$s.stats" 2>&1 || true
  {
    echo "--- kernel link counters (since the lab came up): what reached the real servers' links, what came back"
    ip -s link show "$LAB_IF_OUT"
    ip -s link show "$LAB_IF_IN"
    ip -n "$LAB_NS_RS1" -s link show eth0
    ip -n "$LAB_NS_RS2" -s link show eth0
  } >>"$WORK/vsnatd-$s.stats" 2>&1 || true
  stop_vsnatd
  read -r fwd opened rx drops < <(delta "$before" "$after")
  tx=$(field "$line" tx_packets)
  # The SYN flood is judged on what vsnatd opened, the others on what it forwarded.
  check=$fwd
  [[ $s == syn_flood ]] && check=$opened
  pct=$(awk -v a="$check" -v b="$tx" 'BEGIN { if (b == 0) print "0.00"; else printf "%.2f", 100 * a / b }')
  local out
  out=$(printf '%s: pktgen tx %s packets, %s Mpps (%s%% of 10 GbE, %s s); vsnatd tx_packets %s, connections_created %s, rx_packets %s (%s reached %s); drops: %s; %s %s%% of tx' \
    "$s" "$tx" "$(field "$line" tx_mpps)" "$RATE" "$(field "$line" seconds)" "$fwd" "$opened" "$rx" \
    "$kernel_rx" "$LAB_IF_OUT" "$drops" "$([[ $s == syn_flood ]] && echo opened || echo forwarded)" "$pct")
  if [[ $s == established ]]; then
    out+=$(printf '\n  SYN phase before it: %s SYNs over %s flows opened %s connections; ESTABLISHED at the end: %s' \
      "$(field "$syn_line" tx_packets)" "$flows" "$opened_syn" "$est")
  fi
  echo "$out"
  if ((tx == 0)) || awk -v a="$check" -v b="$tx" 'BEGIN { exit !(a < 0.99 * b) }'; then
    FAILED=1
    echo "pktgen: FAIL $s: vsnatd $([[ $s == syn_flood ]] && echo opened || echo forwarded) $check of $tx packets ($pct% < 99%)" >&2
    RESULTS+=("$out  FAIL")
  elif [[ $s == established && $est != "$flows" ]]; then
    FAILED=1
    echo "pktgen: FAIL $s: $est of $flows connections ESTABLISHED at the end" >&2
    RESULTS+=("$out  FAIL")
  else
    RESULTS+=("$out  PASS")
  fi
}

say "Pktgen $PKTGEN; rate $RATE% of line rate, $SECONDS_RUN s; work directory $WORK"
say "machine: $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg) (other work moves the figures)"
for s in "${SCENARIOS[@]}"; do
  run_scenario "$s"
done
echo
echo "command: scripts/pktgen.sh ${ARGS[*]}"
printf '%s\n' "${RESULTS[@]}"
((FAILED == 0)) || die "at least one scenario failed (details above; logs in $WORK)"
