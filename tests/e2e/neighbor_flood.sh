#!/usr/bin/env bash
# e2e: hostile ARP against the neighbor table (issue: hostile input, round two; README "Limits
# of the neighbor table"). vsnatd with a /16 outside prefix (configs/neigh-*.yaml), so that
# thousands of on-link addresses exist. From the client namespace, scripts/lab/arpflood.py sends
# (each bounded in count and time, paced so that the lab's links carry all of it):
#   - 5,200 gratuitous ARPs from distinct senders of 198.18.32.0/19 at random MACs: more than the
#     table holds (4,096), from hosts the director never talks to;
#   - ARPs claiming the VIP and the director's own address (gratuitous, and as answers to it);
#   - 2,000 ARPs moving a client the director does talk to (198.18.0.20) to random MACs.
# Checks: the flood reached vsnatd (its ARP counters) but left no entry in the neighbor table
# (/vsnat/neighbors); the claims were refused (drop arp_claims_ours) and neither the VIP nor the
# director's address is a neighbor; new clients (.2 to .10, never seen before) still connect
# through the VIP; the log holds a bounded number of neighbor lines, the moves summed up in a
# summary line rather than one line each; the daemon stays up.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
((E2E_XDP == 0)) || { echo "$E2E_NAME: AF_PACKET only" >&2; exit 2; }
readonly FLOOD_NET=198.18.32.0/19 FLOOD=5200 MOVES=2000 CLAIMS=3 MAX_NEIGHBOR_LINES=30
readonly MOVED_CLIENT=198.18.0.20 ARPFLOOD="$REPO_DIR/scripts/lab/arpflood.py"
e2e_start "$(e2e_config neigh)"

sum() { jq -r "[.workers[]?.$1 // 0] | add // 0" <<<"$2"; }
# The neighbor table's addresses, one per line: page after page of 128 (bounded: 40 pages cover
# the 4,096 entries it can hold).
neighbor_addresses() {
  local page rows
  for ((page = 0; page < 40; page++)); do
    rows=$(telemetry "/vsnat/neighbors,$((page * 128)),128" | jq -r '.address // [] | .[]') || return 1
    [[ -n $rows ]] || break
    echo "$rows"
    (($(wc -l <<<"$rows") == 128)) || break
  done
}
arp_flood() { client "$PY" "$ARPFLOOD" --iface eth0 "$@" >>"$E2E_LOG_DIR/arpflood.log" 2>&1; }
http_from() { client curl -s --max-time 2 --interface "$1" "http://$LAB_VIP/"; }

# A client the director talks to: learned (it was asked for when the first reply left).
reply=$(http_from "$MOVED_CLIENT") || true
neighbors=$(neighbor_addresses)
if [[ $reply == rs* ]] && grep -qxF "$MOVED_CLIENT" <<<"$neighbors"; then
  pass learned "$MOVED_CLIENT connected and is in the neighbor table"
else
  fail learned "$MOVED_CLIENT: reply '$reply'; neighbors: $(tr '\n' ' ' <<<"$neighbors")"
fi

before=$(telemetry /vsnat/stats)
# The claims first, while the table has room for them; then the flood; then the moves.
for op in request reply; do
  for claimed in "$LAB_VIP" 198.18.0.254; do
    arp_flood --senders "$claimed/32" --count "$CLAIMS" --op "$op" --mac 02:66:00:00:00:99 \
      --target "$([[ $op == reply ]] && echo 198.18.0.254 || echo "$claimed")" \
      --dst-mac "$([[ $op == reply ]] && echo "$LAB_MAC_OUT" || echo ff:ff:ff:ff:ff:ff)" ||
      fail claims "arpflood.py failed: $(tail -n 2 "$E2E_LOG_DIR/arpflood.log")"
  done
done
arp_flood --senders "$FLOOD_NET" --count "$FLOOD" --rate 20000 --seconds 20 ||
  fail flood "arpflood.py failed: $(tail -n 2 "$E2E_LOG_DIR/arpflood.log")"
arp_flood --senders "$MOVED_CLIENT/32" --count "$MOVES" --op reply --target 198.18.0.254 \
  --dst-mac "$LAB_MAC_OUT" --rate 20000 --seconds 20 ||
  fail moves "arpflood.py failed: $(tail -n 2 "$E2E_LOG_DIR/arpflood.log")"
