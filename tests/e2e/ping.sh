#!/usr/bin/env bash
# e2e 5: the director answers ICMP echo for the VIP and its own addresses: 198.18.0.100 and
# 198.18.0.254 from the client, 198.19.0.1 from each real server. 5 echoes each, all answered
# (-W 1: a lost reply costs at most a second), plus one 1400-byte echo to the VIP.
# --ipv6: ICMPv6 echo (ping -6) for 2001:2:0:18::100 and 2001:2:0:18::254 from the client,
# 2001:2:0:19::1 from each real server, and the 1400-byte one to the VIP (1448 bytes of IPv6:
# under the links' 1500, so no fragment either way).
E2E_IPV6_TEST=1
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
e2e_start "$(e2e_config vsnat)"

# ping_check NAME NS TARGET [extra ping args]
ping_check() {
  local name=$1 ns=$2 target=$3 out rc=0
  shift 3
  out=$(ip netns exec "$ns" ping "-$E2E_IP" -n -c 5 -i 0.2 -W 1 "$@" "$target" 2>&1) || rc=$?
  local summary
  summary=$(grep -E 'packets transmitted' <<<"$out" || tail -n 1 <<<"$out")
  if ((rc == 0)) && grep -q ' 0% packet loss' <<<"$out"; then
    pass "$name" "$target from $ns: $summary"
  else
    fail "$name" "$target from $ns: $summary"
  fi
}

ping_check ping-vip "$LAB_NS_CLIENT" "$E2E_VIP"
ping_check ping-outside "$LAB_NS_CLIENT" "$E2E_DIRECTOR_OUT"
ping_check ping-inside-rs1 "$LAB_NS_RS1" "$E2E_DIRECTOR_IN"
ping_check ping-inside-rs2 "$LAB_NS_RS2" "$E2E_DIRECTOR_IN"
ping_check ping-vip-1400 "$LAB_NS_CLIENT" "$E2E_VIP" -s 1400
e2e_end
