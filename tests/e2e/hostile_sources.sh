#!/usr/bin/env bash
# e2e: forged sources must not lock out real clients, nor reach the servers' network.
# vsnatd with a 4096-connection table (configs/flood-*.yaml: table shares at their defaults,
# 90% per protocol, 50% per /24 of clients; reverse path strict; reject_rate 1000/s).
#  1. UDP flood: scripts/lab/synflood.py --udp sends FLOOD_COUNT datagrams to VIP:53 from
#     random addresses of 198.18.128.0/17 (never answered: they come through the client
#     namespace, which forwards nothing) at FLOOD_RATE/s, ten times the table. Meanwhile real
#     clients open TCP connections (curl) and UDP exchanges (a query answered by the echo):
#     every one must succeed. The flood is held to UDP's share of the table: the oldest
#     unanswered entries give way (connections_evicted), nothing is refused as table_full.
#  2. Reverse path: datagrams to VIP:53 from the client side claiming rs1's address
#     198.19.0.2 are dropped (reverse_path) and open nothing.
#  3. RST rate: SYN_COUNT forged SYNs to VIP:8080 (no service) get at most reject_rate RSTs a
#     second per worker (plus a burst of a tenth of that); the rest are counted as rate_limited.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
kernel_mode && skip "reads vsnatd's counters; the kernel director has none of these"
readonly FLOOD_RATE=20000 FLOOD_COUNT=40000 LEGIT=40 SYN_RATE=10000 SYN_COUNT=20000
e2e_start "$(e2e_config flood)"
command -v jq >/dev/null || { fail jq "jq not installed (scripts/install-deps.sh)"; exit 1; }

sum() { telemetry /vsnat/stats | jq -r "[.workers[].$1] | add"; }
drops() { telemetry /vsnat/stats | jq -r "[.workers[].drops.$1] | add"; }
flood() {
  client "$PY" "$REPO_DIR/scripts/lab/synflood.py" --dst "$LAB_VIP" --seconds 10 "$@"
}

# --- 1. UDP flood, real clients alongside ----------------------------------------------------
flood --udp --dport "$LAB_UDP_PORT" --count "$FLOOD_COUNT" --flows "$FLOOD_COUNT" \
  --rate "$FLOOD_RATE" >"$E2E_LOG_DIR/udp-flood.log" 2>&1 &
flood_pid=$!
sleep 0.5
tcp_ok=0 udp_ok=0
for ((i = 0; i < LEGIT; i++)); do
  reply=$(client curl -s --max-time 2 "http://$LAB_VIP/") && [[ $reply == rs* ]] && tcp_ok=$((tcp_ok + 1))
  if client "$PY" - "$LAB_VIP" "$LAB_UDP_PORT" <<'PYEOF' >/dev/null 2>&1; then
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
s.sendto(b"query", (sys.argv[1], int(sys.argv[2])))
data, _ = s.recvfrom(2048)
sys.exit(0 if data.endswith(b"\nquery") else 1)
PYEOF
    udp_ok=$((udp_ok + 1))
  fi
done
wait "$flood_pid" || fail udp-flood "synflood.py failed: $(tail -n 2 "$E2E_LOG_DIR/udp-flood.log")"
log "$(cat "$E2E_LOG_DIR/udp-flood.log")"
require_daemon_alive
conns=$(telemetry /vsnat/stats | jq -r '.connections')
evicted=$(sum connections_evicted) full=$(drops table_full) share=$(drops protocol_share)
log "after the flood: $conns connections, evicted $evicted, table_full $full, protocol_share $share"
if ((tcp_ok == LEGIT && udp_ok == LEGIT)); then
  pass real-clients "during the flood: $tcp_ok of $LEGIT TCP connections and $udp_ok of $LEGIT UDP exchanges succeeded"
else
  fail real-clients "during the flood: $tcp_ok of $LEGIT TCP, $udp_ok of $LEGIT UDP succeeded (want all)"
fi
if ((evicted > 0 && full == 0)); then
  pass udp-share "the flood was held to UDP's share: $evicted unanswered entries evicted, table_full $full"
else
  fail udp-share "evicted $evicted, table_full $full (want evictions and no table_full)"
fi

# --- 2. a real server's address from the client side ------------------------------------------
before=$(drops reverse_path)
created_before=$(sum connections_created)
flood --udp --dport "$LAB_UDP_PORT" --src-net "$LAB_RS1/32" --count 100 --flows 100 \
  --rate 1000 >"$E2E_LOG_DIR/spoof.log" 2>&1 || fail spoof "synflood.py failed: $(cat "$E2E_LOG_DIR/spoof.log")"
sleep 0.5
spoofed=$(($(drops reverse_path) - before)) opened=$(($(sum connections_created) - created_before))
if ((spoofed == 100 && opened == 0)); then
  pass reverse-path "100 datagrams from $LAB_RS1 arriving from the clients' side: all dropped as reverse_path, none opened a connection"
else
  fail reverse-path "reverse_path drops $spoofed of 100, connections opened $opened (want 100 and 0)"
fi

# --- 3. RSTs for a port without a service, rate-limited ----------------------------------------
resets_before=$(sum resets_sent) limited_before=$(drops rate_limited)
t0=$(date +%s%N)
flood --dport 8080 --count "$SYN_COUNT" --flows 4096 --rate "$SYN_RATE" >"$E2E_LOG_DIR/syn-8080.log" 2>&1 ||
  fail syn-8080 "synflood.py failed: $(cat "$E2E_LOG_DIR/syn-8080.log")"
ms=$((($(date +%s%N) - t0) / 1000000))
sleep 0.5
resets=$(($(sum resets_sent) - resets_before)) limited=$(($(drops rate_limited) - limited_before))
allowed=$((E2E_WORKERS * (1000 * (ms + 500) / 1000 + 100)))  # reject_rate is per worker
log "$(cat "$E2E_LOG_DIR/syn-8080.log"); $resets RSTs, $limited rate_limited in about $ms ms"
if ((resets > 0 && resets <= allowed && resets + limited >= SYN_COUNT * 9 / 10)); then
  pass reset-rate "$resets RSTs for $SYN_COUNT SYNs in $ms ms (at most $allowed at 1000/s per worker), $limited rate_limited"
else
  fail reset-rate "$resets RSTs (want 1..$allowed), $limited rate_limited, for $SYN_COUNT SYNs in $ms ms"
fi
e2e_end