log "$(cat "$E2E_LOG_DIR/arpflood.log")"
sleep 1   # the control thread takes reports each millisecond; leave it a margin
after=$(telemetry /vsnat/stats)
require_daemon_alive

arps=$(($(sum arp_received "$after") + $(sum arp_ignored "$after") -
  $(sum arp_received "$before") - $(sum arp_ignored "$before")))
claims=$(($(sum drops.arp_claims_ours "$after") - $(sum drops.arp_claims_ours "$before")))
want_arps=$((FLOOD + MOVES))
if ((arps >= want_arps)); then
  pass flood-arrived "vsnatd took in $arps ARP packets (sent $FLOOD from $FLOOD_NET, $MOVES moves)"
else
  fail flood-arrived "vsnatd took in $arps ARP packets, want $want_arps: lost on the way?"
fi
if ((claims == 4 * CLAIMS)); then
  pass claims-refused "$claims ARPs claiming the VIP or 198.18.0.254 dropped as arp_claims_ours"
else
  fail claims-refused "arp_claims_ours went up by $claims, want $((4 * CLAIMS))"
fi

neighbors=$(neighbor_addresses)
size=$(telemetry /vsnat/neighbors,0,0 | jq -r '.size')
echo "$neighbors" >"$E2E_LOG_DIR/neighbors.txt"
flooded=$("$PY" -c '
import ipaddress, sys
net = ipaddress.ip_network(sys.argv[1])
print(sum(1 for line in sys.stdin if line.strip() and ipaddress.ip_address(line.strip()) in net))
' "$FLOOD_NET" <<<"$neighbors")
if ((flooded == 0 && size < 16)); then
  pass no-room-taken "none of the $FLOOD senders is a neighbor; the table holds $size entries"
else
  fail no-room-taken "$flooded flood senders in the neighbor table, which holds $size entries"
fi
if grep -qxF -e "$LAB_VIP" -e 198.18.0.254 <<<"$neighbors"; then
  fail vip-not-neighbor "the VIP or the director's address is in the neighbor table"
else
  pass vip-not-neighbor "neither $LAB_VIP nor 198.18.0.254 is a neighbor (table: $(head -n 20 <<<"$neighbors" | tr '\n' ' '))"
fi

# New clients, never seen before: each must be asked for, learned and answered.
ok=0 tried=0
for i in 2 3 4 5 6 7 8 9 10; do
  tried=$((tried + 1))
  reply=$(http_from "198.18.0.$i") && [[ $reply == rs* ]] && ok=$((ok + 1))
done
if ((ok == tried)); then
  pass new-clients "$ok of $tried new clients (198.18.0.2-10) connected through the VIP"
else
  fail new-clients "only $ok of $tried new clients connected through the VIP"
fi

# The moves' summary comes when its log window (5 s) ends: wait for it, bounded.
for ((i = 0; i < 70; i++)); do
  grep -q "moved to another MAC" "$VSNATD_LOG" && break
  sleep 0.1
done
lines=$(grep -c "neighbor" "$VSNATD_LOG" || true)
moved_lines=$(grep -c "neighbor $MOVED_CLIENT moved" "$VSNATD_LOG" || true)
summary=$(grep -m1 "moved to another MAC" "$VSNATD_LOG" || true)
log "neighbor lines in the log: $lines ($moved_lines for single moves); summary: ${summary:-none}"
if ((lines <= MAX_NEIGHBOR_LINES)) && [[ -n $summary ]]; then
  pass bounded-log "$lines neighbor lines for $MOVES moves and $FLOOD flood ARPs (at most $MAX_NEIGHBOR_LINES); the rest summed up"
else
  fail bounded-log "$lines neighbor lines (at most $MAX_NEIGHBOR_LINES), summary: ${summary:-none}"
fi

# The VIP still works for the first client, after all of it.
reply=$(http_from "$LAB_CLIENT") || true
if [[ $reply == rs* ]]; then
  pass vip-works "$LAB_CLIENT -> $LAB_VIP answered: $reply"
else
  fail vip-works "$LAB_CLIENT -> $LAB_VIP: '$reply'"
fi
e2e_end
