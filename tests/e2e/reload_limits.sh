#!/usr/bin/env bash
# e2e: reloads of files too big, during traffic (config/README.md, "Limits of the file"). While
# wrk runs (50 connections, a new one per request):
#   - a file over 32 MiB (the lab's config grown with comment lines, made here): `vsnatctl
#     reload` exits 1 within 1 s with the one line "FILE: is N bytes, over the ... limit", and
#     vsnatd's resident memory (VmRSS) does not grow;
#   - a 20 MB file whose list of 10 million items passes the YAML node limit: refused within
#     30 s at the node limit; vsnatd's memory grows while it reads (so the check can fail), and
#     within 2 s of the refusal it is back within 32 MiB of what it was before;
#   - wrk sees no error and the old configuration stays (the next 30 connections 10 : 20).
# An applied reload to 2,000 mh services (some 260 MiB of scheduler tables), then back to the
# lab's file: vsnatd grows by more than 200 MiB, and within 2 s of the second reload is back
# within 32 MiB of where it was.
# Then SIGTERM while a reload of 65,535 services (11 MB, some 4 s to read) is being read: vsnatd
# exits within 2 s, with status 0.
# Last, memory (config/README.md, "Memory"): a vsnatd that sees MemAvailable at 200 MiB (its own
# /proc/meminfo, bind-mounted in a mount namespace of its own) refuses a reload to 2,000 mh
# services (some 260 MiB of scheduler tables) with the need and what is available, without
# growing; a reload back to the lab's file is applied.
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
kernel_mode && skip "the kernel director has no reload"
((E2E_WORKERS == 1)) || skip "exact proportions need one worker (--workers 1)"
readonly REFUSE_BIG_MS=1000 REFUSE_NODES_MS=30000 SETTLE_S=2 RSS_SLACK_KB=$((32 * 1024))
readonly EXIT_LIMIT_MS=2000
BASE=$(e2e_config vsnat)
readonly BASE
# The file vsnatd runs with, rewritten for each reload (outside the log dir e2e_start empties).
readonly RUNNING="${VSNAT_E2E_LOG_DIR:-/tmp/vsnat-e2e}/reload-limits-running.yaml"
mkdir -p "$(dirname "$RUNNING")"
cp "$BASE" "$RUNNING"
e2e_start "$RUNNING"
VSNATCTL="$(dirname "$VSNATD")/vsnatctl"
readonly VSNATCTL
# The big files go with the test; e2e_on_exit still sees the script's exit status.
trap 'rc=$?; rm -f -- "$RUNNING"; (exit "$rc"); e2e_on_exit' EXIT

now_ms() { echo $(($(date +%s%N) / 1000000)); }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$VSNATD_PID/status"; }

