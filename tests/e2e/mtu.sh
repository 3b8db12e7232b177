#!/usr/bin/env bash
# e2e: datagrams larger than the link they would leave by (configs/mtu-1w.yaml: the inside link
# has MTU 1400, the clients' 1500). A client's 1450-byte UDP query to VIP:53 with DF set gets
# ICMP "fragmentation needed" with MTU 1400 back, so its kernel learns the path MTU (RFC 1191:
# the next send of that size fails with EMSGSIZE, IP_MTU says 1400) and a 1300-byte query is
# answered; without DF the datagram is dropped and counted (over_mtu), not sent on silently.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
kernel_mode && skip "the kernel director's MTU handling is not under test"
((E2E_WORKERS == 1)) || skip "one configuration: --workers 1"
e2e_start "$(e2e_config mtu)"
command -v jq >/dev/null || { fail jq "jq not installed (scripts/install-deps.sh)"; exit 1; }

sum() { telemetry /vsnat/stats | jq -r "[.workers[].$1] | add"; }
drops() { telemetry /vsnat/stats | jq -r "[.workers[].drops.$1] | add"; }

if verdict=$(client "$PY" - "$LAB_VIP" "$LAB_UDP_PORT" <<'PYEOF' 2>&1
import errno, socket, sys, time
vip, port = sys.argv[1], int(sys.argv[2])
IP_MTU_DISCOVER, IP_PMTUDISC_DO, IP_MTU = 10, 2, 14
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
s.settimeout(1.0)
s.connect((vip, port))
s.send(b"x" * 1450)  # 1478 bytes of IP: over the inside link's 1400
try:
    s.recv(4096)
    print("a 1450-byte query was answered through a 1400-byte link"); sys.exit(1)
except OSError:
    pass
learned = None
for _ in range(20):  # the ICMP error may take a moment to be taken in
    try:
        s.send(b"x" * 1450)
    except OSError as e:
        if e.errno == errno.EMSGSIZE:
            learned = s.getsockopt(socket.IPPROTO_IP, IP_MTU)
            break
    time.sleep(0.1)
if learned != 1400:
    print(f"the client's kernel did not learn the path MTU (IP_MTU {learned})"); sys.exit(1)
s.send(b"y" * 1300)
reply = s.recv(4096)
if not reply.endswith(b"y" * 1300):
    print("a 1300-byte query was not echoed"); sys.exit(1)
print("path MTU 1400 learned from the director's fragmentation-needed; 1300 bytes echoed")
PYEOF
); then
  pass path-mtu "$verdict"
else
  fail path-mtu "$verdict"
fi
sent=$(sum frag_needed_sent)
if ((sent >= 1)); then
  pass frag-needed-counted "frag_needed_sent $sent"
else
  fail frag-needed-counted "frag_needed_sent $sent (want >= 1)"
fi

before=$(drops over_mtu)
client "$PY" - "$LAB_VIP" "$LAB_UDP_PORT" <<'PYEOF' || fail no-df "the sender failed"
import socket, sys
IP_MTU_DISCOVER, IP_PMTUDISC_DONT = 10, 0
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DONT)
for _ in range(5):
    s.sendto(b"z" * 1450, (sys.argv[1], int(sys.argv[2])))
PYEOF
sleep 0.5
dropped=$(($(drops over_mtu) - before))
if ((dropped == 5)); then
  pass no-df "5 datagrams of 1478 bytes without DF: dropped and counted as over_mtu"
else
  fail no-df "over_mtu rose by $dropped (want 5)"
fi
e2e_end
