#!/usr/bin/env bash
# e2e 11: a bad start fails fast and clearly. With a valid config whose devices do not exist
# (configs/missing-device.yaml; hugepages are reserved, so the device is the only problem),
# vsnatd exits non-zero within 30 s without printing "vsnatd ready", and says something. The
# same when the last step fails, after the workers run (configs/metrics-busy.yaml: null ports,
# its /metrics address held by the test): the launched workers are stopped and everything
# released, no crash. And a second vsnatd on the file prefix of one that runs
# (configs/second-instance.yaml): it says the prefix is in use by that vsnatd's PID (not EAL's
# "Success"), and the first one still answers and stops cleanly. No lab: the interfaces are ones
# that exist nowhere, or null ports.
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
# The test holds the /metrics address, bounded in time; vsnatd gets there after its workers run.
"$PY" -c 'import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", 9649)); s.listen(1); time.sleep(40)' &
holder=$!
sleep 0.5
bad_start metrics-busy "$E2E_DIR/configs/metrics-busy.yaml" 'cannot listen on 127.0.0.1:9649'
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null || true
if grep -q 'worker 1 on lcore' "$E2E_LOG_DIR/vsnatd-metrics-busy.log"; then
  pass metrics-busy-late "the failure came after both workers were launched"
else
  fail metrics-busy-late "the workers were not launched before the failure: $(tail -n 3 "$E2E_LOG_DIR/vsnatd-metrics-busy.log")"
fi

trap e2e_on_exit EXIT  # stops the first vsnatd, whatever happens
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
