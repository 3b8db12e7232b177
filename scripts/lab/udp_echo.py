#!/usr/bin/env python3
"""UDP echo server for the vsnat lab's real servers.

Replies to every datagram with "<name>\\n" followed by the received payload, so a client
behind the load balancer can tell which real server answered and that its payload made the
round trip unchanged.

It binds one explicit numeric address (never a wildcard, never a host name: a DNS or reverse
lookup inside a lab namespace has no resolver and stalls). Once the socket is bound it writes
its PID to --pidfile, which is how scripts/lab.sh knows the server is ready. SIGTERM and
SIGINT stop it cleanly and remove the pid file.
"""

import argparse
import ipaddress
import os
import signal
import socket
import sys


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bind", required=True, help="numeric IPv4 address to bind")
    p.add_argument("--port", type=int, default=53)
    p.add_argument("--name", required=True, help="prefix of every reply, e.g. rs1")
    p.add_argument("--pidfile", help="written once the socket is bound")
    args = p.parse_args()
    # Reject names up front: passing one to bind() would trigger a resolver lookup.
    ipaddress.IPv4Address(args.bind)
    if not 1 <= args.port <= 65535:
        p.error("port out of range")
    return args


def main():
    args = parse_args()
    prefix = (args.name + "\n").encode()

    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # A large receive buffer keeps bursts from a load test from being dropped here.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind((args.bind, args.port))

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

    print(f"udp_echo {args.name}: listening on {args.bind}:{args.port}", flush=True)
    while True:
        data, peer = sock.recvfrom(65535)
        try:
            # Truncate so the reply always fits in one datagram.
            sock.sendto(prefix + data[: 65507 - len(prefix)], peer)
        except OSError as e:  # e.g. no route back while the director is down: keep serving
            print(f"udp_echo {args.name}: send to {peer[0]}:{peer[1]} failed: {e}", flush=True)


if __name__ == "__main__":
    main()
