#!/usr/bin/env bash
# e2e: IPv4 (or, with --ipv6, IPv6) fragments through the VIP (`fragments: forward`, the
# default; docs/ARCHITECTURE.md, "Fragments"). UDP VIP:53 (wrr, rs1 1 : rs2 1), whose echo
# replies "rsN\n" + payload, so a large query gets a large, fragmented reply.
#  1. Kernel-fragmented datagrams: 10 queries of 4,000 and 10 of 60,000 bytes from normal
#     sockets (MTU 1500: 3 and 41 fragments each way): each answered from VIP:53 by rs1 or rs2
#     with its payload intact. The namespaces' own counters (/proc/net/snmp FragCreates,
#     ReasmOKs) show both directions went fragmented on the wire; vsnatd's fragments_forwarded
#     counts every non-first fragment of both directions.
#  2. Fragments by hand (frag_send.py scenario): three datagrams from three client addresses,
#     each last fragment first and middle ones shuffled, interleaved; one with duplicated
#     fragments; all answered intact. One datagram without its first fragment: never answered,
#     its fragments dropped as drop_fragment_timeout after about 1 s.
#  3. A flood of orphan fragments (no first fragment; FLOOD_COUNT in FLOOD_SECONDS s from forged
#     sources in 198.18.128.0/17, which the config's gateway makes reverse-path valid) while
#     small UDP queries, fragmented ones and HTTP requests go on: every one of those succeeds,
#     drop_fragment_timeout + drop_fragment_hold_full account for the orphans, no more than
#     64 a worker are held at a time, and vsnatd's RSS grows by at most RSS_GROWTH_KB.
#  4. `fragments: drop` (the config with that key, vsnatd restarted): a 4,000-byte query is not
#     answered and its 3 fragments are counted as drop_ip_fragment; a small one still is.
# VSNAT_E2E_KERNEL=1 runs the traffic checks of 1-3 against the kernel director (nftables DNAT,
# which reassembles); vsnatd's counters, its RSS and part 4 are skipped there.
#
# --ipv6: all of it over IPv6 through the VIP 2001:2:0:18::100 (service dns6): fragment headers
# (RFC 8200 4.5) made by the kernels (1,448 bytes of UDP a fragment at MTU 1500: 3 and 42
# fragments each way) or by frag_send.py, the by-hand datagrams from the client's extra IPv6
# addresses, the flood's forged sources in 2001:2:0:ff00::/56 (the config's IPv6 gateway makes
# them reverse-path valid). The same counters. It runs on AF_PACKET too: the fanout's
# reassembly is IPv4's only (ip_check_defrag), and the root namespace has IPv6 off on the lab
# links.
E2E_IPV6_TEST=1
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
if ((E2E_XDP == 0 && E2E_FAMILY == 4)) && ! kernel_mode; then
  skip "vsnatd on net_af_packet never sees an IPv4 fragment: its fanout has the root namespace's kernel reassemble them (run with --af-xdp)"
fi
readonly FLOOD_COUNT=20000 FLOOD_SECONDS=2 FLOOD_RATE=10000 HOLD_LIMIT=64 RSS_GROWTH_KB=4096
readonly FRAG_SEND="$E2E_DIR/frag_send.py"
e2e_start "$(e2e_config vsnat)"
VSNATCTL="$(dirname "$VSNATD")/vsnatctl"
readonly VSNATCTL

