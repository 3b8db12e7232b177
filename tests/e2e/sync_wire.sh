#!/usr/bin/env bash
# e2e: connection sync on the wire (README.md, "A pair of directors"), one director and a
# stand-in for its peer (tests/e2e/sync_peer.py) in real server 1's namespace, on the inside link:
#   - sent: 20 HTTP connections through the VIP are each sent to 224.0.0.81:8848 from the
#     director's inside address, syncid 7, as sync_decode.py (the kernel's layouts) reads them:
#     VIP:80, a real server of the service, ESTABLISHED at least once
#   - applied: a record from the peer puts its connection in the table (vsnatctl conns) with
#     the record's state and timeout; a packet of it from the client is forwarded to the
#     record's real server, with no connection made
#   - resent: the peer's first message makes the director resend every connection it has (the
#     peer may have restarted), the one just applied among them; an empty message goes out
#     each second with nothing else to send
#   - refused: another syncid's message, a malformed one and a version 0 one are counted, and
#     nothing of them applied; the daemon lives on
#   - unicast: with `peers`, a peer's datagram is taken and another host's counted as foreign
# --ipv6: sent, applied, resent and forwarded through the IPv6 VIP (service web6 of
# configs/dual-kernel-2w.yaml): IPv6 connections travel as IPv6 records (struct ip_vs_sync_v6)
# over the same IPv4 sync link; the family-neutral parts (refused, unicast) run without it.
E2E_IPV6_TEST=1
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
readonly GROUP=224.0.0.81 SYNCID=7
readonly PEER_PY="$E2E_DIR/sync_peer.py"
e2e_start "$(e2e_config kernel)"
VSNATCTL="$(dirname "$VSNATD")/vsnatctl"
readonly VSNATCTL
config="$E2E_LOG_DIR/sync.yaml"
sed -e "s|^kernel_netns: .*|&\nha: {sync: {interface: inside, group: $GROUP, port: 8848, syncid: $SYNCID}}|" \
  "$(e2e_config kernel)" >"$config"
