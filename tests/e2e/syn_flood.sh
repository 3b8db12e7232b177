#!/usr/bin/env bash
# e2e: a SYN flood from forged sources while a long download runs (issue: hostile input).
# vsnatd with a 4096-connection table (configs/flood-*.yaml). A 100 MB download, rate-limited
# so that it lasts through the flood, starts first; then scripts/lab/synflood.py floods VIP:80
# from random addresses of 198.18.128.0/17 (routed through the client namespace, which forwards
# nothing: the real servers' SYN-ACKs die there) at FLOOD_RATE SYNs/s for FLOOD_SECONDS: five
# times the table in a second, yet within what the lab's AF_PACKET links carry (unbounded, the
# python sender offers ~120k/s and the links drop legitimate packets with the flood's before
# vsnatd sees them, which tests the links, not the table). Meanwhile a client makes new HTTP
# connections one after another. Checks: the download completes with the right sha256; the
# flood filled the table and new connections took the place of half-open ones
# (connections_evicted); legitimate connections succeeded (the success rate is printed; at
# least 90% required); the daemon stays up.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
readonly MB=100 RATE=8M FLOOD_SECONDS=8 FLOOD_RATE=20000 LEGIT=100
VSNAT_LAB_FILE_MB=$MB e2e_start "$(e2e_config flood)"

want=$(cut -d' ' -f1 "$LAB_FILES_DIR/${MB}M.bin.sha256")
# The download, in the background: about 12 s at 8 MiB/s.
(client curl -sS --max-time 60 --limit-rate "$RATE" "http://$LAB_VIP/files/${MB}M.bin" |
  sha256sum | cut -d' ' -f1 >"$E2E_LOG_DIR/download.sha256") 2>"$E2E_LOG_DIR/download.err" &
download_pid=$!
sleep 1
client "$PY" "$REPO_DIR/scripts/lab/synflood.py" --dst "$LAB_VIP" --dport 80 \
  --seconds "$FLOOD_SECONDS" --rate "$FLOOD_RATE" >"$E2E_LOG_DIR/flood.log" 2>&1 &
flood_pid=$!
sleep 1

ok=0 tried=0
t0=$SECONDS
while ((tried < LEGIT && SECONDS - t0 < FLOOD_SECONDS - 2)); do
  tried=$((tried + 1))
  reply=$(client curl -s --max-time 1 "http://$LAB_VIP/") && [[ $reply == rs* ]] && ok=$((ok + 1))
done
stats_during=$(telemetry /vsnat/stats) || stats_during='{}'
wait "$flood_pid" || fail flood "synflood.py failed: $(tail -n 2 "$E2E_LOG_DIR/flood.log")"
log "$(cat "$E2E_LOG_DIR/flood.log")"
wait "$download_pid" || true
require_daemon_alive

got=$(cat "$E2E_LOG_DIR/download.sha256" 2>/dev/null)
if [[ $got == "$want" ]]; then
  pass download "${MB}M.bin through the flood, sha256 ok"
else
  fail download "sha256 '$got', want $want ($(head -c 200 "$E2E_LOG_DIR/download.err"))"
fi

echo "$stats_during" | jq . >"$E2E_LOG_DIR/stats-during.json"
sum() { jq -r "[.workers[]?.$1 // 0] | add // 0" <<<"$stats_during"; }
evicted=$(sum connections_evicted) full=$(sum drops.table_full) live=$(sum connections)
log "during the flood: $live connections in the table, $evicted half-open evicted, $full SYNs dropped as table_full"
if ((evicted > 0)); then
  pass eviction "the flood filled the table; $evicted half-open connections made room for new ones"
else
  fail eviction "no half-open connection was evicted (table held $live): did the flood fill it?"
fi
if ((tried > 0 && ok * 10 >= tried * 9)); then
  pass legitimate "$ok of $tried new connections during the flood succeeded"
else
  fail legitimate "only $ok of $tried new connections during the flood succeeded"
fi
e2e_end
