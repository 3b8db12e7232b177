#!/usr/bin/env bash
# e2e 10: the counters read over telemetry agree with the traffic, and every view carries every
# worker counter. After 300 sequential HTTP
# connections to VIP:80 on a fresh daemon: /vsnat/services shows the web service with
# `connections` 300, rs1 100 and rs2 200 (one worker; two workers: the total 300 and rs1
# 100 +- 5), packets and bytes in both directions consistent between the service and its real
# servers and with the HTTP replies received; the dns service untouched. /vsnat/stats shows 300
# connections created, and as many packets received as the services account for. `vsnatctl
# stats`, its --json, /metrics and the final log line after SIGTERM each carry exactly the
# counters and drop reasons the source lists (tests/e2e/counter_sets.py).
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
kernel_mode && skip "reads vsnatd's telemetry; nothing to check against the kernel director"
e2e_start "$(e2e_config vsnat)"
command -v jq >/dev/null || { fail counters "jq not installed (scripts/install-deps.sh)"; exit 1; }

readonly N=300
out=$(http_sequential "$N")
ok=$(grep -c '^ok' <<<"$out" || true)
body_bytes=$(grep '^ok' <<<"$out" | awk '{n += length($0) - length($1 " " $2 " " $3 " ") + 1} END {print n + 0}')
[[ $ok == "$N" ]] || fail http "$ok of $N requests answered: $(grep -m1 '^err' <<<"$out")"

services=$(telemetry /vsnat/services) || { fail telemetry "/vsnat/services failed"; exit 1; }
stats=$(telemetry /vsnat/stats) || { fail telemetry "/vsnat/stats failed"; exit 1; }
echo "$services" | jq . >"$E2E_LOG_DIR/services.json"
echo "$stats" | jq . >"$E2E_LOG_DIR/stats.json"

web='.services[] | select(.name == "web")'
svc() { jq -r "$web | $1" <<<"$services"; }
rs() { jq -r "$web | .real_servers[] | select(.address == \"$1\") | $2" <<<"$services"; }

conns=$(svc .connections)
rs1=$(rs "$LAB_RS1" .connections)
rs2=$(rs "$LAB_RS2" .connections)
summary=$(jq -r "$web"' | "web \(.protocol) \(.vip):\(.port) \(.scheduler): connections \(.connections), in \(.in_packets) pkts/\(.in_bytes) B, out \(.out_packets) pkts/\(.out_bytes) B"' <<<"$services")
log "$summary"
jq -r "$web"' | .real_servers[] | "  -> \(.address):\(.port) w\(.weight): connections \(.connections) (active \(.active), inactive \(.inactive)), in \(.in_packets)/\(.in_bytes) B, out \(.out_packets)/\(.out_bytes) B"' <<<"$services"

if ((E2E_WORKERS == 1)); then want1="100"; else want1="95..105"; fi
if [[ $conns == "$N" && $rs1 =~ ^[0-9]+$ && $rs2 =~ ^[0-9]+$ ]] && ((rs1 + rs2 == N)) &&
  { ((E2E_WORKERS == 1 && rs1 == 100)) || ((E2E_WORKERS == 2 && rs1 >= 95 && rs1 <= 105)); }; then
  pass service-connections "web $conns, rs1 $rs1, rs2 $rs2"
else
  fail service-connections "web $conns, rs1 $rs1, rs2 $rs2 (want $N, rs1 $want1, sum $N)"
fi

