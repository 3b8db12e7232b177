#!/usr/bin/env python3
"""Read a /metrics exposition back with Prometheus's own parser (prometheus_client).

usage: parse_metrics.py FILE

Prints one JSON line: the number of families and samples, the sorted set of `service` label
values, and the family names that do not start with vsnat_. Exit 1, with the parser's complaint
on stderr, when the text does not parse: a label value that leaves its quotes does not.
"""
import json
import sys

from prometheus_client.parser import text_string_to_metric_families


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__.split("\n\n")[1])
    text = open(sys.argv[1], encoding="utf-8").read()
    families = samples = 0
    services, foreign = set(), set()
    try:
        for family in text_string_to_metric_families(text):
            families += 1
            if not family.name.startswith("vsnat_"):
                foreign.add(family.name)
            for sample in family.samples:
                samples += 1
                if "service" in sample.labels:
                    services.add(sample.labels["service"])
    except ValueError as e:
        print(f"parse_metrics: {sys.argv[1]} does not parse: {e}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps({"families": families, "samples": samples, "services": sorted(services),
                      "foreign_families": sorted(foreign)}))


if __name__ == "__main__":
    main()
