#!/usr/bin/env bash
# e2e: health checks (README.md, "Health checks"), in the lab with kernel mirrors
# (configs/kernel-*.yaml's interfaces), the probes leaving from vsnat-kernel. Each real server
# runs tests/e2e/health_server.py (HTTP :8080, UDP echo :5353), which the test stops, starts and
# makes answer 503. One vsnatd, services on VIP 198.18.0.100 (written here):
#   web :80 (http check, no sorry server), web-tcp :81 (tcp), web-exec :82 (exec: curl),
#   web-sorry :83 (rs1 only, sorry server rs2's nginx), dns UDP :5353 (udp check),
#   files-quiesce :8000 and files-drop :8001 (rs2's nginx; tcp check on port 8080).
#   - all up at start; rs1 stopped during a curl loop through :80: within fall x interval +
#     timeout + 1 s (3.5 s) no request fails any more; every check type has rs1 down, with its
#     reason; web-sorry is answered by the sorry server; rs1 back: it gets requests within
#     rise x interval + 1 s (3 s). Detection and recovery times are printed.
#   - rs2 answering 503: down on the http check ("http 503"), up on the tcp check
#   - both stopped: clients of :80 are refused at once (RST), of UDP :5353 get a port
#     unreachable; a reload keeps the servers down; vsnatctl list, --json and /metrics show it
#   - on_down: drop ends a running download when its server goes down, quiesce lets it finish
#     (sha256 checked)
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
readonly MB=100 HTTP_PORT=8080 UDP_PORT=5353
readonly DETECT_LIMIT_MS=3500 RECOVER_LIMIT_MS=3000
VSNAT_LAB_FILE_MB=$MB e2e_start "$(e2e_config kernel)"
VSNATCTL="$(dirname "$VSNATD")/vsnatctl"
readonly VSNATCTL
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# --- the real servers ---------------------------------------------------------------------
server_addr() { local v="LAB_RS$1"; echo "${!v}"; }
start_server() {  # start_server N
  local n=$1 pidfile="$E2E_LOG_DIR/rs$1.pid" i
  rm -f -- "$pidfile"
  in_rs "$n" "$PY" "$E2E_DIR/health_server.py" --bind "$(server_addr "$n")" \
    --http-port "$HTTP_PORT" --udp-port "$UDP_PORT" --name "rs$n" \
    --status-file "$E2E_LOG_DIR/rs$n.status" --pidfile "$pidfile" \
    >>"$E2E_LOG_DIR/rs$n.log" 2>&1 &
  for ((i = 0; i < 50; i++)); do
    [[ -s $pidfile ]] && return 0
    sleep 0.1
  done
  fail "server-rs$n" "health_server.py did not start: $(tail -n 3 "$E2E_LOG_DIR/rs$n.log")"
  exit 1
}
stop_server() {  # stop_server N: SIGTERM by PID, then until it is gone
  local pid i
  pid=$(<"$E2E_LOG_DIR/rs$1.pid")
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
}
set_status() { echo "$2" >"$E2E_LOG_DIR/rs$1.status"; }

