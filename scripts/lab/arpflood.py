#!/usr/bin/env python3
"""Bounded ARP sender for the namespace lab: gratuitous ARPs or ARP replies, many senders or one.

usage: arpflood.py --iface eth0 --senders 198.18.32.0/19 [--count N] [--op request|reply]
                   [--target IP] [--mac random|aa:bb:cc:dd:ee:ff] [--dst-mac MAC]
                   [--rate PPS] [--seconds S]

Run it inside the lab's client namespace (ip netns exec vsnat-client ...): it writes Ethernet
frames on --iface with an AF_PACKET socket, nothing else. The sender addresses are the first
--count addresses of --senders (taken round and round when there are fewer), each claimed at
--mac (random: a fresh locally administered MAC per frame). Without --target each frame is a
gratuitous ARP (target address = sender address); with it, the frame asks for or answers to
--target. Every address must lie in 198.18.0.0/15 (the benchmarking range the lab owns; "The lab"
in docs/ARCHITECTURE.md). Stops after --count frames or --seconds, whichever comes first (both
bounded). Prints one line: frames sent, distinct senders, seconds.
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
BROADCAST = b"\xff" * 6


def parse_mac(text: str) -> bytes:
    parts = text.split(":")
    if len(parts) != 6:
        raise ValueError(f"not a MAC address: {text}")
    return bytes(int(p, 16) for p in parts)


def arp_frame(op: int, sender_mac: bytes, sender: int, target: int, dst_mac: bytes) -> bytes:
    target_mac = b"\0" * 6 if op == 1 else dst_mac
    eth = dst_mac + sender_mac + struct.pack("!H", 0x0806)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sender_mac + struct.pack("!I", sender) + \
        target_mac + struct.pack("!I", target)
    return (eth + arp).ljust(60, b"\0")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iface", required=True)
    p.add_argument("--senders", required=True, help="network whose addresses send, in order")
    p.add_argument("--count", type=int, default=0, help="frames; default: one per sender")
    p.add_argument("--op", choices=["request", "reply"], default="request")
    p.add_argument("--target", help="address asked for or answered to; default: the sender's own")
    p.add_argument("--mac", default="random", help="sender MAC: random (per frame) or aa:bb:..")
    p.add_argument("--dst-mac", default="ff:ff:ff:ff:ff:ff", help="Ethernet destination")
    p.add_argument("--rate", type=int, default=20000, help="frames per second; 0: unpaced")
    p.add_argument("--seconds", type=float, default=10.0)
    a = p.parse_args()

    net = ipaddress.ip_network(a.senders)
    target = ipaddress.ip_address(a.target) if a.target else None
    if not net.subnet_of(LAB_RANGE) or (target is not None and target not in LAB_RANGE):
        print(f"arpflood: --senders and --target must be in {LAB_RANGE}", file=sys.stderr)
        return 2
    count = a.count or net.num_addresses
    if not 0 < a.seconds <= 60 or not 0 < count <= 1_000_000 or a.rate < 0:
        print("arpflood: --seconds 0..60, --count 1..1e6, --rate >= 0", file=sys.stderr)
        return 2
    fixed_mac = None if a.mac == "random" else parse_mac(a.mac)
    dst_mac = parse_mac(a.dst_mac)
    op = 1 if a.op == "request" else 2

    rng = random.Random(os.getpid())
    first, size = int(net.network_address), net.num_addresses
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.iface, 0))
    sent = 0
    t0 = time.monotonic()
    deadline = t0 + a.seconds
    while sent < count:
        now = time.monotonic()
        if now >= deadline:
            break
        if a.rate and sent > (now - t0) * a.rate:
            time.sleep(0.001)
            continue
        sender = first + sent % size
        mac = fixed_mac or bytes([0x02 | (rng.getrandbits(8) & 0xfc)]) + rng.randbytes(5)
        frame = arp_frame(op, mac, sender, int(target) if target else sender, dst_mac)
        try:
            s.send(frame)
            sent += 1
        except (BlockingIOError, OSError):
            time.sleep(0.001)  # the link's queue is full: wait for it
    elapsed = time.monotonic() - t0
    print(f"arpflood: {sent} ARP {a.op} frames from {min(sent, size)} senders in {net} "
          f"in {elapsed:.2f} s")
    return 0 if sent == count else 1


if __name__ == "__main__":
    sys.exit(main())
