#!/usr/bin/env bash
# e2e 3: a VIP port with no service is rejected at once: TCP to VIP:8080 is answered with a
# reset. curl must fail with exit 7 (CURLE_COULDNT_CONNECT) in under a second, and a python
# connect() must get ECONNREFUSED (a reset), not EHOSTUNREACH/ETIMEDOUT: curl's exit 7 and its
# message ("Couldn't connect to server" in Debian 12's curl) cover those too. The web service on :80 still works afterwards.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
e2e_start "$(e2e_config vsnat)"

# curl: exit 7, measured.
t0=$(date +%s%N)
rc=0
out=$(client curl -sS --max-time 3 "http://$LAB_VIP:8080/" 2>&1) || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
if ((rc == 7 && ms < 1000)); then
  pass curl-refused "curl exit 7 in $ms ms: $out"
else
  fail curl-refused "curl exit $rc in $ms ms: $out (want exit 7 in < 1000 ms)"
fi

# python: which error exactly, five times (each a new connection from a new port).
if verdict=$(client "$PY" - "$LAB_VIP" <<'PYEOF' 2>&1
import socket, sys, time
results, worst = [], 0.0
for i in range(5):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(3.0)
    t0 = time.monotonic()
    try:
        s.connect((sys.argv[1], 8080))
        results.append("connected")
    except ConnectionRefusedError:
        results.append("refused")
    except OSError as e:
        results.append(f"{type(e).__name__}({e.errno})")
    worst = max(worst, time.monotonic() - t0)
    s.close()
print(f"5 connects to :8080: {', '.join(sorted(set(results)))}; slowest {worst * 1000:.0f} ms")
sys.exit(0 if set(results) == {"refused"} and worst < 1.0 else 1)
PYEOF
); then
  pass tcp-reset "$verdict"
else
  fail tcp-reset "$verdict (want ECONNREFUSED each time, < 1 s)"
fi

# The director still serves the real service.
out=$(http_sequential 3)
if [[ $(grep -c '^ok' <<<"$out") == 3 ]]; then pass port-80-still-served "3 of 3 requests answered"; else fail port-80-still-served "$out"; fi
e2e_end