# --- the configuration: the lab's interfaces and kernel side, these services ----------------
config="$E2E_LOG_DIR/health.yaml"
sed '/^services:/,$d' "$(e2e_config kernel)" >"$config"
check="interval: 1s, timeout: 500ms, rise: 2, fall: 2"
both="[{address: $LAB_RS1, port: $HTTP_PORT}, {address: $LAB_RS2, port: $HTTP_PORT}]"
cat >>"$config" <<EOF
services:
  - {name: web, protocol: tcp, vip: $LAB_VIP, port: 80, real_servers: $both,
     health_check: {type: http, path: /health, $check}}
  - {name: web-tcp, protocol: tcp, vip: $LAB_VIP, port: 81, real_servers: $both,
     health_check: {type: tcp, $check}}
  - {name: web-exec, protocol: tcp, vip: $LAB_VIP, port: 82, real_servers: $both,
     health_check: {type: exec, command: [/usr/bin/curl, -sf, -m, "0.4", "http://%address:%port/"],
                    $check}}
  - {name: web-sorry, protocol: tcp, vip: $LAB_VIP, port: 83,
     real_servers: [{address: $LAB_RS1, port: $HTTP_PORT}],
     sorry_server: {address: $LAB_RS2, port: $LAB_RS2_HTTP_PORT},
     health_check: {type: http, path: /, $check}}
  - {name: dns, protocol: udp, vip: $LAB_VIP, port: $UDP_PORT,
     real_servers: [{address: $LAB_RS1, port: $UDP_PORT}, {address: $LAB_RS2, port: $UDP_PORT}],
     health_check: {type: udp, payload: ping, $check}}
  - {name: files-quiesce, protocol: tcp, vip: $LAB_VIP, port: 8000, on_down: quiesce,
     real_servers: [{address: $LAB_RS2, port: $LAB_RS2_HTTP_PORT}],
     health_check: {type: tcp, port: $HTTP_PORT, $check}}
  - {name: files-drop, protocol: tcp, vip: $LAB_VIP, port: 8001, on_down: drop,
     real_servers: [{address: $LAB_RS2, port: $LAB_RS2_HTTP_PORT}],
     health_check: {type: tcp, port: $HTTP_PORT, $check}}
EOF
start_server 1
start_server 2
stop_vsnatd
start_vsnatd "$config"

# health SERVICE N: "up", "down: REASON" or "" for rs N of SERVICE.
health() { real_server_health "$1" "$(server_addr "$2")"; }
# wait_health SERVICE N WANT LIMIT_MS: until health says WANT (a prefix); prints the ms taken.
wait_health() {
  local t0 now got
  t0=$(now_ms)
  while :; do
    got=$(health "$1" "$2")
    now=$(now_ms)
    [[ $got == "$3"* ]] && { echo $((now - t0)); return 0; }
    ((now - t0 < $4)) || { echo "timeout ($got)"; return 1; }
    sleep 0.1
  done
}
expect_health() {  # expect_health NAME SERVICE N WANT LIMIT_MS
  local took
  if took=$(wait_health "$2" "$3" "$4" "$5"); then
    pass "$1" "$2 rs$3: $(health "$2" "$3") after $took ms"
  else
    fail "$1" "$2 rs$3: want '$4' within $5 ms, got $took"
  fi
}
body_of() { client curl -sS --max-time 2 "http://$LAB_VIP:$1/" 2>&1; }

for s in web web-tcp web-exec dns; do
  expect_health "start-$s" "$s" 1 up 5000
  expect_health "start-$s" "$s" 2 up 5000
done

# --- 1. rs1 dies during a curl loop, and comes back --------------------------------------------
loop_log="$E2E_LOG_DIR/loop.log"
request_loop() {  # request_loop SECONDS: one request every 50 ms, "MS ok BODY" or "MS err RC"
  local end=$(($(now_ms) + $1 * 1000)) rc out
  while (($(now_ms) < end)); do
    rc=0
    out=$(client curl -sS --max-time 1 "http://$LAB_VIP:80/" 2>/dev/null) || rc=$?
    if ((rc == 0)); then echo "$(now_ms) ok $out"; else echo "$(now_ms) err $rc"; fi
    sleep 0.05
  done
}
t_stop=$(now_ms)
stop_server 1
request_loop 7 >"$loop_log"
last_err=$(awk '$2 == "err" {t = $1} END {printf "%.0f\n", t}' "$loop_log")
to_rs1_after=$(awk -v t="$last_err" '$1 > t && $3 == "rs1"' "$loop_log" | wc -l)
requests=$(wc -l <"$loop_log")
errors=$(awk '$2 == "err"' "$loop_log" | wc -l)
detect_ms=$((last_err > 0 ? last_err - t_stop : 0))
if ((detect_ms <= DETECT_LIMIT_MS && to_rs1_after == 0 && requests > 20)); then
  pass detect-http "rs1 stopped: $errors of $requests requests failed, the last $detect_ms ms after the stop (limit $DETECT_LIMIT_MS ms), every one after it succeeded"
