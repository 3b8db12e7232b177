#!/usr/bin/env python3
"""IPv4 and IPv6 fragments of UDP datagrams, built by hand, for tests/e2e/fragments.sh (no scapy).

usage: frag_send.py scenario --vip V --port P --sources A,B,C --dup-source D --orphan-source E
                             [--wait S] [--json FILE]
       frag_send.py flood --dst V --port P [--src-net NET] [--count N]
                          [--seconds S] [--rate PPS]

Run it inside the lab's client namespace. Every address must lie in 198.18.0.0/15 or
2001:2::/48 (the lab's ranges, docs/ARCHITECTURE.md "The lab"), all of one family: the VIP's
(--vip, --dst). Fragments go out through a raw socket that takes whole IP packets (IPv4:
IP_HDRINCL; IPv6: IPPROTO_RAW); the IP header, the IPv6 fragment header (RFC 8200 4.5: 32-bit
identification) and the UDP checksums are computed here. IPv6 fragments carry no other
extension header.

scenario: three datagrams, one from each of --sources, cut into fragments and sent out of order
  (each one's last fragment first, its middle ones shuffled, its first one at the end, second or
  among the middle ones), the three interleaved fragment by fragment; then a datagram from
  --dup-source with two fragments sent twice; then one from --orphan-source whose first
  fragment is never sent. A UDP socket bound to each source address (port = the datagram's
  source port) collects the echoes (udp_echo.py: "rsN\\n" + payload) for --wait seconds: each of
  the four must come back once from VIP:port with its payload intact, the orphan never. Prints
  one line; --json FILE gets the numbers the caller checks the director's counters against.
  Exit 0 when all is as expected.

flood: --count fragments (at most --seconds, at --rate a second), each a lone non-first
  fragment of a UDP datagram to --dst (random source in --src-net, default 198.18.128.0/17 or
  2001:2:0:ff00::/56 by the family of --dst, random IP id): orphans that can never be
  completed. Prints one line: fragments sent, seconds, rate.
"""

import argparse
import ipaddress
import json
import os
import random
import select
import socket
import struct
import sys
import time

LAB_RANGES = {4: ipaddress.ip_network("198.18.0.0/15"), 6: ipaddress.ip_network("2001:2::/48")}
FLOOD_NETS = {4: "198.18.128.0/17", 6: "2001:2:0:ff00::/56"}
MF = 0x2000
NEXTHDR_FRAGMENT = 44


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def lab_address(text: str, family: int = 0):
    """text as an address of the lab's ranges (and of `family`, 4 or 6, when given)."""
    a = ipaddress.ip_address(text)
    if family and a.version != family:
        raise SystemExit(f"frag_send: {a} is not IPv{family}, the family of the destination")
    if a not in LAB_RANGES[a.version]:
        raise SystemExit(f"frag_send: {a} is not in {LAB_RANGES[a.version]}")
    return a


def udp(src, dst, sport: int, dport: int, payload: bytes) -> bytes:
    """The whole UDP datagram (header + payload), checksum over all of it and the family's
    pseudo header (RFC 768; RFC 8200 8.1: mandatory in IPv6, 0 sent as 0xFFFF either way)."""
    length = 8 + len(payload)
    head = struct.pack("!HHHH", sport, dport, length, 0)
    if src.version == 6:
        pseudo = src.packed + dst.packed + struct.pack("!I3xB", length, socket.IPPROTO_UDP)
    else:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, socket.IPPROTO_UDP, length)
    csum = checksum(pseudo + head + payload) or 0xFFFF
    return head[:6] + struct.pack("!H", csum) + payload


def ip_fragment(src, dst, ident: int, offset: int, more: bool, data: bytes) -> bytes:
    """One fragment: `data` at byte `offset` of the datagram's UDP part."""
    assert offset % 8 == 0
    if src.version == 6:
        # IPv6 header (next header: fragment), then the fragment header (next header: UDP).
        hdr = struct.pack("!IHBB", 6 << 28, 8 + len(data), NEXTHDR_FRAGMENT, 64)
        frag = struct.pack("!BBHI", socket.IPPROTO_UDP, 0, offset | (1 if more else 0), ident)
        return hdr + src.packed + dst.packed + frag + data
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(data), ident,
                      (MF if more else 0) | (offset // 8), 64, socket.IPPROTO_UDP, 0,
                      src.packed, dst.packed)
    return hdr[:10] + struct.pack("!H", checksum(hdr)) + hdr[12:] + data


def where(addr: str, port: int) -> str:
    """addr:port, an IPv6 address in brackets."""
    return f"[{addr}]:{port}" if ":" in addr else f"{addr}:{port}"


def fragments(src, dst, ident: int, l4: bytes, size: int) -> list:
    """l4 cut into fragments of `size` bytes (a multiple of 8), in offset order."""
    assert size % 8 == 0
    return [ip_fragment(src, dst, ident, off, off + size < len(l4), l4[off:off + size])
            for off in range(0, len(l4), size)]


