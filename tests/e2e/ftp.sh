#!/usr/bin/env bash
# e2e: FTP through the VIP with the FTP helper. vsftpd on rs2 198.19.0.3:21 behind VIP
# 198.18.0.100:21 (service `ftp`, helper: ftp); curl in the client namespace, in each mode:
#   pasv  PASV (227 rewritten to the VIP)       --ftp-pasv --disable-epsv
#   epsv  EPSV (229, no rewrite)                --ftp-pasv (curl's default)
#   port  PORT (vsftpd connects from port 20)   -P - --disable-eprt
#   eprt  EPRT                                  -P -
# Each mode downloads the 10 MB file and uploads it back (sha256 checked both ways, the upload
# on the real server's disk); the verbose log must show the mode's command, so a silent fallback
# (EPSV -> PASV, EPRT -> PORT) fails. A 1500-entry directory listing in passive and active
# mode. Then 20 sessions in a row, the four modes in turn, each download checked. Finally
# the helper's counters: one data connection per transfer, a 227 rewrite per PASV, nothing
# split or malformed, and with two workers both workers carried FTP.
# --ipv6: the same through the IPv6 VIP [2001:2:0:18::100]:21 (service ftp6, vsftpd on
# [2001:2:0:19::3]:21) in the two modes IPv6 has: EPSV (229, no address) and EPRT (|2|, the
# client's IPv6 address; the log must show family 2, and 1 over IPv4). The listings in both; no
# 227, so no rewrite.
# VSNAT_E2E_KERNEL=1 runs the transfers against the kernel director (its ftp conntrack helper);
# the helper's counters are vsnatd's and skipped there.
E2E_IPV6_TEST=1
# shellcheck source=SCRIPTDIR/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
e2e_parse_args "$@"
e2e_require_root
e2e_start "$(e2e_config vsnat)"

readonly SESSIONS=20
if ((E2E_FAMILY == 6)); then
  readonly MODES=(epsv eprt) LIST_MODES=(epsv eprt)
else
  readonly MODES=(pasv epsv port eprt) LIST_MODES=(pasv port)
fi
declare -A FLAGS=([pasv]="--ftp-pasv --disable-epsv" [epsv]="--ftp-pasv"
  [port]="--disable-eprt" [eprt]="")
declare -A COMMAND=([pasv]="PASV" [epsv]="EPSV" [port]="PORT" [eprt]="EPRT |$((E2E_FAMILY == 6 ? 2 : 1))|")
declare -A FALLBACK=([pasv]="EPSV" [epsv]="PASV" [port]="EPRT" [eprt]="PORT")
want=$(cut -d' ' -f1 "$LAB_FTP_ROOT/$LAB_FTP_FILE.sha256")
transfers=0 pasv_replies=0
# count MODE: one more transfer (one data connection; a 227 reply in pasv mode). Called
# outside the $(...) that run the transfers, so the counts survive.
count() {
  transfers=$((transfers + 1))
  if [[ $1 == pasv ]]; then pasv_replies=$((pasv_replies + 1)); fi
}

# Active transfers listen on the client's address (curl's -P) and a port of their own (the
# transfer's number above ACTIVE_PORT_BASE, below the kernel's ephemeral range): with a port the kernel picks, two active transfers a few
# seconds apart can get the same one, and the later data connection (real server :20 -> the same
# client port) is then forwarded on the earlier one, still in the table after its close, as LVS does, and not
# counted as a new data connection.
readonly ACTIVE_PORT_BASE=20000
if ((E2E_FAMILY == 6)); then readonly ACTIVE_HOST="[$E2E_CLIENT]"; else readonly ACTIVE_HOST=$E2E_CLIENT; fi

# ftp_curl MODE LOG CURL_ARGS...: curl through the VIP in MODE, bounded in time (a 10 MB
# transfer takes well under a second here: 10 s, 5 s to connect), verbose log in LOG; fails when
# curl fails or the log shows another mode's command.
ftp_curl() {
  local mode=$1 log=$2 rc=0 active=()
  shift 2
  if [[ $mode == port || $mode == eprt ]]; then active=(-P "$ACTIVE_HOST:$((ACTIVE_PORT_BASE + transfers))"); fi
  # shellcheck disable=SC2086  # FLAGS holds several words on purpose
  client curl -sS -v -g "-$E2E_IP" --connect-timeout 5 --max-time 10 ${FLAGS[$mode]} "${active[@]}" "$@" 2>"$log" ||
    rc=$?
  ((rc == 0)) || { echo "curl exit $rc: $(grep -v '^[<>*{}]' "$log" | tail -n 2)"; return 1; }
  grep -q "^> ${COMMAND[$mode]}" "$log" || { echo "no ${COMMAND[$mode]} sent"; return 1; }
  ! grep -q "^> ${FALLBACK[$mode]}" "$log" || { echo "curl fell back to ${FALLBACK[$mode]}"; return 1; }
}

