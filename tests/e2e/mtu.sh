#!/usr/bin/env bash
# e2e: datagrams larger than the link they would leave by (configs/mtu-1w.yaml: the inside link
# has MTU 1400, the clients' 1500). A client's 1450-byte UDP query to VIP:53 with DF set gets
# ICMP "fragmentation needed" with MTU 1400 back, so its kernel learns the path MTU (RFC 1191:
# the next send of that size fails with EMSGSIZE, IP_MTU says 1400) and a 1300-byte query is
# answered; without DF the datagram is dropped and counted (over_mtu), not sent on silently.
#
# --ipv6 (configs/dual-mtu-1w.yaml: both director links at MTU 1280, IPv6's minimum; a router
# never fragments IPv6, it answers ICMPv6 Packet Too Big with the MTU, RFC 8201):
#  - download: a 100 MB download through the IPv6 VIP arrives intact (sha256): the real
#    server's 1500-byte segments do not fit the outside link, so it goes through only once the
#    director's Packet Too Big reached the real server, through the NAT, and the real server
#    learned the path MTU 1280 towards the client (its route cache shows it);
#  - path-mtu: a client's 1400-byte UDP query to [VIP]:53 (1448 bytes of IPv6, over the inside
#    link) is not answered; the client learns the path MTU from the Packet Too Big (the next send
#    of that size fails with EMSGSIZE under IPV6_PMTUDISC_DO, IPV6_MTU says 1280) and a
#    1200-byte query is answered;
#  - client-fragments: a 1400-byte query from an ordinary socket, which the client's kernel now
#    fragments to 1280, is answered intact (its 1452-byte reply, too large for the outside link,
#    once the real server learned the path MTU: up to three tries);
#  - the director counts what it refused (over_mtu) and the Packet Too Big it sent.
# VSNAT_E2E_KERNEL=1 runs the IPv6 traffic checks against the kernel director, its links' IPv6
# MTU set to 1280 (net.ipv6.conf.IF.mtu), the counters skipped.
E2E_IPV6_TEST=1
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
((E2E_FAMILY == 6)) || ! kernel_mode || skip "the kernel director's IPv4 MTU handling is not under test"
((E2E_WORKERS == 1)) || skip "one configuration: --workers 1"
readonly MB=100 MTU6=1280
if ((E2E_FAMILY == 6)); then
  VSNAT_LAB_FILE_MB=$MB e2e_start "$(e2e_config mtu)"
else
  e2e_start "$(e2e_config mtu)"
fi
command -v jq >/dev/null || { fail jq "jq not installed (scripts/install-deps.sh)"; exit 1; }

sum() { telemetry /vsnat/stats | jq -r "[.workers[].$1] | add"; }
drops() { telemetry /vsnat/stats | jq -r "[.workers[].drops.$1] | add"; }