else
  fail detect-http "rs1 stopped: last failure $detect_ms ms after the stop (limit $DETECT_LIMIT_MS), $to_rs1_after requests reached rs1 after it, $requests requests ($loop_log)"
fi
expect_health down-http web 1 "down: refused" 1000
expect_health down-tcp web-tcp 1 "down: refused" 1000
expect_health down-exec web-exec 1 "down: exit 7" 1000
expect_health down-udp dns 1 "down: refused" 1000
expect_health still-up-rs2 web 2 up 100
body=$(body_of 83)
if [[ $body == "rs2 $LAB_RS2:$LAB_RS2_HTTP_PORT" ]]; then
  pass sorry-server "web-sorry, its only server down: answered by the sorry server: $body"
else
  fail sorry-server "web-sorry answered '$body', want the sorry server rs2's nginx"
fi

t_start=$(now_ms)
start_server 1
recover_ms=""
while (($(now_ms) - t_start < RECOVER_LIMIT_MS + 2000)); do
  if [[ $(body_of 80) == "rs1 "* ]]; then
    recover_ms=$(($(now_ms) - t_start))
    break
  fi
  sleep 0.05
done
if [[ -n $recover_ms ]] && ((recover_ms <= RECOVER_LIMIT_MS)); then
  pass recover-http "rs1 restarted: its first request through the VIP $recover_ms ms later (limit $RECOVER_LIMIT_MS ms)"
else
  fail recover-http "rs1 restarted: no request reached it within $((RECOVER_LIMIT_MS + 2000)) ms (limit $RECOVER_LIMIT_MS)"
fi
log "detection $detect_ms ms, recovery ${recover_ms:-?} ms (interval 1 s, timeout 500 ms, fall 2, rise 2)"
for s in web-tcp web-exec dns web-sorry; do
  expect_health "recover-$s" "$s" 1 up 3000
done
body=$(body_of 83)
if [[ $body == "rs1 "* ]]; then
  pass sorry-standby "web-sorry back on rs1: $body"
else
  fail sorry-standby "web-sorry answered '$body' with rs1 up again"
fi

# --- 2. a server that answers 503 ---------------------------------------------------------------
set_status 2 503
expect_health http-503 web 2 "down: http 503" "$DETECT_LIMIT_MS"
expect_health tcp-ignores-503 web-tcp 2 up 100
set_status 2 200
expect_health http-200-again web 2 up 4000

# --- 3. no server up: refused at once ------------------------------------------------------------
stop_server 1
stop_server 2
expect_health all-down-rs1 web 1 down "$DETECT_LIMIT_MS"
expect_health all-down-rs2 web 2 down "$DETECT_LIMIT_MS"
t0=$(now_ms)
rc=0
out=$(client curl -sS --max-time 5 "http://$LAB_VIP:80/" 2>&1) || rc=$?
took=$(($(now_ms) - t0))
if ((rc == 7 && took < 1000)); then
  pass refused-tcp "curl to :80 with no server up: refused in $took ms ($out)"
else
  fail refused-tcp "curl to :80 with no server up: exit $rc after $took ms (want 7, refused, at once): $out"
