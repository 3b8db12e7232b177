#!/usr/bin/env bash
# e2e: BGP over the kernel side of the director (README.md, "The kernel side of the director").
# BIRD 2 in vsnatd's kernel_netns (vsnat-kernel, configs/kernel-*.yaml) peers by eBGP with BIRD
# in the client namespace, which stands for the upstream router, and announces the VIP as a /32
# (hold time 6 s, keepalives every 2 s: a control path stalled for 6 s ends the session).
#   - the session comes up, the client's kernel routes the VIP /32 via the director
#   - LOAD_SECONDS of wrk through the VIP and, at the same time, a UDP flood from forged
#     sources to the director's own outside address (scripts/lab/synflood.py --udp: every
#     datagram is punted to the kernel, as bulk): the session stays up the whole time (the same
#     "since" before and after, no state change in either BIRD's log), no control packet was
#     dropped (punt_dropped_control 0), the VIP kept serving
# --ipv6 (short; configs/dual-kernel-2w.yaml): the session runs over IPv6 between the director's
# and the client's outside addresses (2001:2:0:18::254 and ::1), with an ipv6 channel:
#   - the client's kernel routes the IPv6 VIP 2001:2:0:18::100/128 via the director, and HTTP
#     reaches it through the VIP
#   - the director's BIRD disables the session: the client's route is withdrawn (the load under a
#     flood is the IPv4 run's, over the same punt path)
E2E_IPV6_TEST=1
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
readonly LOAD_SECONDS=${VSNAT_E2E_BGP_SECONDS:-60} FLOOD_RATE=50000
e2e_start "$(e2e_config kernel)"
VSNATCTL="$(dirname "$VSNATD")/vsnatctl"
readonly VSNATCTL
# shellcheck source=SCRIPTDIR/bird.sh
source "$E2E_DIR/bird.sh"
on_exit() {
  local rc=$?
  stop_birds
  (exit "$rc")
  e2e_on_exit
}
trap on_exit EXIT
start_birds static

route="" t0=$SECONDS
while ((SECONDS - t0 < 30)); do
  route=$(bgp_route "$E2E_VIP")
  [[ -n $route ]] && break
  sleep 0.5
done
# (An IPv6 route may name the director by its link-local address, the next hop BGP gives too.)
if [[ $route == "$E2E_VIP via $E2E_DIRECTOR_OUT "* || ($E2E_IP == 6 && $route == "$E2E_VIP via fe80:"*) ]]; then
  pass bgp-route "after $((SECONDS - t0)) s the client routes: $route"
else
  fail bgp-route "no BGP route to $E2E_VIP in the client after 30 s, or not via the director: '$route' $(birdc_show upstream)"
  stop_birds
  e2e_end
fi
if ((E2E_FAMILY == 6)); then
  if client curl -sS -g -6 --max-time 2 -o /dev/null "http://$E2E_VIP_URL/"; then
    pass vip-served "HTTP through $E2E_VIP_URL"
  else
    fail vip-served "no HTTP answer through $E2E_VIP_URL"
  fi
  timeout 5 birdc -s "$E2E_LOG_DIR/bird-director.ctl" disable peer >/dev/null
  t0=$SECONDS
  while [[ -n $(bgp_route "$E2E_VIP") ]] && ((SECONDS - t0 < 10)); do
    sleep 0.2
  done
  if [[ -z $(bgp_route "$E2E_VIP") ]]; then
    pass bgp-withdrawn "the director's session disabled: the client's route to $E2E_VIP gone after $((SECONDS - t0)) s"
  else
    fail bgp-withdrawn "the director's session disabled 10 s ago: still $(bgp_route "$E2E_VIP")"
  fi
  stop_birds
  e2e_end
  exit 0
fi
# BIRD logs every change of a protocol's state ("State changed to ..."): none may follow.
state_changes() {
  cat "$E2E_LOG_DIR/bird-director.log" "$E2E_LOG_DIR/bird-upstream.log" 2>/dev/null |
    grep -c "State changed" || true
}
before=$(birdc_show director)
changes_before=$(state_changes)

