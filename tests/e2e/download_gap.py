#!/usr/bin/env python3
"""A rate-limited HTTP download through the VIP that notes when its bytes arrive, for the failover
tests: the largest gap between two reads is how long a failover held the transfer up.

  download_gap.py --vip 198.18.0.100 --path /files/50M.bin --rate-mb 10 [--timeout 60]

Reads at most --rate-mb MB/s (the client's receive window then paces the server), hashes the
body, and prints one line: "bytes N sha256 HEX seconds S gap_ms G gap_at_s T" (T: when, from
the start, the gap began). Exits 1 when the transfer fails or stalls for --stall seconds.

Network rule: addresses in 198.18.0.0/15 only; bounded by --timeout.
"""

import argparse
import hashlib
import ipaddress
import socket
import sys
import time

LAB_RANGE = ipaddress.ip_network("198.18.0.0/15")
CHUNK = 64 * 1024


def lab_address(text):
    if ipaddress.ip_address(text) not in LAB_RANGE:
        raise argparse.ArgumentTypeError(f"{text} is not in {LAB_RANGE}")
    return text


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vip", type=lab_address, required=True)
    parser.add_argument("--path", required=True)
    parser.add_argument("--rate-mb", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=60.0)
    parser.add_argument("--stall", type=float, default=20.0)
    args = parser.parse_args(argv)
    if not 0 < args.rate_mb <= 1000 or not 0 < args.timeout <= 600:
        parser.error("--rate-mb (0, 1000], --timeout (0, 600]")

    s = socket.create_connection((args.vip, 80), timeout=args.stall)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 * 1024)
    s.sendall(f"GET {args.path} HTTP/1.1\r\nHost: {args.vip}\r\nConnection: close\r\n\r\n".encode())
    t0 = time.monotonic()
    head, body_start = b"", b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(CHUNK)
        if not chunk:
            print("the connection ended before the response header", flush=True)
            return 1
        head += chunk
    head, _, body_start = head.partition(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                  if line.lower().startswith(b"content-length:"))
    digest = hashlib.sha256(body_start)
    received = len(body_start)
    last = time.monotonic()
    gap, gap_at = 0.0, 0.0
    rate = args.rate_mb * 1e6
    while received < length:
        if time.monotonic() - t0 > args.timeout:
            print(f"timed out after {received} of {length} bytes", flush=True)
            return 1
        ahead = received / rate - (time.monotonic() - t0)
        if ahead > 0:
            time.sleep(ahead)
        try:
            chunk = s.recv(min(CHUNK, length - received))
        except socket.timeout:
            print(f"stalled {args.stall} s after {received} of {length} bytes", flush=True)
            return 1
        if not chunk:
            print(f"the connection ended after {received} of {length} bytes", flush=True)
            return 1
        now = time.monotonic()
        if now - last > gap:
            gap, gap_at = now - last, last - t0
        last = now
        digest.update(chunk)
        received += len(chunk)
    print(f"bytes {received} sha256 {digest.hexdigest()} seconds {time.monotonic() - t0:.2f} "
          f"gap_ms {gap * 1000:.0f} gap_at_s {gap_at:.2f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