fi
expect_health all-down-dns dns 2 down "$DETECT_LIMIT_MS"
udp=$(client "$PY" -c '
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.connect((sys.argv[1], int(sys.argv[2])))
t0 = time.monotonic()
s.send(b"hello")
try:
    print("answered", s.recv(100))
except ConnectionRefusedError:
    print("refused in %d ms" % ((time.monotonic() - t0) * 1000))
except socket.timeout:
    print("no answer")
' "$LAB_VIP" "$UDP_PORT" 2>&1)
if [[ $udp == "refused in "* ]]; then
  pass refused-udp "UDP :$UDP_PORT with no server up: $udp"
else
  fail refused-udp "UDP :$UDP_PORT with no server up: $udp"
fi
rc=0
out=$("$VSNATCTL" --prefix "$E2E_PREFIX" reload 2>&1) || rc=$?
if ((rc == 0)) && [[ $(health web 1) == down* && $(health web 2) == down* ]]; then
  pass reload-keeps-state "a reload of the same file: web's servers still down ($(health web 1))"
else
  fail reload-keeps-state "reload exit $rc ($out): web rs1 '$(health web 1)', rs2 '$(health web 2)'"
fi
list=$("$VSNATCTL" --prefix "$E2E_PREFIX" list 2>&1)
echo "$list" >"$E2E_LOG_DIR/list-all-down.txt"
metrics=$(curl -sS --max-time 5 http://127.0.0.1:9640/metrics 2>&1 || true)
up_zero=$(grep -c '^vsnat_real_server_up{service="web",.*} 0$' <<<"$metrics" || true)
if grep -q "$LAB_RS1:$HTTP_PORT .* down: refused" <<<"$list" && ((up_zero == 2)); then
  pass operator-view "vsnatctl list: $(grep "$LAB_RS1:$HTTP_PORT" <<<"$list" | head -n 1 | xargs); /metrics: vsnat_real_server_up 0 for both of web"
else
  fail operator-view "vsnatctl list or /metrics do not show the servers down: $list; $up_zero web servers with vsnat_real_server_up 0"
fi
start_server 1
start_server 2
expect_health all-up-again-rs1 web 1 up 4000
expect_health all-up-again-rs2 web 2 up 4000

# --- 4. on_down: drop ends a download at once, quiesce lets it finish ------------------------------
expect_health files-up files-drop 2 up 3000
download() {  # download PORT NAME: 100 MB at 10 MB/s, given up after 3 s without data
  local rc=0
  client curl -sS --limit-rate 10M --speed-limit 1 --speed-time 3 --max-time 30 \
    -o "$E2E_LOG_DIR/$2.bin" "http://$LAB_VIP:$1/files/${MB}M.bin" 2>"$E2E_LOG_DIR/$2.err" || rc=$?
  echo "$rc" >"$E2E_LOG_DIR/$2.rc"
}
download 8000 quiesce &
quiesce_pid=$!
download 8001 drop &
drop_pid=$!
sleep 1.5
stop_server 2
expect_health files-down files-drop 2 down "$DETECT_LIMIT_MS"
wait "$quiesce_pid" "$drop_pid" || true
want=$(sha256sum <"$LAB_FILES_DIR/${MB}M.bin" | cut -d' ' -f1)
got=$(sha256sum <"$E2E_LOG_DIR/quiesce.bin" | cut -d' ' -f1)
if [[ $(<"$E2E_LOG_DIR/quiesce.rc") == 0 && $got == "$want" ]]; then
  pass on-down-quiesce "the download through files-quiesce finished after its server went down, sha256 ok"
else
  fail on-down-quiesce "files-quiesce download: curl exit $(<"$E2E_LOG_DIR/quiesce.rc"), sha256 $got (want $want): $(<"$E2E_LOG_DIR/quiesce.err")"
fi
drop_bytes=$(stat -c %s "$E2E_LOG_DIR/drop.bin" 2>/dev/null || echo 0)
if [[ $(<"$E2E_LOG_DIR/drop.rc") != 0 ]] && ((drop_bytes < MB * 1048576)); then
  pass on-down-drop "the download through files-drop ended when its server went down: $drop_bytes of $((MB * 1048576)) bytes, curl exit $(<"$E2E_LOG_DIR/drop.rc")"
else
  fail on-down-drop "files-drop download: curl exit $(<"$E2E_LOG_DIR/drop.rc"), $drop_bytes bytes (want it cut short)"
fi
rm -f -- "$E2E_LOG_DIR"/*.bin
e2e_end
