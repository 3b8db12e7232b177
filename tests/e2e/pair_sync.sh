#!/usr/bin/env bash
# e2e: a pair of directors with connection sync (README.md, "A pair of directors"): director A
# master, B backup, keepalived moving the VIP and the gateway, `ha.sync` on the inside link.
#   1. failover: with 200 idle keep-alive connections open through A, a rate-limited 50 MB
#      download and a passive-mode FTP download (227 rewritten: sequence numbers shifted)
#      running, kill -9 A: the downloads complete on B, sha256 ok (the download's gap printed),
#      and each idle connection's next request is answered by B. 50 more connections, opened
#      while B heard no sync (its sync port blocked for their first 3 s), fail the same check:
#      the test can fail.
#   2. failback: A returns (its keepalived once B has resent it every connection, as
#      keepalived's preempt_delay would): A serves, every idle connection answered again.
#   3. sync under load: 2,000 new connections/s for 20 s through A, none failing: every
#      connection A has is on B (vsnatctl conns of both, within the sync delay).
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# shellcheck source=SCRIPTDIR/pair.sh
source "$E2E_DIR/pair.sh"
e2e_require_root
# Adverts every 0.2 s: quick, yet not mistaken for a dead master while the load test takes the
# machine's two CPUs.
export KEEPALIVED_ADVERT_INT=${KEEPALIVED_ADVERT_INT:-0.2}
readonly IDLE=200 UNSYNCED=50 FILE_MB=50 RATE_MB=10 FTP_RATE=2M
readonly KEEPALIVE_PY="$E2E_DIR/keepalive_clients.py" DOWNLOAD_PY="$E2E_DIR/download_gap.py"
readonly CPS_PY="$E2E_DIR/cps_load.py"
pair_start
"$LAB_SH" mkfile "$FILE_MB" | sed 's/^/  /'
file_sha=$(cut -d' ' -f1 "$LAB_FILES_DIR/${FILE_MB}M.bin.sha256")
ftp_sha=$(cut -d' ' -f1 "$LAB_FTP_ROOT/$LAB_FTP_FILE.sha256")
triggers="$E2E_LOG_DIR/triggers"
mkdir -p "$triggers"

# Idle keep-alive connections through A: $1 = log file; waits until they are open.
open_idle() {
  local count=$1 out=$2 dir=$3 i
  mkdir -p "$dir"
  client "$PY" "$KEEPALIVE_PY" --vip "$LAB_VIP" --count "$count" --trigger-dir "$dir" \
    --rounds 2 --wait 150 >"$out" 2>&1 &
  for ((i = 0; i < 100; i++)); do
    grep -q '^opened' "$out" && break
    sleep 0.1
  done
  grep '^opened' "$out" || echo "not opened"
}
# The line of round $1 in $2, waiting for it (bounded).
round_result() {
  local round=$1 out=$2 i
  for ((i = 0; i < 100; i++)); do
    grep -q "^round $round" "$out" && break
    sleep 0.1
  done
  grep "^round $round" "$out" || echo "round $round: no result"
}
# Blocks (1) or unblocks (0) the sync port on B's kernel side: what B's sync socket hears.
block_sync_on_b() {
  if (($1)); then
    ip netns exec "${PAIR_NETNS[b]}" nft -f - <<EOF
table inet vsnat_e2e_block {
  chain input {
    type filter hook input priority 0;
    udp dport 8848 drop
  }
}
EOF
  else
    ip netns exec "${PAIR_NETNS[b]}" nft delete table inet vsnat_e2e_block
  fi
}

# --- 1. failover -----------------------------------------------------------------------------
log "opening $IDLE idle connections through A, and $UNSYNCED more that B does not hear of"
synced_open=$(open_idle "$IDLE" "$E2E_LOG_DIR/idle.txt" "$triggers/synced")
block_sync_on_b 1
heard_before=$(pair_counter b records_received)
unsynced_open=$(open_idle "$UNSYNCED" "$E2E_LOG_DIR/unsynced.txt" "$triggers/unsynced")
# Past the connections' first deadline (2 s after their SYN), where A's wheel sends their records
# once more: after it, nothing would until a turn of the wheel (262 s).
sleep 2.5
heard_blocked=$(($(pair_counter b records_received) - heard_before))
block_sync_on_b 0
sleep 0.5   # the sync delay: every record of the synced ones is on B
log "synced: $synced_open; unsynced: $unsynced_open (B received $heard_blocked records meanwhile)"

client "$PY" "$DOWNLOAD_PY" --vip "$LAB_VIP" --path "/files/${FILE_MB}M.bin" --rate-mb "$RATE_MB" \
  --timeout 60 >"$E2E_LOG_DIR/download.txt" 2>&1 &
