#!/usr/bin/env bash
# e2e 1: 300 sequential HTTP connections to VIP:80 (wrr, weights rs1 1 : rs2 2).
#   --workers 1: exactly 100 to rs1 and 200 to rs2 (LVS wrr is deterministic);
#   --workers 2: each worker schedules its own share, so within 5 % of 1:2 (rs1 100 +- 5).
# Zero errors either way, and every answer is one of the two real servers' own lines.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
e2e_start "$(e2e_config vsnat)"

readonly N=300
t0=$(date +%s.%N)
out=$(http_sequential "$N")
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')
rs1=$(grep -c "^ok [^ ]* [^ ]* rs1 $LAB_RS1:$LAB_RS1_HTTP_PORT\$" <<<"$out" || true)
rs2=$(grep -c "^ok [^ ]* [^ ]* rs2 $LAB_RS2:$LAB_RS2_HTTP_PORT\$" <<<"$out" || true)
errors=$(grep -c '^err' <<<"$out" || true)
other=$(($(wc -l <<<"$out") - rs1 - rs2 - errors))
detail="$N requests in ${secs} s: rs1 $rs1, rs2 $rs2, errors $errors, other $other"
((errors == 0)) || detail+="; first error: $(grep -m1 '^err' <<<"$out")"

if ((errors != 0 || other != 0 || rs1 + rs2 != N)); then
  fail http-wrr "$detail"
elif kernel_mode || ((E2E_WORKERS == 1)); then
  if ((rs1 == N / 3 && rs2 == 2 * N / 3)); then pass http-wrr "$detail (exactly 1:2)"; else fail http-wrr "$detail (want exactly $((N / 3)) : $((2 * N / 3)))"; fi
else
  # Within 5 %: rs1's count within 5 % of its expected N/3.
  lo=$((N / 3 - N / 60)) hi=$((N / 3 + N / 60))
  if ((rs1 >= lo && rs1 <= hi)); then pass http-wrr "$detail (rs1 in $lo..$hi)"; else fail http-wrr "$detail (want rs1 in $lo..$hi)"; fi
fi
e2e_end
