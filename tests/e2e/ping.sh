#!/usr/bin/env bash
# e2e 5: the director answers ICMP echo for the VIP and its own addresses: 198.18.0.100 and
# 198.18.0.254 from the client, 198.19.0.1 from each real server. 5 echoes each, all answered
# (-W 1: a lost reply costs at most a second), plus one 1400-byte echo to the VIP.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
e2e_start "$(e2e_config vsnat)"

# ping_check NAME NS TARGET [extra ping args]
ping_check() {
  local name=$1 ns=$2 target=$3 out rc=0
  shift 3
  out=$(ip netns exec "$ns" ping -n -c 5 -i 0.2 -W 1 "$@" "$target" 2>&1) || rc=$?
  local summary
  summary=$(grep -E 'packets transmitted' <<<"$out" || tail -n 1 <<<"$out")
  if ((rc == 0)) && grep -q ' 0% packet loss' <<<"$out"; then
    pass "$name" "$target from $ns: $summary"
  else
    fail "$name" "$target from $ns: $summary"
  fi
}

ping_check ping-vip "$LAB_NS_CLIENT" "$LAB_VIP"
ping_check ping-outside "$LAB_NS_CLIENT" "${LAB_DIRECTOR_OUT%/*}"
ping_check ping-inside-rs1 "$LAB_NS_RS1" "${LAB_DIRECTOR_IN%/*}"
ping_check ping-inside-rs2 "$LAB_NS_RS2" "${LAB_DIRECTOR_IN%/*}"
ping_check ping-vip-1400 "$LAB_NS_CLIENT" "$LAB_VIP" -s 1400
e2e_end
