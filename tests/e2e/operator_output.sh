#!/usr/bin/env bash
# e2e: what vsnatctl tells an operator (README.md, "Running it"), on a vsnatd of 65,535 services
# (the most there can be; null ports, no lab):
#   - `vsnatctl list` and `list --json` answer within 30 s each (before: over 120 s for the text
#     form), with every service and its one real server: 65,535 of each; in the JSON, each real
#     server's service_id is its service's id;
#   - ten idle telemetry clients (DPDK serves ten at a time): `vsnatctl stats` exits 1 saying
#     DPDK's limit and that 10 are connected (before: "telemetry exchange ... failed"); once they
#     close, it answers again;
#   - a reload whose service name is 128 bytes is refused, saying telemetry cuts names at 127.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_require_root
kernel_mode && skip "needs vsnatd itself"
e2e_require_daemon
readonly SERVICES=65535 LIST_LIMIT_S=30
e2e_logdir
trap e2e_on_exit EXIT
VSNATCTL="$(dirname "$VSNATD")/vsnatctl"
readonly VSNATCTL CONFIG="$E2E_LOG_DIR/services.yaml"
"$HUGEPAGES_SH" | sed 's/^/  /'

# services.yaml [NAME_BYTES]: SERVICES services on null ports, the first named with NAME_BYTES
# bytes (default 127); service N is VIP 198.18.0.100:N, its one real server 198.19.0.2:N.
services_config() {
  "$PY" - "$CONFIG" "$SERVICES" "${1:-127}" <<'PY'
import sys
path, count, first = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lines = ['eal: ["-l", "0-1", "--file-prefix", "vsnat-e2e", "--no-pci"]', "workers: 1",
         "max_connections: 4096", "metrics: off", "interfaces:",
         '  - {name: outside, device: "net_null0", address: 198.18.0.254/24}',
         '  - {name: inside, device: "net_null1", address: 198.19.0.1/24}', "services:"]
for port in range(1, count + 1):
    name = ("n" * (first - 1) + "a") if port == 1 else f"s{port}"
    lines.append(f"  - {{name: {name}, protocol: tcp, vip: 198.18.0.100, port: {port}, "
                 f"real_servers: [{{address: 198.19.0.2, port: {port}}}]}}")
with open(path, "w") as f:
    f.write("\n".join(lines) + "\n")
PY
}
services_config
start_vsnatd "$CONFIG"

t0=$SECONDS
rc=0
timeout 60 "$VSNATCTL" --prefix "$E2E_PREFIX" list >"$E2E_LOG_DIR/list.txt" 2>&1 || rc=$?
took=$((SECONDS - t0))
services=$(grep -c '^TCP  ' "$E2E_LOG_DIR/list.txt" || true)
servers=$(grep -c '^  -> 198\.19\.0\.2:' "$E2E_LOG_DIR/list.txt" || true)
# Each service's line is followed by its own real server, on the same port.
mismatched=$(awk '/^TCP  / {split($2, v, ":"); want = v[2]; next}
  /^  -> 198/ {split($2, a, ":"); if (a[2] != want) bad++} END {print bad + 0}' "$E2E_LOG_DIR/list.txt")
if ((rc == 0 && took <= LIST_LIMIT_S && services == SERVICES && servers == SERVICES && mismatched == 0)); then
  pass list-all "$services services and $servers real servers, each under its own service, in $took s"
else
  fail list-all "exit $rc in $took s: $services services, $servers real servers, $mismatched under another service (see $E2E_LOG_DIR/list.txt)"
fi

t0=$SECONDS
rc=0
timeout 60 "$VSNATCTL" --prefix "$E2E_PREFIX" --json list >"$E2E_LOG_DIR/list.json" 2>&1 || rc=$?
took=$((SECONDS - t0))
summary=$("$PY" - "$E2E_LOG_DIR/list.json" <<'PY' 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
ids = {s["name"]: s["id"] for s in d["services"]}
ports = {s["id"]: s["port"] for s in d["services"]}
wrong = 0
for rs in d["real_servers"]:  # its service by id, and that service's port is its own
    wrong += ids.get(rs["service"]) != rs["service_id"] or ports[rs["service_id"]] != rs["port"]
print(len(d["services"]), len(d["real_servers"]), wrong)
PY
)
if ((rc == 0 && took <= LIST_LIMIT_S)) && [[ $summary == "$SERVICES $SERVICES 0" ]]; then
  pass list-json "$SERVICES services and real servers, each real server's service_id its service's id, in $took s"
else
  fail list-json "exit $rc in $took s: services, real servers, mismatched: $summary"
fi

# Ten idle clients: DPDK's limit. Each is held open for at most 30 s.
"$PY" - "$E2E_PREFIX" >"$E2E_LOG_DIR/idle.txt" 2>&1 <<'PY' &
import socket, sys, time
path = f"/var/run/dpdk/{sys.argv[1]}/dpdk_telemetry.v2"
held = []
for _ in range(10):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    s.connect(path)
    s.recv(1024)  # the greeting: this one is served
    held.append(s)
print("holding", len(held), flush=True)
time.sleep(30)
PY
idle_pid=$!
for ((i = 0; i < 50; i++)); do
  grep -q holding "$E2E_LOG_DIR/idle.txt" && break
  sleep 0.1
done
rc=0
out=$(timeout 20 "$VSNATCTL" --prefix "$E2E_PREFIX" stats 2>&1) || rc=$?
if ((rc == 1)) && grep -qF "DPDK serves at most 10 telemetry clients at a time, and 10 are connected" <<<"$out"; then
  pass idle-clients "exit 1: $out"
else
  fail idle-clients "exit $rc: $out"
fi
kill "$idle_pid" 2>/dev/null
wait "$idle_pid" 2>/dev/null || true
if out=$(timeout 20 "$VSNATCTL" --prefix "$E2E_PREFIX" stats 2>&1); then
  pass idle-clients-gone "vsnatctl answers again: $(head -n 1 <<<"$out")"
else
  fail idle-clients-gone "$out"
fi

# A name telemetry would cut.
services_config 128
rc=0
out=$(timeout 60 "$VSNATCTL" --prefix "$E2E_PREFIX" reload 2>&1) || rc=$?
want="$CONFIG:9:12: 'name' must be at most 127 bytes (vsnatctl reads it over DPDK telemetry, which cuts strings there), got 128"
if ((rc == 1)) && [[ $out == "$want" ]]; then
  pass long-name-refused "exit 1: $out"
else
  fail long-name-refused "exit $rc: $out (want: $want)"
fi
e2e_end
