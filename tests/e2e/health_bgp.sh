#!/usr/bin/env bash
# e2e: VIP advertisement (README.md, "Health checks"). vsnatd keeps the VIPs with a real server
# up as /32s on vsnat-vips in kernel_netns; BIRD there announces them unchanged (protocol
# direct) to BIRD in the client namespace (tests/e2e/bird.sh). Two VIPs: 198.18.0.100 (web, rs1
# and rs2) and 198.18.0.101 (one, rs1 only), http checks every 1 s, timeout 500 ms, fall 2,
# rise 2, against tests/e2e/health_server.py on the real servers.
#   - the client learns both VIPs; rs1 stopped: it loses 198.18.0.101 within fall x interval
#     + 1 s (3 s) and keeps 198.18.0.100; rs1 back: it learns 198.18.0.101 again
#     within rise x interval + 1 s (3 s, after the probes; BGP takes its part)
#   - after SIGTERM, and after kill -9 in a namespace that existed before, no VIP is left on
#     vsnat-vips for a routing daemon to announce
# --ipv6 (configs/dual-kernel-1w.yaml): the same with IPv6 VIPs 2001:2:0:18::100 and ::101,
# /128s on vsnat-vips, over an IPv6 session with an ipv6 channel (tests/e2e/bird.sh).
E2E_IPV6_TEST=1
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
readonly HTTP_PORT=8080 WITHDRAW_LIMIT_MS=3000 RELEARN_LIMIT_MS=3000
e2e_start "$(e2e_config kernel)"
VIP2=198.18.0.101
((E2E_FAMILY == 4)) || VIP2=2001:2:0:18::101
readonly VIP2
# shellcheck source=SCRIPTDIR/bird.sh
source "$E2E_DIR/bird.sh"
on_exit() {
  local rc=$?
  stop_birds
  (exit "$rc")
  e2e_on_exit
}
trap on_exit EXIT
now_ms() { echo $(($(date +%s%N) / 1000000)); }

start_server() {
  local v="E2E_RS$1"
  rm -f -- "$E2E_LOG_DIR/rs$1.pid"
  in_rs "$1" "$PY" "$E2E_DIR/health_server.py" --bind "${!v}" --http-port "$HTTP_PORT" \
    --udp-port 5353 --name "rs$1" --status-file "$E2E_LOG_DIR/rs$1.status" \
    --pidfile "$E2E_LOG_DIR/rs$1.pid" >>"$E2E_LOG_DIR/rs$1.log" 2>&1 &
  for ((i = 0; i < 50; i++)); do
    [[ -s $E2E_LOG_DIR/rs$1.pid ]] && return 0
    sleep 0.1
  done
}
start_server 1
start_server 2
config="$E2E_LOG_DIR/vips.yaml"
sed '/^services:/,$d' "$(e2e_config kernel)" >"$config"
check="health_check: {type: http, path: /, interval: 1s, timeout: 500ms, rise: 2, fall: 2}"
cat >>"$config" <<EOF2
services:
  - {name: web, protocol: tcp, vip: $E2E_VIP, port: 80, $check,
     real_servers: [{address: $E2E_RS1, port: $HTTP_PORT}, {address: $E2E_RS2, port: $HTTP_PORT}]}
  - {name: one, protocol: tcp, vip: $VIP2, port: 80, $check,
     real_servers: [{address: $E2E_RS1, port: $HTTP_PORT}]}
EOF2
stop_vsnatd
start_vsnatd "$config"
start_birds advertised

wait_route() {  # wait_route VIP present|absent LIMIT_MS: prints the ms it took
  local t0 now route
  t0=$(now_ms)
  while :; do
    route=$(bgp_route "$1")
    now=$(now_ms)
    if [[ ($2 == present && -n $route) || ($2 == absent && -z $route) ]]; then
      echo $((now - t0))
      return 0
    fi
    ((now - t0 < $3)) || return 1
    sleep 0.05
  done
}
for vip in "$E2E_VIP" "$VIP2"; do
  if took=$(wait_route "$vip" present 30000); then
    pass "learned-$vip" "the client routes $(bgp_route "$vip" | xargs) after $took ms"
  else
    fail "learned-$vip" "no BGP route to $vip in the client after 30 s: $(birdc_show upstream)"
  fi
done

kill -TERM "$(<"$E2E_LOG_DIR/rs1.pid")"
if took=$(wait_route "$VIP2" absent "$WITHDRAW_LIMIT_MS"); then
  pass withdrawn "rs1 stopped: $VIP2 (rs1 only) withdrawn after $took ms (limit $WITHDRAW_LIMIT_MS ms)"
else
  fail withdrawn "rs1 stopped: $VIP2 still routed after $WITHDRAW_LIMIT_MS ms: $(bgp_route "$VIP2")"
fi
if [[ -n $(bgp_route "$E2E_VIP") ]]; then
  pass still-announced "$E2E_VIP (rs2 still up) still routed"
else
  fail still-announced "$E2E_VIP was withdrawn with rs2 up"
fi
start_server 1
if took=$(wait_route "$VIP2" present $((RELEARN_LIMIT_MS + 2000))) && ((took <= RELEARN_LIMIT_MS)); then
  pass relearned "rs1 back: $VIP2 routed again after $took ms (limit $RELEARN_LIMIT_MS ms)"
else
  fail relearned "rs1 back: $VIP2 not routed within $RELEARN_LIMIT_MS ms (${took:-never})"
fi

# Nothing left to announce once vsnatd is gone: SIGTERM, then kill -9 in a namespace that
# existed before (the one it creates goes with it anyway).
vips_left() { ip -n "$LAB_NS_KERNEL" -o "-$E2E_IP" addr show dev vsnat-vips scope global 2>/dev/null || true; }
stop_birds
stop_vsnatd
for ((i = 0; i < 50; i++)); do
  ip netns list | grep -qw "$LAB_NS_KERNEL" || break
  sleep 0.1
done
ip netns add "$LAB_NS_KERNEL"
start_vsnatd "$config"
[[ -n $(vips_left) ]] || fail vips-before-kill "no VIP on vsnat-vips with vsnatd running"
kill -KILL "$VSNATD_PID"
wait "$VSNATD_PID" 2>/dev/null || true
VSNATD_PID=""
left=""
for ((i = 0; i < 50; i++)); do
  left=$(vips_left)
  [[ -z $left ]] && break
  sleep 0.1
done
if [[ -z $left ]]; then
  pass vips-gone-kill-9 "after kill -9, in a namespace that existed before: no vsnat-vips, nothing to announce"
else
  fail vips-gone-kill-9 "after kill -9: $left"
fi
ip netns del "$LAB_NS_KERNEL"
e2e_end
