#!/usr/bin/env python3
"""Ask a running DPDK process (vsnatd) one telemetry command and print the reply's value as JSON.

usage: telemetry.py CMD [--prefix P] [--raw] [--runtime-dir D] [--timeout S]

  telemetry.py /vsnat/stats --prefix vsnat-e2e   ->  {"workers": [...], "connections": 0}

DPDK's telemetry v2 socket is /var/run/dpdk/<file-prefix>/dpdk_telemetry.v2 (SOCK_SEQPACKET):
it sends a greeting ({"version", "pid", "max_output_len"}), then answers each command with
{"<cmd>": value}. This prints value only (the reply's single entry), so shell tests can pipe it
to jq. Exit 0 on a reply, 1 on any failure (no socket, unknown command -> null value, timeout),
with one line on stderr saying which.

DPDK 22.11's telemetry nests one level only, so vsnatd sends its tables by column (each key an
array with one value per row). Unless --raw is given, the two vsnat tables are turned into rows:
  /vsnat/stats    -> {"connections": N, "workers": [{"worker", "connections", "rx_packets",
                      ..., "drops": {"<reason>": n, ...}}]}     (columns drop_<reason> -> drops)
  /vsnat/services -> {"services": [{"name", ..., "connections", ..., "real_servers":
                      [{"address", "port", "weight", "connections", "active", ...}]}]}
                      (the real servers come from a second command, /vsnat/real_servers)
"""

import argparse
import json
import os
import socket
import sys


def query(path, command, timeout):
    """One command on a fresh connection; returns the reply's value (raises on failure)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    sock.settimeout(timeout)
    try:
        sock.connect(path)
        greeting = json.loads(sock.recv(4096).decode())
        max_len = int(greeting.get("max_output_len", 16384))
        sock.send(command.encode())
        raw = sock.recv(max_len + 1024)
    finally:
        sock.close()
    try:
        reply = json.loads(raw.decode())
    except ValueError as e:
        raise ValueError(f"reply is not JSON ({e}): {raw[:200]!r}") from None
    # The command name is the reply's key; DPDK answers an unknown command with {"cmd": null}.
    base = command.split(",", 1)[0]
    if not isinstance(reply, dict) or base not in reply or reply[base] is None:
        raise ValueError(f"no value in reply {json.dumps(reply)[:200]}")
    return reply[base]


def columns_to_rows(cols):
    """{"a": [1, 2], "b": [3, 4], "scalar": 5} -> [{"a": 1, "b": 3}, {"a": 2, "b": 4}]."""
    lists = {k: v for k, v in cols.items() if isinstance(v, list)}
    n = max((len(v) for v in lists.values()), default=0)
    return [{k: v[i] for k, v in lists.items() if i < len(v)} for i in range(n)]


def as_rows(path, command, value, timeout):
    if command == "/vsnat/stats" and isinstance(value, dict) and "workers" not in value:
        workers = []
        for row in columns_to_rows(value):
            drops = {k[len("drop_"):]: row.pop(k) for k in list(row) if k.startswith("drop_")}
            row["drops"] = drops
            workers.append(row)
        out = {k: v for k, v in value.items() if not isinstance(v, list)}
        out["connections"] = out.pop("connections_total", sum(w.get("connections", 0) for w in workers))
        out["workers"] = workers
        return out
    if command == "/vsnat/services" and isinstance(value, dict) and "services" not in value:
        servers = columns_to_rows(query(path, "/vsnat/real_servers", timeout))
        services = []
        for row in columns_to_rows(value):
            row["real_servers"] = [{k: v for k, v in rs.items() if k != "service"}
                                   for rs in servers if rs.get("service") == row.get("name")]
            services.append(row)
        return {"services": services}
    return value


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", help="e.g. /vsnat/stats, /vsnat/services, /help,/vsnat/stats")
    p.add_argument("--prefix", default="vsnat", help="EAL --file-prefix of the process")
    p.add_argument("--runtime-dir", default="/var/run/dpdk", help="DPDK runtime directory")
    p.add_argument("--timeout", type=float, default=3.0, help="seconds for connect and reply")
    p.add_argument("--raw", action="store_true", help="print vsnat tables by column, as sent")
    args = p.parse_args()

    path = os.path.join(args.runtime_dir, args.prefix, "dpdk_telemetry.v2")
    try:
        value = query(path, args.command, args.timeout)
        if not args.raw:
            value = as_rows(path, args.command, value, args.timeout)
    except (OSError, ValueError) as e:
        print(f"telemetry: {path}: {args.command}: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    json.dump(value, sys.stdout)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
