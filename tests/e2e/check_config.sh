#!/usr/bin/env bash
# e2e 9: `vsnatd -c FILE --check`, the operator's config validator (README.md, "Running it").
#   - broken files exit 1 and print each error as FILE:LINE:COL: message; for the crafted
#     lab-like files under tests/e2e/configs/ the exact lines, in file order; for every
#     tests/unit/configs/bad_*.yaml at least one well-formed error line naming the file;
#   - a missing file is one error at 1:1;
#   - a directory, /dev/zero, a FIFO and a file over 32 MiB (made here, 33 MiB) are refused at
#     once (within 2 s) with one "FILE: message" line saying what they are;
#   - good files (config/*.yaml, tests/e2e/configs/{vsnat,short,kernel,dual}-*.yaml,
#     tests/unit/configs/good_*.yaml) exit 0 with a summary and no error line;
#   - the summary says the memory the file needs, part by part (config/lab.yaml: 4.5 MiB of
#     connection tables for 65536 connections), and what the machine has; 4,000 mh services
#     (made here) need some 517 MiB of snapshot; config/lab.yaml with max_connections
#     4294967295 (288 GiB of connection tables) is refused, exit 1, with one "FILE: needs ...:
#     this machine cannot run it" line (on a machine with less than 300 GiB available);
#   - the kernel side's mistakes, each on its line; the summary names each kernel mirror, its
#     interface and type, and kernel_netns;
#   - the summary shows each service's health check, on_down and sorry server, and after a real
#     server `check none` or what its override changes (tests/unit/configs/good_full.yaml);
#   - the summary shows an interface's floating addresses, and `ha`: how addresses are owned,
#     where connections are synced (good_full.yaml: peers; good_ha_group.yaml: a group);
#   - IPv6 (good_ipv6.yaml): an interface's IPv6 addresses after its IPv4 one, endpoints as
#     ipvsadm prints them ([2001:2:0:18::100]:80).
# No lab, no root, no EAL: --check must not need any of them. Files are given relative to the
# repository root, so FILE in the expected lines is that relative path.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ -x $VSNATD ]] || ! kernel_mode || skip "needs vsnatd itself (VSNAT_E2E_KERNEL=1 and no $VSNATD)"
e2e_require_daemon
cd "$REPO_DIR" || exit 1

# run_check FILE: sets CHECK_RC and CHECK_OUT (stdout and stderr together).
run_check() {
  CHECK_RC=0
  CHECK_OUT=$(timeout 10 "$VSNATD" -c "$1" --check 2>&1) || CHECK_RC=$?
}

