#!/usr/bin/env bash
# e2e for the schedulers beyond wrr (issue 4), on configs/schedulers-<N>w.yaml:
#   sh (:81)          50 connections from one client address all reach one real server;
#   persistence (:82) 100 connections from one client address reach one real server, whichever
#                     worker owns each; 19 other client addresses spread over both servers;
#   wlc (:83)         with long-lived connections held open on rs1 only, new connections all go
#                     to rs2;
#   persistence per network (:84, persistence_netmask /24) the client and the 19 others, all of
#                     one network, reach one real server.
# --ipv6: the same through the IPv6 VIP, http://[2001:2:0:18::100]:PORT/, from the client's IPv6
# addresses, on the IPv6 twins of configs/dual-schedulers-<N>w.yaml (:84 /64: the lab's client
# network).
E2E_IPV6_TEST=1
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
kernel_mode && skip "the kernel director has no sh, persistence or wlc services"
e2e_start "$(e2e_config schedulers)"

# servers_seen PORT N [SOURCE]: the real servers' names answering N new connections, one a line.
servers_seen() {
  local port=$1 n=$2 src=${3:-$E2E_CLIENT} i
  for ((i = 0; i < n; i++)); do
    client curl -sS -g "-$E2E_IP" --max-time 2 --interface "$src" "http://$E2E_VIP_URL:$port/" 2>&1 |
      cut -d' ' -f1
  done
}

summary() { sort | uniq -c | awk '{printf "%s%s x%s", sep, $2, $1; sep=", "}'; }

# sh: one client address, one server.
seen=$(servers_seen 81 50)
if [[ $(sort -u <<<"$seen" | wc -l) -eq 1 && $(grep -c '^rs[12]$' <<<"$seen") -eq 50 ]]; then
  pass sh-pins-client "50 connections from $E2E_CLIENT: $(summary <<<"$seen")"
else
  fail sh-pins-client "50 connections from $E2E_CLIENT: $(summary <<<"$seen")"
fi

# persistence: one client address, one server, across workers; several addresses spread.
seen=$(servers_seen 82 100)
if [[ $(sort -u <<<"$seen" | wc -l) -eq 1 && $(grep -c '^rs[12]$' <<<"$seen") -eq 100 ]]; then
  pass persistence-one-client "100 connections from $E2E_CLIENT ($E2E_WORKERS workers): $(summary <<<"$seen")"
else
  fail persistence-one-client "100 connections from $E2E_CLIENT: $(summary <<<"$seen")"
fi
read -ra extra <<<"$E2E_CLIENT_EXTRA"
spread=""
for a in "${extra[@]}"; do
  per_client=$(servers_seen 82 3 "$a")
  if [[ $(sort -u <<<"$per_client" | wc -l) -ne 1 ]]; then
    fail persistence-per-client "$a reached several servers: $(summary <<<"$per_client")"
  fi
  spread+="$(head -1 <<<"$per_client")"$'\n'
done
spread=${spread%$'\n'}
if grep -qx rs1 <<<"$spread" && grep -qx rs2 <<<"$spread"; then
  pass persistence-spreads "${#extra[@]} client addresses x 3 connections, first servers: $(summary <<<"$spread")"
else
  fail persistence-spreads "${#extra[@]} client addresses all on one server: $(summary <<<"$spread")"
fi

# persistence_netmask: the client's network shares one server, whichever address connects.
seen=$(servers_seen 84 10)
for a in "${extra[@]}"; do
  seen+=$'\n'"$(servers_seen 84 1 "$a")"
done
if [[ $(sort -u <<<"$seen" | wc -l) -eq 1 && $(grep -c '^rs[12]$' <<<"$seen") -eq $((10 + ${#extra[@]})) ]]; then
  pass persistence-per-network "$E2E_CLIENT x 10 and ${#extra[@]} other addresses of its network: $(summary <<<"$seen")"
else
  fail persistence-per-network "$E2E_CLIENT x 10 and ${#extra[@]} other addresses: $(summary <<<"$seen")"
fi

# wlc: hold 8 keep-alive connections, keep those that landed on rs1, close the others; then
# every new connection must go to rs2 (rs1's overhead is 256 per active connection).
client "$PY" - "$E2E_VIP" 83 <<'PY' >"$E2E_LOG_DIR/wlc.out" 2>&1 &
import socket, sys, time
vip, port = sys.argv[1], int(sys.argv[2])
held = []
for _ in range(8):
    s = socket.create_connection((vip, port), timeout=2)
    s.sendall(b"GET / HTTP/1.1\r\nHost: vip\r\n\r\n")
    reply = s.recv(4096).decode(errors="replace")
    name = reply.rsplit("\n", 2)[-2].split(" ")[0] if reply.count("\n") >= 2 else "?"
    if name == "rs1":
        held.append(s)
    else:
        s.close()
print("holding", len(held), "on rs1", flush=True)
time.sleep(20)  # bounded: the test finishes well before
PY
holder=$!
for ((i = 0; i < 50; i++)); do
  grep -q holding "$E2E_LOG_DIR/wlc.out" 2>/dev/null && break
  sleep 0.1
done
held=$(awk '/holding/{print $2}' "$E2E_LOG_DIR/wlc.out")
seen=$(servers_seen 83 20)
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null || true  # killed on purpose
if [[ ${held:-0} -ge 1 && $(grep -cx rs2 <<<"$seen") -eq 20 ]]; then
  pass wlc-avoids-busy "rs1 holding $held long-lived connections; 20 new ones: $(summary <<<"$seen")"
else
  fail wlc-avoids-busy "rs1 holding ${held:-0}; 20 new ones: $(summary <<<"$seen") ($(cat "$E2E_LOG_DIR/wlc.out"))"
fi
e2e_end