# Packets and bytes: the service's are the sum of its real servers'; every connection is at
# least SYN, ACK, request, FIN, ACK in (>= 4 per connection) and SYN-ACK, reply, FIN out (>= 3);
# out bytes cover at least the reply bodies curl received.
verdict=$(jq -r --argjson n "$N" --argjson body "$body_bytes" "$web"' |
  . as $s | [.real_servers[]] as $r |
  [ (if $s.in_packets == ([$r[].in_packets] | add) then empty else "in_packets \($s.in_packets) != sum over real servers \([$r[].in_packets] | add)" end),
    (if $s.out_packets == ([$r[].out_packets] | add) then empty else "out_packets \($s.out_packets) != sum \([$r[].out_packets] | add)" end),
    (if $s.in_bytes == ([$r[].in_bytes] | add) then empty else "in_bytes \($s.in_bytes) != sum \([$r[].in_bytes] | add)" end),
    (if $s.out_bytes == ([$r[].out_bytes] | add) then empty else "out_bytes \($s.out_bytes) != sum \([$r[].out_bytes] | add)" end),
    (if $s.in_packets >= 4 * $n then empty else "in_packets \($s.in_packets) < \(4 * $n)" end),
    (if $s.out_packets >= 3 * $n then empty else "out_packets \($s.out_packets) < \(3 * $n)" end),
    (if $s.out_bytes >= $body then empty else "out_bytes \($s.out_bytes) < reply bodies \($body)" end),
    (if $s.in_bytes > 0 then empty else "in_bytes 0" end) ] | join("; ")' <<<"$services" 2>&1)
if [[ -z $verdict ]]; then
  pass service-traffic "$(svc '"in \(.in_packets) pkts / \(.in_bytes) B, out \(.out_packets) pkts / \(.out_bytes) B = sums over real servers"')"
else
  fail service-traffic "$verdict"
fi

dns=$(jq -r '.services[] | select(.name == "dns") | "\(.connections) \(.in_packets) \(.out_packets)"' <<<"$services")
if [[ $dns == "0 0 0" ]]; then pass dns-untouched "dns service: 0 connections, 0 packets"; else fail dns-untouched "dns service: connections/in/out $dns (want 0 0 0)"; fi

created=$(jq -r '[.workers[].connections_created] | add' <<<"$stats")
rx=$(jq -r '[.workers[].rx_packets] | add' <<<"$stats")
tx=$(jq -r '[.workers[].tx_packets] | add' <<<"$stats")
drops=$(jq -c '[.workers[].drops | to_entries[] | select(.value > 0)] | group_by(.key) | map({(.[0].key): (map(.value) | add)}) | add // {}' <<<"$stats")
handed=$(jq -r '[.workers[].handed_over] | add' <<<"$stats")
svc_pkts=$(svc '.in_packets + .out_packets')
log "stats: ${E2E_WORKERS} worker(s): rx $rx, tx $tx, created $created, handed over $handed, drops $drops"
if [[ $created == "$N" ]] && ((rx >= svc_pkts && tx >= svc_pkts)); then
  pass worker-stats "connections_created $created, rx $rx and tx $tx >= the web service's $svc_pkts packets"
else
  fail worker-stats "connections_created $created (want $N), rx $rx, tx $tx (want >= $svc_pkts)"
fi
# The same figures three more ways: vsnatctl's table, its --json, and Prometheus /metrics.
VSNATCTL="$(dirname "$VSNATD")/vsnatctl"
table=$("$VSNATCTL" --prefix "$E2E_PREFIX" list --stats)
echo "$table" >"$E2E_LOG_DIR/vsnatctl-list-stats.txt"
ctl_rs1=$(awk -v a="-> $LAB_RS1:$LAB_RS1_HTTP_PORT" '$1 " " $2 == a {print $3}' <<<"$table")
json_rs1=$("$VSNATCTL" --prefix "$E2E_PREFIX" --json list |
  jq -r ".real_servers[] | select(.service == \"web\" and .address == \"$LAB_RS1\") | .connections")
metrics=$(curl -s --max-time 2 http://127.0.0.1:9640/metrics)
echo "$metrics" >"$E2E_LOG_DIR/metrics.txt"
prom_rs1=$(awk -v rs="real_server=\"$LAB_RS1:$LAB_RS1_HTTP_PORT\"" \
  '/^vsnat_real_server_connections_total/ && index($0, "service=\"web\"") && index($0, rs) {print $2}' <<<"$metrics")
health=$(curl -s --max-time 2 http://127.0.0.1:9640/healthz)
if [[ $ctl_rs1 == "$rs1" && $json_rs1 == "$rs1" && $prom_rs1 == "$rs1" && $health == ok ]]; then
  pass views-agree "rs1 connections: telemetry $rs1, vsnatctl list --stats $ctl_rs1, --json $json_rs1, /metrics $prom_rs1; /healthz ok"
else
  fail views-agree "rs1 connections: telemetry $rs1, vsnatctl $ctl_rs1, --json $json_rs1, /metrics $prom_rs1; /healthz '$health'"
fi
# vsnatctl conns (ipvsadm -L -c): every connection, its virtual and real server.
conns=$("$VSNATCTL" --prefix "$E2E_PREFIX" conns --limit 512)
echo "$conns" >"$E2E_LOG_DIR/vsnatctl-conns.txt"
web_conns=$(awk -v v="$LAB_VIP:80" '$5 == v' <<<"$conns" | wc -l)
to_rs1=$(awk -v v="$LAB_VIP:80" -v d="$LAB_RS1:$LAB_RS1_HTTP_PORT" '$5 == v && $6 == d' <<<"$conns" | wc -l)
header=$(head -2 <<<"$conns" | tail -1 | xargs)
if [[ $web_conns == "$N" && $to_rs1 == "$rs1" && $header == "pro expire state source virtual destination" ]]; then
  pass vsnatctl-conns "$web_conns connections to $LAB_VIP:80 listed, $to_rs1 to rs1; e.g. $(sed -n 3p <<<"$conns" | xargs)"
else
  fail vsnatctl-conns "$web_conns connections to $LAB_VIP:80 listed (want $N), $to_rs1 to rs1 (want $rs1); header '$header'"
fi
# Every view of the worker counters, against the lists in the source.
"$VSNATCTL" --prefix "$E2E_PREFIX" --json stats >"$E2E_LOG_DIR/stats-ctl.json"
"$VSNATCTL" --prefix "$E2E_PREFIX" stats >"$E2E_LOG_DIR/stats-ctl.txt"
curl -s --max-time 2 http://127.0.0.1:9640/metrics >"$E2E_LOG_DIR/metrics-final.txt"
if stop_vsnatd; then
  if sets=$("$PY" "$E2E_DIR/counter_sets.py" --repo "$REPO_DIR" --json "$E2E_LOG_DIR/stats-ctl.json" \
    --text "$E2E_LOG_DIR/stats-ctl.txt" --metrics "$E2E_LOG_DIR/metrics-final.txt" \
    --log "$VSNATD_LOG" 2>&1); then
    pass counter-sets "$(tr '\n' ';' <<<"$sets")"
  else
    fail counter-sets "$(tr '\n' ';' <<<"$sets")"
  fi
fi
e2e_end