# --- IPv6 ---------------------------------------------------------------------------------
if ((E2E_FAMILY == 6)); then
  if kernel_mode; then
    # The kernel director forwards with its links' IPv6 MTU (a forwarded packet over it gets
    # Packet Too Big); the device MTU stays 1500, so the veths still take 1500-byte frames in.
    for l in "$LAB_IF_OUT" "$LAB_IF_IN"; do
      ip netns exec "$LAB_NS_DIRECTOR" sh -c "echo $MTU6 > /proc/sys/net/ipv6/conf/$l/mtu"
    done
  else
    ptb0=$(telemetry /vsnat/stats | jq -r '[.workers[] | to_entries[] | select(.key == "frag_needed_sent" or (.key | test("too_big"))) | .value] | add // 0')
    over0=$(drops over_mtu)
  fi
  # The real servers' path MTU towards the client, from their route caches: "mtu 1280" once
  # a Packet Too Big taught them.
  rs_pmtu() { ip netns exec "vsnat-rs$1" ip -6 route get "$E2E_CLIENT" | grep -o 'mtu [0-9]*' || echo "mtu none"; }
  before="rs1 $(rs_pmtu 1), rs2 $(rs_pmtu 2)"

  want=$(cut -d' ' -f1 "$LAB_FILES_DIR/${MB}M.bin.sha256")
  t0=$(date +%s%N)
  rc=0
  got=$(set -o pipefail; client curl -sS -g -6 --max-time 60 "http://$E2E_VIP_URL/files/${MB}M.bin" |
    sha256sum | cut -d' ' -f1) || rc=$?
  ms=$((($(date +%s%N) - t0) / 1000000))
  after="rs1 $(rs_pmtu 1), rs2 $(rs_pmtu 2)"
  learned=$(grep -o "mtu $MTU6" <<<"$after" | wc -l) || true   # grep finds none: 0
  if ((rc == 0)) && [[ $got == "$want" ]] && ((learned >= 1)); then
    pass download "${MB}M.bin through $E2E_VIP_URL, sha256 ok in $ms ms; the real servers' path MTU to $E2E_CLIENT: $after (before: $before)"
  else
    fail download "${MB}M.bin: curl/pipe status $rc after $ms ms, sha256 ${got:-none} (want $want); real servers' path MTU to $E2E_CLIENT: $after, before: $before (want mtu $MTU6 on the one that served)"
  fi
  require_daemon_alive

  if verdict=$(client "$PY" - "$E2E_VIP" "$LAB_UDP_PORT" "$MTU6" <<'PYEOF' 2>&1
import errno, socket, sys, time
vip, port, mtu = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO, IPV6_MTU = 23, 2, 24
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.setsockopt(socket.IPPROTO_IPV6, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DO)
s.settimeout(1.0)
s.connect((vip, port))
s.send(b"x" * 1400)  # 1448 bytes of IPv6: over the inside link's 1280
try:
    s.recv(4096)
    print(f"a 1400-byte query was answered through a {mtu}-byte link"); sys.exit(1)
except OSError:
    pass  # a timeout, or the Packet Too Big reported on the connected socket (EMSGSIZE)
learned = None
for _ in range(20):  # the Packet Too Big may take a moment to be taken in
    try:
        s.send(b"x" * 1400)
    except OSError as e:
        if e.errno == errno.EMSGSIZE:
            learned = s.getsockopt(socket.IPPROTO_IPV6, IPV6_MTU)
            break
    time.sleep(0.1)
if learned != mtu:
    print(f"the client's kernel did not learn the path MTU (IPV6_MTU {learned}, want {mtu})"); sys.exit(1)
s.send(b"y" * 1200)  # 1248 bytes of IPv6
try:
    reply = s.recv(4096)
except OSError as e:
    print(f"a 1200-byte query was not echoed: {type(e).__name__}"); sys.exit(1)
if not reply.endswith(b"y" * 1200):
    print(f"a 1200-byte query got a bad reply ({len(reply)} bytes)"); sys.exit(1)
print(f"path MTU {mtu} learned from the director's Packet Too Big; 1200 bytes echoed")
PYEOF
  ); then
    pass path-mtu "$verdict"
  else
    fail path-mtu "$verdict"
  fi

  if verdict=$(client "$PY" - "$E2E_VIP" "$LAB_UDP_PORT" <<'PYEOF' 2>&1
import os, socket, sys
vip, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)  # default: the kernel fragments to the PMTU
s.settimeout(1.0)
payload = os.urandom(1400)
for attempt in range(1, 4):
    s.sendto(payload, (vip, port))
    try:
        data, peer = s.recvfrom(4096)
    except OSError:
        continue  # the reply met the outside link's MTU: the real server learns it, try again
    name, _, rest = data.partition(b"\n")
    if peer[:2] != (vip, port) or rest != payload:
        print(f"a bad reply from {peer[0]} port {peer[1]} ({len(data)} bytes)"); sys.exit(1)
    print(f"a 1400-byte query fragmented by the client answered intact by {name.decode()} "
          f"from the VIP, try {attempt}")
    sys.exit(0)
print("a 1400-byte query fragmented by the client: not answered in 3 tries"); sys.exit(1)
PYEOF
  ); then
    pass client-fragments "$verdict"
  else
    fail client-fragments "$verdict"
  fi

  if kernel_mode; then
    log "VSNAT_E2E_KERNEL=1: vsnatd's counters skipped"
  else
    ptb=$(($(telemetry /vsnat/stats | jq -r '[.workers[] | to_entries[] | select(.key == "frag_needed_sent" or (.key | test("too_big"))) | .value] | add // 0') - ptb0))
    over=$(($(drops over_mtu) - over0))
    # At least: one Packet Too Big to the client (path-mtu) and one to a real server (download).
    if ((ptb >= 2 && over >= 2)); then
      pass too-big-counted "Packet Too Big sent +$ptb (frag_needed_sent and *too_big* counters), over_mtu +$over"
    else
      fail too-big-counted "Packet Too Big sent +$ptb (frag_needed_sent and *too_big* counters), over_mtu +$over (want >= 2 each)"
    fi
  fi
  e2e_end
  exit 0
fi

# --- IPv4 ---------------------------------------------------------------------------------

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