# file_lines FILE: the lines of CHECK_OUT that start with "FILE:" (errors, or a summary line);
# error_lines FILE: those of the form FILE:LINE:COL: message.
file_lines() { awk -v p="$1:" 'index($0, p) == 1' <<<"$CHECK_OUT"; }
error_lines() { file_lines "$1" | awk -v n=$((${#1} + 2)) 'substr($0, n) ~ /^[1-9][0-9]*:[1-9][0-9]*: [^ ]/'; }

# expect_errors FILE LINE...: exit 1 and exactly these error lines, in this order.
expect_errors() {
  local file=$1 got want
  shift
  run_check "$file"
  got=$(error_lines "$file")
  want=$(printf '%s\n' "$@")
  if ((CHECK_RC == 1)) && [[ $got == "$want" ]]; then
    pass "check $(basename "$file")" "exit 1, $# error lines as expected"
  else
    fail "check $(basename "$file")" "exit $CHECK_RC; diff (- want, + got):
$(diff <(echo "$want") <(echo "$got") | grep '^[<>]' | sed 's/^</-/; s/^>/+/')
full output:
$CHECK_OUT"
  fi
}

e=tests/e2e/configs
expect_errors "$e/bad_lab_mistakes.yaml" \
  "$e/bad_lab_mistakes.yaml:13:43: 'tcp_established' must be a duration of at least 1s (like 60s, 15m, 2h, 1d; a bare number is seconds), got '15 minutes'" \
  "$e/bad_lab_mistakes.yaml:19:5: unknown key 'schedular' in service" \
  "$e/bad_lab_mistakes.yaml:22:51: 'weight' must be an integer in 0..65535, got '-2'" \
  "$e/bad_lab_mistakes.yaml:24:15: 'protocol' must be one of tcp, udp, got 'UDP'" \
  "$e/bad_lab_mistakes.yaml:25:10: vip 198.18.0.254 is the address of interface 'outside'" \
  "$e/bad_lab_mistakes.yaml:29:9: duplicate real server 198.19.0.2:53 (first at line 28)"
expect_errors "$e/bad_lab_syntax.yaml" \
  "$e/bad_lab_syntax.yaml:8:1: YAML syntax error: end of map flow not found"
expect_errors "$e/no_such_file.yaml" \
  "$e/no_such_file.yaml:1:1: cannot open: No such file or directory"

# expect_whole_file FILE MESSAGE: exit 1 within 2 s, and exactly the line "FILE: MESSAGE".
# Reading /dev/zero would never end: should vsnatd try, its memory is bounded (4 GiB) and
# `timeout` ends it.
expect_whole_file() {
  local file=$1 want="$1: $2" t0 ms got
  t0=$(date +%s%N)
  CHECK_RC=0
  CHECK_OUT=$( (ulimit -v 4194304 && timeout 10 "$VSNATD" -c "$file" --check) 2>&1) || CHECK_RC=$?
  ms=$((($(date +%s%N) - t0) / 1000000))
  got=$(file_lines "$file")
  if ((CHECK_RC == 1 && ms < 2000)) && [[ $got == "$want" ]]; then
    pass "check $file" "exit 1 in $ms ms: $got"
  else
    fail "check $file" "exit $CHECK_RC in $ms ms; want '$want', output: ${CHECK_OUT:0:300}"
  fi
}
e2e_logdir
expect_whole_file tests/unit/configs "is a directory, not a regular file"
expect_whole_file /dev/zero "is a character device, not a regular file"
mkfifo "$E2E_LOG_DIR/fifo.yaml"
expect_whole_file "$E2E_LOG_DIR/fifo.yaml" "is a FIFO, not a regular file"
# A valid file grown past 32 MiB with comment lines: 33 MiB, written here and removed after.
big="$E2E_LOG_DIR/big.yaml"
"$PY" - "$big" config/lab.yaml <<'PY'
import sys
with open(sys.argv[2]) as f:
    text = f.read()
line = "# a comment line of sixty-four bytes, to make the file too big.\n"
with open(sys.argv[1], "w") as f:
    f.write(text + line * ((33 * 1024 * 1024 - len(text)) // len(line) + 1))
PY
expect_whole_file "$big" "is $(stat -c %s "$big") bytes, over the 33554432-byte (32 MiB) limit of a configuration file"
rm -f -- "$big"

# The memory a file needs, and what is refused for want of it.
run_check config/lab.yaml
if ((CHECK_RC == 0)) &&
  grep -qE '^  memory: [0-9.]+ MiB of hugepages, [0-9.]+ MiB of other memory; a reload to this file needs [0-9.]+ KiB more$' <<<"$CHECK_OUT" &&
  grep -qE '^    connection tables +4\.5 MiB  hugepages +65536 connections, 1 table$' <<<"$CHECK_OUT" &&
  grep -qE '^    snapshot +[0-9.]+ KiB  memory +3 services; a reload holds two$' <<<"$CHECK_OUT" &&
  grep -qE '^  machine: [0-9.]+ [MG]iB available \(MemAvailable\); hugepages of 2\.0 MiB: [0-9]+ reserved, [0-9]+ free$' <<<"$CHECK_OUT"; then
  pass check-memory-summary "$(grep -E '^  (memory|machine):' <<<"$CHECK_OUT" | paste -sd ';')"
else
  fail check-memory-summary "exit $CHECK_RC, output: $CHECK_OUT"
fi
mh="$E2E_LOG_DIR/mh4000.yaml"
"$PY" - "$mh" config/lab.yaml <<'PY'
import sys
with open(sys.argv[2]) as f:
    text = f.read()
text = text[:text.index("services:")] + "services:\n" + "".join(
    f"  - {{name: s{i}, protocol: tcp, vip: 198.18.{1 + i // 256}.{i % 256}, port: 80, "
    f"scheduler: mh, real_servers: [{{address: 198.19.0.2}}]}}\n" for i in range(4000))
with open(sys.argv[1], "w") as f:
    f.write(text)
PY
run_check "$mh"
snapshot=$(awk '$1 == "snapshot" && $3 == "MiB" {print int($2)}' <<<"$CHECK_OUT")
if ((CHECK_RC == 0 && ${snapshot:-0} >= 500 && ${snapshot:-0} <= 530)); then
  pass check-memory-mh "4000 mh services: $(grep -E '^    snapshot' <<<"$CHECK_OUT" | xargs)"
else
  fail check-memory-mh "exit $CHECK_RC, snapshot '${snapshot:-}' MiB (want 500..530): $CHECK_OUT"
fi
available_kb=$(awk '/^MemAvailable:/ {print $2}' /proc/meminfo)
if ((available_kb < 300 * 1024 * 1024)); then
  huge="$E2E_LOG_DIR/huge.yaml"
  sed -E 's/^max_connections: .*/max_connections: 4294967295/' config/lab.yaml >"$huge"
  run_check "$huge"
  lines=$(file_lines "$huge")
  if ((CHECK_RC == 1)) &&
    [[ $lines =~ ^"$huge: needs 288."[0-9]" GiB of hugepages (the largest part: connection tables, 288."[0-9]" GiB for 4294967295 connections, 1 table), more than the "[0-9.]+" "[KMG]"iB reserved and the "[0-9.]+" "[KMG]"iB more that could be (MemAvailable): this machine cannot run it"$ ]]; then
    pass check-memory-refused "exit 1: $lines"
  else
    fail check-memory-refused "exit $CHECK_RC, output: $CHECK_OUT"
  fi
else
  log "check-memory-refused not run: this machine has $((available_kb >> 20)) GiB available"
fi

# The kernel side's mistakes (exact texts: tests/unit/test_config.cpp).
u=tests/unit/configs
kernel_name_rule="at most 15 bytes, no '/' or whitespace, not '.' or '..'"
expect_errors "$u/bad_kernel_names.yaml" \
  "$u/bad_kernel_names.yaml:3:15: 'kernel_netns' must be a network namespace name: at most 255 bytes, no '/' or whitespace, not '.' or '..', got '../etc'" \
  "$u/bad_kernel_names.yaml:8:13: 'kernel' must be a Linux interface name: $kernel_name_rule, got 'vsnat-outside-mirror'" \
  "$u/bad_kernel_names.yaml:12:13: 'kernel' must be a Linux interface name: $kernel_name_rule, got 'in side'" \
  "$u/bad_kernel_names.yaml:16:13: 'kernel' must be a Linux interface name: $kernel_name_rule, got 'vsk/3'" \
  "$u/bad_kernel_names.yaml:24:13: duplicate kernel mirror name 'vsk-dup' (first at line 20)" \
  "$u/bad_kernel_names.yaml:28:13: 'kernel' must be a Linux interface name: $kernel_name_rule, got '..'"
kernel_type_errors=("$u/bad_kernel_type.yaml:8:18: 'kernel_type' must be one of tap, virtio_user, got 'kni'")
[[ -r /dev/vhost-net && -w /dev/vhost-net ]] ||
  kernel_type_errors+=("$u/bad_kernel_type.yaml:13:18: kernel_type virtio_user needs /dev/vhost-net, which this machine does not have (load the vhost_net module, or use kernel_type: tap)")
expect_errors "$u/bad_kernel_type.yaml" "${kernel_type_errors[@]}" \
  "$u/bad_kernel_type.yaml:17:18: kernel_type without kernel: name the mirror interface too"

# The kernel mirrors a file asks for, in the summary.
run_check tests/e2e/configs/kernel-1w.yaml
want="  kernel mirrors: vsk-out (interface outside, tap), vsk-in (interface inside, tap) in namespace vsnat-kernel"
if ((CHECK_RC == 0)) && grep -qxF "$want" <<<"$CHECK_OUT"; then
  pass check-kernel-mirrors "$want"
else
  fail check-kernel-mirrors "exit $CHECK_RC, want '$want', output: $CHECK_OUT"
fi

# The health checks in the summary: the service's, its sorry server, and the real servers'
# differences from it.
run_check tests/unit/configs/good_full.yaml
want_lines=(
  "    health_check udp payload of 6 bytes port 5300 every 500ms, timeout 200ms, rise 3 fall 4, start down; on_down drop"
  "    sorry_server 198.19.0.9:5353"
  "    -> 198.19.0.2:53 weight 0"
  "    -> 198.19.0.3:5353 weight 65535 check rise 1, no payload"
  "    -> 203.0.113.7:53 weight 1 check none"
  "    health_check http /health?full=1 expect 204 every 1m, timeout 30s, rise 2 fall 2, passive; on_down quiesce"
  "    sorry_server 198.19.0.9:53"
)
missing=""
for line in "${want_lines[@]}"; do
  grep -qxF -- "$line" <<<"$CHECK_OUT" || missing+=$'\n'"$line"
done
if ((CHECK_RC == 0)) && [[ -z $missing ]]; then
  pass check-health-summary "${#want_lines[@]} lines: $(grep -c 'health_check' <<<"$CHECK_OUT") health_check lines"
else
  fail check-health-summary "exit $CHECK_RC, missing:$missing
output: $CHECK_OUT"
fi

# A pair of directors in the summary: the floating addresses after their interface, and how
# addresses are owned and connections synced.
# summary NAME FILE LINE...: FILE is valid and its summary has each LINE.
summary() {
  local name=$1 file=$2 line missing=""
  shift 2
  run_check "$file"
  for line in "$@"; do
    grep -qxF -- "$line" <<<"$CHECK_OUT" || missing+=$'\n'"$line"
  done
  if ((CHECK_RC == 0)) && [[ -z $missing ]]; then
    pass "$name $(basename "$file")" "$# lines, the first: $1"
  else
    fail "$name $(basename "$file")" "exit $CHECK_RC, missing:$missing
output: $CHECK_OUT"
  fi
}
summary check-ha-summary tests/unit/configs/good_full.yaml \
  "  interface inside 198.19.0.1/16 on net_af_packet0,iface=veth1 floating 198.19.0.254/16, 198.19.1.254/16" \
  "  ha: addresses follow_kernel; sync on inside to peer 198.19.0.12:8849, syncid 7"
summary check-ha-summary tests/unit/configs/good_ha_group.yaml \
  "  interface inside 172.16.0.11/16 on net_null1 floating 172.16.0.1/16" \
  "  ha: addresses follow_kernel; sync on inside to 239.255.0.81:8848, syncid 1"
summary check-ha-summary tests/unit/configs/good_ha_dual.yaml \
  "  interface inside 198.19.0.11/24 2001:2:0:19::11/64 on net_null1 floating 198.19.0.1/24, 2001:2:0:19::1/64" \
  "  ha: addresses follow_kernel; sync on inside to 224.0.0.81:8848, syncid 0 (receives any)"

# IPv6 in the summary.
summary check-ipv6-summary tests/unit/configs/good_ipv6.yaml \
  "  interface outside 198.18.0.254/24 2001:2:0:18::254/64 on net_null0" \
  "  interface inside 198.19.0.1/24 2001:2:0:19::1/64 2001:2:0:1a::1/64 on net_null1" \
  "  service web6 tcp [2001:2:0:18::100]:80 sh" \
  "    sorry_server [2001:2:0:1a::9]:8080" \
  "    -> [2001:2:0:19::3]:8000 weight 2" \
  "  service web tcp 198.18.0.100:80 wrr" \
  "    -> 198.19.0.2:80 weight 1"

# Every broken file of the unit suite: exit 1, and every line naming the file has the form
# FILE:LINE:COL: message (their exact texts are the unit tests' business).
n=0 bad=""
for f in tests/unit/configs/bad_*.yaml; do
  n=$((n + 1))
  run_check "$f"
  lines=$(file_lines "$f")
  malformed=$(grep -vxF -f <(error_lines "$f") <<<"$lines" || true)
  if ((CHECK_RC != 1)) || [[ -z $lines || -n $malformed ]]; then
    bad+=" $(basename "$f") (exit $CHECK_RC, $(grep -c . <<<"$lines") error lines${malformed:+, malformed: $malformed})"
  fi
done
if ((n >= 25)) && [[ -z $bad ]]; then
  pass check-unit-bad-files "$n files: each exit 1 with FILE:LINE:COL: message lines"
else
  fail check-unit-bad-files "$n files;$bad"
fi

# Good files: exit 0, a summary, no error lines. A file the grammar accepts but that uses a
# feature this build lacks (a scheduler, persistence, a helper) may be refused, as long as each
# refusal is a FILE:LINE:COL: line saying "not available in this build".
for f in config/*.yaml tests/e2e/configs/{vsnat,short,kernel,dual}-*.yaml tests/unit/configs/good_*.yaml; do
  run_check "$f"
  lines=$(file_lines "$f")
  errors=$(error_lines "$f")
  if ((CHECK_RC == 0)) && [[ -z $errors && -n $CHECK_OUT ]]; then
    pass "check $f" "exit 0: $(head -n 1 <<<"$CHECK_OUT" | cut -c1-100)$( (($(wc -l <<<"$CHECK_OUT") > 1)) && echo " (+$(($(wc -l <<<"$CHECK_OUT") - 1)) lines)")"
  elif ((CHECK_RC == 1)) && [[ -n $errors && $errors == "$lines" ]] && ! grep -qv 'not available in this build' <<<"$errors"; then
    pass "check $f" "refused for features this build lacks: $(sed -E 's/^[^:]+:([0-9]+:[0-9]+): /\1 /' <<<"$errors" | paste -sd ';' | cut -c1-200)"
  else
    fail "check $f" "exit $CHECK_RC, output: ${CHECK_OUT:-<none>}"
  fi
done
e2e_end
