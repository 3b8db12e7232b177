#!/usr/bin/env bash
# scripts/lab/selftest.sh — end-to-end smoke test of whatever director serves the lab's VIP.
#
# Runs from the client namespace against VIP 198.18.0.100, so it checks the kernel director
# (scripts/lab.sh up --kernel-director) and vsnatd (scripts/lab.sh up, then vsnatd on
# vsn-out/vsn-in with the lab services: TCP :80 -> rs1:80 w1 / rs2:8000 w2, UDP :53 -> both)
# alike. Every loop is bounded in count and every client call in time.
#
# usage: scripts/lab/selftest.sh [--wrk-seconds N] [--http-requests N]
# Prints PASS/FAIL lines and a final "N passed, N failed"; exits 1 if anything failed.

set -Eeuo pipefail

LAB_DIR="${VSNAT_LAB_DIR:-/run/vsnat-lab}"
WRK_SECONDS=5
HTTP_REQUESTS=300

while (($#)); do
  case $1 in
    --wrk-seconds) WRK_SECONDS=$2; shift ;;
    --http-requests) HTTP_REQUESTS=$2; shift ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "selftest: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if ! [[ $WRK_SECONDS =~ ^[0-9]+$ ]] || ((WRK_SECONDS > 60)); then
  echo "selftest: --wrk-seconds 0..60" >&2; exit 2
fi
if ! [[ $HTTP_REQUESTS =~ ^[0-9]+$ ]] || ((HTTP_REQUESTS < 30 || HTTP_REQUESTS > 3000)); then
  echo "selftest: --http-requests 30..3000" >&2; exit 2
fi

[[ $(id -u) -eq 0 ]] || { echo "selftest: must run as root" >&2; exit 1; }
[[ -f $LAB_DIR/lab.env ]] || { echo "selftest: no lab ($LAB_DIR/lab.env); run scripts/lab.sh up" >&2; exit 1; }
# shellcheck source=/dev/null
source "$LAB_DIR/lab.env"

PY=/usr/bin/python3
[[ -x $PY ]] || PY=$(command -v python3)
passed=0 failed=0
pass() { echo "PASS $1: $2"; passed=$((passed + 1)); }
fail() { echo "FAIL $1: $2"; failed=$((failed + 1)); }
client() { ip netns exec "$LAB_NS_CLIENT" "$@"; }

# 1. TCP scheduling: both real servers answer, in about the configured 1:2 ratio.
#    Expected rs1 share 1/3; with 300 random draws its standard deviation is 0.027, so the
#    0.20..0.47 window is 5 sigma wide; a deterministic wrr gives exactly 1/3.
check_http_distribution() {
  local out="" reply rs1 rs2 other i errors=0
  for ((i = 0; i < HTTP_REQUESTS; i++)); do
    if reply=$(client curl -s --max-time 2 "http://$LAB_VIP/"); then
      out+="$reply"$'\n'
    else
      out+="curl-failed"$'\n'
      # No director answering: give up after 3 failures instead of 2 s x HTTP_REQUESTS.
      if ((++errors >= 3)); then
        fail http-distribution "3 requests failed after $i ($LAB_VIP:80 not served?)"
        return
      fi
    fi
  done
  rs1=$(grep -cxF "rs1 $LAB_RS1:$LAB_RS1_HTTP_PORT" <<<"$out" || true)
  rs2=$(grep -cxF "rs2 $LAB_RS2:$LAB_RS2_HTTP_PORT" <<<"$out" || true)
  other=$((HTTP_REQUESTS - rs1 - rs2))
  local detail="$HTTP_REQUESTS requests: rs1 $rs1, rs2 $rs2, other/failed $other"
  if ((other == 0 && rs1 * 100 >= HTTP_REQUESTS * 20 && rs1 * 100 <= HTTP_REQUESTS * 47)); then
    pass http-distribution "$detail"
  else
    fail http-distribution "$detail"
  fi
}

# 2. VS/NAT keeps the client's address: the real server must see 198.18.0.x, not the director.
check_client_address() {
  local got
  got=$(client curl -s --max-time 2 "http://$LAB_VIP/client" || true)
  if [[ $got =~ ^rs[12]\ $LAB_CLIENT: ]]; then
    pass client-address "real server saw '$got'"
  else
    fail client-address "got '$got', want rsN $LAB_CLIENT:PORT"
  fi
}

