#!/usr/bin/env python3
"""A stand-in for the other director of a pair, for the connection sync tests: it receives the
director's IPVS sync messages and reads them with tests/unit/sync_decode.py (written from the
kernel's struct layouts, not from vsnat's C++), and it sends messages of its own, built here from
the same layouts.

  sync_peer.py listen --bind ADDR [--group G] [--port P] [--seconds S]
      prints one JSON line per datagram received: its source, and what sync_decode.py read
      (syncid, error, records). Stops after S seconds (default 5, at most 120).
  sync_peer.py send --bind ADDR [--group G | --to ADDR] [--port P] --syncid N
                    [--record CLIENT:PORT,VIP:PORT,REAL:PORT,STATE,TIMEOUT]... [--kind K]
      sends one message holding the TCP records given (STATE is IPVS's number: 1 ESTABLISHED;
      IPv6 endpoints written [ADDR]:PORT make an IPv6 record);
      --kind: good (default), bad_size (the size field one too large), version0 (a version 0
      header).

Network rule: addresses in 198.18.0.0/15 and 2001:2::/48 (and the sync group, link-local
multicast) only.
"""

import argparse
import ipaddress
import json
import os
import select
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "unit"))
import sync_decode  # noqa: E402

LAB_RANGES = (ipaddress.ip_network("198.18.0.0/15"), ipaddress.ip_network("2001:2::/48"))
MESG = struct.Struct("!BBHBbH")  # struct ip_vs_sync_mesg
CONN_V4 = struct.Struct("!BBHIHHHHII4s4s4s")  # struct ip_vs_sync_v4
CONN_V6 = struct.Struct("!BBHIHHHHII16s16s16s")  # struct ip_vs_sync_v6
STYPE_F_INET6 = 1
IP_VS_CONN_F_INACTIVE = 0x0100


def lab_address(text):
    address = ipaddress.ip_address(text)
    if not any(address in r for r in LAB_RANGES):
        raise argparse.ArgumentTypeError(f"{text} is not in {' or '.join(map(str, LAB_RANGES))}")
    return text


def multicast_group(text):
    if not ipaddress.ip_address(text) in ipaddress.ip_network("224.0.0.0/24"):
        raise argparse.ArgumentTypeError(f"{text}: a link-local multicast group, please")
    return text


def endpoint(text):
    """ADDR:PORT or [ADDR]:PORT: the address's bytes and the port."""
    host, port = text.rsplit(":", 1)
    return ipaddress.ip_address(lab_address(host.strip("[]"))).packed, int(port)


def record(spec):
    """CLIENT:PORT,VIP:PORT,REAL:PORT,STATE,TIMEOUT as struct ip_vs_sync_v4, or struct
    ip_vs_sync_v6 for IPv6 endpoints (TCP, NAT)."""
    client, vip, real, state, timeout = spec.split(",")
    (caddr, cport), (vaddr, vport), (daddr, dport) = endpoint(client), endpoint(vip), endpoint(real)
    if len({len(caddr), len(vaddr), len(daddr)}) != 1:
        raise argparse.ArgumentTypeError(f"{spec}: one family for the three endpoints")
    conn, stype = (CONN_V6, STYPE_F_INET6) if len(caddr) == 16 else (CONN_V4, 0)
    state = int(state)
    flags = 0 if state == 1 else IP_VS_CONN_F_INACTIVE
    return conn.pack(stype, 6, conn.size, flags, state, cport, vport, dport, 0, int(timeout),
                     caddr, vaddr, daddr)


def message(syncid, records, kind):
    body = b"".join(records)
    size = MESG.size + len(body)
    if kind == "version0":
        return struct.pack("!BBH", len(records), syncid, 4 + len(body)) + body
    declared = size + 1 if kind == "bad_size" else size
    return MESG.pack(0, syncid, declared, len(records), 1, 0) + body


def open_socket(args, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if args.group:
        mreq = socket.inet_aton(args.group) + socket.inet_aton(args.bind)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(args.bind))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 0)
        if port:
            s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    s.bind(("" if args.group and port else args.bind, port))
    return s


def listen(args):
    s = open_socket(args, args.port)
    deadline = time.monotonic() + args.seconds
    while (left := deadline - time.monotonic()) > 0:
        ready, _, _ = select.select([s], [], [], left)
        if not ready:
            break
        data, (source, _) = s.recvfrom(65535)
        result = sync_decode.decode(data, 0)
        print(json.dumps({"from": source, "bytes": len(data), **result}), flush=True)
    return 0


def send(args):
    s = open_socket(args, 0)
    records = [record(r) for r in args.record]
    to = args.group or args.to
    s.sendto(message(args.syncid, records, args.kind), (to, args.port))
    return 0


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["listen", "send"])
    parser.add_argument("--bind", type=lab_address, required=True,
                        help="this peer's address (the multicast interface's)")
    parser.add_argument("--group", type=multicast_group)
    parser.add_argument("--to", type=lab_address, help="unicast instead of --group")
    parser.add_argument("--port", type=int, default=8848)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--syncid", type=int, default=0)
    parser.add_argument("--record", action="append", default=[])
    parser.add_argument("--kind", choices=["good", "bad_size", "version0"], default="good")
    args = parser.parse_args(argv)
    if not 0 < args.seconds <= 120:
        parser.error("--seconds must be in (0, 120]")
    if args.command == "send" and not (args.group or args.to):
        parser.error("send needs --group or --to")
    return listen(args) if args.command == "listen" else send(args)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