# The flood's sources are forged from 198.18.128.0/17, which the config routes via the client
# (reverse path ok); the kernel's answers to them die in the client namespace.
client "$PY" "$REPO_DIR/scripts/lab/synflood.py" --udp --dst "$E2E_DIRECTOR_OUT" --dport 9 \
  --seconds "$LOAD_SECONDS" --rate "$FLOOD_RATE" >"$E2E_LOG_DIR/flood.log" 2>&1 &
flood_pid=$!
load=$(client timeout $((LOAD_SECONDS + 20)) wrk -t2 -c50 -d"${LOAD_SECONDS}s" --timeout 2s \
  "http://$LAB_VIP/" 2>&1) || true
wait "$flood_pid" || fail flood "synflood.py failed: $(tail -n 2 "$E2E_LOG_DIR/flood.log")"
require_daemon_alive
echo "$load" >"$E2E_LOG_DIR/wrk.log"

# A session that went down and came back has a later "since" time; the same session's may read
# a millisecond apart (BIRD converts its monotonic clock to wall time each time it prints).
since_ms() {
  awk '{ split($5, t, /[:.]/); print ((t[1] * 60 + t[2]) * 60 + t[3]) * 1000 + t[4] }' <<<"$1"
}
without_since() { awk '{ $5 = ""; print }' <<<"$1"; }
same_session() {
  local drift=$(($(since_ms "$after") - $(since_ms "$before")))
  [[ $(without_since "$after") == "$(without_since "$before")" ]] && ((drift > -1000 && drift < 1000))
}

after=$(birdc_show director)
changes=$(($(state_changes) - changes_before))
if [[ $after == *Established* ]] && same_session && ((changes == 0)); then
  pass bgp-no-flap "$LOAD_SECONDS s of wrk and $(cat "$E2E_LOG_DIR/flood.log"): still '$after'"
else
  fail bgp-no-flap "before: '$before', after: '$after' ($changes state changes logged)"
fi
# The VIP kept serving: every request answered with a 2xx, no connection refused or reset. A
# request answered later than wrk's --timeout is allowed up to one in a thousand: on a 2-core
# host that runs the flood, wrk, the real servers, the kernel and both workers at once, a worker
# is now and then off its core long enough for the other's handover ring to fill (counted,
# drop_handover_full) and a segment waits out its retransmissions; a starved VIP times out by
# the thousand.
requests=$(awk '/requests in/ {print $1}' <<<"$load")
read -r connect_errors read_errors write_errors timeouts < <(
  sed -n 's/.*Socket errors: connect \([0-9]*\), read \([0-9]*\), write \([0-9]*\), timeout \([0-9]*\).*/\1 \2 \3 \4/p' \
    <<<"$load" | grep . || echo 0 0 0 0)
not_2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' <<<"$load")
if ((${requests:-0} > 0 && connect_errors + read_errors + write_errors + ${not_2xx:-0} == 0 &&
  timeouts * 1000 <= requests)); then
  pass vip-under-flood "wrk: ${requests} requests, $(awk '/Requests\/sec/ {print $2}' <<<"$load")/s, no connection errors, $timeouts answered after 2 s"
else
  fail vip-under-flood "wrk: $(tr '\n' ' ' <<<"$load")"
fi
counts=$("$VSNATCTL" --prefix "$E2E_PREFIX" stats --json | "$PY" -c '
import json, sys
m = next(m for m in json.load(sys.stdin)["kernel"] if m["interface"] == "outside")
print(m["punted"], m["punted_control"], m["punt_dropped"], m["punt_dropped_control"])
' 2>&1) || true
read -r punted control dropped control_dropped <<<"$counts"
if [[ ${control_dropped:-x} == 0 && ${control:-0} -gt 0 ]]; then
  pass control-not-starved "outside mirror: punted $punted (control $control), punt_dropped $dropped, punt_dropped_control 0"
else
  fail control-not-starved "outside mirror counters: $counts"
fi
stop_birds
e2e_end
