#!/usr/bin/env bash
# scripts/demo.sh — vsnat in two minutes: install, build, run, see it balance, tear down.
#
#   sudo scripts/demo.sh
#
# Installs missing Debian packages (scripts/install-deps.sh), builds (meson + ninja in build/),
# reserves hugepages (scripts/hugepages.sh), brings up the namespace lab (scripts/lab.sh up),
# starts vsnatd with config/lab.yaml, sends 300 HTTP requests from the client namespace to the
# VIP and counts which real server answered (weights 1:2, so 100 : 200), prints the daemon's
# counters (vsnatctl, over DPDK telemetry), downloads a file over FTP through the VIP in passive
# and active mode (the FTP helper; sha256 checked), shows that a VIP port without a service is
# refused, and always takes everything down again (vsnatd by PID, then lab.sh down).
#
# Needs root: network namespaces, veths, hugepages, AF_PACKET sockets. Traffic stays inside the lab's
# namespaces (198.18.0.0/15; docs/ARCHITECTURE.md, "The lab"). Step logs go to $VSNAT_DEMO_LOG_DIR
# (default /tmp/vsnat-demo).

set -Eeuo pipefail

REPO_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO_DIR
readonly BUILD_DIR="${VSNAT_BUILD_DIR:-$REPO_DIR/build}"
readonly LOG_DIR="${VSNAT_DEMO_LOG_DIR:-/tmp/vsnat-demo}"
readonly CONFIG="$REPO_DIR/config/lab.yaml"
readonly PREFIX=vsnat-lab   # config/lab.yaml's EAL --file-prefix: the telemetry socket's directory
readonly REQUESTS=300
VSNATD="$BUILD_DIR/src/app/vsnatd"
VSNATCTL="$BUILD_DIR/src/app/vsnatctl"
PY=/usr/bin/python3

LAB_STARTED=0

say() { echo "$*"; }
step() { printf '%-48s' "$*"; }
die() {
  echo "FAILED: $*" >&2
  exit 1
}

# run_logged NAME CMD...: run quietly into $LOG_DIR/NAME.log; on failure show its tail and stop.
run_logged() {
  local name=$1
  shift
  if ! "$@" >"$LOG_DIR/$name.log" 2>&1; then
    echo "failed"
    tail -n 20 "$LOG_DIR/$name.log" | sed 's/^/  | /'
    die "$name (full log: $LOG_DIR/$name.log)"
  fi
}

# shellcheck source=SCRIPTDIR/lab/daemon.sh
source "$REPO_DIR/scripts/lab/daemon.sh"

# shellcheck disable=SC2317  # invoked by the EXIT trap
cleanup() {
  local rc=$?
  trap - EXIT
  set +e
  if [[ -n $VSNATD_PID ]]; then
    if vsnatd_stop 15; then
      echo "teardown: vsnatd stopped (exit 0)"
    else
      echo "teardown: $VSNATD_STOP (log: $LOG_DIR/vsnatd.log)"
      rc=1
    fi
  fi
  if ((LAB_STARTED)); then
    "$REPO_DIR/scripts/lab.sh" down >/dev/null 2>&1 && echo "teardown: lab down" || echo "teardown: lab.sh down failed"
  fi
  exit "$rc"
}

[[ $(id -u) -eq 0 ]] || die "run as root: sudo $0 (it builds network namespaces and reserves hugepages)"
mkdir -p "$LOG_DIR"
trap cleanup EXIT
trap 'exit 130' INT TERM

say "vsnat demo: a VS/NAT load balancer on DPDK, in a namespace lab"
say

step "[1/6] dependencies (scripts/install-deps.sh)"
run_logged install-deps bash "$REPO_DIR/scripts/install-deps.sh"
echo "ok"
[[ -x $PY ]] || PY=$(command -v python3)

if [[ ! -f $BUILD_DIR/build.ninja ]]; then
  step "[2/6] build (meson setup, ninja; a few minutes)"
  run_logged meson-setup meson setup "$BUILD_DIR" "$REPO_DIR"
else
  step "[2/6] build (ninja -C ${BUILD_DIR#"$REPO_DIR"/})"
fi
run_logged ninja ninja -C "$BUILD_DIR"
[[ -x $VSNATD && -x $VSNATCTL ]] || die "no $VSNATD or $VSNATCTL after the build"
echo "ok"

step "[3/6] hugepages (scripts/hugepages.sh)"
run_logged hugepages "$REPO_DIR/scripts/hugepages.sh"
sed 's/^hugepages: //' "$LOG_DIR/hugepages.log" | head -n 1

