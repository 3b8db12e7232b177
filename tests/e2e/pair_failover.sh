#!/usr/bin/env bash
# e2e: a pair of directors and VRRP (README.md, "A pair of directors"): `scripts/lab.sh up --pair`,
# vsnatd A and B (configs/pair-{a,b}-1w.yaml, `ha.addresses: follow_kernel`), keepalived in each
# one's kernel_netns (A MASTER 150, B BACKUP 100: scripts/lab/keepalived.conf.in). There is no
# connection sync yet: a failover keeps no connection; new ones go to the new master.
#   (a) A master, B backup: HTTP through the VIP is served by A (A's connections_created rise by
#       the requests, B's not at all); only A's MACs answer ARP for the VIP (asked from the
#       client) and for the real servers' gateway 198.19.0.1 (asked from a real server)
#   (b) kill -9 of A (vsnatd and keepalived): prints the time until a new connection through the
#       VIP succeeds; B holds both addresses, the client's ARP entry for the VIP and the real
#       servers' for the gateway are B's MACs (keepalived's gratuitous ARPs through B's
#       mirrors); 300 requests, all through B, wrr 1:2 exactly
#   (c) A restarted: it takes both addresses back (priority, preemption), B none, and new
#       connections are A's again
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=SCRIPTDIR/pair.sh
source "$E2E_DIR/pair.sh"
e2e_parse_args "$@"
e2e_require_root
readonly FAILOVER_LIMIT_MS=10000 WRR_REQUESTS=300

pair_start

# served N: N sequential requests through the VIP; prints "ok rs1 rs2 errors" counts.
served() {
  local out
  out=$(http_sequential "$1")
  echo "$(grep -c '^ok' <<<"$out" || true)" \
    "$(grep -c "^ok [^ ]* [^ ]* rs1 $LAB_RS1:$LAB_RS1_HTTP_PORT\$" <<<"$out" || true)" \
    "$(grep -c "^ok [^ ]* [^ ]* rs2 $LAB_RS2:$LAB_RS2_HTTP_PORT\$" <<<"$out" || true)" \
    "$(grep -c '^err' <<<"$out" || true)"
}

# The MACs that answer two broadcast ARP requests for $3, sent from namespace $1's device $2
# (iputils arping's status says nothing here: with -b it is 1 even when answered).
arp_macs() {
  { ip netns exec "$1" timeout 5 arping -b -c 2 -I "$2" "$3" 2>/dev/null || true; } |
    sed -n 's/^Unicast reply from [0-9.]* \[\([0-9A-Fa-f:]*\)\].*/\1/p' | tr 'A-F' 'a-f' | sort -u | xargs
}

# The MAC in namespace $1's neighbor entry for $2.
neighbor_mac() {
  ip -n "$1" neigh show "$2" | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}'
}

# Polls (every 50 ms, LIMIT_MS at most) until namespace $1's neighbor entry for $2 is MAC $3.
wait_neighbor() {
  local t0
  t0=$(now_ms)
  while (($(now_ms) - t0 < $4)); do
    [[ $(neighbor_mac "$1" "$2") == "$3" ]] && return 0
    sleep 0.05
  done
  return 1
}