download=$!
client curl -sS --disable-epsv --limit-rate "$FTP_RATE" --max-time 60 \
  -o "$E2E_LOG_DIR/ftp.bin" "ftp://$LAB_VIP/$LAB_FTP_FILE" 2>"$E2E_LOG_DIR/ftp.err" &
ftp=$!
sleep 1.5
rewrites=$(pair_counter a ftp_rewrites)
log "killing A (kill -9) 1.5 s into the downloads (A rewrote $rewrites 227 replies)"
pair_kill a
if ms=$(pair_wait_master b 5000); then
  pass takeover "B holds the VIP and the gateway $ms ms after A was killed"
else
  fail takeover "B does not hold the VIP and the gateway 5 s after A was killed"
fi
touch "$triggers/synced/go1" "$triggers/unsynced/go1"
synced_round=$(round_result 1 "$E2E_LOG_DIR/idle.txt")
unsynced_round=$(round_result 1 "$E2E_LOG_DIR/unsynced.txt")
if [[ $synced_round == "round 1: ok $IDLE of $IDLE;"* ]]; then
  pass idle-survive "$IDLE idle connections opened through A, one more request each after the failover: $synced_round"
else
  fail idle-survive "after the failover: $synced_round"
fi
if [[ $unsynced_round == "round 1: ok 0 of $UNSYNCED;"* ]]; then
  pass unsynced-fail "$UNSYNCED connections B never heard of fail the same check: $unsynced_round"
else
  fail unsynced-fail "the connections B never heard of: $unsynced_round (all should fail)"
fi
rc=0
wait "$download" || rc=$?
result=$(cat "$E2E_LOG_DIR/download.txt")
if ((rc == 0)) && [[ $result == *"sha256 $file_sha "* ]]; then
  pass download "a ${FILE_MB} MB download at $RATE_MB MB/s, A killed in the middle: $result"
else
  fail download "exit $rc: $result (want sha256 $file_sha)"
fi
rc=0
wait "$ftp" || rc=$?
got_sha=$(sha256sum "$E2E_LOG_DIR/ftp.bin" 2>/dev/null | cut -d' ' -f1)
if ((rc == 0 && rewrites > 0)) && [[ $got_sha == "$ftp_sha" ]]; then
  pass ftp "a passive-mode FTP download (227 rewritten by A) completed on B, sha256 ok"
else
  fail ftp "curl exit $rc, 227 rewrites on A $rewrites, sha256 ${got_sha:-none} (want $ftp_sha): $(head -c 300 "$E2E_LOG_DIR/ftp.err")"
fi

# --- 2. failback -----------------------------------------------------------------------------
joined_before=$(pair_counter b peers_joined)
pair_restart_vsnatd a
for ((i = 0; i < 50; i++)); do
  (($(pair_counter b peers_joined) > joined_before)) && break
  sleep 0.1
done
sleep 1   # B's resend reaches A
applied=$(pair_counter a sync_applied)
pair_keepalived_start a
if ms=$(pair_wait_master a 5000); then
  log "A is master again $ms ms after its keepalived started ($applied records applied from B)"
else
  fail failback "A did not take the VIP and the gateway back within 5 s"
fi
touch "$triggers/synced/go2"
synced_round=$(round_result 2 "$E2E_LOG_DIR/idle.txt")
if [[ $synced_round == "round 2: ok $IDLE of $IDLE;"* ]]; then
  pass failback "A back as master, with the connections B resent it ($applied applied): $synced_round"
else
  fail failback "after the failback ($applied records applied from B): $synced_round"
fi
touch "$triggers/unsynced/go2"

# --- 3. sync under load ----------------------------------------------------------------------
load=$(client "$PY" "$CPS_PY" --vip "$LAB_VIP" --rate 2000 --seconds 20 --timeout 3)
sleep 0.5
sources() {
  "$VSNATCTL" --prefix "${PAIR_PREFIX[$1]}" conns --limit 200000 --json |
    "$PY" -c 'import json, sys; print("\n".join(sorted(r["source"] for r in json.load(sys.stdin))))'
}
sources a >"$E2E_LOG_DIR/conns-a.txt"
sources b >"$E2E_LOG_DIR/conns-b.txt"
on_a=$(wc -l <"$E2E_LOG_DIR/conns-a.txt")
missing=$(comm -23 "$E2E_LOG_DIR/conns-a.txt" "$E2E_LOG_DIR/conns-b.txt" | wc -l)
# The client's 28,000 ports go round more than once: A's table holds the last of each port's
# connections (the earlier ones ended for reuse), some 13,000.
if [[ $load == *" failed 0 "* ]] && ((on_a >= 10000 && missing == 0)); then
  pass under-load "$load; A has $on_a connections, every one of them on B"
else
  fail under-load "$load; A has $on_a connections, $missing of them not on B"
fi
pair_end
