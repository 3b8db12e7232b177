#!/usr/bin/env python3
"""Capture what one interface sees (run it inside a lab namespace) and summarize it as JSON.

usage: sniff.py --iface eth0 --ready FILE [--seconds MAX]

Opens an AF_PACKET socket on the interface (both directions), writes FILE once it is bound
(the readiness signal), and captures until SIGTERM/SIGINT or MAX seconds (default 30). Then it
prints one JSON object:
  {"frames": n, "arp": n, "other": n,
   "flows": [[proto, src, sport, dst, dport, count], ...],   # IPv4; ports 0 for ICMP
   "bad_checksums": [[proto, src, sport, dst, dport, what], ...]}
Checksums are recomputed in full for every IPv4 header and TCP/UDP segment: the director adjusts
them incrementally (RFC 1624), and a wrong one would otherwise only show as a retransmission.
The lab turns TX checksum offload off on every interface, so outgoing frames carry real ones.
"""

import argparse
import ipaddress
import json
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--iface", required=True)
    p.add_argument("--ready", required=True, help="file written once capturing")
    p.add_argument("--seconds", type=float, default=30.0)
    args = p.parse_args()

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((args.iface, 0))
    s.settimeout(0.1)
    with open(args.ready, "w") as f:
        f.write("ready\n")

    frames = arp = other = 0
    flows = {}
    bad = []
    deadline = time.monotonic() + args.seconds
    while not stop and time.monotonic() < deadline:
        try:
            frame = s.recv(65535)
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        frames += 1
        if len(frame) < 14:
            other += 1
            continue
        ethertype = struct.unpack("!H", frame[12:14])[0]
        if ethertype == 0x0806:
            arp += 1
            continue
        if ethertype != 0x0800 or len(frame) < 34:
            other += 1
            continue
        ip = frame[14:]
        ihl = (ip[0] & 0x0F) * 4
        total = struct.unpack("!H", ip[2:4])[0]
        proto = ip[9]
        src = str(ipaddress.IPv4Address(ip[12:16]))
        dst = str(ipaddress.IPv4Address(ip[16:20]))
        ip = ip[:total]
        l4 = ip[ihl:]
        sport = dport = 0
        name = {1: "icmp", 6: "tcp", 17: "udp"}.get(proto, str(proto))
        if proto in (6, 17) and len(l4) >= 8:
            sport, dport = struct.unpack("!HH", l4[:4])
        key = (name, src, sport, dst, dport)
        flows[key] = flows.get(key, 0) + 1
        if csum(ip[:ihl]) != 0xFFFF:
            bad.append([*key, "ipv4 header"])
        frag = struct.unpack("!H", ip[6:8])[0] & 0x3FFF
        if proto in (6, 17) and not frag:
            if proto == 17 and struct.unpack("!H", l4[6:8])[0] == 0:
                continue  # UDP checksum 0: none (allowed over IPv4)
            pseudo = ip[12:20] + struct.pack("!BBH", 0, proto, len(l4))
            if csum(pseudo + l4) != 0xFFFF:
                bad.append([*key, name])

    json.dump({"frames": frames, "arp": arp, "other": other,
               "flows": [[*k, v] for k, v in sorted(flows.items())],
               "bad_checksums": bad[:50]}, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
