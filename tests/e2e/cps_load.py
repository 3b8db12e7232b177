#!/usr/bin/env python3
"""New HTTP connections at a steady rate, bounded in count and time: each connects to VIP:80,
sends one request with Connection: close, reads the answer to its end and closes.

  cps_load.py --vip 198.18.0.100 --rate 2000 --seconds 30 [--concurrency 400] [--timeout 3]

Prints one line: connections started, answered, failed, the rate achieved, and the slowest.

Network rule: addresses in 198.18.0.0/15 only; stops by itself after --seconds plus --timeout.
"""

import argparse
import asyncio
import ipaddress
import sys
import time

LAB_RANGE = ipaddress.ip_network("198.18.0.0/15")


def lab_address(text):
    if ipaddress.ip_address(text) not in LAB_RANGE:
        raise argparse.ArgumentTypeError(f"{text} is not in {LAB_RANGE}")
    return text


async def one(vip, timeout, stats):
    t0 = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(vip, 80), timeout)
        writer.write(f"GET / HTTP/1.1\r\nHost: {vip}\r\nConnection: close\r\n\r\n".encode())
        data = await asyncio.wait_for(reader.read(), timeout)
        writer.close()
        ok = data.startswith(b"HTTP/1.1 200")
    except (OSError, asyncio.TimeoutError):
        ok = False
    stats["ok" if ok else "failed"] += 1
    stats["slowest"] = max(stats["slowest"], time.monotonic() - t0)


async def run(args):
    stats = {"ok": 0, "failed": 0, "started": 0, "slowest": 0.0}
    gate = asyncio.Semaphore(args.concurrency)
    tasks = set()

    async def bounded():
        async with gate:
            await one(args.vip, args.timeout, stats)

    t0 = time.monotonic()
    total = int(args.rate * args.seconds)
    while stats["started"] < total:
        due = t0 + stats["started"] / args.rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        stats["started"] += 1
        task = asyncio.create_task(bounded())
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=args.timeout * 2 + 1)
    elapsed = time.monotonic() - t0
    print(f"started {stats['started']} ok {stats['ok']} failed {stats['failed']} "
          f"rate {stats['started'] / elapsed:.0f}/s over {elapsed:.1f} s slowest {stats['slowest']:.2f} s",
          flush=True)
    return 0


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--vip", type=lab_address, required=True)
    parser.add_argument("--rate", type=float, default=2000)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--concurrency", type=int, default=400)
    parser.add_argument("--timeout", type=float, default=3.0)
    args = parser.parse_args(argv)
    if not 0 < args.rate <= 20000 or not 0 < args.seconds <= 120 or not 1 <= args.concurrency <= 4000:
        parser.error("--rate (0, 20000], --seconds (0, 120], --concurrency 1..4000")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
