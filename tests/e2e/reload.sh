#!/usr/bin/env bash
# e2e for reloads (issue 5): wrk (50 connections, a new one per request) runs while the config
# is reloaded 20 times (weights shifted, a real server removed and added back, a service added),
# alternately by SIGHUP and `vsnatctl reload`: zero failed requests, every reload applied, and
# the last weights (3 : 1) show exactly in the next 300 connections. Then a broken file under
# load: `vsnatctl reload` exits 1 with the FILE:LINE:COL line, no request fails, and the old
# weights stay in force. Last, a file that removes every service, during a download: applied,
# the download (an established connection, `drain: finish`) completes intact, new connections
# fail; the original file back, they work again.
# --ipv6: the same through the IPv6 VIP (the dual-stack config, web6's servers changed alike).
E2E_IPV6_TEST=1
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
kernel_mode && skip "the kernel director has no reload"
((E2E_WORKERS == 1)) || skip "exact proportions need one worker (--workers 1)"
BASE=$(e2e_config vsnat)
readonly BASE
# The file vsnatd runs with, rewritten between reloads (outside the log dir e2e_start empties).
readonly RUNNING="${VSNAT_E2E_LOG_DIR:-/tmp/vsnat-e2e}/reload-running.yaml"
mkdir -p "$(dirname "$RUNNING")"
cp "$BASE" "$RUNNING"
VSNAT_LAB_FILE_MB=20 e2e_start "$RUNNING"
VSNATCTL="$(dirname "$VSNATD")/vsnatctl"
readonly VSNATCTL

# variant N: the base config with web's weights and membership changed; written in place.
variant() {
  local rs1=' weight: 1}' rs2=' weight: 2}'
  case $1 in
    0) cp "$BASE" "$RUNNING" ;;
    1) sed -e "s/port: 80,$rs1/port: 80, weight: 3}/" -e "s/port: 8000,$rs2/port: 8000, weight: 1}/" "$BASE" >"$RUNNING" ;;
    2) { sed -e "/$E2E_RS2, port: 8000/d" "$BASE"
         printf '  - name: web2\n    protocol: tcp\n    vip: %s\n    port: 81\n' "$E2E_VIP"
         printf '    real_servers: [{address: %s, port: 80}, {address: %s, port: 8000}]\n' \
           "$E2E_RS1" "$E2E_RS2"
       } >"$RUNNING" ;;
    3) sed -e "s/port: 8000,$rs2/port: 8000, weight: 1}/" "$BASE" >"$RUNNING" ;;
  esac
}

# wrk in the background for $1 seconds, new connection per request; result in $E2E_LOG_DIR/$2.
start_wrk() {
  client timeout $(($1 + 20)) wrk -t2 -c50 -d"${1}s" --timeout 2s -H "Connection: close" \
    "http://$E2E_VIP_URL/" >"$E2E_LOG_DIR/$2" 2>&1 &
  WRK_PID=$!
}
wrk_verdict() {
  local name=$1 out
  wait "$WRK_PID" || true
  out=$(cat "$E2E_LOG_DIR/$2")
  local reqs rps
  reqs=$(awk '/requests in/{print $1}' <<<"$out")
  rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
  if [[ ${reqs:-0} -gt 0 ]] && ! grep -qE 'Socket errors|Non-2xx' <<<"$out"; then
    pass "$name" "$reqs requests ($rps req/s), 0 errors"
  else
    fail "$name" "$(grep -E 'requests in|Socket errors|Non-2xx' <<<"$out" | xargs) (see $E2E_LOG_DIR/$2)"
  fi
}
reloads_applied() {
  "$PY" "$TELEMETRY_PY" /vsnat/stats --prefix "$E2E_PREFIX" --raw |
    "$PY" -c 'import json, sys; print(json.load(sys.stdin)["reloads_applied"])'
}
count_servers() { http_sequential "$1" | awk '{print $4}' | sort | uniq -c | xargs; }

