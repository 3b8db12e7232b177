#!/usr/bin/env python3
"""UDP echo server for the vsnat lab's real servers.

Replies to every datagram with "<name>\\n" followed by the received payload, so a client
behind the load balancer can tell which real server answered and that its payload made the
round trip unchanged.

It binds explicit numeric addresses (never a wildcard, never a host name: a DNS or reverse
lookup inside a lab namespace has no resolver and stalls): --bind once or twice, an IPv4 and
an IPv6 address in a dual-stack lab, one socket each, the same port. Each reply leaves from the
socket the query came to. Once every socket is bound it writes its PID to --pidfile, which is
how scripts/lab.sh knows the server is ready. SIGTERM and SIGINT stop it cleanly and remove the
pid file.
"""

import argparse
import ipaddress
import os
import selectors
import signal
import socket
import sys


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bind", required=True, action="append",
                   help="numeric IPv4 or IPv6 address to bind (at most one of each family)")
    p.add_argument("--port", type=int, default=53)
    p.add_argument("--name", required=True, help="prefix of every reply, e.g. rs1")
    p.add_argument("--pidfile", help="written once the sockets are bound")
    args = p.parse_args()
    # Reject names up front: passing one to bind() would trigger a resolver lookup.
    try:
        addrs = [ipaddress.ip_address(a) for a in args.bind]
    except ValueError as e:
        p.error(str(e))
    if len({a.version for a in addrs}) != len(addrs):
        p.error("at most one --bind address of each family")
    if any(a.is_unspecified for a in addrs):
        p.error("bind a lab address, not a wildcard")
    if not 1 <= args.port <= 65535:
        p.error("port out of range")
    args.addrs = addrs
    return args


def open_socket(addr, port):
    if addr.version == 6:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    else:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # A large receive buffer keeps bursts from a load test from being dropped here.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((str(addr), port))
    return sock


def main():
    args = parse_args()
    prefix = (args.name + "\n").encode()

    sel = selectors.DefaultSelector()
    for addr in args.addrs:
        sel.register(open_socket(addr, args.port), selectors.EVENT_READ)

    def stop(_signum, _frame):
        if args.pidfile:
            try:
                os.unlink(args.pidfile)
            except FileNotFoundError:
                pass
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    if args.pidfile:
        tmp = args.pidfile + ".tmp"
        with open(tmp, "w") as f:
            f.write(f"{os.getpid()}\n")
        os.replace(tmp, args.pidfile)  # atomic: readers never see a half-written file

    where = ", ".join(f"[{a}]:{args.port}" if a.version == 6 else f"{a}:{args.port}"
                      for a in args.addrs)
    print(f"udp_echo {args.name}: listening on {where}", flush=True)
    while True:
        for key, _ in sel.select():
            sock = key.fileobj
            # Drain the socket: under load one wakeup serves a burst. Only the receive is
            # non-blocking: a reply waits for room in the send buffer, as it always did.
            while True:
                try:
                    data, peer = sock.recvfrom(65535, socket.MSG_DONTWAIT)
                except BlockingIOError:
                    break
                try:
                    # Truncate so the reply always fits in one datagram.
                    sock.sendto(prefix + data[: 65507 - len(prefix)], peer)
                except OSError as e:  # e.g. no route back while the director is down: keep serving
                    print(f"udp_echo {args.name}: send to {peer[0]} port {peer[1]} failed: {e}",
                          flush=True)


if __name__ == "__main__":
    main()
