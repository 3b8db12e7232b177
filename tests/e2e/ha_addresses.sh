#!/usr/bin/env bash
# e2e: `ha.addresses: follow_kernel` (README.md, "A pair of directors"), one director, the test
# doing what keepalived does to its kernel mirrors: the VIP 198.18.0.100 on vsk-out and the
# floating gateway 198.19.0.254 on vsk-in, added and removed with `ip addr`.
#   - neither on a mirror: the VIP's clients get nothing (no ARP answer, no connection), the
#     floating address answers no ping; the director's own addresses still do
#   - both added: the VIP serves HTTP and the floating address answers pings, within 1 s
#   - the VIP removed: its traffic is no longer served (dropped as not_for_us)
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
readonly FLOATING=198.19.0.254
e2e_start "$(e2e_config kernel)"
VSNATCTL="$(dirname "$VSNATD")/vsnatctl"
readonly VSNATCTL
config="$E2E_LOG_DIR/ha.yaml"
sed -e "s|^kernel_netns: .*|&\nha: {addresses: follow_kernel}|" \
  -e "s|^    address: 198.19.0.1/24|&\n    floating: [$FLOATING/24]|" "$(e2e_config kernel)" >"$config"
stop_vsnatd
start_vsnatd "$config"
in_kernel() { ip -n "$LAB_NS_KERNEL" "$@"; }
served() { client curl -sS --max-time 1 -o /dev/null "http://$LAB_VIP/" 2>/dev/null; }
floating_answers() { in_rs 1 ping -c 1 -W 1 "$FLOATING" >/dev/null 2>&1; }
not_for_us() {
  "$VSNATCTL" --prefix "$E2E_PREFIX" stats --json | "$PY" -c '
import json, sys
v = json.load(sys.stdin)["drop_not_for_us"]
print(sum(v) if isinstance(v, list) else v)'
}

if ! served && ! floating_answers && in_rs 1 ping -c 1 -W 1 "${LAB_DIRECTOR_IN%/*}" >/dev/null 2>&1; then
  pass not-held "nothing on the mirrors: the VIP serves nothing, $FLOATING answers no ping; the director's own address does"
else
  fail not-held "with nothing on the mirrors the VIP or $FLOATING answered, or the director's own address did not"
fi

t0=$(date +%s%N)
in_kernel addr add "$LAB_VIP/32" dev vsk-out
in_kernel addr add "$FLOATING/24" dev vsk-in
client ip neigh flush all
in_rs 1 ip neigh flush all
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
in_kernel addr del "$LAB_VIP/32" dev vsk-out
sleep 0.3
if ! served && (($(not_for_us) > before)); then
  pass released "the VIP off its mirror: its traffic dropped as not_for_us ($before -> $(not_for_us))"
else
  fail released "the VIP off its mirror: still served, or not counted ($before -> $(not_for_us))"
fi
e2e_end
