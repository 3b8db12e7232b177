#!/usr/bin/env bash
# e2e: health checks of IPv6 real servers from the kernel side (README.md, "Health checks",
# "IPv6 (NAT66)"): the dual-stack lab with kernel mirrors (configs/dual-kernel-2w.yaml), whose
# mirrors carry the interfaces' IPv6 addresses and the IPv6 default route, so the probes leave
# from vsnat-kernel over IPv6. Services on the IPv6 VIP (written here):
#   web6 :80 (http check, both real servers' nginx), web6-tcp :81 (tcp check on port 8000:
#   rs2's nginx listens there, rs1 has nothing, so it is down with the kernel's reason).
#   - the kernel side reaches the real servers over IPv6 (ping from vsnat-kernel)
#   - web6's servers both up, web6-tcp's rs1 down ("refused") and rs2 up, in vsnatctl list
#   - 20 requests to [VIP]:81 all answered by rs2; to [VIP]:80 by both
# Run with --ipv6 (meson: health-checks-ipv6).
E2E_IPV6_TEST=1
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
((E2E_FAMILY == 6)) || skip "an IPv6 test: run it with --ipv6"
e2e_start "$(e2e_config kernel)"
readonly LIMIT_MS=6000

config="$E2E_LOG_DIR/health6.yaml"
sed '/^services:/,$d' "$(e2e_config kernel)" >"$config"
check="interval: 1s, timeout: 500ms, rise: 2, fall: 2"
cat >>"$config" <<EOF
services:
  - {name: web6, protocol: tcp, vip: $E2E_VIP, port: 80,
     real_servers: [{address: $E2E_RS1, port: $LAB_RS1_HTTP_PORT},
                    {address: $E2E_RS2, port: $LAB_RS2_HTTP_PORT}],
     health_check: {type: http, path: /, $check}}
  - {name: web6-tcp, protocol: tcp, vip: $E2E_VIP, port: 81,
     real_servers: [{address: $E2E_RS1, port: $LAB_RS1_HTTP_PORT},
                    {address: $E2E_RS2, port: $LAB_RS2_HTTP_PORT}],
     health_check: {type: tcp, port: $LAB_RS2_HTTP_PORT, $check}}
EOF
stop_vsnatd
start_vsnatd "$config"

# The kernel side's own IPv6: its mirror's addresses and route reach the real servers.
if ip netns exec vsnat-kernel ping -6 -c 1 -W 2 "$E2E_RS1" >/dev/null 2>&1; then
  pass kernel-side "vsnat-kernel pings $E2E_RS1 through its mirror of the inside port"
else
  fail kernel-side "vsnat-kernel cannot ping $E2E_RS1: $(ip netns exec vsnat-kernel ip -6 -o addr 2>&1 | tr '\n' ' ')"
fi

# settled: the four checks as expected, or their states after LIMIT_MS.
t0=$(date +%s%N)
while :; do
  states="web6 rs1 '$(real_server_health web6 "$E2E_RS1")', rs2 '$(real_server_health web6 "$E2E_RS2")';"
  states+=" web6-tcp rs1 '$(real_server_health web6-tcp "$E2E_RS1")', rs2 '$(real_server_health web6-tcp "$E2E_RS2")'"
  [[ $states == "web6 rs1 'up', rs2 'up'; web6-tcp rs1 'down: "*"', rs2 'up'" ]] && break
  (($(date +%s%N) - t0 < LIMIT_MS * 1000000)) || break
  sleep 0.2
done
elapsed=$((($(date +%s%N) - t0) / 1000000))
if [[ $states == "web6 rs1 'up', rs2 'up'; web6-tcp rs1 'down: "*refused*"', rs2 'up'" ]]; then
  pass checks "after $elapsed ms: $states"
else
  fail checks "after $elapsed ms: $states"
fi

# Requests follow the checks: :81 only to rs2, :80 to both.
answers() {  # answers PORT N: "rs1 rs2" counts of N requests to [VIP]:PORT
  local i out rs1=0 rs2=0
  for ((i = 0; i < $2; i++)); do
    out=$(client curl -sS -6 -g --max-time 2 "http://[$E2E_VIP]:$1/" 2>&1) || true
    [[ $out == "rs1 "* ]] && rs1=$((rs1 + 1))
    [[ $out == "rs2 "* ]] && rs2=$((rs2 + 1))
  done
  echo "$rs1 $rs2"
}
read -r tcp_rs1 tcp_rs2 <<<"$(answers 81 20)"
read -r web_rs1 web_rs2 <<<"$(answers 80 20)"
if ((tcp_rs1 == 0 && tcp_rs2 == 20 && web_rs1 > 0 && web_rs2 > 0 && web_rs1 + web_rs2 == 20)); then
  pass traffic "[VIP]:81: rs2 $tcp_rs2 of 20 (rs1 down); [VIP]:80: rs1 $web_rs1, rs2 $web_rs2"
else
  fail traffic "[VIP]:81: rs1 $tcp_rs1, rs2 $tcp_rs2 (want 0 and 20); [VIP]:80: rs1 $web_rs1, rs2 $web_rs2"
fi
e2e_end
