#!/usr/bin/env python3
"""Idle keep-alive HTTP connections through the VIP, for the failover tests: opens N connections,
one request each, then leaves them idle; each time a trigger file appears, sends one more request
on every connection and reports how many were answered.

  keepalive_clients.py --vip 198.18.0.100 --count 200 --trigger-dir DIR [--rounds 2]
                       [--timeout 3] [--wait 120]

Prints "opened K of N" once the connections are open (K answered their first request), then,
for round R (started by the file DIR/goR), "round R: ok K of N" and the servers that answered,
"rs1 X rs2 Y". Waits at most --wait seconds for each trigger; exits 1 on a missing trigger.

Network rule: addresses in 198.18.0.0/15 only; every wait bounded.
"""

import argparse
import ipaddress
import os
import select
import socket
import sys
import time

LAB_RANGE = ipaddress.ip_network("198.18.0.0/15")


def lab_address(text):
    if ipaddress.ip_address(text) not in LAB_RANGE:
        raise argparse.ArgumentTypeError(f"{text} is not in {LAB_RANGE}")
    return text


def request(vip):
    return f"GET / HTTP/1.1\r\nHost: {vip}\r\nConnection: keep-alive\r\n\r\n".encode()


def read_response(sock, deadline):
    """The body of one HTTP/1.1 response with Content-Length, or None."""
    data = b""
    while True:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if sep:
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value.strip())
            if len(rest) >= length:
                return rest[:length].decode(errors="replace") if head.startswith(b"HTTP/1.1 200") else None
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            return None
        try:
            chunk = sock.recv(65536)
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk


def round_trip(socks, vip, timeout):
    """One request on every connection at once; the body each answered with, or None."""
    for s in socks:
        try:
            s.sendall(request(vip))
        except OSError:
            pass
    deadline = time.monotonic() + timeout
    return [read_response(s, deadline) for s in socks]


def report(label, bodies):
    ok = [b for b in bodies if b is not None]
    servers = {"rs1": 0, "rs2": 0}
    for b in ok:
        for name in servers:
            if b.startswith(name):
                servers[name] += 1
    print(f"{label}: ok {len(ok)} of {len(bodies)}; " + " ".join(f"{k} {v}" for k, v in servers.items()),
          flush=True)


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vip", type=lab_address, required=True)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--trigger-dir", required=True)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=3.0)
    parser.add_argument("--wait", type=float, default=120.0)
    args = parser.parse_args(argv)
    if not 1 <= args.count <= 1000 or not 1 <= args.rounds <= 10:
        parser.error("--count 1..1000, --rounds 1..10")

    socks = []
    for _ in range(args.count):
        s = socket.create_connection((args.vip, 80), timeout=args.timeout)
        s.setblocking(False)
        socks.append(s)
    report("opened", round_trip(socks, args.vip, args.timeout))
    for r in range(1, args.rounds + 1):
        trigger = os.path.join(args.trigger_dir, f"go{r}")
        deadline = time.monotonic() + args.wait
        while not os.path.exists(trigger):
            if time.monotonic() > deadline:
                print(f"round {r}: no trigger {trigger} within {args.wait} s", flush=True)
                return 1
            time.sleep(0.05)
        report(f"round {r}", round_trip(socks, args.vip, args.timeout))
    for s in socks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
