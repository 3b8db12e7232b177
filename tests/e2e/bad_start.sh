#!/usr/bin/env bash
# e2e 11: a bad start fails fast and clearly. With a valid config whose devices do not exist
# (configs/missing-device.yaml; hugepages are reserved, so the device is the only problem),
# vsnatd exits non-zero within 30 s without printing "vsnatd ready", and says something.
# No lab: the interfaces it names exist nowhere.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_require_root
kernel_mode && skip "needs vsnatd itself"
e2e_require_daemon
e2e_logdir
"$HUGEPAGES_SH" | sed 's/^/  /'

t0=$(date +%s%N)
rc=0
timeout 30 "$VSNATD" -c "$E2E_DIR/configs/missing-device.yaml" </dev/null >"$E2E_LOG_DIR/vsnatd.log" 2>&1 || rc=$?
ms=$((($(date +%s%N) - t0) / 1000000))
last=$(grep -v '^[[:space:]]*$' "$E2E_LOG_DIR/vsnatd.log" | tail -n 1)
if ((rc == 124)); then
  fail missing-device "still running after 30 s (killed); last line: $last"
elif ((rc == 0 || rc > 128)); then
  fail missing-device "exit status $rc after $ms ms (want a non-zero exit, not a signal); last line: $last"
elif grep -q 'vsnatd ready' "$E2E_LOG_DIR/vsnatd.log"; then
  fail missing-device "printed 'vsnatd ready' with no devices, then exit $rc"
elif [[ -z $last ]]; then
  fail missing-device "exit $rc after $ms ms without a word"
else
  pass missing-device "exit $rc after $ms ms; last line: $last"
fi
e2e_end