start_wrk 14 wrk-reloads.txt
sleep 1
applied=0
for ((i = 1; i <= 20; i++)); do
  variant $((i % 4))
  if ((i % 2)); then
    "$VSNATCTL" --prefix "$E2E_PREFIX" reload >>"$E2E_LOG_DIR/reloads.txt" 2>&1 && applied=$((applied + 1))
  else
    before=$(reloads_applied)
    kill -HUP "$VSNATD_PID"
    for ((t = 0; t < 50; t++)); do
      (($(reloads_applied) > before)) && { applied=$((applied + 1)); break; }
      sleep 0.1
    done
  fi
  sleep 0.4
done
wrk_verdict wrk-during-20-reloads wrk-reloads.txt
if ((applied == 20)); then
  pass reloads-applied "20 of 20"
else
  fail reloads-applied "$applied of 20 (see $E2E_LOG_DIR/reloads.txt)"
fi

# The last variant written (20 % 4 == 0) is the base; make the 3 : 1 weights current.
variant 1
"$VSNATCTL" --prefix "$E2E_PREFIX" reload >/dev/null
seen=$(count_servers 300)
if [[ $seen == "225 rs1 75 rs2" ]]; then
  pass new-weights "300 connections after the reloads: $seen (weights 3 : 1)"
else
  fail new-weights "300 connections after the reloads: $seen (want 225 rs1, 75 rs2)"
fi

# A broken file under load: refused with its position, nothing lost, old weights kept.
printf 'services: [\n' >>"$RUNNING"
start_wrk 4 wrk-broken.txt
sleep 1
rc=0
msg=$("$VSNATCTL" --prefix "$E2E_PREFIX" reload 2>&1) || rc=$?
if ((rc == 1)) && grep -qE "^$RUNNING:[0-9]+:[0-9]+: " <<<"$msg"; then
  pass broken-reload-refused "exit 1: $msg"
else
  fail broken-reload-refused "exit $rc: $msg"
fi
wrk_verdict wrk-during-broken-reload wrk-broken.txt
seen=$(count_servers 40)
if [[ $seen == "30 rs1 10 rs2" ]]; then
  pass old-config-kept "40 connections: $seen"
else
  fail old-config-kept "40 connections: $seen (want 30 rs1 10 rs2)"
fi

# Every service removed while a download runs (about 5 s at 4 MiB/s).
variant 0
"$VSNATCTL" --prefix "$E2E_PREFIX" reload >/dev/null
want=$(cut -d' ' -f1 "$LAB_FILES_DIR/20M.bin.sha256")
(client curl -sS -g "-$E2E_FAMILY" --max-time 60 --limit-rate 4M "http://$E2E_VIP_URL/files/20M.bin" | sha256sum |
  cut -d' ' -f1 >"$E2E_LOG_DIR/during-removal.sha256") 2>"$E2E_LOG_DIR/during-removal.err" &
download_pid=$!
sleep 1
{ sed '/^services:/,$d' "$BASE"; echo 'services: []'; } >"$RUNNING"
rc=0
msg=$("$VSNATCTL" --prefix "$E2E_PREFIX" reload 2>&1) || rc=$?
if ((rc == 0)); then
  pass remove-all-applied "services: [] applied"
else
  fail remove-all-applied "exit $rc: $msg"
fi
if client curl -s -g "-$E2E_FAMILY" --max-time 2 -o /dev/null "http://$E2E_VIP_URL/"; then
  fail remove-all-new "a new connection was served with no service configured"
else
  pass remove-all-new "new connections fail with no service"
fi
wait "$download_pid" || true
got=$(cat "$E2E_LOG_DIR/during-removal.sha256")
if [[ $got == "$want" ]]; then
  pass remove-all-established "the download begun before the removal completed, sha256 ok"
else
  fail remove-all-established "sha256 '$got', want $want ($(head -c 200 "$E2E_LOG_DIR/during-removal.err"))"
fi
variant 0
"$VSNATCTL" --prefix "$E2E_PREFIX" reload >/dev/null
seen=$(count_servers 30)
if [[ $seen == "10 rs1 20 rs2" ]]; then
  pass restored "30 connections after restoring the file: $seen"
else
  fail restored "30 connections after restoring the file: $seen (want 10 rs1 20 rs2)"
fi
require_daemon_alive
e2e_end
