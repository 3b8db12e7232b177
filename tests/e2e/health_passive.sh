#!/usr/bin/env bash
# e2e: the passive health check (README.md, "Health checks"). Service web :80 on VIP
# 198.18.0.100 -> rs1, rs2 (tests/e2e/health_server.py on :8080) with a tcp check every 30 s,
# fall 3, timeout 1 s and `passive: true`. Under load (wrk, a new connection per request), rs1
# starts dropping SYNs (nftables in its namespace):
#   - the passive check takes it down within 2 s (the probes alone would need up to 90 s);
#     the time is printed;
#   - once it answers again, the active probe brings it back (rise 1: within one interval).
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
readonly HTTP_PORT=8080 PASSIVE_LIMIT_MS=2000 INTERVAL_S=30 LOAD_S=8
e2e_start "$(e2e_config kernel)"
VSNATCTL="$(dirname "$VSNATD")/vsnatctl"
readonly VSNATCTL
now_ms() { echo $(($(date +%s%N) / 1000000)); }

for n in 1 2; do
  v="LAB_RS$n"
  in_rs "$n" "$PY" "$E2E_DIR/health_server.py" --bind "${!v}" --http-port "$HTTP_PORT" \
    --udp-port 5353 --name "rs$n" --status-file "$E2E_LOG_DIR/rs$n.status" \
    --pidfile "$E2E_LOG_DIR/rs$n.pid" >>"$E2E_LOG_DIR/rs$n.log" 2>&1 &
done
config="$E2E_LOG_DIR/passive.yaml"
sed '/^services:/,$d' "$(e2e_config kernel)" >"$config"
cat >>"$config" <<EOF
services:
  - name: web
    protocol: tcp
    vip: $LAB_VIP
    port: 80
    health_check: {type: tcp, interval: ${INTERVAL_S}s, timeout: 1s, rise: 1, fall: 3, passive: true}
    real_servers:
      - {address: $LAB_RS1, port: $HTTP_PORT}
      - {address: $LAB_RS2, port: $HTTP_PORT}
EOF
stop_vsnatd
start_vsnatd "$config"

rs1_health() {
  "$VSNATCTL" --prefix "$E2E_PREFIX" list --json 2>/dev/null | "$PY" -c '
import json, sys
for r in json.load(sys.stdin)["real_servers"]:
    if r["address"] == sys.argv[1]:
        print(r.get("health", "?"), r.get("health_reason", ""))
' "$LAB_RS1"
}
wait_rs1() {  # wait_rs1 WANT LIMIT_MS: prints the ms until rs1's health starts with WANT
  local t0 got
  t0=$(now_ms)
  while (($(now_ms) - t0 < $2)); do
    got=$(rs1_health)
    [[ $got == "$1"* ]] && { echo "$(($(now_ms) - t0)) ms: $got"; return 0; }
    sleep 0.1
  done
  echo "not within $2 ms: $(rs1_health)"
  return 1
}
for ((i = 0; i < 50; i++)); do
  [[ -s $E2E_LOG_DIR/rs1.pid && -s $E2E_LOG_DIR/rs2.pid ]] && break
  sleep 0.1
done
if out=$(wait_rs1 up 3000); then pass passive-start "rs1 up ($out)"; else fail passive-start "$out"; fi

on_exit() {
  local rc=$?
  in_rs 1 nft delete table inet vsnat_passive 2>/dev/null || true
  (exit "$rc")
  e2e_on_exit
}
trap on_exit EXIT
client wrk -t2 -c16 -d"${LOAD_S}s" --timeout 1s -H "Connection: close" "http://$LAB_VIP/" \
  >"$E2E_LOG_DIR/wrk.txt" 2>&1 &
wrk_pid=$!
sleep 2
t0=$(now_ms)
in_rs 1 nft -f - <<EOF
table inet vsnat_passive {
  chain input {
    type filter hook input priority 0;
    tcp dport $HTTP_PORT tcp flags & (syn | ack) == syn counter drop
  }
}
EOF
if out=$(wait_rs1 down "$PASSIVE_LIMIT_MS"); then
  pass passive-down "rs1 dropping SYNs under load: down after $out (limit $PASSIVE_LIMIT_MS ms; the probes alone: up to 3 x ${INTERVAL_S} s)"
else
  fail passive-down "rs1 dropping SYNs under load since $(($(now_ms) - t0)) ms: $out"
fi
wait "$wrk_pid" || true
in_rs 1 nft list ruleset >"$E2E_LOG_DIR/nft.txt" 2>&1 || true
requests=$(awk '/requests in/ {print $1}' "$E2E_LOG_DIR/wrk.txt")
log "wrk: ${requests:-?} requests in ${LOAD_S} s; $(grep -i 'socket errors' "$E2E_LOG_DIR/wrk.txt" || echo 'no socket errors')"

in_rs 1 nft delete table inet vsnat_passive
if out=$(wait_rs1 up $(((INTERVAL_S + 2) * 1000))); then
  pass passive-recovered "rs1 answering again: up after $out (one probe, rise 1)"
else
  fail passive-recovered "rs1 answering again: $out"
fi
e2e_end
