#!/usr/bin/env bash
# e2e: hostile local users and processes (README.md, "Limits of /metrics"). The lab, one worker,
# configs/hostile-1w.yaml, whose web service is named `web "quoted" \slash`:
#   1. /metrics reads back with Prometheus's own parser, that name intact in its labels, no
#      family but vsnat_*;
#   2. while 8 clients send a request head one byte every 2 s and 8 others one byte every
#      0.5 s (metrics_load.py, 127.0.0.1, 12 s), 16 scrapes, one every 0.5 s, each answer within
#      2 s, and vsnatd closes every slow client 5 s after its first byte (4.5 to 6 s: the
#      request deadline); the same scrapes while 300 sockets stay idle, reopened when closed;
#   3. a second vsnatd on the same devices (configs/hostile-twin-1w.yaml: another
#      --file-prefix) is refused within 30 s, naming the first's PID, and the first forwards on:
#      30 HTTP requests through the VIP, all answered;
#   4. with 127.0.0.1:9640 held by user nobody, vsnatd starts, forwards (30 requests), logs why
#      /metrics is missing, and serves it within 6 s of the port being freed.
# Traffic: the lab's namespaces and 127.0.0.1 only, every loop bounded.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
kernel_mode && skip "tests vsnatd's own /metrics and start-up"
readonly METRICS=127.0.0.1:9640 SCRAPE_DEADLINE_S=2 SLOW_LIMIT_S=6

# Background helpers of this test, stopped by PID on any exit.
helpers=()
cleanup() {
  local rc=$? pid
  for pid in "${helpers[@]}"; do kill "$pid" 2>/dev/null || true; done
  (exit "$rc")
  e2e_on_exit
}
e2e_start "$(e2e_config hostile)"
trap cleanup EXIT

# all_answered N: N sequential HTTP requests through the VIP; prints "K of N answered".
all_answered() {
  local n=$1 ok
  ok=$(http_sequential "$n" | grep -c '^ok ') || true
  echo "$ok of $n answered"
  ((ok == n))
}

# --- 1. the exposition parses back ------------------------------------------------------------
curl -sS --max-time 2 "http://$METRICS/metrics" >"$E2E_LOG_DIR/metrics.txt" || true
want='web "quoted" \slash'
if parsed=$("$PY" "$E2E_DIR/parse_metrics.py" "$E2E_LOG_DIR/metrics.txt" 2>&1) &&
  jq -e --arg w "$want" '(.services | index($w)) != null and .foreign_families == []' \
    <<<"$parsed" >/dev/null; then
  pass metrics-parse "prometheus_client reads it back: $parsed"
else
  fail metrics-parse "$parsed (want the service '$want' and only vsnat_ families)"
fi

# --- 2. slow and idle clients do not starve scrapes -------------------------------------------
# scrapes_under_load NAME LOAD_ARGS...: metrics_load.py with LOAD_ARGS for 12 s; from its 2nd
# second, 16 scrapes, one every 0.5 s, must each answer within SCRAPE_DEADLINE_S, all while the
# load still runs. The load's summary is left in $E2E_LOG_DIR/load-NAME.json.
scrapes_under_load() {
  local name=$1 load answered=0 worst=0 i t0 code ms running=0 failures=()
  shift
  "$PY" "$E2E_DIR/metrics_load.py" --port "${METRICS#*:}" --duration 12 "$@" \
    >"$E2E_LOG_DIR/load-$name.json" 2>"$E2E_LOG_DIR/load-$name.err" &
  load=$!
  helpers+=("$load")
  sleep 2
  for ((i = 1; i <= 16; i++)); do
    t0=$(date +%s%N)
    code=$(curl -s --max-time "$SCRAPE_DEADLINE_S" -o "$E2E_LOG_DIR/scrape.txt" -w '%{http_code}' \
      "http://$METRICS/metrics") || true
    ms=$((($(date +%s%N) - t0) / 1000000))
    ((ms <= worst)) || worst=$ms
    if [[ $code == 200 ]] && grep -q '^vsnat_worker_rx_packets_total' "$E2E_LOG_DIR/scrape.txt"; then
      answered=$((answered + 1))
    else
      failures+=("#$i: HTTP $code after $ms ms")
    fi
    sleep 0.5
  done
  ! proc_alive "$load" || running=1
  wait "$load" || true
  log "metrics_load.py $*: $(cat "$E2E_LOG_DIR/load-$name.json" "$E2E_LOG_DIR/load-$name.err")"
  if ((answered == 16 && running)); then
    pass "scrapes-$name" "16 of 16 scrapes answered within ${SCRAPE_DEADLINE_S} s, the slowest in $worst ms"
  else
    fail "scrapes-$name" "$answered of 16 answered (load still running at the end: $running); ${failures[*]:-}"
  fi
}

