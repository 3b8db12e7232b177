#!/usr/bin/env bash
# e2e 6: a 100 MB download through the director arrives intact (sha256), twice: two sequential
# connections, which wrr 1:2 sends to different real servers (rs2's port 8000 and rs1's 80).
# --ipv6: the same through the IPv6 VIP, http://[2001:2:0:18::100]/files/100M.bin.
E2E_IPV6_TEST=1
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
readonly MB=100
VSNAT_LAB_FILE_MB=$MB e2e_start "$(e2e_config vsnat)"

want=$(cut -d' ' -f1 "$LAB_FILES_DIR/${MB}M.bin.sha256")
for i in 1 2; do
  t0=$(date +%s%N)
  rc=0
  got=$(set -o pipefail; client curl -sS -g "-$E2E_IP" --max-time 60 "http://$E2E_VIP_URL/files/${MB}M.bin" |
    sha256sum | cut -d' ' -f1) || rc=$?
  ms=$((($(date +%s%N) - t0) / 1000000))
  rate=$(awk -v mb="$MB" -v ms="$ms" 'BEGIN{printf "%.0f", mb * 8 * 1.048576 / (ms / 1000)}')
  if ((rc == 0)) && [[ $got == "$want" ]]; then
    pass "download-$i" "${MB}M.bin sha256 ok in $ms ms ($rate Mbit/s)"
  else
    fail "download-$i" "${MB}M.bin: curl/pipe status $rc after $ms ms, sha256 $got, want $want"
  fi
  require_daemon_alive
done
e2e_end
