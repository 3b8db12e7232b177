#!/usr/bin/env bash
# e2e 8: connections expire. With the short timeouts of configs/short-*.yaml (established 5 s,
# TIME_WAIT/FIN/close 2 s, udp 3 s) the connection table (`connections` in /vsnat/stats) holds
# the connections of a traffic burst right after it, and drains to zero within 20 s after the
# traffic stops, including an idle ESTABLISHED connection the client keeps open (it expires on
# tcp_established: it must count as the web service's one `active` connection while the
# burst's closed ones are inactive, and still be there 3.5 s after it opened, not expired
# early). Afterwards every created connection is accounted as expired, and the service still
# works.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
kernel_mode && skip "reads vsnatd's telemetry; nothing to check against the kernel director"
e2e_start "$(e2e_config short)"
command -v jq >/dev/null || { fail conn-drain "jq not installed (scripts/install-deps.sh)"; exit 1; }

# stats_field JQ: one number from /vsnat/stats, or "?" when telemetry fails; web_field likewise
# from the web service's row of /vsnat/services.
stats_field() { telemetry /vsnat/stats | jq -r "$1" 2>/dev/null || echo "?"; }
web_field() { telemetry /vsnat/services | jq -r ".services[] | select(.name == \"web\") | $1" 2>/dev/null || echo "?"; }

# An idle connection held open by the client (bounded: 60 s).
ready="$E2E_LOG_DIR/idle.ready"
ip netns exec "$LAB_NS_CLIENT" "$PY" -c '
import socket, sys, time
s = socket.create_connection((sys.argv[1], 80), timeout=3)
open(sys.argv[2], "w").write("%s:%d\n" % s.getsockname())
time.sleep(60)
' "$LAB_VIP" "$ready" >"$E2E_LOG_DIR/idle.log" 2>&1 &
idle_pid=$!
for ((i = 0; i < 30; i++)); do [[ -s $ready ]] && break; sleep 0.1; done
t_idle=$(date +%s%N)
[[ -s $ready ]] || fail idle-connection "the idle connection did not open: $(cat "$E2E_LOG_DIR/idle.log")"

out=$(http_sequential 60)
http_ok=$(grep -c '^ok' <<<"$out" || true)
udp_ok=$(client "$PY" - "$LAB_VIP" "$LAB_UDP_PORT" <<'PYEOF' || true
import socket, sys
ok = 0
for i in range(10):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    s.sendto(b"drain-%d" % i, (sys.argv[1], int(sys.argv[2])))
    try:
        s.recvfrom(2048); ok += 1
    except OSError:
        pass
    s.close()
print(ok)
PYEOF
)
t_stop=$(date +%s%N)
live=$(stats_field '.connections')
created=$(stats_field '[.workers[].connections_created] | add')
detail="after 60 HTTP ($http_ok ok) + 10 UDP ($udp_ok ok) + 1 idle: connections $live, created $created"
if [[ $http_ok == 60 && $udp_ok == 10 && $live =~ ^[0-9]+$ ]] && ((live >= 2)); then
  pass table-filled "$detail"
else
  fail table-filled "$detail (want 60 + 10 answered and live connections in the table)"
fi

active=$(web_field '"\(.active) active, \(.inactive) inactive"')
if [[ $active == "1 active,"* ]]; then
  pass idle-is-active "web service right after the burst: $active"
else
  fail idle-is-active "web service right after the burst: $active (want exactly 1 active: the idle connection)"
fi
# 3.5 s after it opened (tcp_established is 5 s) the idle connection must still be there.
wait_ms=$((3500 - ($(date +%s%N) - t_idle) / 1000000))
((wait_ms <= 0)) || sleep "$(awk -v ms="$wait_ms" 'BEGIN{printf "%.3f", ms / 1000}')"
active=$(web_field '.active')
age=$((($(date +%s%N) - t_idle) / 1000000))
if [[ $active == 1 ]]; then
  pass idle-not-early "the idle connection is still active $age ms after it opened"
else
  fail idle-not-early "web active $active $age ms after the idle connection opened (tcp_established is 5 s)"
fi

# Drain: poll every 0.5 s, at most 20 s.
drained=""
for ((i = 0; i < 40; i++)); do
  live=$(stats_field '.connections')
  if [[ $live == 0 ]]; then
    drained=$((($(date +%s%N) - t_stop) / 1000000))
    break
  fi
  sleep 0.5
done
if [[ -n $drained ]]; then
  pass table-drained "connections 0 after $drained ms (longest timeout 5 s)"
else
  fail table-drained "connections still $live 20 s after the traffic stopped"
fi
stats=$(telemetry /vsnat/stats || true)
echo "$stats" >"$E2E_LOG_DIR/stats-after-drain.json"
created=$(jq -r '[.workers[].connections_created] | add' <<<"$stats" 2>/dev/null || echo "?")
expired=$(jq -r '[.workers[].connections_expired] | add' <<<"$stats" 2>/dev/null || echo "?")
if [[ $created =~ ^[0-9]+$ && $created == "$expired" ]] && ((created >= 71)); then
  pass expired-accounted "connections_created $created = connections_expired $expired"
else
  fail expired-accounted "connections_created $created, connections_expired $expired (want equal, >= 71)"
fi

kill -TERM "$idle_pid" 2>/dev/null || true
wait "$idle_pid" 2>/dev/null || true

out=$(http_sequential 3)
if [[ $(grep -c '^ok' <<<"$out") == 3 ]]; then pass served-after-drain "3 of 3 requests answered"; else fail served-after-drain "$out"; fi
e2e_end