# vsnatd's counters, summed over workers: sets S[name] for each name asked (-1: not in the
# stats, i.e. a vsnatd without the counter).
declare -A S
frag_stats() {
  local line
  S=()
  while read -r line; do
    S[${line%%=*}]=${line#*=}
  done < <("$VSNATCTL" --prefix "$E2E_PREFIX" stats --json | "$PY" -c '
import json, sys
v = json.load(sys.stdin)
for k in sys.argv[1:]:
    x = v.get(k)
    print(f"{k}={sum(x) if isinstance(x, list) else (-1 if x is None else x)}")' "$@")
}
readonly COUNTERS=(fragments_forwarded fragments_held drop_fragment_timeout
  drop_fragment_hold_full drop_ip_fragment)
# Named deltas of the counters: before[...] then after[...], d NAME = after - before (or
# "absent" when this vsnatd has no such counter).
declare -A before after
snapshot() { # snapshot before|after
  frag_stats "${COUNTERS[@]}"
  local k
  for k in "${COUNTERS[@]}"; do
    if [[ $1 == before ]]; then before[$k]=${S[$k]:--1}; else after[$k]=${S[$k]:--1}; fi
  done
}
d() {
  if ((${before[$1]} < 0 || ${after[$1]} < 0)); then echo absent; else echo $((after[$1] - before[$1])); fi
}
is_num() { [[ $1 =~ ^[0-9]+$ ]]; }

# IP counters of a namespace, of the test's family: snmp NS FIELD (FragCreates, ReasmOKs) reads
# the Ip: lines of /proc/net/snmp, or Ip6FIELD in /proc/net/snmp6.
# shellcheck disable=SC2016  # awk's own $1, $2 and $i
snmp() {
  if ((E2E_FAMILY == 6)); then
    ip netns exec "$1" awk -v f="Ip6$2" '$1 == f { print $2 }' /proc/net/snmp6
    return
  fi
  ip netns exec "$1" awk -v f="$2" '/^Ip:/ { if (!n) { for (i = 1; i <= NF; i++) h[i] = $i; n = 1 }
    else for (i = 1; i <= NF; i++) if (h[i] == f) print $i }' /proc/net/snmp
}
# The root namespace's reassemblies (diagnostics only): AF_PACKET's fanout reassembles on vsn-out.
root_reasm() { awk '/^Ip:/ { if (!n) { for (i = 1; i <= NF; i++) if ($i == "ReasmOKs") c = i; n = 1 } else print $c }' /proc/net/snmp; }
vmrss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$VSNATD_PID/status"; }

read -ra extra <<<"$E2E_CLIENT_EXTRA"
# What the kernels make of a datagram at MTU 1500: UDP bytes a fragment (IPv4: 1500 - 20,
# IPv6: 1500 - 40 - 8, rounded down to 8), fragments of a query of N bytes and of its reply
# ("rsN\n" + the payload).
if ((E2E_FAMILY == 6)); then per_frag=1448; else per_frag=1480; fi
frags_of() { echo $(((8 + $1 + per_frag - 1) / per_frag)); }
q4k=$(frags_of 4000) r4k=$(frags_of 4004) q60k=$(frags_of 60000) r60k=$(frags_of 60004)
want_made=$((10 * (q4k + q60k)))         # by the client; the real servers make 10 x (r4k + r60k)
want_replies_made=$((10 * (r4k + r60k)))
want_fwd=$((10 * (q4k - 1 + r4k - 1) + 10 * (q60k - 1 + r60k - 1)))  # non-first, both ways

# --- 1. kernel-fragmented datagrams, both directions ----------------------------------------
kernel_mode || snapshot before
root_before=$(root_reasm)
c_frag0=$(snmp "$LAB_NS_CLIENT" FragCreates) c_reasm0=$(snmp "$LAB_NS_CLIENT" ReasmOKs)
r_frag0=$(($(snmp "$LAB_NS_RS1" FragCreates) + $(snmp "$LAB_NS_RS2" FragCreates)))
r_reasm0=$(($(snmp "$LAB_NS_RS1" ReasmOKs) + $(snmp "$LAB_NS_RS2" ReasmOKs)))
if verdict=$(client "$PY" - "$E2E_VIP" "$LAB_UDP_PORT" "$E2E_IP" <<'PYEOF' 2>&1
import os, socket, sys
vip, port = sys.argv[1], int(sys.argv[2])
family = socket.AF_INET6 if sys.argv[3] == "6" else socket.AF_INET
seen, problems, n = {"rs1": 0, "rs2": 0}, [], 0
for size in (4000, 60000):
    for i in range(10):
        n += 1
        s = socket.socket(family, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        s.settimeout(2.0)
        payload = (b"vsnat-e2e-frag-%d-%02d-" % (size, i) + os.urandom(size))[:size]
        s.sendto(payload, (vip, port))
        try:
            data, peer = s.recvfrom(70000)
        except OSError as e:
            problems.append(f"{size} bytes #{i}: {type(e).__name__}")
            s.close()
            if len(problems) >= 3:
                break
            continue
        s.close()
        name, _, rest = data.partition(b"\n")
        if peer[:2] != (vip, port):  # an IPv6 peer also has flowinfo and scope id
            problems.append(f"{size} bytes #{i}: reply from {peer[0]} port {peer[1]}")
        elif name.decode(errors="replace") not in seen or rest != payload:
            problems.append(f"{size} bytes #{i}: bad reply ({len(data)} bytes, {data[:12]!r})")
        else:
            seen[name.decode()] += 1
    if len(problems) >= 3:
        break
print(f"{n} queries (10 x 4000, 10 x 60000 bytes): rs1 {seen['rs1']}, rs2 {seen['rs2']} "
      f"answered intact from {f'[{vip}]' if family == socket.AF_INET6 else vip}:{port}; "
      f"problems {len(problems)} {problems[:3]}")
sys.exit(0 if not problems and seen["rs1"] + seen["rs2"] == 20 and min(seen.values()) > 0 else 1)
PYEOF
); then
  pass kernel-fragmented "$verdict"
else
  fail kernel-fragmented "$verdict (want all 20 answered intact from $E2E_VIP_URL:$LAB_UDP_PORT by both servers)"
fi
c_frag=$(($(snmp "$LAB_NS_CLIENT" FragCreates) - c_frag0)) c_reasm=$(($(snmp "$LAB_NS_CLIENT" ReasmOKs) - c_reasm0))
r_frag=$(($(snmp "$LAB_NS_RS1" FragCreates) + $(snmp "$LAB_NS_RS2" FragCreates) - r_frag0))
r_reasm=$(($(snmp "$LAB_NS_RS1" ReasmOKs) + $(snmp "$LAB_NS_RS2" ReasmOKs) - r_reasm0))
# IPv4: 4,000 bytes: 3 fragments each way; 60,000 bytes: 41 ("rsN\n" adds 4 bytes to the
# reply); 440 each way. IPv6: 3 and 42, 450 each way.
if ((c_frag == want_made && r_reasm == 20 && r_frag == want_replies_made && c_reasm == 20)); then
  pass both-directions "client: $c_frag fragments made, 20 replies reassembled; real servers: 20 queries reassembled, $r_frag reply fragments made"
else
  fail both-directions "client made $c_frag fragments and reassembled $c_reasm replies, the real servers reassembled $r_reasm queries and made $r_frag fragments (want $want_made, 20, 20, $want_replies_made)"
fi
if ! kernel_mode; then
  snapshot after
  fwd=$(d fragments_forwarded)
  # Non-first fragments: 10 x (2 + 2) for 4,000 bytes, 10 x (40 + 40) for 60,000 (IPv6:
  # 10 x (41 + 41)): 840, or 860.
  if [[ $fwd == "$want_fwd" ]]; then
    pass forwarded-counted "fragments_forwarded +$fwd: every non-first fragment of both directions"
  else
    fail forwarded-counted "fragments_forwarded +$fwd (want $want_fwd); drop_ip_fragment +$(d drop_ip_fragment)"
  fi
  root_delta=$(($(root_reasm) - root_before))
  # DPDK's net_af_packet joins its sockets in a PACKET_FANOUT group with
  # PACKET_FANOUT_FLAG_DEFRAG: the root namespace's kernel reassembles fragments arriving on
  # the lab's links before vsnatd sees them (larger than a ring frame: truncated).
  ((root_delta == 0)) ||
    log "note: the root namespace reassembled $root_delta datagrams meanwhile: with AF_PACKET vdevs the kernel reassembles fragments before vsnatd sees them (PACKET_FANOUT_FLAG_DEFRAG)"
fi
require_daemon_alive

# --- 2. fragments by hand: out of order, interleaved, duplicated, orphaned -----------------
kernel_mode || snapshot before
summary="$E2E_LOG_DIR/scenario.json"
if verdict=$(client "$PY" "$FRAG_SEND" scenario --vip "$E2E_VIP" --port "$LAB_UDP_PORT" \
  --sources "${extra[0]},${extra[1]},${extra[2]}" --dup-source "${extra[3]}" \
  --orphan-source "${extra[4]}" --wait 3 --json "$summary" 2>&1); then
  pass by-hand "$verdict"
else
  fail by-hand "$verdict"
fi
if ! kernel_mode && [[ -s $summary ]]; then
  read -r fwd_min fwd_max held_min held_max orphans < <("$PY" -c '
import json, sys
v = json.load(open(sys.argv[1]))
print(v["forwarded_min"], v["forwarded_max"], v["held_min"], v["held_max"], v["orphans"])' "$summary")
  # The orphan's fragments wait their 1 s, then go: up to 3 s for the counter to show it.
  for ((i = 0; i < 30; i++)); do
    snapshot after
    [[ $(d drop_fragment_timeout) == "$orphans" || $(d drop_fragment_timeout) == absent ]] && break
    sleep 0.1
  done
  fwd=$(d fragments_forwarded) held=$(d fragments_held) timeout=$(d drop_fragment_timeout) full=$(d drop_fragment_hold_full)
  if is_num "$fwd" && ((fwd >= fwd_min && fwd <= fwd_max)); then
    pass by-hand-forwarded "fragments_forwarded +$fwd (non-first fragments of both directions: $fwd_min, or $fwd_max with the 2 duplicates)"
  else
    fail by-hand-forwarded "fragments_forwarded +$fwd (want $fwd_min..$fwd_max)"
  fi
  # Only fragments whose first had not come by the end of their burst are held: those sent
  # before their first, unless it came in the same burst (the hand-made ones go out back to
  # back, so most do). The orphan's always are. With two workers any later fragment may be,
  # once each: its first may still be on its way to the other worker that owns it.
  held_hi=$held_max
  ((E2E_WORKERS == 1)) || held_hi=$((fwd_max + orphans))
  if is_num "$held" && ((held >= orphans && held <= held_hi)); then
    pass by-hand-held "fragments_held +$held (of the $held_min sent before their first, the orphan's $orphans included: held unless their first came in the same burst$( ((E2E_WORKERS == 1)) || echo ", or went to the other worker"))"
  else
    fail by-hand-held "fragments_held +$held (want $orphans..$held_hi)"
  fi
  if [[ $timeout == "$orphans" && $full == 0 ]]; then
    pass orphan-timeout "the $orphans fragments without a first were dropped as drop_fragment_timeout; drop_fragment_hold_full +0"
  else
    fail orphan-timeout "drop_fragment_timeout +$timeout, drop_fragment_hold_full +$full after 3 s (want $orphans and 0)"
  fi
fi
require_daemon_alive

# --- 3. a flood of orphan fragments beside real traffic --------------------------------------
kernel_mode || { snapshot before; rss0=$(vmrss_kb); }
client "$PY" "$FRAG_SEND" flood --dst "$E2E_VIP" --port "$LAB_UDP_PORT" --count "$FLOOD_COUNT" \
  --seconds "$FLOOD_SECONDS" --rate "$FLOOD_RATE" >"$E2E_LOG_DIR/flood.log" 2>&1 &
flood_pid=$!
# 15 rounds, 0.15 s apart (the flood's 2 s): a small query, a 4,000-byte one, an HTTP GET (only
# 3 when none of them is answered).
verdict=$(client "$PY" - "$E2E_VIP" "$LAB_UDP_PORT" "$E2E_IP" <<'PYEOF' 2>&1
import os, socket, sys, time
vip, port = sys.argv[1], int(sys.argv[2])
family = socket.AF_INET6 if sys.argv[3] == "6" else socket.AF_INET
ok = {"small": 0, "fragmented": 0, "http": 0}
problems = []
def udp(size):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    payload = os.urandom(size)
    s.sendto(payload, (vip, port))
    try:
        data, peer = s.recvfrom(70000)
        return peer[:2] == (vip, port) and data.partition(b"\n")[2] == payload
    except OSError:
        return False
    finally:
        s.close()
def http():
    try:
        with socket.create_connection((vip, 80), timeout=1.0) as s:
            s.sendall(b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n")
            data = b""
            while len(data) < 65536:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        return data.startswith(b"HTTP/1.1 200") and b"\r\n\r\nrs" in data
    except OSError:
        return False
time.sleep(0.2)
rounds = 0
for i in range(15):
    rounds += 1
    ok["small"] += udp(100)
    ok["fragmented"] += udp(4000)
    ok["http"] += http()
    if i == 2 and sum(ok.values()) == 0:
        break  # nothing at all goes through: 3 rounds say so, 15 would only cost 45 s
    time.sleep(0.15)
print(f"during the flood: {ok['small']}/{rounds} small UDP queries, {ok['fragmented']}/{rounds} "
      f"4000-byte ones, {ok['http']}/{rounds} HTTP requests answered")
sys.exit(0 if ok == {"small": 15, "fragmented": 15, "http": 15} else
         2 if ok["small"] == 15 and ok["http"] == 15 else 1)
PYEOF
) && rc=0 || rc=$?
wait "$flood_pid" || fail flood "frag_send.py flood failed: $(tail -n 2 "$E2E_LOG_DIR/flood.log")"
flood_line=$(tail -n 1 "$E2E_LOG_DIR/flood.log")
log "$flood_line"
sent=$(sed -n 's/^frag flood: \([0-9]*\) .*/\1/p' "$E2E_LOG_DIR/flood.log")
if ((rc == 0)) || { kernel_mode && ((rc == 2)); }; then
  # The kernel director's reassembly memory (ipfrag_high_thresh) fills with the orphans for
  # their 30 s; it is not what is under test here, so its fragmented queries are only shown.
  pass real-traffic "$verdict$(kernel_mode && echo " (the kernel director's fragmented ones not checked)")"
else
  fail real-traffic "$verdict (want every one)"
fi
if ! kernel_mode && is_num "${sent:-}"; then
  # Held orphans leave after their 1 s: up to 3 s for the counters to settle.
  for ((i = 0; i < 30; i++)); do
    snapshot after
    timeout=$(d drop_fragment_timeout) full=$(d drop_fragment_hold_full)
    if ! is_num "$timeout" || ! is_num "$full" || ((timeout + full >= sent)); then break; fi
    sleep 0.1
  done
  rss1=$(vmrss_kb)
  dropped=$((${timeout/absent/0} + ${full/absent/0}))
  if is_num "$timeout" && is_num "$full" && ((dropped >= sent * 99 / 100 && dropped <= sent)); then
    pass orphans-counted "$sent orphans sent: drop_fragment_timeout +$timeout, drop_fragment_hold_full +$full"
  else
    fail orphans-counted "$sent orphans sent: drop_fragment_timeout +$timeout, drop_fragment_hold_full +$full (want their sum in $((sent * 99 / 100))..$sent)"
  fi
  # At most HOLD_LIMIT held a worker at any time, each for about 1 s.
  bound=$((HOLD_LIMIT * E2E_WORKERS * (FLOOD_SECONDS + 3)))
  if is_num "$timeout" && ((timeout <= bound)); then
    pass hold-bounded "$timeout orphans timed out after being held (at most $bound for $HOLD_LIMIT held a worker over ${FLOOD_SECONDS}+ s)"
  else
    fail hold-bounded "drop_fragment_timeout +$timeout (want at most $bound)"
  fi
  if (((rss1 - rss0) <= RSS_GROWTH_KB)); then
    pass rss "vsnatd's VmRSS $rss0 -> $rss1 kB across the flood"
  else
    fail rss "vsnatd's VmRSS $rss0 -> $rss1 kB across the flood (want at most +$RSS_GROWTH_KB kB)"
  fi
fi
require_daemon_alive

# --- 4. fragments: drop ------------------------------------------------------------------------
if kernel_mode; then
  log "VSNAT_E2E_KERNEL=1: 'fragments: drop' is vsnatd's; skipped"
else
  config="$E2E_LOG_DIR/fragments-drop.yaml"
  sed -e 's/^workers: .*/&\nfragments: drop/' "$(e2e_config vsnat)" >"$config"
  grep -q '^fragments: drop$' "$config" || { fail drop-config "could not add 'fragments: drop' to $config"; exit 1; }
  stop_vsnatd || exit 1
  start_vsnatd "$config"
  snapshot before
  if verdict=$(client "$PY" - "$E2E_VIP" "$LAB_UDP_PORT" "$E2E_IP" <<'PYEOF' 2>&1
import socket, sys
vip, port = sys.argv[1], int(sys.argv[2])
family = socket.AF_INET6 if sys.argv[3] == "6" else socket.AF_INET
def ask(size):
    s = socket.socket(family, socket.SOCK_DGRAM)
    s.settimeout(1.5)
    s.sendto(b"d" * size, (vip, port))
    try:
        return s.recvfrom(70000)[0].endswith(b"d" * size)
    except OSError:
        return False
    finally:
        s.close()
small, big = ask(100), ask(4000)
print(f"with fragments: drop, a 100-byte query {'answered' if small else 'NOT answered'}, "
      f"a 4000-byte one {'ANSWERED' if big else 'not answered'}")
sys.exit(0 if small and not big else 1)
PYEOF
  ); then
    pass drop-unanswered "$verdict"
  else
    fail drop-unanswered "$verdict (want the small one answered, the fragmented one not)"
  fi
  sleep 0.2
  snapshot after
  if [[ $(d drop_ip_fragment) == 3 && $(d fragments_forwarded) == 0 ]]; then
    pass drop-counted "its 3 fragments counted as drop_ip_fragment, none forwarded"
  else
    fail drop-counted "drop_ip_fragment +$(d drop_ip_fragment), fragments_forwarded +$(d fragments_forwarded) (want 3 and 0)"
  fi
fi
e2e_end