gateway=${LAB_FLOATING_IN%/*}
log "keepalived advert_int $KEEPALIVED_ADVERT_INT s (VRRPv3)"

# --- (a) A master, B backup ----------------------------------------------------------------
a0=$(pair_counter a connections_created) b0=$(pair_counter b connections_created)
read -r ok rs1 rs2 errors < <(served 30)
a1=$(pair_counter a connections_created) b1=$(pair_counter b connections_created)
detail="30 requests: $ok ok (rs1 $rs1, rs2 $rs2), $errors errors; A's connections_created +$((a1 - a0)), B's +$((b1 - b0)), B's drops not_for_us $(pair_counter b drop_not_for_us), not_our_mac $(pair_counter b drop_not_our_mac)"
if ((ok == 30 && a1 - a0 == 30 && b1 == b0)); then
  pass master-serves "$detail"
else
  fail master-serves "$detail (want all 30 ok, all A's)"
fi

arp_macs "$LAB_NS_CLIENT" eth0 "$LAB_VIP" >"$E2E_LOG_DIR/arp-vip" &
arp_vip_pid=$!
arp_gw=$(arp_macs "$LAB_NS_RS1" eth0 "$gateway")
wait "$arp_vip_pid" || true
arp_vip=$(<"$E2E_LOG_DIR/arp-vip")
if [[ $arp_vip == "$LAB_MAC_OUT" && $arp_gw == "$LAB_MAC_IN" ]]; then
  pass backup-silent "ARP for $LAB_VIP answered by $arp_vip only (A), for $gateway by $arp_gw only (A)"
else
  fail backup-silent "ARP for $LAB_VIP answered by '$arp_vip', for $gateway by '$arp_gw' (want A's $LAB_MAC_OUT and $LAB_MAC_IN only; B is $LAB_MAC_OUT2, $LAB_MAC_IN2)"
fi
flaps=$(grep -c 'Entering MASTER STATE' "$(pair_keepalived_log b)" || true)
if ((flaps == 0)) && pair_holds_none b; then
  pass backup-stable "B's keepalived never left BACKUP; its mirrors hold neither address"
else
  fail backup-stable "B's keepalived entered MASTER $flaps times while A ran (a VRRP advert lost or late?)"
fi
pair_require_alive

# --- (b) kill -9 of A ------------------------------------------------------------------------
b0=$(pair_counter b connections_created)
t0=$(now_ms)
pair_kill a
# When B's mirrors hold both addresses, polled every 10 ms beside the clients' tries.
(
  for ((i = 0; i < 1000 && $(now_ms) - t0 < FAILOVER_LIMIT_MS; i++)); do
    pair_holds b && { echo $(($(now_ms) - t0)) >"$E2E_LOG_DIR/b-holds-ms"; break; }
    sleep 0.01
  done
) &
poller=$!
served_ms="" tries=0
while (($(now_ms) - t0 < FAILOVER_LIMIT_MS)); do
  tries=$((tries + 1))
  if client curl -sS -o /dev/null --connect-timeout 0.05 --max-time 1 "http://$LAB_VIP/" 2>/dev/null; then
    served_ms=$(($(now_ms) - t0))
    break
  fi
done
wait "$poller" || true
vip_ms=$(cat "$E2E_LOG_DIR/b-holds-ms" 2>/dev/null || echo never)
if [[ -n $served_ms ]]; then
  pass failover "kill -9 of A: B's mirrors hold the VIP and the gateway after $vip_ms ms; the first new connection through the VIP served $served_ms ms after the kill (try $tries of curl --connect-timeout 0.05)"
  echo "failover time: $served_ms ms"
else
  fail failover "no new connection through the VIP within $FAILOVER_LIMIT_MS ms of the kill ($tries tries; both addresses on B's mirrors after $vip_ms ms)"
fi
if pair_wait_master b 2000 >/dev/null; then
  pass b-master "B holds $PAIR_VIP_CIDR and $PAIR_GATEWAY_CIDR (A is gone)"
else
  fail b-master "B does not hold both addresses"
fi
moved=""
for ns in "$LAB_NS_RS1" "$LAB_NS_RS2"; do
  wait_neighbor "$ns" "$gateway" "$LAB_MAC_IN2" 2000 || moved+=" $ns: $gateway at '$(neighbor_mac "$ns" "$gateway")'"
done
wait_neighbor "$LAB_NS_CLIENT" "$LAB_VIP" "$LAB_MAC_OUT2" 2000 ||
  moved+=" $LAB_NS_CLIENT: $LAB_VIP at '$(neighbor_mac "$LAB_NS_CLIENT" "$LAB_VIP")'"
if [[ -z $moved ]]; then
  pass arp-moved "the real servers reach $gateway, the client $LAB_VIP at B's MACs ($LAB_MAC_IN2, $LAB_MAC_OUT2)"
else
  fail arp-moved "want B's MACs ($LAB_MAC_IN2, $LAB_MAC_OUT2):$moved"
fi

b1=$(pair_counter b connections_created)
t1=$(date +%s%N)
read -r ok rs1 rs2 errors < <(served "$WRR_REQUESTS")
secs=$(awk -v a="$t1" -v b="$(date +%s%N)" 'BEGIN{printf "%.1f", (b - a) / 1e9}')
b2=$(pair_counter b connections_created)
detail="$WRR_REQUESTS requests in $secs s: rs1 $rs1, rs2 $rs2, errors $errors; B's connections_created +$((b2 - b1)) (+$((b2 - b0)) since the kill)"
if ((ok == WRR_REQUESTS && rs1 == WRR_REQUESTS / 3 && rs2 == 2 * WRR_REQUESTS / 3 && b2 - b1 == WRR_REQUESTS)); then
  pass backup-serves "$detail (exactly 1:2, all B's)"
else
  fail backup-serves "$detail (want exactly $((WRR_REQUESTS / 3)) : $((2 * WRR_REQUESTS / 3)), all B's)"
fi
vsnatd_select b
require_daemon_alive

# --- (c) A again ---------------------------------------------------------------------------
pair_restart a
t0=$PAIR_KEEPALIVED_STARTED_MS
if ms=$(pair_wait_master a 10000); then
  taken_ms=$(($(now_ms) - t0))
  served_ms=""
  a0=$(pair_counter a connections_created)
  while (($(now_ms) - t0 < FAILOVER_LIMIT_MS)); do
    if client curl -sS -o /dev/null --connect-timeout 0.05 --max-time 1 "http://$LAB_VIP/" 2>/dev/null &&
      (($(pair_counter a connections_created) > a0)); then
      served_ms=$(($(now_ms) - t0))
      break
    fi
  done
  if [[ -n $served_ms ]]; then
    pass failback "A restarted: it holds both addresses (B neither) $taken_ms ms after its keepalived started, and serves new connections $served_ms ms after it started"
  else
    fail failback "A holds both addresses after $taken_ms ms but served no new connection within $FAILOVER_LIMIT_MS ms"
  fi
else
  fail failback "A restarted does not hold both addresses alone within 10 s"
fi
a0=$(pair_counter a connections_created) b0=$(pair_counter b connections_created)
read -r ok rs1 rs2 errors < <(served 30)
a1=$(pair_counter a connections_created) b1=$(pair_counter b connections_created)
detail="30 requests: $ok ok, $errors errors; A's connections_created +$((a1 - a0)), B's +$((b1 - b0))"
if ((ok == 30 && a1 - a0 == 30 && b1 == b0)); then
  pass master-again "$detail"
else
  fail master-again "$detail (want all 30 ok, all A's)"
fi
pair_end
