#!/usr/bin/env python3
"""Check that every view of vsnatd's worker counters carries every counter, and no other.

usage: counter_sets.py --repo DIR --json FILE --text FILE --metrics FILE --log FILE

The reference is the source: the names in VSNAT_WORKER_COUNTERS (include/vsnat/counters.hpp)
and in VSNAT_DROP_REASONS (include/vsnat/types.hpp). The views, as saved by the test:
  --json     `vsnatctl --json stats`: a column per counter and one `drop_<reason>` per reason
  --text     `vsnatctl stats`: a table row per counter and one `dropped <reason>` per reason
  --metrics  /metrics: `vsnat_worker_<name>_total` families and vsnat_drops_total{reason=...}
  --log      vsnatd's log after SIGTERM: the final `worker N: name value ...` line of each worker
Prints one line per view; exits 1 when any view misses a counter or has one the source lacks.
"""

import argparse
import json
import re
import sys


def macro_names(path, macro):
    """The first argument of each X(...) in `#define MACRO(X) ...` (continued lines)."""
    text = open(path).read()
    start = text.index(f"#define {macro}(X)")
    body = []
    for line in text[start:].splitlines():
        body.append(line)
        if not line.rstrip().endswith("\\"):
            break
    return re.findall(r"\bX\((\w+)", "\n".join(body)[len(f"#define {macro}(X)"):])


def from_json(path, counters):
    columns = json.load(open(path))
    # Only counters, not the table's other columns (worker, connections, capacity, ...).
    names = {k for k, v in columns.items() if isinstance(v, list) and k in counters}
    drops = {k[len("drop_"):] for k in columns if k.startswith("drop_")}
    return names, drops


def from_text(path):
    names, drops = set(), set()
    for line in open(path):
        words = line.split()
        if len(words) >= 3 and words[0] == "dropped" and words[-1].isdigit():
            drops.add(words[1])
        elif len(words) >= 2 and re.fullmatch(r"[a-z_]+", words[0]) and all(
                w.isdigit() for w in words[1:]):
            names.add(words[0])
    return names, drops


def from_metrics(path):
    text = open(path).read()
    names = set(re.findall(r"^vsnat_worker_(\w+)_total\{", text, re.M))
    drops = set(re.findall(r'^vsnat_drops_total\{reason="(\w+)"\}', text, re.M))
    return names, drops


def from_log(path):
    lines = [l for l in open(path) if re.search(r" info worker \d+: rx_packets \d+", l)]
    if not lines:
        return set(), set()
    words = lines[-1].split(": ", 1)[1].split()
    pairs = dict(zip(words[0::2], words[1::2]))
    names = {k for k in pairs if not k.startswith("drop_")}
    drops = {k[len("drop_"):] for k in pairs if k.startswith("drop_")}
    return names, drops


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for opt in ("--repo", "--json", "--text", "--metrics", "--log"):
        p.add_argument(opt, required=True)
    a = p.parse_args()
    counters = set(macro_names(f"{a.repo}/include/vsnat/counters.hpp", "VSNAT_WORKER_COUNTERS"))
    reasons = set(macro_names(f"{a.repo}/include/vsnat/types.hpp", "VSNAT_DROP_REASONS"))
    if len(counters) < 10 or len(reasons) < 10:
        print(f"source: only {len(counters)} counters and {len(reasons)} drop reasons parsed")
        return 1
    views = {
        "vsnatctl --json stats": from_json(a.json, counters),
        "vsnatctl stats": from_text(a.text),
        "/metrics": from_metrics(a.metrics),
        "final log line": from_log(a.log),
    }
    bad = 0
    for view, (names, drops) in views.items():
        problems = []
        for kind, want, got in (("counter", counters, names), ("drop reason", reasons, drops)):
            if want - got:
                problems.append(f"missing {kind}s {sorted(want - got)}")
            if got - want:
                problems.append(f"unknown {kind}s {sorted(got - want)}")
        status = "; ".join(problems) or f"all {len(counters)} counters, {len(reasons)} drop reasons"
        print(f"{view}: {status}")
        bad += bool(problems)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