# 3. UDP: 20 queries, each from a fresh socket (a new connection for the director); every one
#    answered with "rsN\n" + the payload, and both servers seen.
check_udp() {
  local out rc=0
  out=$(client "$PY" - "$LAB_VIP" "$LAB_UDP_PORT" <<'EOF'
import socket, sys
vip, port = sys.argv[1], int(sys.argv[2])
seen = {}
for i in range(20):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(1.0)
    payload = b"vsnat-selftest-%d" % i
    s.sendto(payload, (vip, port))
    try:
        data, peer = s.recvfrom(2048)
    except OSError as e:
        print("error", e); sys.exit(1)
    name, _, rest = data.partition(b"\n")
    if rest != payload or peer != (vip, port) or name not in (b"rs1", b"rs2"):
        print("bad reply", data, peer); sys.exit(1)
    seen[name.decode()] = seen.get(name.decode(), 0) + 1
    s.close()
print(" ".join(f"{k} {v}" for k, v in sorted(seen.items())))
sys.exit(0 if len(seen) == 2 else 1)
EOF
  ) || rc=$?
  if ((rc == 0)); then pass udp "20 queries answered: $out"; else fail udp "$out"; fi
}

# 4. ICMP echo to the VIP.
check_ping() {
  local out
  if out=$(client ping -c 3 -i 0.2 -W 1 "$LAB_VIP" 2>&1); then
    pass ping "$(grep -E 'packets transmitted' <<<"$out")"
  else
    fail ping "$(tail -n 2 <<<"$out" | xargs)"
  fi
}

# 5. A VIP port with no service is rejected at once (TCP reset), not left to time out.
#    Python, not curl: curl's exit 7 also covers "no route to host" (an unanswered ARP).
check_rejected_port() {
  local out rc=0
  out=$(client "$PY" - "$LAB_VIP" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(3.0)
t0 = time.monotonic()
try:
    s.connect((sys.argv[1], 8080))
    print("connected"); sys.exit(1)
except ConnectionRefusedError:
    ms = (time.monotonic() - t0) * 1000
    print(f"tcp/8080 refused (reset) in {ms:.0f} ms"); sys.exit(0 if ms < 1000 else 1)
except OSError as e:
    print(f"{type(e).__name__}: {e}"); sys.exit(1)
EOF
  ) || rc=$?
  if ((rc == 0)); then pass rejected-port "$out"; else fail rejected-port "$out (want a reset < 1 s)"; fi
}

# 6. A large download through the director arrives intact.
check_download() {
  local f want got
  # The largest download file (names are <N>M.bin, made by lab.sh).
  f=$(find "$LAB_FILES_DIR" -maxdepth 1 -name '*M.bin' -printf '%s %f\n' 2>/dev/null | sort -n | tail -n 1 | cut -d' ' -f2)
  if [[ -z $f ]]; then
    fail download "no file in $LAB_FILES_DIR (scripts/lab.sh mkfile 100)"
    return
  fi
  want=$(cut -d' ' -f1 "$LAB_FILES_DIR/$f.sha256")
  local t0=$SECONDS
  got=$(client curl -s --max-time 60 "http://$LAB_VIP/files/$f" | sha256sum | cut -d' ' -f1) || true
  if [[ $got == "$want" ]]; then
    pass download "$f sha256 ok in $((SECONDS - t0)) s"
  else
    fail download "$f sha256 $got, want $want"
  fi
}

# 7. Load: wrk with keepalive connections reports no socket errors and no non-2xx answers.
check_wrk() {
  ((WRK_SECONDS > 0)) || return 0
  command -v wrk >/dev/null || { fail wrk "wrk not installed"; return; }
  local out rps
  out=$(client timeout $((WRK_SECONDS + 15)) wrk -t2 -c50 -d"${WRK_SECONDS}s" --timeout 2s "http://$LAB_VIP/" 2>&1) || true
  rps=$(awk '/^Requests\/sec/{print $2}' <<<"$out")
  if [[ -n $rps ]] && ! grep -qE 'Socket errors|Non-2xx' <<<"$out"; then
    pass wrk "-t2 -c50 -d${WRK_SECONDS}s: $rps req/s, 0 errors"
  else
    fail wrk "$(grep -E 'Requests/sec|errors|Non-2xx' <<<"$out" | xargs) ${rps:-no result}"
  fi
}

echo "selftest: lab mode $VSNAT_LAB_MODE, VIP $LAB_VIP"
check_http_distribution
check_client_address
check_udp
check_ping
check_rejected_port
check_download
check_wrk
echo "$passed passed, $failed failed"
((failed == 0))
