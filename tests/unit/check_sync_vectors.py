#!/usr/bin/env python3
"""vsnat's sync messages read by a decoder written from the kernel's structs (sync_decode.py).

Runs sync_vectors (C++: messages from MessageWriter and from the test builder, each with what it
must decode to, known from how it was made) into a temporary directory, decodes every datagram
in Python and compares; also runs sync_decode.py's command line once. Fails when any datagram
reads differently, or when the vectors leave one of the decoder's outcomes untried.

  check_sync_vectors.py BUILD/tests/unit/sync_vectors     (meson test --suite unit)
"""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
import sync_decode  # noqa: E402


def main(argv):
    if len(argv) != 1:
        sys.exit(__doc__)
    failures = []
    with tempfile.TemporaryDirectory(prefix="vsnat-sync-") as tmp:
        subprocess.run([argv[0], tmp], check=True)
        bins = sorted(Path(tmp).glob("*.bin"))
        errors_seen = set()
        records = skipped = 0
        for path in bins:
            expected = json.loads(path.with_suffix(".json").read_text())
            want = expected.pop("want_syncid")
            got = sync_decode.decode(path.read_bytes(), want)
            errors_seen.add(got["error"])
            records += len(got["records"])
            skipped += sum(got["skipped"].values())
            if got != expected:
                failures.append(f"{path.name}: expected {json.dumps(expected)}\n"
                                f"  read {json.dumps(got)}")

        cli = subprocess.run([sys.executable, str(Path(__file__).parent / "sync_decode.py"),
                              str(bins[0])], check=True, capture_output=True, text=True)
        lines = [json.loads(line) for line in cli.stdout.splitlines()]
        if lines[-1].get("error") != "none" or len(lines) != lines[-1]["records"] + 1:
            failures.append(f"sync_decode.py {bins[0].name}: {cli.stdout}")

    untried = set(sync_decode.ERRORS) - errors_seen
    if untried:
        failures.append(f"no vector for: {', '.join(sorted(untried))}")
    if len(bins) < 40 or records < 200 or skipped == 0:
        failures.append(f"too few vectors: {len(bins)} datagrams, {records} records, "
                        f"{skipped} skipped")
    for f in failures:
        print(f"FAIL {f}")
    print(f"check_sync_vectors: {len(bins)} datagrams, {records} records, {skipped} skipped, "
          f"{len(errors_seen)} outcomes: {len(failures)} failures")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
