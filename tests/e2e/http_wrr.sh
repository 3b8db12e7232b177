#!/usr/bin/env bash
# e2e 1: 300 sequential HTTP connections to VIP:80 (wrr, weights rs1 1 : rs2 2).
#   --workers 1: exactly 100 to rs1 and 200 to rs2 (LVS wrr is deterministic);
#   --workers 2: each worker schedules its own share, so within 5 % of 1:2 (rs1 100 +- 5).
# Zero errors either way, and every answer is one of the two real servers' own lines.
# --ipv6: the same through the IPv6 VIP, http://[2001:2:0:18::100]/ (service web6 of the
# dual-stack config), each answer the real server's line for its IPv6 address
# ("rs1 2001:2:0:19::2:80").
E2E_IPV6_TEST=1
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
e2e_start "$(e2e_config vsnat)"

readonly N=300
t0=$(date +%s.%N)
out=$(http_sequential "$N")
secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')
want1="^ok [^ ]* [^ ]* rs1 $E2E_RS1:$LAB_RS1_HTTP_PORT\$" want2="^ok [^ ]* [^ ]* rs2 $E2E_RS2:$LAB_RS2_HTTP_PORT\$"
rs1=$(grep -c "$want1" <<<"$out" || true)
rs2=$(grep -c "$want2" <<<"$out" || true)
errors=$(grep -c '^err' <<<"$out" || true)
other=$(($(wc -l <<<"$out") - rs1 - rs2 - errors))
detail="$N requests to $E2E_VIP_URL in ${secs} s: rs1 $rs1, rs2 $rs2, errors $errors, other $other"
((errors == 0)) || detail+="; first error: $(grep -m1 '^err' <<<"$out")"
((other == 0)) || detail+="; first other: $(grep -v -m1 -e '^err' -e "$want1" -e "$want2" <<<"$out")"
# The connections went to the VIP itself (curl's remote_ip), in the test's family.
to_vip=$(grep -c "^ok $E2E_VIP:80 " <<<"$out" || true)

if ((errors != 0 || other != 0 || rs1 + rs2 != N || to_vip != N)); then
  fail http-wrr "$detail; $to_vip connected to $E2E_VIP:80"
elif kernel_mode || ((E2E_WORKERS == 1)); then
  if ((rs1 == N / 3 && rs2 == 2 * N / 3)); then pass http-wrr "$detail (exactly 1:2)"; else fail http-wrr "$detail (want exactly $((N / 3)) : $((2 * N / 3)))"; fi
else
  # Within 5 %: rs1's count within 5 % of its expected N/3.
  lo=$((N / 3 - N / 60)) hi=$((N / 3 + N / 60))
  if ((rs1 >= lo && rs1 <= hi)); then pass http-wrr "$detail (rs1 in $lo..$hi)"; else fail http-wrr "$detail (want rs1 in $lo..$hi)"; fi
fi

# /metrics says the same: rs1's connections as counted, under its ipvsadm-style endpoint, and the
# workers' tables of the test's family hold them.
if ! kernel_mode; then
  if ((E2E_FAMILY == 6)); then service=web6 rs1_endpoint="[$E2E_RS1]:$LAB_RS1_HTTP_PORT" family=ipv6
  else service=web rs1_endpoint="$E2E_RS1:$LAB_RS1_HTTP_PORT" family=ipv4; fi
  metrics=$(curl -s --max-time 2 http://127.0.0.1:9640/metrics)
  echo "$metrics" >"$E2E_LOG_DIR/metrics.txt"
  prom_rs1=$(awk -v s="service=\"$service\"" -v r="real_server=\"$rs1_endpoint\"" \
    '/^vsnat_real_server_connections_total/ && index($0, s) && index($0, r) {print $2}' <<<"$metrics")
  held=$(awk -v f="family=\"$family\"" '/^vsnat_worker_connections\{/ && index($0, f) {n += $2} END {print n + 0}' <<<"$metrics")
  if [[ $prom_rs1 == "$rs1" ]] && ((held >= rs1 + rs2)); then
    pass metrics "/metrics: $service's $rs1_endpoint $prom_rs1 connections; $family tables hold $held"
  else
    fail metrics "/metrics: $service's $rs1_endpoint '${prom_rs1:-absent}' connections (curl counted $rs1); $family tables hold $held (want >= $((rs1 + rs2)))"
  fi
fi
e2e_end
