#!/usr/bin/env python3
"""Bounded flood for the namespace lab: TCP SYNs (or UDP datagrams, --udp) from random forged
sources to one address.

usage: synflood.py --dst 198.18.0.100 --dport 80 [--src-net 198.18.128.0/17] [--seconds S]
                   [--count N] [--rate PPS] [--flows F] [--udp]

Run it inside the lab's client namespace (ip netns exec vsnat-client ...). Sources are drawn
from --src-net, which must lie in 198.18.0.0/15 (the benchmarking range the lab owns; "The lab"
in docs/ARCHITECTURE.md), and so must --dst. The default source network is no host's in the lab:
the end-to-end configs route it through the client namespace (gateway 198.18.0.1), whose kernel
forwards nothing, so the real servers' answers die there; a director with no route to it drops
the flood on arrival (reverse-path filter). The flood is --flows distinct packets (source
address and port), sent round and round. Stops
after --seconds or --count packets, whichever comes first (both bounded). Prints one line:
packets sent, seconds, rate.
"""

import argparse
import ipaddress
import os
import random
import socket
import struct
import sys
import time

LAB_RANGE = ipaddress.ip_network("198.18.0.0/15")
SEND_BURST = 256


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4(src: int, dst: int, protocol: int, l4: bytes) -> bytes:
    ip = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(l4), random.getrandbits(16), 0, 64,
                     protocol, 0, src, dst)
    return ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:] + l4


def syn(src: int, dst: int, sport: int, dport: int, seq: int) -> bytes:
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 5 << 4, 0x02, 64240, 0, 0)
    pseudo = struct.pack("!IIBBH", src, dst, 0, socket.IPPROTO_TCP, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
    return ipv4(src, dst, socket.IPPROTO_TCP, tcp)


def datagram(src: int, dst: int, sport: int, dport: int, _seq: int) -> bytes:
    payload = b"flood"
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    pseudo = struct.pack("!IIBBH", src, dst, 0, socket.IPPROTO_UDP, len(udp))
    udp = udp[:6] + struct.pack("!H", checksum(pseudo + udp) or 0xFFFF) + udp[8:]
    return ipv4(src, dst, socket.IPPROTO_UDP, udp)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dst", required=True)
    p.add_argument("--dport", type=int, required=True)
    p.add_argument("--src-net", default="198.18.128.0/17")
    p.add_argument("--seconds", type=float, default=5.0)
    p.add_argument("--count", type=int, default=10_000_000)
    p.add_argument("--rate", type=int, default=0, help="packets per second; 0: as fast as it goes")
    p.add_argument("--flows", type=int, default=4096, help="distinct SYNs, sent round and round")
    p.add_argument("--udp", action="store_true", help="UDP datagrams instead of TCP SYNs")
    a = p.parse_args()

    dst = ipaddress.ip_address(a.dst)
    net = ipaddress.ip_network(a.src_net)
    if dst not in LAB_RANGE or not net.subnet_of(LAB_RANGE):
        print(f"synflood: --dst and --src-net must be in {LAB_RANGE}", file=sys.stderr)
        return 2
    if (not 0 < a.seconds <= 600 or not 0 < a.count <= 100_000_000 or not 0 < a.dport < 65536 or
            not 0 < a.flows <= 1_000_000):
        print("synflood: --seconds 0..600, --count 1..1e8, --dport 1..65535, --flows 1..1e6",
              file=sys.stderr)
        return 2

    rng = random.Random(os.getpid())
    first, size = int(net.network_address), net.num_addresses
    make = datagram if a.udp else syn
    packets = [make(first + rng.randrange(size), int(dst), rng.randrange(1024, 65536), a.dport,
                    rng.getrandbits(32)) for _ in range(a.flows)]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    target = (str(dst), 0)
    sent = next_packet = 0
    t0 = time.monotonic()
    deadline = t0 + a.seconds
    while sent < a.count:
        now = time.monotonic()
        if now >= deadline:
            break
        if a.rate and sent > (now - t0) * a.rate:
            time.sleep(0.001)
            continue
        for _ in range(min(SEND_BURST, a.count - sent)):
            try:
                s.sendto(packets[next_packet], target)
                sent += 1
            except (BlockingIOError, OSError):
                pass  # the veth's queue is full: the flood is at its rate
            next_packet = (next_packet + 1) % len(packets)
    elapsed = time.monotonic() - t0
    what = "UDP datagrams" if a.udp else "SYNs"
    print(f"synflood: {sent} {what} to {dst}:{a.dport} from {net} in {elapsed:.1f} s "
          f"({sent / max(elapsed, 1e-9):.0f}/s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
