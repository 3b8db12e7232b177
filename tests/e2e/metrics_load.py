#!/usr/bin/env python3
"""Hostile clients of vsnatd's /metrics, on loopback, bounded in count and time.

usage: metrics_load.py --port P --duration S [--slow N --slow-gap S] [--drip N --drip-gap S]
                       [--idle N] [--max-connections N]

Three groups of clients of 127.0.0.1:P, kept up for --duration seconds:
  slow  send a request head one byte every --slow-gap seconds (first byte at once), never ending
  drip  the same, every --drip-gap seconds: faster than any sensible per-read timeout, so only a
        deadline on the whole request stops them
  idle  connect and send nothing
A client the server closes is opened again (idle ones at most 30 per 0.1 s), as an attacker
would; --max-connections bounds how many are opened in all. At the end every socket is closed and
one JSON line is printed: per group, connections opened, closed by the server, answered (the server
sent bytes), and the lifetimes of those the server closed (min, median, max, in seconds): from the
first byte sent (slow, drip), so that a SYN the kernel retried does not count, or from the connect
call (idle).
Only 127.0.0.1: the network rule of docs/ARCHITECTURE.md, "The lab".
"""
import argparse
import json
import select
import socket
import statistics
import time

HEAD = b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: metrics_load\r\n"  # no blank line: never ends
TICK_S = 0.05
IDLE_REOPEN_PER_TICK = 15


class Client:
    def __init__(self, group, port, gap, now):
        self.group, self.gap, self.opened = group, gap, now
        self.sent = 0
        self.first_sent = None
        self.next_send = now
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setblocking(False)
        self.sock.connect_ex(("127.0.0.1", port))

    def due(self, now):
        return self.gap is not None and now >= self.next_send and self.sent < len(HEAD)

    def send_one(self, now):
        try:
            self.sent += self.sock.send(HEAD[self.sent:self.sent + 1])
            if self.first_sent is None:
                self.first_sent = now
        except (BlockingIOError, InterruptedError):
            pass  # still connecting, or the buffer is full: try at the next gap
        except OSError:
            return False
        self.next_send = now + self.gap
        return True


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--slow", type=int, default=0)
    p.add_argument("--slow-gap", type=float, default=2.0)
    p.add_argument("--drip", type=int, default=0)
    p.add_argument("--drip-gap", type=float, default=0.5)
    p.add_argument("--idle", type=int, default=0)
    p.add_argument("--max-connections", type=int, default=5000)
    a = p.parse_args()
    if not 0 < a.duration <= 120:
        p.error("--duration: 0 to 120 s")

    wanted = {"slow": (a.slow, a.slow_gap), "drip": (a.drip, a.drip_gap), "idle": (a.idle, None)}
    stats = {g: {"opened": 0, "closed": 0, "answered": 0, "lifetimes": []} for g in wanted}
    clients = {}  # fd -> Client
    opened_total = 0
    poller = select.poll()
    start = time.monotonic()
    end = start + a.duration

    def close(c, by_server, now):
        poller.unregister(c.sock.fileno())
        del clients[c.sock.fileno()]
        c.sock.close()
        if by_server:
            stats[c.group]["closed"] += 1
            stats[c.group]["lifetimes"].append(now - (c.first_sent or c.opened))

    while True:
        now = time.monotonic()
        if now >= end:
            break
        for group, (count, gap) in wanted.items():
            have = sum(1 for c in clients.values() if c.group == group)
            missing = count - have
            if group == "idle" and stats[group]["opened"] >= count:
                missing = min(missing, IDLE_REOPEN_PER_TICK)
            for _ in range(max(0, missing)):
                if opened_total >= a.max_connections:
                    break
                c = Client(group, a.port, gap, now)
                clients[c.sock.fileno()] = c
                poller.register(c.sock.fileno(), select.POLLIN)
                stats[group]["opened"] += 1
                opened_total += 1
        for c in list(clients.values()):
            if c.due(now) and not c.send_one(now):
                close(c, True, now)
        for fd, _ in poller.poll(TICK_S * 1000):
            c = clients.get(fd)
            if c is None:
                continue
            try:
                data = c.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if data:
                stats[c.group]["answered"] += 1
            else:
                close(c, True, time.monotonic())

    for c in list(clients.values()):
        close(c, False, time.monotonic())
    out = {}
    for group, s in stats.items():
        if wanted[group][0] == 0:
            continue
        life = s.pop("lifetimes")
        s["still_open_at_end"] = s["opened"] - s["closed"]
        if life:
            s["lifetime_min_s"] = round(min(life), 2)
            s["lifetime_median_s"] = round(statistics.median(life), 2)
            s["lifetime_max_s"] = round(max(life), 2)
        out[group] = s
    out["seconds"] = round(time.monotonic() - start, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
