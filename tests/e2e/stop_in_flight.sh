#!/usr/bin/env bash
# e2e: SIGTERM while operators' calls are in flight. Ten rounds, each on a fresh vsnatd: a bounded
# SYN flood from forged sources (scripts/lab/synflood.py, 198.18.128.0/17, via the client namespace) fills
# the table with CONNECTIONS half-open connections; then `vsnatctl conns` (every connection, page
# by page) and `vsnatctl reload` run back to back in the background, and after a short, varying
# delay vsnatd gets SIGTERM. Each round: vsnatd exits within 5 s, with status 0 (no crash), and
# every vsnatctl call returns (each is bounded by `timeout`), answered, refused ("vsnatd is
# stopping") or unable to connect.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
kernel_mode && skip "stops vsnatd itself; nothing to check against the kernel director"
readonly ROUNDS=10 CONNECTIONS=60000 FLOOD_RATE=20000 EXIT_LIMIT_MS=5000 CALLS=300
e2e_start "$(e2e_config vsnat)"
VSNATCTL="$(dirname "$VSNATD")/vsnatctl"
CONFIG=$(e2e_config vsnat)
readonly VSNATCTL CONFIG

# calls NAME ARGS...: vsnatctl ARGS up to CALLS times, each within 20 s, one line per call:
# "ok", "refused" (vsnatd is stopping) or "failed"; stops after three calls that found no daemon.
calls() {
  local name=$1 i out gone=0
  shift
  for ((i = 0; i < CALLS && gone < 3; i++)); do
    if out=$(timeout 20 "$VSNATCTL" --prefix "$E2E_PREFIX" "$@" 2>&1 >/dev/null); then
      echo ok
    elif [[ $out == *stopping* ]]; then
      echo refused
    else
      echo failed
      gone=$((gone + 1))
    fi
  done >"$E2E_LOG_DIR/$name"
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

slow=0 crashed=0 summary=""
for ((round = 1; round <= ROUNDS; round++)); do
  if ((round > 1)); then
    cp "$VSNATD_LOG" "$E2E_LOG_DIR/vsnatd-round$((round - 1)).log"
    start_vsnatd "$CONFIG"
  fi
  client "$PY" "$REPO_DIR/scripts/lab/synflood.py" --dst "$LAB_VIP" --dport 80 \
    --count "$CONNECTIONS" --flows "$CONNECTIONS" --rate "$FLOOD_RATE" --seconds 10 >"$E2E_LOG_DIR/flood.log" 2>&1 ||
    fail flood "round $round: synflood.py: $(tail -n 1 "$E2E_LOG_DIR/flood.log")"
  conns=$(telemetry /vsnat/stats | jq -r '.connections' 2>/dev/null || echo "?")
  calls "conns-$round.txt" conns --limit 100000 &
  conns_pid=$!
  calls "reload-$round.txt" reload &
  reload_pid=$!
  sleep "0.$((RANDOM % 5 + 1))"
  pid=$VSNATD_PID t0=$(now_ms)
  rc=0
  vsnatd_stop 15 || rc=$?
  took=$(($(now_ms) - t0))
  wait "$conns_pid" "$reload_pid"
  tally=$(cat "$E2E_LOG_DIR/conns-$round.txt" "$E2E_LOG_DIR/reload-$round.txt" | sort | uniq -c | xargs)
  log "round $round: $conns connections, SIGTERM -> exit $rc in $took ms; vsnatctl calls: $tally"
  summary+="${took}ms/$rc "
  ((took <= EXIT_LIMIT_MS)) || slow=$((slow + 1))
  if ((rc != 0)) || grep -qiE 'segmentation|sigsegv|abort' "$VSNATD_LOG"; then
    crashed=$((crashed + 1))
    vsnatd_log_tail 20
  fi
  if [[ $conns == "?" ]] || ((conns < CONNECTIONS / 2)); then
    fail table-filled "round $round: only $conns connections in the table before SIGTERM (pid $pid)"
  fi
done
if ((slow == 0)); then
  pass prompt-exit "$ROUNDS of $ROUNDS rounds exited within $EXIT_LIMIT_MS ms: $summary"
else
  fail prompt-exit "$slow of $ROUNDS rounds took over $EXIT_LIMIT_MS ms: $summary"
fi
if ((crashed == 0)); then
  pass clean-exit "exit status 0 and no crash in $ROUNDS rounds"
else
  fail clean-exit "$crashed of $ROUNDS rounds crashed or exited non-zero: $summary"
fi
e2e_end
