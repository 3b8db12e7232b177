#!/usr/bin/env bash
# e2e 3: a VIP port with no service is rejected at once: TCP to VIP:8080 is answered with a
# reset. curl must fail with exit 7 (CURLE_COULDNT_CONNECT) in under a second, and a python
# connect() must get ECONNREFUSED (a reset), not EHOSTUNREACH/ETIMEDOUT: curl's exit 7 and its
# message ("Couldn't connect to server" in Debian 12's curl) cover those too. UDP to VIP:54 is
# answered with ICMP port unreachable (ECONNREFUSED on a connected socket), also at once. The
# web service on :80 still works afterwards.
# --ipv6: the same on the IPv6 VIP [2001:2:0:18::100], UDP refused with ICMPv6 port unreachable.
E2E_IPV6_TEST=1
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
e2e_start "$(e2e_config vsnat)"

# curl: exit 7, measured.
t0=$(date +%s%N)
rc=0
out=$(client curl -sS -g "-$E2E_IP" --max-time 3 "http://$E2E_VIP_URL:8080/" 2>&1) || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
if ((rc == 7 && ms < 1000)); then
  pass curl-refused "curl exit 7 in $ms ms: $out"
else
  fail curl-refused "curl exit $rc in $ms ms: $out (want exit 7 in < 1000 ms)"
fi

# python: which error exactly, five times, each from a new socket: connect() to tcp/8080 (a new
# connection from a new port), then a datagram to udp/54 from a connected UDP socket.
refused() { # refused tcp|udp: prints what happened; fails unless all five were refused in < 1 s
  client "$PY" - "$E2E_VIP" "$E2E_IP" "$1" <<'PYEOF' 2>&1
import socket, sys, time
vip, kind = sys.argv[1], sys.argv[3]
family = socket.AF_INET6 if sys.argv[2] == "6" else socket.AF_INET
results, worst = [], 0.0
for i in range(5):
    s = socket.socket(family, socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM)
    s.settimeout(3.0 if kind == "tcp" else 1.0)
    t0 = time.monotonic()
    try:
        if kind == "tcp":
            s.connect((vip, 8080))
            results.append("connected")
        else:
            s.connect((vip, 54))
            s.send(b"nobody home")
            s.recv(2048)
            results.append("answered")
    except ConnectionRefusedError:
        results.append("refused")
    except OSError as e:
        results.append(f"{type(e).__name__}({e.errno})")
    worst = max(worst, time.monotonic() - t0)
    s.close()
what = "connects to tcp/8080" if kind == "tcp" else "datagrams to udp/54"
print(f"5 {what}: {', '.join(sorted(set(results)))}; slowest {worst * 1000:.0f} ms")
sys.exit(0 if set(results) == {"refused"} and worst < 1.0 else 1)
PYEOF
}
if verdict=$(refused tcp); then
  pass tcp-reset "$verdict"
else
  fail tcp-reset "$verdict (want ECONNREFUSED each time, < 1 s)"
fi
icmp="ICMP$( ((E2E_IP == 4)) || echo v6) port unreachable"
if verdict=$(refused udp); then
  pass udp-unreachable "$verdict ($icmp)"
else
  fail udp-unreachable "$verdict (want ECONNREFUSED, i.e. $icmp, each time, < 1 s)"
fi

# The director still serves the real service.
out=$(http_sequential 3)
if [[ $(grep -c '^ok' <<<"$out") == 3 ]]; then pass port-80-still-served "3 of 3 requests answered"; else fail port-80-still-served "$out"; fi
e2e_end