# write KIND: the running file becomes the base config followed by what KIND adds.
write() {
  "$PY" - "$1" "$BASE" "$RUNNING" <<'PY'
import sys
kind, base, out = sys.argv[1:]
with open(base) as f:
    text = f.read()
if kind == "oversized":  # comment lines to 33 MiB
    line = "# a comment line of sixty-four bytes, to make the file too big.\n"
    text += line * ((33 * 1024 * 1024 - len(text)) // len(line) + 1)
elif kind == "nodes":  # one more key, a list of 10 million items: 20 MB
    text += "eal_extra: [" + "1," * 9999999 + "1]\n"
elif kind in ("services", "mh"):  # 65,535 services (11 MB, seconds to read), or 2,000 mh
    count, scheduler = (65535, "wrr") if kind == "services" else (2000, "mh")
    text = text[:text.index("services:")] + "services:\n" + "".join(
        f"  - name: s{i}\n    protocol: tcp\n    vip: 198.18.{1 + i // 256}.{i % 256}\n"
        f"    port: 80\n    scheduler: {scheduler}\n    real_servers:\n"
        f"      - {{address: 198.19.0.2, port: 80, weight: 1}}\n" for i in range(count))
with open(out, "w") as f:
    f.write(text)
PY
}

# reload_refused NAME LIMIT_MS WANT: `vsnatctl reload` of the running file exits 1 within
# LIMIT_MS, its message matching WANT; VmRSS is sampled every 0.1 s meanwhile (PEAK_KB).
reload_refused() {
  local name=$1 limit=$2 want=$3 t0 took rc=0 out
  PEAK_KB=$(rss_kb)
  t0=$(now_ms)
  timeout 60 "$VSNATCTL" --prefix "$E2E_PREFIX" reload >"$E2E_LOG_DIR/$name.txt" 2>&1 &
  local pid=$!
  while kill -0 "$pid" 2>/dev/null && (($(now_ms) - t0 < 60000)); do
    local now
    now=$(rss_kb)
    ((now > PEAK_KB)) && PEAK_KB=$now
    sleep 0.1
  done
  wait "$pid" || rc=$?
  took=$(($(now_ms) - t0))
  out=$(head -c 300 "$E2E_LOG_DIR/$name.txt")
  if ((rc == 1 && took <= limit)) && grep -qE "$want" <<<"$out"; then
    pass "$name" "refused in $took ms: $out"
  else
    fail "$name" "exit $rc in $took ms (want 1 within $limit ms, saying /$want/): $out"
  fi
}

# memory_back NAME BEFORE_KB: within SETTLE_S, VmRSS is back within RSS_SLACK_KB of BEFORE_KB.
memory_back() {
  local name=$1 before=$2 now i
  for ((i = 0; i < SETTLE_S * 10; i++)); do
    now=$(rss_kb)
    ((now <= before + RSS_SLACK_KB)) && break
    sleep 0.1
  done
  if ((now <= before + RSS_SLACK_KB)); then
    pass "$name" "VmRSS $((before / 1024)) MiB before, $((PEAK_KB / 1024)) MiB at most while reading, $((now / 1024)) MiB after"
  else
    fail "$name" "VmRSS $((before / 1024)) MiB before, $((PEAK_KB / 1024)) MiB while reading, still $((now / 1024)) MiB ${SETTLE_S} s after (want at most $(((before + RSS_SLACK_KB) / 1024)))"
  fi
}

client timeout 60 wrk -t2 -c50 -d12s --timeout 2s -H "Connection: close" "http://$LAB_VIP/" \
  >"$E2E_LOG_DIR/wrk.txt" 2>&1 &
wrk_pid=$!
sleep 1

write oversized
before=$(rss_kb)
reload_refused oversized-refused "$REFUSE_BIG_MS" \
  "^$RUNNING: is [0-9]+ bytes, over the 33554432-byte \(32 MiB\) limit of a configuration file$"
memory_back oversized-memory "$before"

write nodes
before=$(rss_kb)
reload_refused nodes-refused "$REFUSE_NODES_MS" "^$RUNNING:[0-9]+:[0-9]+: more than 9466379 YAML nodes"
if ((PEAK_KB > before + 2 * RSS_SLACK_KB)); then
  pass nodes-memory-grew "VmRSS $((before / 1024)) MiB, $((PEAK_KB / 1024)) MiB while reading"
else
  fail nodes-memory-grew "VmRSS $((before / 1024)) MiB, at most $((PEAK_KB / 1024)) MiB while reading: the next check proves nothing"
fi
memory_back nodes-memory "$before"

cp "$BASE" "$RUNNING"
wait "$wrk_pid" || true
out=$(cat "$E2E_LOG_DIR/wrk.txt")
reqs=$(awk '/requests in/{print $1}' <<<"$out")
if [[ ${reqs:-0} -gt 0 ]] && ! grep -qE 'Socket errors|Non-2xx' <<<"$out"; then
  pass wrk-during-refused-reloads "$reqs requests, 0 errors"
else
  fail wrk-during-refused-reloads "$(grep -E 'requests in|Socket errors|Non-2xx' <<<"$out" | xargs) (see $E2E_LOG_DIR/wrk.txt)"
fi
seen=$(http_sequential 30 | awk '{print $4}' | sort | uniq -c | xargs)
if [[ $seen == "10 rs1 20 rs2" ]]; then
  pass old-config-kept "30 connections: $seen"
else
  fail old-config-kept "30 connections: $seen (want 10 rs1 20 rs2)"
fi
require_daemon_alive

# reload_applied NAME: `vsnatctl reload` of the running file exits 0 (VmRSS sampled: PEAK_KB).
reload_applied() {
  local name=$1 rc=0 out
  PEAK_KB=$(rss_kb)
  out=$(timeout 60 "$VSNATCTL" --prefix "$E2E_PREFIX" reload 2>&1) || rc=$?
  local now
  now=$(rss_kb)
  ((now > PEAK_KB)) && PEAK_KB=$now
  if ((rc == 0)); then
    pass "$name" "$out, VmRSS $((PEAK_KB / 1024)) MiB"
  else
    fail "$name" "exit $rc: $out"
  fi
}
write mh
before=$(rss_kb)
reload_applied mh-applied
if ((PEAK_KB > before + 200 * 1024)); then
  pass mh-memory-grew "VmRSS $((before / 1024)) MiB, $((PEAK_KB / 1024)) MiB with 2,000 mh services"
else
  fail mh-memory-grew "VmRSS $((before / 1024)) MiB, $((PEAK_KB / 1024)) MiB with 2,000 mh services: the next check proves nothing"
fi
cp "$BASE" "$RUNNING"
reload_applied mh-gone
memory_back mh-memory-back "$before"

# SIGTERM while a big file is being read.
write services
kill -HUP "$VSNATD_PID"
for ((i = 0; i < 50; i++)); do
  grep -q 'SIGHUP: reloading' "$VSNATD_LOG" && break
  sleep 0.1
done
sleep 0.5
t0=$(now_ms)
rc=0
vsnatd_stop 30 || rc=$?
took=$(($(now_ms) - t0))
if ((rc == 0 && took <= EXIT_LIMIT_MS)) && grep -q 'reading abandoned' "$VSNATD_LOG"; then
  pass stop-during-reload "SIGTERM 0.5 s into reading 65,535 services: exit 0 in $took ms; $(grep -o 'reload refused.*' "$VSNATD_LOG" | tail -n 1)"
else
  fail stop-during-reload "SIGTERM 0.5 s into reading 65,535 services: $VSNATD_STOP in $took ms (want exit 0 within $EXIT_LIMIT_MS ms, the reading abandoned)"
  vsnatd_log_tail
fi

# A vsnatd whose /proc/meminfo says MemAvailable: 200 MiB (the rest as the machine's). It runs
# through a wrapper beside a link to vsnatctl (scripts/lab/daemon.sh finds vsnatctl there).
fake="$E2E_LOG_DIR/meminfo"
sed -E 's/^MemAvailable: .*/MemAvailable:     204800 kB/' /proc/meminfo >"$fake"
mkdir -p "$E2E_LOG_DIR/bin"
ln -sf "$VSNATCTL" "$E2E_LOG_DIR/bin/vsnatctl"
printf '#!/bin/sh\nexec unshare --mount --propagation private sh -c %s %s %s "$@"\n' \
  "'mount --bind \"\$0\" /proc/meminfo && exec \"\$@\"'" "$fake" "$VSNATD" >"$E2E_LOG_DIR/bin/vsnatd"
chmod +x "$E2E_LOG_DIR/bin/vsnatd"
cp "$BASE" "$RUNNING"
real_vsnatd=$VSNATD
VSNATD="$E2E_LOG_DIR/bin/vsnatd"
cp "$VSNATD_LOG" "$E2E_LOG_DIR/vsnatd-first.log"
start_vsnatd "$RUNNING"
VSNATD=$real_vsnatd
write mh
before=$(rss_kb)
reload_refused memory-refused 10000 \
  "^$RUNNING: the new configuration needs [0-9.]+ MiB more while the running one is held, more than the 200.0 MiB available \(MemAvailable\)$"
now=$(rss_kb)
if ((PEAK_KB <= before + RSS_SLACK_KB && now <= before + RSS_SLACK_KB)); then
  pass memory-refused-early "VmRSS $((before / 1024)) MiB before, $((PEAK_KB / 1024)) MiB at most: refused before the tables were built"
else
  fail memory-refused-early "VmRSS $((before / 1024)) MiB before, $((PEAK_KB / 1024)) MiB while reloading, $((now / 1024)) MiB after"
fi
cp "$BASE" "$RUNNING"
if out=$(timeout 30 "$VSNATCTL" --prefix "$E2E_PREFIX" reload 2>&1); then
  pass memory-small-applied "the lab's file again: $out"
else
  fail memory-small-applied "the lab's file again: $out"
fi
e2e_end
