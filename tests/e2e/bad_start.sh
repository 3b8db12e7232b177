#!/usr/bin/env bash
# e2e 11: a bad start fails fast and clearly. With a valid config whose devices do not exist
# (configs/missing-device.yaml; hugepages are reserved, so the device is the only problem),
# vsnatd exits non-zero within 30 s without printing "vsnatd ready", and says something.
# A /metrics address another user holds is no reason to fail (configs/metrics-busy.yaml: null
# ports, the address held by `nobody`): vsnatd comes up, its workers poll their ports, it logs
# why /metrics is missing, and it takes the address within one retry (5 s) once it is free.
# And a second vsnatd on the file prefix of one that runs (configs/second-instance.yaml): it
# says the prefix is in use by that vsnatd's PID (not EAL's "Success"), and the first one still
# answers and stops cleanly. No lab: the interfaces are ones that exist nowhere, or null ports.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_require_root
kernel_mode && skip "needs vsnatd itself"
e2e_require_daemon
e2e_logdir
"$HUGEPAGES_SH" | sed 's/^/  /'

# bad_start NAME CONFIG WANT: vsnatd -c CONFIG must exit non-zero (not by a signal) within 30 s,
# without "vsnatd ready", its last line saying something that matches WANT.
bad_start() {
  local name=$1 config=$2 want=$3 t0 rc=0 ms last log="$E2E_LOG_DIR/vsnatd-$1.log"
  t0=$(date +%s%N)
  timeout 30 "$VSNATD" -c "$config" </dev/null >"$log" 2>&1 || rc=$?
  ms=$((($(date +%s%N) - t0) / 1000000))
  last=$(grep -v '^[[:space:]]*$' "$log" | tail -n 1)
  if ((rc == 124)); then
    fail "$name" "still running after 30 s (killed); last line: $last"
  elif ((rc == 0 || rc > 128)); then
    fail "$name" "exit status $rc after $ms ms (want a non-zero exit, not a signal); last line: $last"
  elif grep -q 'vsnatd ready' "$log"; then
    fail "$name" "printed 'vsnatd ready', then exit $rc"
  elif ! grep -qE "$want" <<<"$last"; then
    fail "$name" "exit $rc after $ms ms; last line '$last' does not say /$want/"
  else
    pass "$name" "exit $rc after $ms ms; last line: $last"
  fi
}

bad_start missing-device "$E2E_DIR/configs/missing-device.yaml" 'not found|interface'

# The holder: an unprivileged process on the /metrics address, bounded in time (60 s).
holder=""
cleanup() {
  local rc=$?
  [[ -z $holder ]] || kill "$holder" 2>/dev/null || true
  (exit "$rc")
  e2e_on_exit
}
trap cleanup EXIT
setpriv --reuid=nobody --regid=nogroup --clear-groups "$PY" -c 'import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 9649)); s.listen(1); time.sleep(60)' &
holder=$!
for ((i = 0; i < 50; i++)); do
  [[ -n $(ss -Hltn src 127.0.0.1:9649) ]] && break
  sleep 0.1
done
if [[ -z $(ss -Hltn src 127.0.0.1:9649) ]]; then
  fail metrics-busy-holder "the holder (user nobody) does not listen on 127.0.0.1:9649"
  exit 1
fi

rc=0
vsnatd_start "$VSNATD" "$E2E_DIR/configs/metrics-busy.yaml" "$E2E_LOG_DIR/vsnatd-metrics-busy.log" \
  vsnat-e2e-busy 30 || rc=$?
log_file=$E2E_LOG_DIR/vsnatd-metrics-busy.log
case $rc in
  0) pass metrics-busy-start "vsnatd answers vsnatctl with its /metrics address held" ;;
  1) fail metrics-busy-start "vsnatd exited, status $VSNATD_EXIT: $(tail -n 1 "$log_file")" ;;
  *) fail metrics-busy-start "vsnatd did not answer vsnatctl within 30 s" ;;
esac
if ((rc == 0)); then
  want='/metrics: cannot listen on 127.0.0.1:9649: Address already in use; vsnatd forwards without /metrics'
  if line=$(grep -F "$want" "$log_file"); then
    pass metrics-busy-logged "${line#* error }"
  else
    fail metrics-busy-logged "no line saying '$want' in $log_file"
  fi
  # The workers poll their null ports, which always have packets: rx_packets keeps rising.
  rx() { "$PY" "$TELEMETRY_PY" /vsnat/stats --prefix vsnat-e2e-busy | jq '[.workers[].rx_packets] | add'; }
  rx1=$(rx)
  sleep 0.5
  rx2=$(rx)
  if ((rx2 > rx1 && rx1 > 0)); then
    pass metrics-busy-workers "both workers run: rx_packets $rx1, then $rx2"
  else
    fail metrics-busy-workers "rx_packets $rx1, then $rx2"
  fi
  kill "$holder"
  wait "$holder" 2>/dev/null || true
  holder=""
  t0=$SECONDS served=0
  for ((i = 0; i < 80; i++)); do
    if curl -s --max-time 1 http://127.0.0.1:9649/metrics | grep -q '^vsnat_worker_rx_packets_total'; then
      served=1
      break
    fi
    sleep 0.1
  done
  if ((served)); then
    pass metrics-busy-retry "/metrics served $((SECONDS - t0)) s after the address was freed: $(grep -o 'metrics on .*' "$log_file")"
  else
    fail metrics-busy-retry "/metrics not served 8 s after the address was freed"
  fi
fi
stop_vsnatd || true

start_vsnatd "$E2E_DIR/configs/second-instance.yaml"
bad_start second-instance "$E2E_DIR/configs/second-instance.yaml" \
  "file prefix 'vsnat-e2e' is in use by another DPDK process \\(pid $VSNATD_PID holds /var/run/dpdk/vsnat-e2e/config\\)"
if out=$(timeout 10 "$(dirname "$VSNATD")/vsnatctl" --prefix "$E2E_PREFIX" stats 2>&1); then
  pass second-instance-harmless "the first vsnatd (pid $VSNATD_PID) still answers: $(head -n 1 <<<"$out")"
else
  fail second-instance-harmless "the first vsnatd no longer answers: $out"
fi
stop_vsnatd || true
e2e_end
