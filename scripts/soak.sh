#!/usr/bin/env bash
# scripts/soak.sh — vsnatd under mixed traffic for a long while, in the namespace lab.
#
#   sudo scripts/soak.sh [--minutes M] [--interval S] [--workers 1|2]   (default 10 min, 10 s, 1)
#
# Brings up the lab and vsnatd (tests/e2e/configs/soak-<N>w.yaml: the lab's services with short
# timeouts) through tests/e2e/lib.sh, so cleanup is the e2e suite's (vsnatd stopped by PID, lab
# down, also when killed). Then, all bounded by the deadline, from the client namespace:
#   - wrk, 8 keep-alive connections, the whole time;
#   - a new HTTP connection every 50 ms (curl), each reply checked;
#   - a UDP datagram to VIP:53 every 50 ms from a new socket, each echo checked; as a DNS
#     client does, a datagram unanswered for 1 s is sent once more (counted as "lost"), and
#     only one unanswered twice is an error;
#   - an FTP download of the lab's 10 MB file every 3 s, passive and active in turn, sha256
#     checked.
# Every S seconds it prints vsnatd's resident memory, the table fill and the counters. After
# the traffic it waits (at most 3 minutes) for the table to empty by the timeouts. The verdict:
# memory flat after warm-up (the first fifth of the run), the table back to zero, zero errors.
# Not part of CI (too long); run it and quote it.
set -Eeuo pipefail

MINUTES=10 INTERVAL=10 workers=1
while (($#)); do
  case $1 in
    --minutes) MINUTES=$2; shift ;;
    --interval) INTERVAL=$2; shift ;;
    --workers) workers=$2; shift ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "soak: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if ! [[ $MINUTES =~ ^[0-9]+$ ]] || ((MINUTES < 1 || MINUTES > 240)); then
  echo "soak: --minutes 1..240" >&2
  exit 2
fi
if ! [[ $INTERVAL =~ ^[0-9]+$ ]] || ((INTERVAL < 1 || INTERVAL > 300)); then
  echo "soak: --interval 1..300" >&2
  exit 2
fi

# shellcheck source=SCRIPTDIR/../tests/e2e/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/../tests/e2e/lib.sh"
e2e_parse_args --workers "$workers"
e2e_require_root
e2e_start "$(e2e_config soak)"

readonly DURATION=$((MINUTES * 60))
readonly DEADLINE=$((SECONDS + DURATION))
readonly OUT="$E2E_LOG_DIR/traffic"
mkdir -p "$OUT"
ftp_want=$(cut -d' ' -f1 "$LAB_FTP_ROOT/$LAB_FTP_FILE.sha256")

# Each generator appends "ok" or "error <why>" lines to its file in $OUT.
http_loop() {
  while ((SECONDS < DEADLINE)); do
    if reply=$(client curl -s --max-time 2 "http://$LAB_VIP/") && [[ $reply == rs* ]]; then
      echo ok
    else
      echo "error curl: '${reply:-}'"
    fi
    sleep 0.05
  done >"$OUT/http.log"
}

udp_loop() {
  client "$PY" - "$LAB_VIP" "$LAB_UDP_PORT" "$((DEADLINE - SECONDS))" >"$OUT/udp.log" <<'EOF'
import socket, sys, time
vip, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
end = time.monotonic() + seconds
n = 0
while time.monotonic() < end:
    n += 1
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a new source port: a new connection
    s.settimeout(1.0)
    payload = f"soak {n}".encode()
    for attempt in (1, 2):
        try:
            s.sendto(payload, (vip, port))
            data, _ = s.recvfrom(2048)
            print("ok" if data.endswith(payload) else f"error echo {data[:40]!r}")
            break
        except socket.timeout:
            print("lost" if attempt == 1 else "error no answer to a datagram sent twice")
        except OSError as e:
            print(f"error {e}")
            break
    s.close()
    time.sleep(0.05)
EOF
}

ftp_loop() {
  local i=0 mode got
  while ((SECONDS < DEADLINE - 5)); do
    mode=$( ((i++ % 2 == 0)) && echo "--ftp-pasv --disable-epsv" || echo "-P - --disable-eprt")
    # shellcheck disable=SC2086  # two flags on purpose
    got=$(set -o pipefail; client curl -sS --max-time 20 $mode "ftp://$LAB_VIP/$LAB_FTP_FILE" 2>/dev/null |
      sha256sum | cut -d' ' -f1) || true
    if [[ $got == "$ftp_want" ]]; then echo ok; else echo "error ftp $mode: sha256 '$got'"; fi
    sleep 3
  done >"$OUT/ftp.log"
}

count() { grep -c "^$1" "$OUT/$2.log" 2>/dev/null || true; }
rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$VSNATD_PID/status"; }

