#!/usr/bin/env bash
# e2e: `ha.addresses: follow_kernel` (README.md, "A pair of directors"), one director, the test
# doing what keepalived does to its kernel mirrors: the VIP 198.18.0.100 on vsk-out and the
# floating gateway 198.19.0.254 on vsk-in, added and removed with `ip addr`.
#   - neither on a mirror: the VIP's clients get nothing (no ARP answer, no connection), the
#     floating address answers no ping; the director's own addresses still do
#   - both added: the VIP serves HTTP and the floating address answers pings, within 1 s
#   - the VIP removed: its traffic is no longer served (dropped as not_for_us)
# --ipv6: the same with the IPv6 VIP 2001:2:0:18::100 (/128) and floating gateway
# 2001:2:0:19::fe (/64), on configs/dual-kernel-1w.yaml: answered by neighbor discovery.
E2E_IPV6_TEST=1
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
e2e_start "$(e2e_config kernel)"
if ((E2E_FAMILY == 6)); then
  readonly FLOATING=2001:2:0:19::fe FLOATING_LEN=64 HOST_LEN=128
else
  readonly FLOATING=198.19.0.254 FLOATING_LEN=24 HOST_LEN=32
fi
VSNATCTL="$(dirname "$VSNATD")/vsnatctl"
readonly VSNATCTL
config="$E2E_LOG_DIR/ha.yaml"
sed -e "s|^kernel_netns: .*|&\nha: {addresses: follow_kernel}|" \
  -e "s|^    kernel: vsk-in|&\n    floating: [$FLOATING/$FLOATING_LEN]|" "$(e2e_config kernel)" >"$config"
stop_vsnatd
start_vsnatd "$config"
in_kernel() { ip -n "$LAB_NS_KERNEL" "$@"; }
served() { client curl -sS -g "-$E2E_IP" --max-time 1 -o /dev/null "http://$E2E_VIP_URL/" 2>/dev/null; }
floating_answers() { in_rs 1 ping "-$E2E_IP" -c 1 -W 1 "$FLOATING" >/dev/null 2>&1; }
not_for_us() {
  "$VSNATCTL" --prefix "$E2E_PREFIX" stats --json | "$PY" -c '
import json, sys
v = json.load(sys.stdin)["drop_not_for_us"]
print(sum(v) if isinstance(v, list) else v)'
}

if ! served && ! floating_answers && in_rs 1 ping "-$E2E_IP" -c 1 -W 1 "$E2E_DIRECTOR_IN" >/dev/null 2>&1; then
  pass not-held "nothing on the mirrors: the VIP serves nothing, $FLOATING answers no ping; the director's own address does"
else
  fail not-held "with nothing on the mirrors the VIP or $FLOATING answered, or the director's own address did not"
fi

t0=$(date +%s%N)
in_kernel addr add "$E2E_VIP/$HOST_LEN" dev vsk-out
in_kernel addr add "$FLOATING/$FLOATING_LEN" dev vsk-in
client ip "-$E2E_IP" neigh flush all
in_rs 1 ip "-$E2E_IP" neigh flush all
ok=0
for ((i = 0; i < 20; i++)); do
  served && floating_answers && { ok=1; break; }
  sleep 0.05
done
ms=$((($(date +%s%N) - t0) / 1000000))
if ((ok)); then
  pass held "VIP and $FLOATING on the mirrors: HTTP through the VIP and pings of $FLOATING answered $ms ms later"
else
  fail held "VIP and $FLOATING on the mirrors, after $ms ms: HTTP $(served && echo ok || echo failed), ping $(floating_answers && echo ok || echo failed)"
fi

before=$(not_for_us)
in_kernel addr del "$E2E_VIP/$HOST_LEN" dev vsk-out
sleep 0.3
if ! served && (($(not_for_us) > before)); then
  pass released "the VIP off its mirror: its traffic dropped as not_for_us ($before -> $(not_for_us))"
else
  fail released "the VIP off its mirror: still served, or not counted ($before -> $(not_for_us))"
fi
e2e_end
