#!/usr/bin/env bash
# e2e 7: 10 s of concurrent load: wrk -t2 -c50 (keepalive connections) on VIP:80. Zero socket
# errors (connect, read, write, timeout) and zero non-2xx answers; requests/s printed. Then a
# round of 5 s with a new connection per request (Connection: close), which stresses connection
# setup and teardown instead; the same rules apply. That round opens around 100k connections,
# which stay in the table in TIME_WAIT: the e2e configs size max_connections for it.
# wrk does not count a request that never completes (a stalled director shows as a lower rate,
# not as errors), so during each round a probe opens one new connection every second (curl,
# --max-time 3, like wrk's --timeout 2s plus room for a busy two-core machine): every probe
# must be answered too.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
e2e_start "$(e2e_config vsnat)"

# wrk_round NAME SECONDS [wrk args...]
wrk_round() {
  local name=$1 secs=$2 out rps reqs lat
  shift 2
  local probes=$secs probe_log="$E2E_LOG_DIR/$name-probe.txt"
  # (ip netns exec, not the client function: $! must be the probe loop itself.)
  # shellcheck disable=SC2016  # $1 and $2 belong to the inner bash
  ip netns exec "$LAB_NS_CLIENT" bash -c 'for ((i = 0; i < $1; i++)); do
      curl -s -o /dev/null --max-time 3 -w "%{http_code} %{time_total}\n" "$2" || true; sleep 1; done' \
    probe "$probes" "http://$LAB_VIP/" >"$probe_log" 2>&1 &
  local probe_pid=$!
  out=$(client timeout $((secs + 20)) wrk -t2 -c50 -d"${secs}s" --timeout 2s "$@" "http://$LAB_VIP/" 2>&1) || true
  echo "$out" >"$E2E_LOG_DIR/$name.txt"
  wait "$probe_pid" || true
  local probe_ok probe_bad
  probe_ok=$(grep -c '^200 ' "$probe_log" || true)
  probe_bad=$(($(grep -c . "$probe_log" || true) - probe_ok))
  rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
  reqs=$(awk '/requests in/{print $1}' <<<"$out")
  lat=$(awk '$1 == "Latency" {print "latency avg " $2 ", max " $4}' <<<"$out")
  if [[ -n $rps && ${reqs:-0} -gt 0 ]] && ! grep -qE 'Socket errors|Non-2xx' <<<"$out" &&
    ((probe_ok > 0 && probe_bad == 0)); then
    pass "$name" "-t2 -c50 -d${secs}s $*: $reqs requests, $rps req/s, $lat, 0 errors; probes $probe_ok/$probe_ok"
  else
    fail "$name" "$(grep -E 'requests in|Requests/sec|Socket errors|Non-2xx' <<<"$out" | xargs) ${rps:-no result}; probes: $probe_ok answered, $probe_bad failed; see $E2E_LOG_DIR/$name.txt"
  fi
  require_daemon_alive
}

wrk_round wrk-keepalive 10
wrk_round wrk-close 5 -H "Connection: close"
e2e_end
