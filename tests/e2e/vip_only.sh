#!/usr/bin/env bash
# e2e 2: VS/NAT is invisible to both ends.
#   - the client only ever sees the VIP: curl's %{remote_ip}:%{remote_port} is VIP:80 on every
#     request, and a capture on the client's interface holds no packet to or from anything but
#     the VIP (and the client's own addresses), with correct IPv4/TCP checksums throughout;
#   - the real server sees the client's own address and port (nginx /client): for requests
#     from the client's primary and from secondary addresses, "rsN <client ip>:<curl's local port>".
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
e2e_start "$(e2e_config vsnat)"

# Capture on the client's interface for the whole check (bounded: 60 s at most).
ready="$E2E_LOG_DIR/sniff.ready"
# (ip netns exec, not the client function: $! must be the sniffer itself, which it execs.)
ip netns exec "$LAB_NS_CLIENT" "$PY" "$E2E_DIR/sniff.py" --iface eth0 --ready "$ready" --seconds 60 >"$E2E_LOG_DIR/sniff.json" &
sniff_pid=$!
for ((i = 0; i < 50; i++)); do [[ -s $ready ]] && break; sleep 0.1; done
[[ -s $ready ]] || { fail sniff "capture did not start"; exit 1; }

# 24 requests: 12 from the primary address, 12 spread over secondaries (the real server must
# see each one's own address).
sources=("$LAB_CLIENT" 198.18.0.2 198.18.0.7 198.18.0.20)
bad_remote=0 bad_seen=0 seen_rs1=0 seen_rs2=0 errors=0 examples=""
for ((i = 0; i < 24; i++)); do
  src=${sources[i % 4]}
  rc=0
  out=$(client curl -sS --max-time 2 --interface "$src" -w '|%{remote_ip}:%{remote_port}|%{local_port}' \
    "http://$LAB_VIP/client" 2>&1) || rc=$?
  if ((rc != 0)); then
    errors=$((errors + 1)); examples+=" [curl $rc: $(tr '\n' ' ' <<<"$out")]"
    ((errors < 3)) || break
    continue
  fi
  body=${out%%|*}; body=${body%$'\n'}; rest=${out#*|}; remote=${rest%%|*}; lport=${rest#*|}
  [[ $remote == "$LAB_VIP:80" ]] || { bad_remote=$((bad_remote + 1)); examples+=" [remote $remote]"; }
  if [[ $body == "rs1 $src:$lport" ]]; then seen_rs1=$((seen_rs1 + 1))
  elif [[ $body == "rs2 $src:$lport" ]]; then seen_rs2=$((seen_rs2 + 1))
  else bad_seen=$((bad_seen + 1)); examples+=" [from $src:$lport the server saw '$body']"
  fi
done

kill -TERM "$sniff_pid" 2>/dev/null || true
wait "$sniff_pid" || true

detail="24 requests: remote not $LAB_VIP:80 $bad_remote, server saw another address $bad_seen, errors $errors"
if ((errors == 0 && bad_remote == 0)); then
  pass client-sees-vip "every reply from $LAB_VIP:80 (curl %{remote_ip}:%{remote_port})"
else
  fail client-sees-vip "$detail;${examples:0:400}"
fi
if ((errors == 0 && bad_seen == 0 && seen_rs1 > 0 && seen_rs2 > 0)); then
  pass server-sees-client "rs1 $seen_rs1 / rs2 $seen_rs2 requests, each saw the client's own address:port"
else
  fail server-sees-client "$detail, rs1 $seen_rs1, rs2 $seen_rs2;${examples:0:400}"
fi

# The capture: every IPv4 packet is between a client address (198.18.0.1-20) and the VIP.
if verdict=$("$PY" - "$E2E_LOG_DIR/sniff.json" "$LAB_VIP" <<'PYEOF' 2>&1
import json, sys
vip = sys.argv[2]
cap = json.load(open(sys.argv[1]))
clients = {f"198.18.0.{i}" for i in range(1, 21)}
strangers, count = set(), 0
for proto, src, sport, dst, dport, n in cap["flows"]:
    count += n
    ok = (src in clients and dst == vip and dport == 80) or (src == vip and sport == 80 and dst in clients)
    if not ok:
        strangers.add(f"{proto} {src}:{sport}->{dst}:{dport} x{n}")
bad = cap["bad_checksums"]
print(f"{count} IPv4 packets, {cap['arp']} ARP; strangers: {sorted(strangers)[:6]}; bad checksums: {bad[:4]}")
sys.exit(0 if count > 0 and not strangers and not bad else 1)
PYEOF
); then
  pass capture "$verdict"
else
  fail capture "$verdict"
fi
e2e_end