def raw_socket(family: int) -> socket.socket:
    if family == 6:
        # IPPROTO_RAW: the packet is sent as given, from its IPv6 header on (IPV6_HDRINCL).
        return socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)  # implies IP_HDRINCL
    s.setsockopt(socket.IPPROTO_IP, socket.IP_HDRINCL, 1)
    return s


def fragment_payload(family: int, mtu: int = 1500) -> int:
    """Bytes of the UDP part in each fragment (but the last) a kernel makes on a link of `mtu`:
    IPv4 behind its 20-byte header; IPv6 behind its 40 bytes and the 8-byte fragment header."""
    return (mtu - 20) // 8 * 8 if family == 4 else (mtu - 48) // 8 * 8


def reply_fragments(payload_len: int, family: int, name_len: int = 4, mtu: int = 1500) -> int:
    """Fragments of the echo's reply ("rsN\\n" + payload) on a link of `mtu`."""
    return -(-(8 + name_len + payload_len) // fragment_payload(family, mtu))


class Datagram:
    def __init__(self, label, src, vip, port, size, frag_size, rng):
        self.label, self.src_text = label, src
        src_a, dst_a = lab_address(src), lab_address(vip)
        self.sock = socket.socket(socket.AF_INET6 if src_a.version == 6 else socket.AF_INET,
                                  socket.SOCK_DGRAM)
        self.sock.bind((src, 0))
        self.sock.setblocking(False)
        self.sport = self.sock.getsockname()[1]
        self.payload = (f"vsnat-e2e-frag-{label}-".encode() +
                        bytes(rng.getrandbits(8) for _ in range(size)))[:size]
        # IPv4's identification is 16 bits, IPv6's 32.
        ident = rng.getrandbits(32 if src_a.version == 6 else 16)
        self.frags = fragments(src_a, dst_a, ident,
                               udp(src_a, dst_a, self.sport, port, self.payload), frag_size)
        self.replies = []


def scenario(a) -> int:
    rng = random.Random(os.getpid())
    sources = a.sources.split(",")
    if len(sources) != 3:
        raise SystemExit("frag_send: --sources takes three addresses")
    # Sizes and fragment sizes differ so that no two datagrams look alike.
    plan = [(sources[0], 5000, 1000), (sources[1], 3000, 800), (sources[2], 7000, 1200)]
    dgs = [Datagram(f"{i}", s, a.vip, a.port, size, fs, rng) for i, (s, size, fs) in enumerate(plan)]
    dup = Datagram("dup", a.dup_source, a.vip, a.port, 4000, 1000, rng)
    orphan = Datagram("orphan", a.orphan_source, a.vip, a.port, 3000, 1000, rng)

    held = 0  # non-first fragments sent before their datagram's first
    orders = []
    for i, d in enumerate(dgs):
        first, mid, last = d.frags[0], d.frags[1:-1], d.frags[-1]
        rng.shuffle(mid)
        if i == 0:    # last, middles, first
            order = [last] + mid + [first]
        elif i == 1:  # last, first, middles
            order = [last, first] + mid
        else:         # last, some middles, first, the other middles
            k = len(mid) // 2
            order = [last] + mid[:k] + [first] + mid[k:]
        held += order.index(first)
        orders.append(order)
    interleaved = []
    for step in range(max(len(o) for o in orders)):
        interleaved += [o[step] for o in orders if step < len(o)]
    # Duplicates: a middle fragment twice before the first, the last twice after it.
    f = dup.frags  # 5 fragments: 0 first, 1-3 middle, 4 last
    dup_order = [f[4], f[2], f[2], f[0], f[1], f[4], f[3]]
    held += 3
    # The orphan: everything but the first fragment.
    orphan_order = [orphan.frags[-1]] + orphan.frags[1:-1]

    family = lab_address(a.vip).version
    s = raw_socket(family)
    for pkt in interleaved + dup_order + orphan_order:
        s.sendto(pkt, (a.vip, 0))

    answered = dgs + [dup]
    by_sock = {d.sock: d for d in answered + [orphan]}
    # Listen until all four are in and 0.3 s more (for extra replies), at most --wait seconds.
    deadline = time.monotonic() + a.wait
    quiet_until = None
    while time.monotonic() < deadline:
        if quiet_until is None and all(d.replies for d in answered):
            quiet_until = time.monotonic() + 0.3
        if quiet_until is not None and time.monotonic() >= quiet_until:
            break
        ready, _, _ = select.select(list(by_sock), [], [], 0.05)
        for sock in ready:
            try:
                data, peer = sock.recvfrom(70000)
            except BlockingIOError:
                continue
            by_sock[sock].replies.append((data, peer))

    problems, servers = [], []
    for d in answered:
        if len(d.replies) != 1:
            problems.append(f"datagram {d.label} from {d.src_text}: {len(d.replies)} replies")
            continue
        data, peer = d.replies[0]
        name, _, rest = data.partition(b"\n")
        if peer[:2] != (a.vip, a.port):  # an IPv6 peer also has flowinfo and scope id
            problems.append(f"datagram {d.label}: reply from {peer[0]}:{peer[1]}")
        elif name not in (b"rs1", b"rs2") or rest != d.payload:
            problems.append(f"datagram {d.label}: bad reply ({len(data)} bytes, {data[:12]!r})")
        else:
            servers.append(name.decode())
    if orphan.replies:
        problems.append(f"the orphan (no first fragment) was answered {len(orphan.replies)} times")

    req_later = sum(len(d.frags) - 1 for d in dgs) + (len(dup.frags) - 1)
    reply_later = sum(reply_fragments(len(d.payload), family) - 1 for d in answered)
    summary = {
        "fragments_sent": len(interleaved) + len(dup_order) + len(orphan_order),
        "duplicates": 2,
        # non-first fragments through a translation: requests (duplicates counted once) + replies
        "forwarded_min": req_later + reply_later,
        "forwarded_max": req_later + 2 + reply_later,
        "held_min": held - 1 + len(orphan_order),  # a held duplicate may be merged
        "held_max": held + len(orphan_order),
        "orphans": len(orphan_order),
        "answered": len(servers),
        "problems": problems,
    }
    if a.json:
        with open(a.json, "w") as out:
            json.dump(summary, out)
    print(f"{summary['fragments_sent']} fragments sent (3 datagrams from {a.sources} interleaved "
          f"out of order, 1 with duplicates, 1 without its first fragment); "
          f"{len(servers)} of {len(answered)} answered intact from {where(a.vip, a.port)} "
          f"by {','.join(servers) or 'none'}; orphan answered {len(orphan.replies)} times; "
          f"problems {len(problems)} {problems[:3]}")
    return 0 if not problems else 1


def flood(a) -> int:
    dst = lab_address(a.dst)
    net = ipaddress.ip_network(a.src_net or FLOOD_NETS[dst.version])
    if net.version != dst.version or not net.subnet_of(LAB_RANGES[dst.version]):
        raise SystemExit(f"frag_send: --src-net must be in {LAB_RANGES[dst.version]}")
    if not 0 < a.seconds <= 60 or not 0 < a.count <= 1_000_000 or not 0 <= a.rate <= 1_000_000:
        raise SystemExit("frag_send: --seconds 0..60, --count 1..1e6, --rate 0..1e6")
    rng = random.Random(os.getpid())
    first, size = int(net.network_address), net.num_addresses
    data = bytes(64)
    id_bits = 32 if dst.version == 6 else 16
    # 4096 distinct orphans (source, id, offset), sent round and round.
    address = type(net.network_address)
    packets = [ip_fragment(address(first + rng.randrange(size)), dst,
                           rng.getrandbits(id_bits), 8 * rng.randrange(1, 1000),
                           rng.random() < 0.5, data)
               for _ in range(4096)]
    s = raw_socket(dst.version)
    target = (a.dst, 0)
    sent = i = 0
    t0 = time.monotonic()
    deadline = t0 + a.seconds
    while sent < a.count:
        now = time.monotonic()
        if now >= deadline:
            break
        if a.rate and sent > (now - t0) * a.rate:
            time.sleep(0.001)
            continue
        for _ in range(min(64, a.count - sent)):
            try:
                s.sendto(packets[i], target)
                sent += 1
            except OSError:
                pass  # the veth's queue is full: the flood is at its rate
            i = (i + 1) % len(packets)
    elapsed = time.monotonic() - t0
    print(f"frag flood: {sent} orphan fragments to {a.dst} from {net} in {elapsed:.1f} s "
          f"({sent / max(elapsed, 1e-9):.0f}/s)")
    return 0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    sc = sub.add_parser("scenario")
    sc.add_argument("--vip", required=True)
    sc.add_argument("--port", type=int, default=53)
    sc.add_argument("--sources", required=True, help="three client addresses, comma-separated")
    sc.add_argument("--dup-source", required=True)
    sc.add_argument("--orphan-source", required=True)
    sc.add_argument("--wait", type=float, default=2.0)
    sc.add_argument("--json")
    fl = sub.add_parser("flood")
    fl.add_argument("--dst", required=True)
    fl.add_argument("--port", type=int, default=53)
    fl.add_argument("--src-net", help="default: 198.18.128.0/17, or 2001:2:0:ff00::/56 for IPv6")
    fl.add_argument("--count", type=int, default=20000)
    fl.add_argument("--seconds", type=float, default=2.0)
    fl.add_argument("--rate", type=int, default=10000)
    a = p.parse_args()
    if a.cmd == "scenario":
        family = lab_address(a.vip).version
        for addr in [a.dup_source, a.orphan_source] + a.sources.split(","):
            lab_address(addr, family)
        if not 0 < a.wait <= 10:
            raise SystemExit("frag_send: --wait 0..10")
        return scenario(a)
    return flood(a)


if __name__ == "__main__":
    sys.exit(main())
