#!/usr/bin/env bash
# e2e 4: the UDP service VIP:53 (wrr, rs1 1 : rs2 1). 30 queries, each from a new socket (a new
# source port, so a new connection for the director; each socket stays open until the last
# query, so that the kernel cannot give a later one the same port, which would send that query
# down an earlier query's connection): every one answered with "rsN\n" + the
# payload, every reply from VIP:53 (recvfrom on an unconnected socket, so a reply from a real
# server's own address would be seen, not filtered), both servers used equally (one worker:
# exactly 15 : 15; two workers schedule separately: within 2). A UDP port with no service on
# the VIP is rejected with ICMP port unreachable (ECONNREFUSED on a connected socket).
# --ipv6: the same through the IPv6 VIP 2001:2:0:18::100 (service dns6): every reply from
# [VIP]:53, the port with no service refused by ICMPv6 port unreachable.
E2E_IPV6_TEST=1
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
e2e_start "$(e2e_config vsnat)"

tolerance=0
((E2E_WORKERS == 1)) || kernel_mode || tolerance=2
if verdict=$(client "$PY" - "$E2E_VIP" "$LAB_UDP_PORT" "$tolerance" "$E2E_IP" <<'PYEOF' 2>&1
import socket, sys
vip, port, tolerance = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
family = socket.AF_INET6 if sys.argv[4] == "6" else socket.AF_INET
seen, problems, sockets = {"rs1": 0, "rs2": 0}, [], []
for i in range(30):
    s = socket.socket(family, socket.SOCK_DGRAM)
    sockets.append(s)  # open until the end: no source port twice
    s.settimeout(1.0)
    payload = b"vsnat-e2e-udp-%02d-" % i + bytes(range(256)) * 2
    s.sendto(payload, (vip, port))
    try:
        data, peer = s.recvfrom(4096)
    except OSError as e:
        problems.append(f"query {i}: {type(e).__name__}")
        if len(problems) >= 3:
            break
        continue
    name, _, rest = data.partition(b"\n")
    if peer[:2] != (vip, port):  # an IPv6 peer also has flowinfo and scope id
        problems.append(f"query {i}: reply from {peer[0]}:{peer[1]}")
    elif rest != payload or name.decode(errors="replace") not in seen:
        problems.append(f"query {i}: bad reply {data[:40]!r}")
    else:
        seen[name.decode()] += 1
for s in sockets:
    s.close()
print(f"30 queries: rs1 {seen['rs1']}, rs2 {seen['rs2']}, problems {len(problems)} {problems[:3]}")
ok = not problems and seen["rs1"] + seen["rs2"] == 30 and abs(seen["rs1"] - seen["rs2"]) <= tolerance
sys.exit(0 if ok else 1)
PYEOF
); then
  pass udp-balanced "$verdict, every reply from $E2E_VIP_URL:$LAB_UDP_PORT"
else
  fail udp-balanced "$verdict (want all answered from $E2E_VIP_URL:$LAB_UDP_PORT, |rs1 - rs2| <= $tolerance)"
fi

if verdict=$(client "$PY" - "$E2E_VIP" "$E2E_IP" <<'PYEOF' 2>&1
import socket, sys, time
s = socket.socket(socket.AF_INET6 if sys.argv[2] == "6" else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
s.connect((sys.argv[1], 54))
t0 = time.monotonic()
try:
    s.send(b"nobody home")
    s.recv(2048)
    print("udp/54 answered"); sys.exit(1)
except ConnectionRefusedError:
    print(f"udp/54 refused (ICMP{'v6' if sys.argv[2] == '6' else ''} port unreachable) in {(time.monotonic() - t0) * 1000:.0f} ms"); sys.exit(0)
except OSError as e:
    print(f"udp/54: {type(e).__name__}: {e}"); sys.exit(1)
PYEOF
); then
  pass udp-no-service "$verdict"
else
  fail udp-no-service "$verdict (want ICMP$( ((E2E_IP == 4)) || echo v6) port unreachable)"
fi
e2e_end