# Under the cap: only the request deadline closes them, 5 s after their first byte.
scrapes_under_load slow --slow 8 --slow-gap 2 --drip 8 --drip-gap 0.5
if jq -e --argjson max "$SLOW_LIMIT_S" '[.slow, .drip] | all(.closed >= 8 and .answered == 0
    and .lifetime_min_s >= 4.5 and .lifetime_max_s <= $max)' "$E2E_LOG_DIR/load-slow.json" \
  >/dev/null 2>&1; then
  pass slow-clients-closed "$(jq -c '{slow: .slow | {closed, lifetime_min_s, lifetime_max_s}, drip: .drip | {closed, lifetime_min_s, lifetime_max_s}}' "$E2E_LOG_DIR/load-slow.json")"
else
  fail slow-clients-closed "want every slow and drip client closed 4.5 to $SLOW_LIMIT_S s after its first byte: $(cat "$E2E_LOG_DIR/load-slow.json")"
fi
# Over the cap: each new connection closes the one that has waited longest.
scrapes_under_load idle --idle 300
if jq -e '.idle.opened >= 300 and .idle.answered == 0' "$E2E_LOG_DIR/load-idle.json" >/dev/null 2>&1; then
  pass idle-clients "$(jq -c '.idle' "$E2E_LOG_DIR/load-idle.json")"
else
  fail idle-clients "want 300 or more idle connections opened: $(cat "$E2E_LOG_DIR/load-idle.json")"
fi
require_daemon_alive

# --- 3. a second vsnatd on the same devices is refused ----------------------------------------
twin_log=$E2E_LOG_DIR/vsnatd-twin.log
"$VSNATD" -c "$E2E_DIR/configs/hostile-twin-1w.yaml" </dev/null >"$twin_log" 2>&1 &
twin=$!
helpers+=("$twin")
for ((i = 0; i < 300; i++)); do
  proc_alive "$twin" || break
  grep -q 'vsnatd ready' "$twin_log" && break
  sleep 0.1
done
twin_rc=running
if ! proc_alive "$twin"; then
  twin_rc=0
  wait "$twin" || twin_rc=$?
fi
last=$(tail -n 1 "$twin_log")
if [[ $twin_rc != running && $twin_rc != 0 ]] &&
  grep -qF "is held by pid $VSNATD_PID (" <<<"$last"; then
  pass twin-refused "exit $twin_rc: $last"
else
  fail twin-refused "second vsnatd: status $twin_rc; last line: $last"
fi
if [[ $twin_rc == running ]]; then
  kill -TERM "$twin"
  for ((i = 0; i < 100; i++)); do proc_alive "$twin" || break; sleep 0.1; done
  kill -KILL "$twin" 2>/dev/null || true
  wait "$twin" 2>/dev/null || true
fi
require_daemon_alive
if summary=$(all_answered 30); then
  pass twin-first-forwards "the first vsnatd: $summary"
else
  fail twin-first-forwards "the first vsnatd: $summary"
fi

# --- 4. a /metrics port held by another user ----------------------------------------------------
stop_vsnatd || true
mv "$E2E_LOG_DIR/vsnatd.log" "$E2E_LOG_DIR/vsnatd-first.log"
setpriv --reuid=nobody --regid=nogroup --clear-groups "$PY" -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1); time.sleep(60)' "${METRICS#*:}" &
holder=$!
helpers+=("$holder")
for ((i = 0; i < 50; i++)); do
  [[ -n $(ss -Hltn src "$METRICS") ]] && break
  sleep 0.1
done
if [[ -z $(ss -Hltn src "$METRICS") ]]; then
  fail held-port-holder "the holder (user nobody) does not listen on $METRICS"
  exit 1
fi
start_vsnatd "$(e2e_config hostile)"   # fails the test and exits if vsnatd does not come up
pass held-port-start "vsnatd (pid $VSNATD_PID) answers vsnatctl with $METRICS held"
if line=$(grep -F "/metrics: cannot listen on $METRICS: Address already in use; vsnatd forwards" "$VSNATD_LOG"); then
  pass held-port-logged "${line#* error }"
else
  fail held-port-logged "no 'cannot listen on $METRICS' line in $VSNATD_LOG"
fi
if summary=$(all_answered 30); then
  pass held-port-forwards "$summary"
else
  fail held-port-forwards "$summary"
fi
kill "$holder"
wait "$holder" 2>/dev/null || true
t0=$SECONDS served=0
for ((i = 0; i < 60; i++)); do
  if curl -s --max-time 1 "http://$METRICS/metrics" | grep -q '^vsnat_worker_rx_packets_total'; then
    served=1
    break
  fi
  sleep 0.1
done
if ((served)); then
  pass held-port-retry "served $((SECONDS - t0)) s after the port was freed: $(grep -o 'metrics on .*' "$VSNATD_LOG")"
else
  fail held-port-retry "/metrics not served within 6 s of the port being freed"
fi
e2e_end