# sample LABEL: one line of figures; sets SAMPLE_RSS and SAMPLE_CONNS.
sample() {
  local stats
  stats=$(telemetry /vsnat/stats) || stats='{}'
  SAMPLE_RSS=$(rss_kib)
  SAMPLE_CONNS=$(jq -r '.connections // "?"' <<<"$stats")
  local rx drops missed=0 port
  rx=$(jq -r '[.workers[]?.rx_packets] | add // 0' <<<"$stats")
  # What the ports lost before a worker saw it (their RX rings full): not in vsnat's drops.
  for port in $(telemetry /ethdev/list | jq -r '.[]'); do
    missed=$((missed + $(telemetry "/ethdev/stats,$port" | jq -r '.imissed // 0')))
  done
  drops=$(jq -c '[.workers[]?.drops | to_entries[] | select(.value > 0)] | group_by(.key)
    | map({(.[0].key): (map(.value) | add)}) | add // {}' <<<"$stats")
  printf '%-8s rss %7.1f MiB  connections %7s  rx %11s  missed %5s  http %6s/%s  udp %6s/%s (lost %s)  ftp %4s/%s  drops %s\n' \
    "$1" "$(awk -v k="$SAMPLE_RSS" 'BEGIN{print k / 1024}')" "$SAMPLE_CONNS" "$rx" "$missed" \
    "$(count ok http)" "$(count error http)" "$(count ok udp)" "$(count error udp)" "$(count lost udp)" \
    "$(count ok ftp)" "$(count error ftp)" "$drops"
}

log "soak: $MINUTES min of HTTP (wrk keep-alive + new connections), UDP and FTP; a sample every $INTERVAL s"
client wrk -t1 -c8 -d"${DURATION}s" "http://$LAB_VIP/" >"$OUT/wrk.log" 2>&1 &
wrk_pid=$!
http_loop &
http_pid=$!
udp_loop &
udp_pid=$!
ftp_loop &
ftp_pid=$!
# Stopped with everything else when the soak ends early (Ctrl-C, a dead daemon); e2e_on_exit
# reads the exit status from $?, so it is passed on.
stop_generators() { kill -TERM "$wrk_pid" "$http_pid" "$udp_pid" "$ftp_pid" 2>/dev/null || true; }
# shellcheck disable=SC2154  # rc is set inside the trap
trap 'rc=$?; stop_generators; (exit "$rc"); e2e_on_exit' EXIT

t0=$SECONDS
warm_rss="" max_rss=0
while ((SECONDS < DEADLINE)); do
  sleep "$INTERVAL"
  sample "$((SECONDS - t0))s"
  require_daemon_alive
  ((SAMPLE_RSS > max_rss)) && max_rss=$SAMPLE_RSS
  if [[ -z $warm_rss ]] && ((SECONDS - t0 >= DURATION / 5)); then warm_rss=$SAMPLE_RSS; fi
done
end_rss=$SAMPLE_RSS
wait "$wrk_pid" "$http_pid" "$udp_pid" "$ftp_pid" || true
log "wrk: $(grep -E 'Requests/sec|requests in|Socket errors|Non-2xx' "$OUT/wrk.log" | tr -s ' ' | paste -sd ';')"

# The table empties by the soak config's timeouts (established 60 s, UDP 30 s, TIME_WAIT 10 s).
drain_t0=$SECONDS
while ((SECONDS - drain_t0 < 180)); do
  sleep "$INTERVAL"
  sample "+$((SECONDS - drain_t0))s"
  [[ $SAMPLE_CONNS == 0 ]] && break
done
require_daemon_alive

errors=$(($(count error http) + $(count error udp) + $(count error ftp)))
wrk_errors=$(grep -cE 'Socket errors|Non-2xx' "$OUT/wrk.log" || true)
growth=$(((end_rss - warm_rss) / 1024))
if ((errors == 0 && wrk_errors == 0)); then
  pass traffic "http $(count ok http), udp $(count ok udp) ($(count lost udp) answered on the second try), ftp $(count ok ftp) ok; wrk without errors"
else
  fail traffic "$errors generator errors (first: $(cat "$OUT"/*.log | grep -m1 '^error' || true)), wrk error lines $wrk_errors"
fi
# Flat: within 2 MiB of the warm-up sample (mbuf pools and tables are allocated at start).
if ((end_rss - warm_rss <= 2048)); then
  pass memory "rss $((warm_rss / 1024)) MiB after warm-up, $((end_rss / 1024)) MiB at the end (max $((max_rss / 1024)) MiB): ${growth} MiB growth"
else
  fail memory "rss grew from $((warm_rss / 1024)) MiB to $((end_rss / 1024)) MiB after warm-up"
fi
if [[ $SAMPLE_CONNS == 0 ]]; then
  pass table "back to zero connections $((SECONDS - drain_t0)) s after the traffic stopped"
else
  fail table "$SAMPLE_CONNS connections left 180 s after the traffic stopped"
fi
e2e_end