# download MODE NAME: the file through the VIP; prints its sha256, or why it failed.
download() {
  local mode=$1 name=$2 out="$E2E_LOG_DIR/$2.bin"
  ftp_curl "$mode" "$E2E_LOG_DIR/$name.log" -o "$out" "ftp://$E2E_VIP_URL/$LAB_FTP_FILE" || return 1
  sha256sum "$out" | cut -d' ' -f1
  rm -f "$out"
}

for mode in "${MODES[@]}"; do
  t0=$(date +%s%N)
  count "$mode"
  if got=$(download "$mode" "download-$mode"); then
    ms=$((($(date +%s%N) - t0) / 1000000))
    if [[ $got == "$want" ]]; then
      pass "download-$mode" "$LAB_FTP_FILE sha256 ok in $ms ms"
    else
      fail "download-$mode" "sha256 $got, want $want"
    fi
  else
    fail "download-$mode" "$got"
  fi

  uploaded="$LAB_FTP_ROOT/upload/up-$mode.bin"
  count "$mode"
  if why=$(ftp_curl "$mode" "$E2E_LOG_DIR/upload-$mode.log" -T "$LAB_FTP_ROOT/$LAB_FTP_FILE" \
    "ftp://$E2E_VIP_URL/upload/up-$mode.bin"); then
    got=$(sha256sum "$uploaded" 2>/dev/null | cut -d' ' -f1)
    if [[ $got == "$want" ]]; then
      pass "upload-$mode" "the real server stored it with the right sha256"
    else
      fail "upload-$mode" "stored sha256 '${got:-no file}', want $want"
    fi
  else
    fail "upload-$mode" "$why"
  fi
  require_daemon_alive
done

for mode in "${LIST_MODES[@]}"; do
  count "$mode"
  if why=$(ftp_curl "$mode" "$E2E_LOG_DIR/list-$mode.log" -o "$E2E_LOG_DIR/list-$mode.txt" \
    "ftp://$E2E_VIP_URL/listing/"); then
    lines=$(wc -l <"$E2E_LOG_DIR/list-$mode.txt")
    last=$(printf 'file-with-a-rather-long-name-%05d.txt' "$LAB_FTP_LISTING_FILES")
    if ((lines == LAB_FTP_LISTING_FILES)) && grep -q " $last" "$E2E_LOG_DIR/list-$mode.txt"; then
      pass "listing-$mode" "$lines entries ($(wc -c <"$E2E_LOG_DIR/list-$mode.txt") bytes)"
    else
      fail "listing-$mode" "$lines lines, want $LAB_FTP_LISTING_FILES ending in $last"
    fi
  else
    fail "listing-$mode" "$why"
  fi
done

ok=0 errors=()
t0=$SECONDS
for ((i = 0; i < SESSIONS; i++)); do
  mode=${MODES[i % ${#MODES[@]}]}
  count "$mode"
  if got=$(download "$mode" "session-$i") && [[ $got == "$want" ]]; then
    ok=$((ok + 1))
  else
    errors+=("session $i ($mode): $got")
    # A director that does not carry FTP would cost up to 10 s a session: 3 failures are enough.
    ((${#errors[@]} < 3)) || break
  fi
done
if ((ok == SESSIONS)); then
  pass sessions "$SESSIONS sessions in a row, every download intact, in $((SECONDS - t0)) s"
else
  fail sessions "$ok of $SESSIONS intact: ${errors[*]:0:3}"
fi

if kernel_mode; then
  log "VSNAT_E2E_KERNEL=1: the helper's counters are vsnatd's; skipped"
  e2e_end
  exit 0
fi
stats=$(telemetry /vsnat/stats) || { fail telemetry "/vsnat/stats failed"; e2e_end; }
echo "$stats" | jq . >"$E2E_LOG_DIR/stats.json"
sum() { jq -r "[.workers[].$1] | add" <<<"$stats"; }
data=$(sum ftp_data_connections) rewrites=$(sum ftp_rewrites)
troubles=$(jq -r '[.workers[] | .ftp_split_lines + .ftp_malformed_lines + .ftp_foreign_addresses
  + .ftp_expectations_full + .ftp_unrewritten + .drops.bad_l4_checksum + .drops.helper_full] | add' <<<"$stats")
log "ftp counters: data connections $data, 227 rewrites $rewrites, per worker:" \
  "$(jq -c '[.workers[] | {worker, ftp_data_connections, ftp_rewrites, ftp_controls}]' <<<"$stats")"
if ((data == transfers && rewrites == pasv_replies && troubles == 0)); then
  pass counters "$data data connections for $transfers transfers, $rewrites 227 rewrites, nothing split, malformed or refused"
else
  fail counters "data connections $data (want $transfers), rewrites $rewrites (want $pasv_replies), troubles $troubles"
fi
if ((E2E_WORKERS == 2)); then
  busy=$(jq -r '[.workers[] | select(.ftp_controls > 0 and .ftp_data_connections > 0)] | length' <<<"$stats")
  if ((busy == 2)); then
    pass both-workers "control and data connections on both workers"
  else
    fail both-workers "only $busy worker(s) handled FTP control and data connections"
  fi
fi
e2e_end