step "[4/6] lab (scripts/lab.sh up)"
LAB_STARTED=1
VSNAT_LAB_FILE_MB=0 run_logged lab-up "$REPO_DIR/scripts/lab.sh" up
# shellcheck source=/dev/null
source "${VSNAT_LAB_DIR:-/run/vsnat-lab}/lab.env"
echo "ok"
say "      client $LAB_CLIENT -> VIP $LAB_VIP (vsnatd on $LAB_IF_OUT/$LAB_IF_IN) -> rs1 $LAB_RS1:$LAB_RS1_HTTP_PORT, rs2 $LAB_RS2:$LAB_RS2_HTTP_PORT"

step "[5/6] vsnatd -c config/lab.yaml"
ready=0
vsnatd_start "$VSNATD" "$CONFIG" "$LOG_DIR/vsnatd.log" "$PREFIX" 30 || ready=$?
if ((ready != 0)); then
  echo "failed"
  tail -n 15 "$LOG_DIR/vsnatd.log" | sed 's/^/  | /'
  ((ready == 1)) && die "vsnatd exited with status $VSNATD_EXIT during startup (log: $LOG_DIR/vsnatd.log)"
  die "vsnatd did not answer vsnatctl within 30 s (log: $LOG_DIR/vsnatd.log)"
fi
echo "ready (pid $VSNATD_PID, log $LOG_DIR/vsnatd.log)"

say "[6/6] traffic from namespace $LAB_NS_CLIENT"
rs1=0 rs2=0 errors=0
for ((i = 0; i < REQUESTS; i++)); do
  if reply=$(ip netns exec "$LAB_NS_CLIENT" curl -s --max-time 2 "http://$LAB_VIP/"); then
    case $reply in
      rs1\ *) rs1=$((rs1 + 1)) ;;
      rs2\ *) rs2=$((rs2 + 1)) ;;
      *) errors=$((errors + 1)) ;;
    esac
  else
    errors=$((errors + 1))
    ((errors < 3)) || break   # bounded: a dead director must not cost 300 x 2 s
  fi
done
say "      $REQUESTS HTTP requests to http://$LAB_VIP/ answered by: rs1 $rs1, rs2 $rs2 (weights 1 : 2), errors $errors"

# The seed's third row: FTP to VIP:21, through the FTP helper, passive (PASV) and active (PORT).
ftp_want=$(cut -d' ' -f1 "$LAB_FTP_ROOT/$LAB_FTP_FILE.sha256")
ftp_ok=0
for mode in "--ftp-pasv --disable-epsv" "-P - --disable-eprt"; do
  # shellcheck disable=SC2086  # two flags on purpose
  got=$(set -o pipefail; ip netns exec "$LAB_NS_CLIENT" curl -sS --max-time 30 $mode \
    "ftp://$LAB_VIP/$LAB_FTP_FILE" 2>&1 | sha256sum | cut -d' ' -f1) || true
  result="sha256 $( [[ $got == "$ftp_want" ]] && echo ok || echo "WRONG ($got)")"
  [[ $got == "$ftp_want" ]] && ftp_ok=$((ftp_ok + 1))
  say "      ftp://$LAB_VIP/$LAB_FTP_FILE, curl $mode: $result"
done

refused=$(ip netns exec "$LAB_NS_CLIENT" "$PY" - "$LAB_VIP" <<'EOF' 2>&1 || true
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(3.0)
t0 = time.monotonic()
try:
    s.connect((sys.argv[1], 8080))
    print("connected?! (there is no service on :8080)")
except ConnectionRefusedError:
    print(f"connection refused (TCP reset from the director) in {(time.monotonic() - t0) * 1000:.0f} ms")
except OSError as e:
    print(f"{type(e).__name__}: {e}")
EOF
)
say "      http://$LAB_VIP:8080/ (no service on that port): $refused"

say
say "vsnatd's counters, read by vsnatctl over DPDK telemetry (/var/run/dpdk/$PREFIX/):"
say "\$ vsnatctl --prefix $PREFIX list --stats"
"$VSNATCTL" --prefix "$PREFIX" list --stats 2>&1 | sed 's/^/  /' || true
say "\$ vsnatctl --prefix $PREFIX stats"
"$VSNATCTL" --prefix "$PREFIX" stats 2>&1 | sed 's/^/  /' || true
say

rc=0
if ((errors == 0 && rs1 == REQUESTS / 3 && rs2 == 2 * REQUESTS / 3 && ftp_ok == 2)) &&
  [[ $refused == "connection refused"* ]]; then
  say "demo: OK — the VIP balanced $REQUESTS connections 1:2 over two real servers, carried FTP in passive and active mode, and refused :8080"
else
  say "demo: something is off (see above; vsnatd log: $LOG_DIR/vsnatd.log)"
  rc=1
fi
exit "$rc"