stop_vsnatd
start_vsnatd "$config"
director_in=${LAB_DIRECTOR_IN%/*}
# An endpoint as vsnatctl and the peer write it: [addr]:port for IPv6.
endpoint() { if ((E2E_FAMILY == 6)); then echo "[$1]:$2"; else echo "$1:$2"; fi; }

stats_json() { "$VSNATCTL" --prefix "$E2E_PREFIX" stats --json; }
# The value of a sync thread counter (stats' "sync") or a worker counter summed over workers.
counter() {
  stats_json | "$PY" -c '
import json, sys
s, key = json.load(sys.stdin), sys.argv[1]
v = s["sync"][key] if key in s.get("sync", {}) else s[key]
print(sum(v) if isinstance(v, list) else v)' "$1"
}
peer() { in_rs 1 "$PY" "$PEER_PY" "$@" --bind "$LAB_RS1" --group "$GROUP"; }

# --- sent ------------------------------------------------------------------------------------
peer listen --seconds 6 >"$E2E_LOG_DIR/heard.jsonl" 2>"$E2E_LOG_DIR/peer.err" &
listener=$!
sleep 0.5
http_sequential 20 >"$E2E_LOG_DIR/requests.txt"
wait "$listener" || true
ports=$(awk '$1 == "ok" {print $3}' "$E2E_LOG_DIR/requests.txt" | sort -n | tr '\n' ' ')
verdict=$("$PY" - "$E2E_LOG_DIR/heard.jsonl" "$director_in" "$SYNCID" "$E2E_VIP" \
  "$E2E_RS1:$LAB_RS1_HTTP_PORT $E2E_RS2:$LAB_RS2_HTTP_PORT" "$ports" <<'EOF'
import json, sys
path, source, syncid, vip, reals, ports = sys.argv[1:]
reals, ports = set(reals.split()), set(int(p) for p in ports.split())
datagrams = [json.loads(line) for line in open(path)]
problems, established = [], set()
for d in datagrams:
    if d["from"] != source or d["error"] != "none" or d["syncid"] != int(syncid):
        problems.append(f"datagram from {d['from']}, syncid {d['syncid']}, error {d['error']}")
    for r in d["records"]:
        if r["client_port"] not in ports:
            continue
        if r["vip"] != vip or r["vport"] != 80 or f"{r['real']}:{r['real_port']}" not in reals:
            problems.append(f"record {r}")
        if r["state"] == 1 and r["flags"] & 0x0107 == 0:
            established.add(r["client_port"])
missing = ports - established
print(f"{len(datagrams)} datagrams; {len(established)} of {len(ports)} connections sent as ESTABLISHED;"
      f" {len(problems)} problems {problems[:3]}; missing {sorted(missing)[:5]}")
sys.exit(0 if len(ports) == 20 and not missing and not problems else 1)
EOF
) && ok=1 || ok=0
if ((ok)); then
  pass sent "$verdict"
else
  fail sent "$verdict"
fi
# The operator's views of the sync thread: vsnatctl stats' line and /metrics.
line=$("$VSNATCTL" --prefix "$E2E_PREFIX" stats | grep '^connection sync on ' || true)
metric=$(curl -s --max-time 2 http://127.0.0.1:9640/metrics | grep '^vsnat_sync_records_sent_total ' || true)
if [[ $line == "connection sync on inside to $GROUP port 8848, syncid $SYNCID: messages_sent "* &&
  ${metric##* } -gt 0 ]]; then
  pass views "vsnatctl stats: '${line:0:90}...'; /metrics: $metric"
else
  fail views "vsnatctl stats: '${line:-no sync line}'; /metrics: '${metric:-no vsnat_sync_records_sent_total}'"
fi

# --- applied ---------------------------------------------------------------------------------
# One of the client's extra addresses (198.18.0.7, 2001:2:0:18::7).
SYNCED_CLIENT=$(awk '{print $6}' <<<"$E2E_CLIENT_EXTRA")
readonly SYNCED_CLIENT SYNCED_PORT=40000
synced=$(endpoint "$SYNCED_CLIENT" "$SYNCED_PORT")
to_rs2=$(endpoint "$E2E_RS2" "$LAB_RS2_HTTP_PORT")
applied_before=$(counter sync_applied)
created_before=$(counter connections_created)
peer listen --seconds 3 >"$E2E_LOG_DIR/resent.jsonl" 2>>"$E2E_LOG_DIR/peer.err" &
listener=$!
sleep 0.3
peer send --syncid "$SYNCID" --record "$synced,$(endpoint "$E2E_VIP" 80),$to_rs2,1,900"
row=""
for ((i = 0; i < 20; i++)); do
  row=$("$VSNATCTL" --prefix "$E2E_PREFIX" conns --json | "$PY" -c '
import json, sys
for r in json.load(sys.stdin):
    if r["source"] == sys.argv[1]:
        print(r["state"], r["destination"], r["expire_s"])' "$synced")
  [[ -n $row ]] && break
  sleep 0.1
done
read -r state dest expire <<<"${row:-none none 0}"
if [[ $state == ESTABLISHED && $dest == "$to_rs2" ]] && ((expire > 890 && expire <= 902)) &&
  (($(counter sync_applied) == applied_before + 1)); then
  pass applied "the peer's record is a connection: $synced -> $dest, $state, expires in $expire s"
else
  fail applied "the peer's record gave: '${row:-nothing}' (sync_applied $applied_before -> $(counter sync_applied))"
fi

wait "$listener" || true
resent=$("$PY" - "$E2E_LOG_DIR/resent.jsonl" "$SYNCED_CLIENT" <<'EOF'
import json, sys
datagrams = [json.loads(line) for line in open(sys.argv[1])]
records = [r for d in datagrams for r in d["records"]]
empty = sum(1 for d in datagrams if not d["records"])
print(len(records), sum(1 for r in records if r["client"] == sys.argv[2]), empty)
EOF
)
read -r resent_records resent_synced heartbeats <<<"$resent"
if (($(counter peers_joined) == 1 && resent_synced >= 1 && heartbeats >= 1)); then
  pass resent "the peer's first message: $resent_records records resent in 3 s, the applied one among them; $heartbeats empty messages (signs of life)"
else
  fail resent "peers_joined $(counter peers_joined); resent: $resent_records records, $resent_synced of the applied one; $heartbeats empty messages"
fi

# A segment of that connection from the client: forwarded to real server 2 as it is.
in_rs 2 timeout 5 tcpdump -i eth0 -n -c 1 -w "$E2E_LOG_DIR/forwarded.pcap" \
  "tcp and src host $SYNCED_CLIENT and src port $SYNCED_PORT and dst port $LAB_RS2_HTTP_PORT" \
  >/dev/null 2>&1 &
capture=$!
sleep 0.5
client "$PY" - "$SYNCED_CLIENT" "$SYNCED_PORT" "$E2E_VIP" <<'EOF'
import ipaddress, socket, struct, sys
src, sport, dst = sys.argv[1], int(sys.argv[2]), sys.argv[3]
def checksum(data):
    data += b"\0" * (len(data) % 2)
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    return ~(s + (s >> 16)) & 0xFFFF
tcp = struct.pack("!HHIIBBHHH", sport, 80, 1000, 2000, 5 << 4, 0x10, 65535, 0, 0)
a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
if a.version == 6:  # RFC 8200's pseudo-header
    pseudo = a.packed + b.packed + struct.pack("!I3xB", len(tcp), 6)
else:
    pseudo = a.packed + b.packed + struct.pack("!BBH", 0, 6, len(tcp))
tcp = tcp[:16] + struct.pack("!H", checksum(pseudo + tcp)) + tcp[18:]
s = socket.socket(socket.AF_INET6 if a.version == 6 else socket.AF_INET, socket.SOCK_RAW,
                  socket.IPPROTO_TCP)
s.bind((src, 0))
s.sendto(tcp, (dst, 0))
EOF
if wait "$capture" && (($(counter connections_created) == created_before)); then
  pass forwarded "a segment of the synced connection reached $to_rs2 with no connection made"
else
  fail forwarded "the synced connection's segment did not reach $to_rs2 (or a connection was made)"
fi
if ((E2E_FAMILY == 6)); then
  e2e_end  # the rest is the same in either family: run without --ipv6
  exit
fi

# --- refused ---------------------------------------------------------------------------------
foreign_before=$(counter datagrams_foreign)
malformed_before=$(counter datagrams_malformed)
applied_before=$(counter sync_applied)
record="198.18.0.8:40001,$LAB_VIP:80,$LAB_RS1:$LAB_RS1_HTTP_PORT,1,900"
peer send --syncid 9 --record "$record"
peer send --syncid "$SYNCID" --record "$record" --kind bad_size
peer send --syncid "$SYNCID" --record "$record" --kind version0
sleep 0.5
foreign=$(($(counter datagrams_foreign) - foreign_before))
malformed=$(($(counter datagrams_malformed) - malformed_before))
applied=$(($(counter sync_applied) - applied_before))
if ((foreign == 1 && malformed == 2 && applied == 0)) && require_daemon_alive; then
  pass refused "another syncid: datagrams_foreign +$foreign; bad size and version 0: datagrams_malformed +$malformed; nothing applied"
else
  fail refused "datagrams_foreign +$foreign, datagrams_malformed +$malformed, sync_applied +$applied"
fi

# --- unicast peers -----------------------------------------------------------------------------
# `peers: [real server 2]`: its datagrams are taken, real server 1's (not a peer) are not.
sed -e "s|^kernel_netns: .*|&\nha: {sync: {interface: inside, peers: [$LAB_RS2], syncid: $SYNCID}}|" \
  "$(e2e_config kernel)" >"$config"
stop_vsnatd
start_vsnatd "$config"
unicast() {
  local n=$1 address="LAB_RS$1"; shift
  in_rs "$n" "$PY" "$PEER_PY" send --bind "${!address}" --to "$director_in" --syncid "$SYNCID" "$@"
}
unicast 1 --record "198.18.0.9:40002,$LAB_VIP:80,$LAB_RS1:$LAB_RS1_HTTP_PORT,1,900"
unicast 2 --record "198.18.0.10:40003,$LAB_VIP:80,$LAB_RS2:$LAB_RS2_HTTP_PORT,1,900"
sleep 0.5
if (($(counter datagrams_foreign) == 1 && $(counter sync_applied) == 1)); then
  pass unicast "with peers: [$LAB_RS2], its record applied; $LAB_RS1's datagram counted as foreign"
else
  fail unicast "with peers: [$LAB_RS2]: datagrams_foreign $(counter datagrams_foreign), sync_applied $(counter sync_applied) (want 1 and 1)"
fi
e2e_end
