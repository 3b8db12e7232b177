#!/usr/bin/env bash
# scripts/lab.sh — the network-namespace lab in which vsnatd, the tests and the demo run
# without a physical NIC (docs/ARCHITECTURE.md, "The lab").
#
#            root namespace (vsnatd: DPDK vdevs on vsn-out / vsn-in)
#                  |  vsn-out                       vsn-in  |
#   vsnat-client   |                                        |   vsnat-lan (bridge br0)
#   eth0 198.18.0.1/24 (+ .2-.20)                  lan-in --+-- lan-rs1 -- eth0 vsnat-rs1 198.19.0.2/24
#        2001:2:0:18::1/64 (+ ::2-::20)                     |                        2001:2:0:19::2/64
#   default via 198.18.0.254, 2001:2:0:18::254              +-- lan-rs2 -- eth0 vsnat-rs2 198.19.0.3/24
#   VIPs 198.18.0.100, 2001:2:0:18::100 on-link                                      2001:2:0:19::3/64
#                                                   (both: default via 198.19.0.1, 2001:2:0:19::1)
#
# Dual stack (VSNAT_LAB_IPV6=1, the default; docs/ARCHITECTURE.md, "IPv6 and fragments"): the
# IPv6 plan is RFC 5180's benchmarking range 2001:2::/48 with the IPv4 plan's last digits: outside
# 2001:2:0:18::/64 (client ::1, extras ::2-::20, director ::254, VIP ::100), inside
# 2001:2:0:19::/64 (director ::1, rs1 ::2, rs2 ::3). The hosts' interfaces get IPv6 without
# duplicate address detection (the plan is unique by construction; DAD would hold each address
# "tentative" for a second) and without router advertisements or autoconfiguration (every route
# is static); their link-local addresses stay (fe80::, from the MAC). The client's extra IPv6
# addresses are deprecated (preferred_lft 0): usable when a test binds them, never picked as a
# source, so ::1 is the client's address as 198.18.0.1 is (IPv6 source selection has no
# "primary"). VSNAT_LAB_IPV6=0 builds the IPv4-only lab of old: IPv6 off on every interface.
#
# DPDK mode (default): vsn-out and vsn-in stay in the root namespace, up, without addresses and
# with IPv6 off (the root kernel neither answers nor sends neighbor discovery on them);
# vsnatd attaches net_af_xdp / net_af_packet to them and owns 198.18.0.254, 198.19.0.1 and the
# VIP 198.18.0.100 (answers their ARP itself), and their IPv6 twins (answers their neighbor
# solicitations).
#
# --kernel-director: vsn-out and vsn-in live in namespace vsnat-kdir instead, which carries
# those addresses (both families) and load-balances with nftables DNAT, an ip and an ip6 table
# with the same services, FTP through the kernel's ftp conntrack/NAT helper
# (scripts/lab/kernel-director.nft).
#
# --pair: two directors (README.md, "A pair of directors"), DPDK mode, keepalived's VRRP
# deciding which one serves; IPv4 only (keepalived.conf.in moves IPv4 addresses: an IPv6 VIP and
# gateway would need VRRP instances of their own). The client's eth0 is a port of a second
# bridge, br1 in vsnat-lan:
#
#   vsnat-client eth0 --- lan-cl  +  vsnat-lan br1 (outside)  + lan-out  --- vsn-out   director A
#   198.18.0.1/24 (+ .2-.20)     |                            + lan-out2 --- vsn-out2  director B
#   no default route: the VIP is on-link
#   director A  vsn-in  --- lan-in  + vsnat-lan br0 (inside, the real servers' bridge)
#   director B  vsn-in2 --- lan-in2 +
#
# A is 198.18.0.252/24 + 198.19.0.252/24, B 198.18.0.253/24 + 198.19.0.253/24 (MACs spell them
# as below); the VIP 198.18.0.100 and the real servers' gateway 198.19.0.1 float: whichever
# director keepalived makes master holds them (tests/e2e/configs/pair-{a,b}-1w.yaml, their
# kernel_netns vsnat-kernel-a and vsnat-kernel-b; scripts/lab/keepalived.sh).
#
# Real servers: nginx on 198.19.0.2:80 (rs1) and 198.19.0.3:8000 (rs2), answering
# "rsN ADDR:PORT\n" on /, "rsN CLIENT_IP:PORT\n" on /client, and serving downloads on /files/;
# dual stack, nginx listens on the IPv6 address too, same ports and bodies: ADDR and CLIENT_IP
# are the addresses of the connection, an IPv6 one written bare as nginx does
# ("rs1 2001:2:0:19::2:80": the port is after the last colon);
# a UDP echo (scripts/lab/udp_echo.py) on port 53 of both (and of their IPv6 addresses), replying
# "rsN\n" + payload;
# vsftpd on 198.19.0.3:21 (rs2; anonymous, passive ports 30000-30099, active from port 20;
# dual stack, one socket on [::]:21 serves both families, IPv4 as v4-mapped addresses)
# serving $VSNAT_LAB_DIR/ftp: <N>M.bin (N = $VSNAT_LAB_FTP_FILE_MB, default 10) with its
# .sha256, listing/ (1500 files, for long directory listings) and upload/ (writable).
#
# Downloads: `up` creates files/<N>M.bin (N = $VSNAT_LAB_FILE_MB, default 100; 0 = none) in the
# state dir, with <N>M.bin.sha256 beside it; `mkfile SIZE_MB` adds more while the lab is up.
# URL through the director: http://198.18.0.100/files/100M.bin
#
# State (pids, configs, logs, files, lab.env for tests to source) lives in $VSNAT_LAB_DIR,
# default /run/vsnat-lab, a tmpfs of its own unless it is on one already. `down` kills exactly
# the recorded PIDs (checked against their start time, so a reused PID is never hit), then
# anything still running inside the lab namespaces, deletes the namespaces and the root-side
# veths, and unmounts and removes the state dir.
#
# End-to-end check of whichever director serves the VIP: scripts/lab/selftest.sh.
#
# Network rule: every address here is in 198.18.0.0/15 or 2001:2::/48 and lives only in
# namespaces this script creates; nothing is routed to or from the root namespace's own network.

set -Eeuo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SCRIPT_DIR
readonly HELPERS="$SCRIPT_DIR/lab"
readonly LAB_DIR="${VSNAT_LAB_DIR:-/run/vsnat-lab}"
readonly FILE_MB="${VSNAT_LAB_FILE_MB:-100}"
readonly ACCESS_LOG="${VSNAT_LAB_ACCESS_LOG:-1}"
readonly QUEUES="${VSNAT_LAB_QUEUES:-1}"
readonly IPV6="${VSNAT_LAB_IPV6:-1}"

# --- names and the address plan (docs/ARCHITECTURE.md, "The lab") ------------------------
readonly NS_CLIENT=vsnat-client NS_LAN=vsnat-lan NS_RS1=vsnat-rs1 NS_RS2=vsnat-rs2 NS_KDIR=vsnat-kdir
# vsnatd's kernel_netns in the lab's configs with kernel mirrors: vsnatd makes and removes it;
# `down` removes it too, should a vsnatd have left it (and kills what runs in it).
readonly NS_KERNEL=vsnat-kernel
# The same for the two directors of --pair (tests/e2e/configs/pair-{a,b}-1w.yaml).
readonly NS_KERNEL_A=vsnat-kernel-a NS_KERNEL_B=vsnat-kernel-b
readonly ALL_NS=("$NS_CLIENT" "$NS_RS1" "$NS_RS2" "$NS_LAN" "$NS_KDIR" "$NS_KERNEL"
  "$NS_KERNEL_A" "$NS_KERNEL_B")
readonly IF_OUT=vsn-out IF_IN=vsn-in
# --pair: director B's links (director A has vsn-out and vsn-in).
readonly IF_OUT2=vsn-out2 IF_IN2=vsn-in2
readonly ROOT_LINKS=("$IF_OUT" "$IF_IN" "$IF_OUT2" "$IF_IN2")

readonly CLIENT_ADDR=198.18.0.1 CLIENT_EXTRA_FIRST=2 CLIENT_EXTRA_LAST=20
readonly DIR_OUT_ADDR=198.18.0.254 DIR_IN_ADDR=198.19.0.1 VIP=198.18.0.100
readonly RS1_ADDR=198.19.0.2 RS1_HTTP_PORT=80
readonly RS2_ADDR=198.19.0.3 RS2_HTTP_PORT=8000
readonly UDP_PORT=53
readonly FTP_PORT=21 FTP_PASV_MIN=30000 FTP_PASV_MAX=30099 FTP_LISTING_FILES=1500
readonly FTP_FILE_MB="${VSNAT_LAB_FTP_FILE_MB:-10}"
readonly MTU=1500

# The IPv6 twin of the plan (2001:2::/48, RFC 5180; the IPv4 plan's last digits).
readonly NET6_OUT=2001:2:0:18 NET6_IN=2001:2:0:19   # /64 each
readonly CLIENT_ADDR6=$NET6_OUT::1 DIR_OUT_ADDR6=$NET6_OUT::254 VIP6=$NET6_OUT::100
readonly DIR_IN_ADDR6=$NET6_IN::1 RS1_ADDR6=$NET6_IN::2 RS2_ADDR6=$NET6_IN::3

# Fixed, locally administered MACs that spell the IPv4 address (02:00:c6:12:00:fe = 198.18.0.254),
# so tests can write static neighbors and captures are readable. In DPDK mode the vdev port
# takes the MAC of the interface it attaches to: vsnatd's outside MAC is VSN_OUT_MAC.
readonly VSN_OUT_MAC=02:00:c6:12:00:fe VSN_IN_MAC=02:00:c6:13:00:01
readonly CLIENT_MAC=02:00:c6:12:00:01 RS1_MAC=02:00:c6:13:00:02 RS2_MAC=02:00:c6:13:00:03

# --pair: each director's own addresses and MACs; the VIP and DIR_IN_ADDR (the real servers'
# gateway) float between them.
readonly PAIR_A_OUT_ADDR=198.18.0.252 PAIR_A_IN_ADDR=198.19.0.252
readonly PAIR_B_OUT_ADDR=198.18.0.253 PAIR_B_IN_ADDR=198.19.0.253
readonly PAIR_A_OUT_MAC=02:00:c6:12:00:fc PAIR_A_IN_MAC=02:00:c6:13:00:fc
readonly PAIR_B_OUT_MAC=02:00:c6:12:00:fd PAIR_B_IN_MAC=02:00:c6:13:00:fd

# --- small helpers ---------------------------------------------------------------------------
log() { echo "lab: $*"; }
die() { echo "lab: error: $*" >&2; exit 1; }

usage() {
  cat <<EOF
usage: $(basename "$0") COMMAND

  up [--kernel-director | --pair]
                          build the lab (rebuilds it if one exists). Without a flag vsn-out
                          and vsn-in stay in the root namespace for vsnatd's DPDK vdevs; with
                          --kernel-director, namespace $NS_KDIR load-balances with nftables
                          DNAT instead; with --pair, two directors share the client's link
                          (bridge br1) and the real servers' (br0): A on $IF_OUT/$IF_IN, B on
                          $IF_OUT2/$IF_IN2, the VIP and $DIR_IN_ADDR moved by VRRP.
  down                    kill the lab's processes, delete its namespaces and veths, remove
                          $LAB_DIR (silent and successful when there is no lab)
  status                  namespaces, links, addresses, routes, server PIDs; exit 0 when the
                          lab is up and every server is alive, 1 when degraded, 3 when absent
  mkfile SIZE_MB          create $LAB_DIR/files/<SIZE_MB>M.bin (+ .sha256), served at
                          http://$VIP/files/<SIZE_MB>M.bin (1..4096)

environment: VSNAT_LAB_DIR (default /run/vsnat-lab), VSNAT_LAB_FILE_MB (file made by up,
default 100, 0 = none), VSNAT_LAB_FTP_FILE_MB (file in the FTP root, default 10, 1..1024),
VSNAT_LAB_ACCESS_LOG (1 = nginx access logs in the state dir, the
default; 0 = off, for benchmarks), VSNAT_LAB_QUEUES (RX/TX queues of the vsn-out and vsn-in
veth pairs, 1..8, default 1; 2 for vsnatd with two workers), VSNAT_LAB_IPV6 (1 = dual stack,
the default, but --pair is IPv4 only; 0 = IPv4 only). Tests can source $LAB_DIR/lab.env for
names, addresses and MACs (with LAB_IPV6=1 the *_V6 names too).
EOF
}

require_root() {
  [[ $(id -u) -eq 0 ]] || die "must run as root (it creates network namespaces and veths)"
}

require_tools() {
  local t missing=()
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
  ((${#missing[@]} == 0)) || die "missing tools: ${missing[*]} (run scripts/install-deps.sh)"
}

ns_exists() { ip netns list 2>/dev/null | awk '{print $1}' | grep -qxF -- "$1"; }

# Run a command in namespace $1; an empty $1 means the root namespace.
in_ns() {
  local ns=$1; shift
  if [[ -n $ns ]]; then ip netns exec "$ns" "$@"; else "$@"; fi
}

# `ip` in namespace $1 (empty = root).
nsip() {
  local ns=$1; shift
  if [[ -n $ns ]]; then ip -n "$ns" "$@"; else ip "$@"; fi
}

# Write a sysctl of namespace $1 through /proc/sys (procfs follows the writer's namespace).
ns_sysctl() {
  local ns=$1 key=$2 value=$3 path="/proc/sys/${2//.//}"
  [[ -e $path ]] || in_ns "$ns" test -e "$path" || return 0   # e.g. kernel without IPv6
  # shellcheck disable=SC2016  # $1/$2 are expanded by the inner sh, on purpose
  in_ns "$ns" sh -c 'echo "$1" > "$2"' sh "$value" "$path" ||
    die "cannot set $key=$value in ${ns:-root namespace}"
}

python_bin() {
  # Debian's interpreter first: it is what install-deps.sh installs, and a user's pyenv shim
  # may not resolve under `ip netns exec` with a different environment.
  if [[ -x /usr/bin/python3 ]]; then echo /usr/bin/python3; else command -v python3; fi
}

# shellcheck source=SCRIPTDIR/lab/proc.sh
source "$HELPERS/proc.sh"

# Wait, bounded, for file $1 to appear; $2 = tenths of a second. Looked for every 10 ms: the
# servers write theirs 10-80 ms after they start, and each `up` waits for four.
wait_for_file() {
  local f=$1 tries=$(($2 * 10))
  while ((tries-- > 0)); do
    [[ -s $f ]] && return 0
    sleep 0.01
  done
  return 1
}

# --- interface preparation -----------------------------------------------------------------

# Namespace-wide defaults, before any interface exists in it: no IPv6 anywhere (no router or
# neighbor solicitations reach the daemon), loopback up (servers and tools expect it).
prepare_ns() {
  local ns=$1
  ip netns add "$ns"
  ns_sysctl "$ns" net.ipv6.conf.all.disable_ipv6 1
  ns_sysctl "$ns" net.ipv6.conf.default.disable_ipv6 1
  ip -n "$ns" link set lo up
}

# Every lab interface, before it goes up: IPv6 off (per interface too: the root namespace's
# default is not ours to change, and an interface moved between namespaces gets its new
# namespace's defaults only if they were set first), MTU 1500, and TX checksum offload off.
# Why tx off: a veth that may send to a DPDK vdev (or to a peer that forwards to one) would
# otherwise hand out packets with CHECKSUM_PARTIAL, i.e. wrong checksums on the wire; ping
# still works but TCP carries nothing. Turning it off on every end keeps both modes identical.
prepare_if() {
  local ns=$1 ifname=$2
  ns_sysctl "$ns" "net.ipv6.conf.$ifname.disable_ipv6" 1
  nsip "$ns" link set "$ifname" mtu "$MTU"
  in_ns "$ns" ethtool -K "$ifname" tx off >/dev/null 2>&1 ||
    die "ethtool -K $ifname tx off failed in ${ns:-root namespace}"
  nsip "$ns" link set "$ifname" up
}

# Dual stack: 1 when this lab has IPv6 (set by `up`).
V6=0

# IPv6 on interface $2 of namespace $1, after prepare_if: no duplicate address detection, no
# router advertisements, autoconfiguration or router solicitations (the lab's addresses and
# routes are all static), then enabled. Enabling it gives the interface its link-local address.
enable_ipv6() {
  local ns=$1 ifname=$2 k
  for k in accept_dad accept_ra autoconf router_solicitations; do
    ns_sysctl "$ns" "net.ipv6.conf.$ifname.$k" 0
  done
  ns_sysctl "$ns" "net.ipv6.conf.$ifname.disable_ipv6" 0
}

# IPv6 address $3 on interface $2 of namespace $1 (extra `ip addr` words may follow), usable at
# once: nodad.
addr6() {
  local ns=$1 ifname=$2 addr=$3
  shift 3
  ip -n "$ns" -6 addr add "$addr" dev "$ifname" nodad "$@"
}

# --- building the lab ------------------------------------------------------------------------

# DPDK mode: the root kernel must stay out of the way on a director link. It carries no
# address, and arp_ignore=8 makes sure the root stack never answers ARP on it for one of its own
# addresses (arp_ignore's default answers for any local address on any interface). While no
# vsnatd is attached (before it starts, after it stops or dies), lab frames reach the root
# stack: never forward them, even on a host with ip_forward on, so nothing from 198.18.0.0/15
# can leave through the host's own routes.
quiet_root_link() {
  ns_sysctl "" "net.ipv4.conf.$1.arp_ignore" 8
  ns_sysctl "" "net.ipv4.conf.$1.forwarding" 0
}

# A port of bridge $2 in the LAN namespace.
bridge_port() {
  ip -n "$NS_LAN" link set "$1" master "$2"
  prepare_if "$NS_LAN" "$1"
}

# Director-side veth ends: $1 = namespace that gets vsn-out/vsn-in ("" = root, DPDK mode);
# $2 = the lab's mode (pair: two directors, both in the root namespace).
build_links() {
  local dns=$1 mode=$2

  # The director links get $QUEUES RX and TX queues on both ends (VSNAT_LAB_QUEUES): a veth
  # delivers a frame on the RX queue numbered like the TX queue its peer picked, and XDP on a
  # veth needs at least as many RX queues as its peer has TX queues. With 2, each of vsnatd's two
  # workers polls its own AF_XDP queue (queue_count=2).
  local q=(numtxqueues "$QUEUES" numrxqueues "$QUEUES") links=("$IF_OUT" "$IF_IN") l
  if [[ $mode == pair ]]; then
    # Each director's outside link ends in bridge br1, which the client's link joins; each
    # inside link in br0, the real servers' bridge.
    links+=("$IF_OUT2" "$IF_IN2")
    nsip "$dns" link add "$IF_OUT" address "$PAIR_A_OUT_MAC" "${q[@]}" type veth \
      peer name lan-out netns "$NS_LAN" "${q[@]}"
    nsip "$dns" link add "$IF_IN" address "$PAIR_A_IN_MAC" "${q[@]}" type veth \
      peer name lan-in netns "$NS_LAN" "${q[@]}"
    nsip "$dns" link add "$IF_OUT2" address "$PAIR_B_OUT_MAC" "${q[@]}" type veth \
      peer name lan-out2 netns "$NS_LAN" "${q[@]}"
    nsip "$dns" link add "$IF_IN2" address "$PAIR_B_IN_MAC" "${q[@]}" type veth \
      peer name lan-in2 netns "$NS_LAN" "${q[@]}"
  else
    # Outside link: vsn-out <-> vsnat-client eth0.
    nsip "$dns" link add "$IF_OUT" address "$VSN_OUT_MAC" "${q[@]}" type veth \
      peer name eth0 address "$CLIENT_MAC" netns "$NS_CLIENT" "${q[@]}"
    # Inside link: vsn-in <-> vsnat-lan lan-in (a bridge port).
    nsip "$dns" link add "$IF_IN" address "$VSN_IN_MAC" "${q[@]}" type veth \
      peer name lan-in netns "$NS_LAN" "${q[@]}"
  fi
  for l in "${links[@]}"; do
    [[ -n $dns ]] || quiet_root_link "$l"
    prepare_if "$dns" "$l"
  done

  # The LAN: a plain learning bridge. STP off and forward delay 0 so ports forward at once;
  # multicast snooping off (nothing to snoop; VRRP's and connection sync's groups are flooded);
  # the host has br_netfilter loaded, which would push bridged frames through this namespace's
  # netfilter hooks: switch that off too.
  ip -n "$NS_LAN" link add br0 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
  local k
  for k in iptables ip6tables arptables; do
    ns_sysctl "$NS_LAN" "net.bridge.bridge-nf-call-$k" 0
  done
  prepare_if "$NS_LAN" br0   # carries no address; tx off only for uniformity
  bridge_port lan-in br0
  if [[ $mode == pair ]]; then
    bridge_port lan-in2 br0
    # The outside: br1, the directors' outside links and the client's.
    ip -n "$NS_LAN" link add br1 type bridge stp_state 0 forward_delay 0 mcast_snooping 0
    prepare_if "$NS_LAN" br1
    bridge_port lan-out br1
    bridge_port lan-out2 br1
    ip -n "$NS_LAN" link add lan-cl type veth peer name eth0 address "$CLIENT_MAC" netns "$NS_CLIENT"
    bridge_port lan-cl br1
  fi

  # Real-server links: lan-rsN <-> vsnat-rsN eth0.
  local n ns mac
  for n in 1 2; do
    ns="vsnat-rs$n"; mac="RS${n}_MAC"
    ip -n "$NS_LAN" link add "lan-rs$n" type veth peer name eth0 address "${!mac}" netns "$ns"
    bridge_port "lan-rs$n" br0
  done

  # Client: primary address first so it is the source of everything the client sends; the
  # extra addresses (198.18.0.2-20) are secondaries for tests that need several client IPs.
  prepare_if "$NS_CLIENT" eth0
  ip -n "$NS_CLIENT" addr add "$CLIENT_ADDR/24" dev eth0
  local i
  for ((i = CLIENT_EXTRA_FIRST; i <= CLIENT_EXTRA_LAST; i++)); do
    ip -n "$NS_CLIENT" addr add "198.18.0.$i/24" dev eth0
  done
  # A pair has no fixed outside address in common: the client reaches the VIP on-link.
  [[ $mode == pair ]] || ip -n "$NS_CLIENT" route add default via "$DIR_OUT_ADDR" dev eth0
  if ((V6)); then
    # ::1 as the client's address; the extras deprecated, so never chosen as a source.
    ns_sysctl "$NS_CLIENT" net.ipv6.conf.lo.disable_ipv6 0
    enable_ipv6 "$NS_CLIENT" eth0
    addr6 "$NS_CLIENT" eth0 "$CLIENT_ADDR6/64"
    for ((i = CLIENT_EXTRA_FIRST; i <= CLIENT_EXTRA_LAST; i++)); do
      addr6 "$NS_CLIENT" eth0 "$NET6_OUT::$i/64" preferred_lft 0
    done
    # The VIP is on-link (2001:2:0:18::/64), the rest through the director, as in IPv4.
    ip -n "$NS_CLIENT" -6 route add default via "$DIR_OUT_ADDR6" dev eth0
  fi

  local addr
  for n in 1 2; do
    ns="vsnat-rs$n"; addr="RS${n}_ADDR"
    prepare_if "$ns" eth0
    ip -n "$ns" addr add "${!addr}/24" dev eth0
    # The director is the real servers' gateway: replies must pass through it (VS/NAT). In a
    # pair, the gateway is the floating address of the master.
    ip -n "$ns" route add default via "$DIR_IN_ADDR" dev eth0
    if ((V6)); then
      addr="RS${n}_ADDR6"
      ns_sysctl "$ns" net.ipv6.conf.lo.disable_ipv6 0
      enable_ipv6 "$ns" eth0
      addr6 "$ns" eth0 "${!addr}/64"
      ip -n "$ns" -6 route add default via "$DIR_IN_ADDR6" dev eth0
    fi
  done
}

# Kernel director: addresses, forwarding and the nftables load balancer in vsnat-kdir.
build_kernel_director() {
  ip -n "$NS_KDIR" addr add "$DIR_OUT_ADDR/24" dev "$IF_OUT"
  # /32: the VIP is one more local address (answers ARP and ping) without a second /24 route.
  ip -n "$NS_KDIR" addr add "$VIP/32" dev "$IF_OUT"
  ip -n "$NS_KDIR" addr add "$DIR_IN_ADDR/24" dev "$IF_IN"
  ns_sysctl "$NS_KDIR" net.ipv4.ip_forward 1
  if ((V6)); then
    local l
    ns_sysctl "$NS_KDIR" net.ipv6.conf.lo.disable_ipv6 0
    for l in "$IF_OUT" "$IF_IN"; do enable_ipv6 "$NS_KDIR" "$l"; done
    addr6 "$NS_KDIR" "$IF_OUT" "$DIR_OUT_ADDR6/64"
    # /128 and deprecated: one more local address (answers neighbor solicitations and ping)
    # that the director's own packets (ICMPv6 errors, neighbor discovery) do not take as their
    # source, as the IPv4 VIP is a secondary of 198.18.0.254.
    addr6 "$NS_KDIR" "$IF_OUT" "$VIP6/128" preferred_lft 0
    addr6 "$NS_KDIR" "$IF_IN" "$DIR_IN_ADDR6/64"
    ns_sysctl "$NS_KDIR" net.ipv6.conf.all.forwarding 1
  fi
  # Both tables (ip and ip6) whatever V6 says: without IPv6 addresses the ip6 one sees nothing.
  ip netns exec "$NS_KDIR" nft -f "$HELPERS/kernel-director.nft"
}

# The state dir on a tmpfs of its own where it is not on one already (/run is a tmpfs on most
# hosts, not in every container): on ext4, creating the FTP listing's 1500 files right after the
# last lab deleted theirs took 2 of the 3 s `up` took (its inode allocator checks each recently
# freed inode; 1.1 s on a tmpfs). `down` unmounts it. Where mounting is not allowed, a directory.
mount_state_dir() {
  mkdir -p "$LAB_DIR"
  [[ $(stat -f -c %T "$LAB_DIR") != tmpfs ]] || return 0
  mount -t tmpfs -o mode=0755 vsnat-lab "$LAB_DIR" 2>/dev/null ||
    log "state in a directory on $(stat -f -c %T "$LAB_DIR") (no tmpfs could be mounted)"
}

# Record a server: "<namespace> <pid> <starttime> <label>" in $LAB_DIR/pids.
record_pid() {
  local ns=$1 pid=$2 label=$3 st
  st=$(proc_starttime "$pid") || die "$label (pid $pid) exited right after start; see $LAB_DIR"
  echo "$ns $pid $st $label" >>"$LAB_DIR/pids"
}

# start_nginx NAME NS ADDR ADDR6 PORT: ADDR6 empty = IPv4 only.
start_nginx() {
  local name=$1 ns=$2 addr=$3 addr6=$4 port=$5
  local dir="$LAB_DIR/$name" access_log listen6=""
  [[ -z $addr6 ]] || listen6="listen [$addr6]:$port backlog=4096;"
  mkdir -p "$dir/tmp"
  # Buffered access log by default (tests can see what the real server saw); benchmarks can
  # turn it off with VSNAT_LAB_ACCESS_LOG=0 so they do not measure logging.
  if [[ $ACCESS_LOG == 0 ]]; then
    access_log="off"
  else
    access_log="$dir/access.log vsnat buffer=256k flush=1s"
  fi
  sed -e "s|@NAME@|$name|g" -e "s|@ACCESS_LOG@|$access_log|g" -e "s|@ADDR@|$addr|g" -e "s|@PORT@|$port|g" \
    -e "s|@LISTEN6@|$listen6|g" -e "s|@DIR@|$dir|g" -e "s|@FILES@|$LAB_DIR/files|g" \
    "$HELPERS/nginx.conf.in" >"$dir/nginx.conf"
  # -e: the error log must be ours from the first line (not /var/log/nginx/error.log).
  # nginx daemonizes; its pid file appears once the listening socket is open.
  ip netns exec "$ns" nginx -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" \
    </dev/null >>"$dir/start.log" 2>&1 || die "nginx $name failed to start: $(tail -n 5 "$dir/error.log" "$dir/start.log" 2>/dev/null)"
  wait_for_file "$dir/nginx.pid" 50 || die "nginx $name wrote no pid file within 5 s"
  record_pid "$ns" "$(<"$dir/nginx.pid")" "nginx-$name"
}

# start_udp_echo NAME NS ADDR [ADDR6]
start_udp_echo() {
  local name=$1 ns=$2 addr=$3 addr6=${4:-}
  local dir="$LAB_DIR/$name" binds=(--bind "$addr")
  [[ -z $addr6 ]] || binds+=(--bind "$addr6")
  mkdir -p "$dir"
  # setsid: no controlling terminal, so closing the shell that ran `lab.sh up` leaves it alone.
  # The server writes its pid file after bind(), which is also the readiness signal.
  setsid ip netns exec "$ns" "$(python_bin)" -u "$HELPERS/udp_echo.py" \
    "${binds[@]}" --port "$UDP_PORT" --name "$name" --pidfile "$dir/udp_echo.pid" \
    </dev/null >>"$dir/udp_echo.log" 2>&1 &
  wait_for_file "$dir/udp_echo.pid" 50 ||
    die "udp echo $name not ready within 5 s: $(tail -n 5 "$dir/udp_echo.log" 2>/dev/null)"
  record_pid "$ns" "$(<"$dir/udp_echo.pid")" "udp-echo-$name"
}

# The FTP root: root-owned and read-only (vsftpd refuses a writable chroot), with the download,
# a directory of many files and an upload directory the anonymous user (ftp) may write.
make_ftp_root() {
  local root="$LAB_DIR/ftp" i name
  mkdir -p "$root/listing" "$root/upload"
  chmod 0755 "$root" "$root/listing"
  chown ftp "$root/upload"
  head -c "$((FTP_FILE_MB * 1024 * 1024))" /dev/urandom >"$root/${FTP_FILE_MB}M.bin"
  (cd "$root" && sha256sum "${FTP_FILE_MB}M.bin" >"${FTP_FILE_MB}M.bin.sha256")
  chmod 0644 "$root/${FTP_FILE_MB}M.bin" "$root/${FTP_FILE_MB}M.bin.sha256"
  for ((i = 1; i <= FTP_LISTING_FILES; i++)); do
    printf -v name 'file-with-a-rather-long-name-%05d.txt' "$i"
    printf '%d\n' "$i" >"$root/listing/$name"
  done
}

# start_vsftpd NAME NS ADDR [ADDR6]: with ADDR6, one socket on [::] serves both families (vsftpd
# listens on one address only: listen_address for IPv4, or listen_ipv6 for both).
start_vsftpd() {
  local name=$1 ns=$2 addr=$3 addr6=${4:-}
  local dir="$LAB_DIR/$name/ftp" pid i url listen4=YES listen6=NO
  [[ -z $addr6 ]] || { listen4=NO; listen6=YES; }
  mkdir -p "$dir/empty"
  chmod 0755 "$dir/empty"
  sed -e "s|@ADDR@|$addr|g" -e "s|@LISTEN4@|$listen4|g" -e "s|@LISTEN6@|$listen6|g" \
    -e "s|@PORT@|$FTP_PORT|g" -e "s|@ROOT@|$LAB_DIR/ftp|g" \
    -e "s|@DIR@|$dir|g" -e "s|@PASV_MIN@|$FTP_PASV_MIN|g" -e "s|@PASV_MAX@|$FTP_PASV_MAX|g" \
    "$HELPERS/vsftpd.conf.in" >"$dir/vsftpd.conf"
  # In the foreground (background=NO) under setsid: $! is vsftpd itself.
  setsid ip netns exec "$ns" vsftpd "$dir/vsftpd.conf" </dev/null >>"$dir/start.log" 2>&1 &
  pid=$!
  for url in "ftp://$addr:$FTP_PORT/" ${addr6:+"ftp://[$addr6]:$FTP_PORT/"}; do
    for ((i = 0; i < 50; i++)); do
      ip netns exec "$ns" curl -gs --max-time 1 -o /dev/null "$url" && break
      kill -0 "$pid" 2>/dev/null || die "vsftpd $name exited: $(tail -n 5 "$dir/start.log")"
      sleep 0.1
    done
    ((i < 50)) || die "vsftpd $name does not answer on $url within 5 s"
  done
  record_pid "$ns" "$pid" "vsftpd-$name"
}

make_file() {
  local mb=$1
  if ! [[ $mb =~ ^[0-9]+$ ]] || ((mb < 1 || mb > 4096)); then
    die "SIZE_MB must be 1..4096, got '$mb'"
  fi
  local f="$LAB_DIR/files/${mb}M.bin"
  if [[ -s $f && -s $f.sha256 ]]; then
    log "file exists: $f"
    return 0
  fi
  # Random content: compressible or repeating data would hide corruption and flatter throughput.
  head -c "$((mb * 1024 * 1024))" /dev/urandom >"$f.tmp"
  mv "$f.tmp" "$f"
  (cd "$LAB_DIR/files" && sha256sum "${mb}M.bin" >"${mb}M.bin.sha256")
  chmod 0644 "$f" "$f.sha256"
  log "file $f ($mb MiB), sha256 $(cut -d' ' -f1 "$f.sha256"), url http://$VIP/files/${mb}M.bin"
}

# Check each real server from inside its own namespace, so a failure points at the server,
# not at the director.
self_test_servers() {
  local n ns addr port got addr6 host
  for n in 1 2; do
    ns="vsnat-rs$n"; addr="RS${n}_ADDR"; port="RS${n}_HTTP_PORT"; addr6="RS${n}_ADDR6"
    got=$(ip netns exec "$ns" curl -s --max-time 3 "http://${!addr}:${!port}/") ||
      die "nginx rs$n does not answer on ${!addr}:${!port}"
    [[ $got == "rs$n ${!addr}:${!port}" ]] || die "nginx rs$n answered '$got'"
    ((V6)) || continue
    host="[${!addr6}]:${!port}"
    got=$(ip netns exec "$ns" curl -gs --max-time 3 "http://$host/") ||
      die "nginx rs$n does not answer on $host"
    # nginx writes an IPv6 $server_addr bare: "rs1 2001:2:0:19::2:80".
    [[ $got == "rs$n ${!addr6}:${!port}" ]] || die "nginx rs$n answered '$got' on $host"
  done
}

write_env() {
  local mode=$1
  cat >"$LAB_DIR/lab.env" <<EOF
# Written by scripts/lab.sh up; source it from tests.
VSNAT_LAB_MODE=$mode
VSNAT_LAB_DIR=$LAB_DIR
LAB_NS_CLIENT=$NS_CLIENT
LAB_NS_LAN=$NS_LAN
LAB_NS_RS1=$NS_RS1
LAB_NS_RS2=$NS_RS2
LAB_NS_DIRECTOR=$([[ $mode == kernel-director ]] && echo "$NS_KDIR")
LAB_NS_KERNEL=$NS_KERNEL
LAB_IF_OUT=$IF_OUT
LAB_IF_IN=$IF_IN
LAB_QUEUES=$QUEUES
LAB_MAC_OUT=$([[ $mode == pair ]] && echo "$PAIR_A_OUT_MAC" || echo "$VSN_OUT_MAC")
LAB_MAC_IN=$([[ $mode == pair ]] && echo "$PAIR_A_IN_MAC" || echo "$VSN_IN_MAC")
LAB_MAC_CLIENT=$CLIENT_MAC
LAB_MAC_RS1=$RS1_MAC
LAB_MAC_RS2=$RS2_MAC
LAB_CLIENT=$CLIENT_ADDR
LAB_CLIENT_EXTRA="$(for ((i = CLIENT_EXTRA_FIRST; i <= CLIENT_EXTRA_LAST; i++)); do printf '198.18.0.%d ' "$i"; done | sed 's/ $//')"
LAB_DIRECTOR_OUT=$([[ $mode == pair ]] && echo "$PAIR_A_OUT_ADDR" || echo "$DIR_OUT_ADDR")/24
LAB_DIRECTOR_IN=$([[ $mode == pair ]] && echo "$PAIR_A_IN_ADDR" || echo "$DIR_IN_ADDR")/24
LAB_VIP=$VIP
LAB_RS1=$RS1_ADDR
LAB_RS1_HTTP_PORT=$RS1_HTTP_PORT
LAB_RS2=$RS2_ADDR
LAB_RS2_HTTP_PORT=$RS2_HTTP_PORT
LAB_UDP_PORT=$UDP_PORT
LAB_FILES_DIR=$LAB_DIR/files
LAB_FTP=$RS2_ADDR
LAB_FTP_PORT=$FTP_PORT
LAB_FTP_ROOT=$LAB_DIR/ftp
LAB_FTP_FILE=${FTP_FILE_MB}M.bin
LAB_FTP_LISTING_FILES=$FTP_LISTING_FILES
LAB_FTP_PASV_PORTS=$FTP_PASV_MIN-$FTP_PASV_MAX
LAB_PAIR=$([[ $mode == pair ]] && echo 1 || echo 0)
# IPv6 (LAB_IPV6=1: dual stack; the *_V6 names below are then the IPv4 ones' twins).
LAB_IPV6=$V6
EOF
  if ((V6)); then
    cat >>"$LAB_DIR/lab.env" <<EOF
LAB_CLIENT_V6=$CLIENT_ADDR6
LAB_CLIENT_EXTRA_V6="$(for ((i = CLIENT_EXTRA_FIRST; i <= CLIENT_EXTRA_LAST; i++)); do printf '%s::%d ' "$NET6_OUT" "$i"; done | sed 's/ $//')"
LAB_DIRECTOR_OUT_V6=$DIR_OUT_ADDR6/64
LAB_DIRECTOR_IN_V6=$DIR_IN_ADDR6/64
LAB_VIP_V6=$VIP6
LAB_RS1_V6=$RS1_ADDR6
LAB_RS2_V6=$RS2_ADDR6
LAB_FTP_V6=$RS2_ADDR6
EOF
  fi
  [[ $mode == pair ]] || return 0
  # Two directors: LAB_*_OUT/IN above are director A's, *2 and *_B director B's;
  # LAB_DIRECTOR_IN is A's own address, the real servers' gateway is LAB_FLOATING_IN.
  cat >>"$LAB_DIR/lab.env" <<EOF
LAB_IF_OUT2=$IF_OUT2
LAB_IF_IN2=$IF_IN2
LAB_MAC_OUT2=$PAIR_B_OUT_MAC
LAB_MAC_IN2=$PAIR_B_IN_MAC
LAB_DIRECTOR_OUT2=$PAIR_B_OUT_ADDR/24
LAB_DIRECTOR_IN2=$PAIR_B_IN_ADDR/24
LAB_FLOATING_IN=$DIR_IN_ADDR/24
LAB_NS_KERNEL_A=$NS_KERNEL_A
LAB_NS_KERNEL_B=$NS_KERNEL_B
LAB_BRIDGE_OUT=br1
LAB_BRIDGE_IN=br0
EOF
}

# A failed `up` (a failing command under set -e, or die) must not leave half a lab behind.
on_up_exit() {
  local rc=$1
  trap - EXIT
  if ((rc != 0)); then
    echo "lab: error: 'up' failed; removing the partial lab" >&2
    cmd_down >&2 || true
  fi
  exit "$rc"
}

cmd_up() {
  local mode=dpdk
  (($# <= 1)) || { usage >&2; die "up takes one option at most"; }
  while (($#)); do
    case $1 in
      --kernel-director) mode=kernel-director ;;
      --pair) mode=pair ;;
      -h | --help) usage; exit 0 ;;
      *) usage >&2; die "unknown option for up: $1" ;;
    esac
    shift
  done
  require_tools ip ethtool nginx vsftpd curl setsid sha256sum "$(python_bin)"
  [[ $mode == dpdk ]] || require_tools nft
  # Checked before anything is built, so a typo does not cost a build and a teardown.
  if ! [[ $FILE_MB =~ ^[0-9]+$ ]] || ((FILE_MB > 4096)); then
    die "VSNAT_LAB_FILE_MB must be 0..4096, got '$FILE_MB'"
  fi
  if ! [[ $FTP_FILE_MB =~ ^[0-9]+$ ]] || ((FTP_FILE_MB < 1 || FTP_FILE_MB > 1024)); then
    die "VSNAT_LAB_FTP_FILE_MB must be 1..1024, got '$FTP_FILE_MB'"
  fi
  if ! [[ $QUEUES =~ ^[1-8]$ ]]; then
    die "VSNAT_LAB_QUEUES must be 1..8, got '$QUEUES'"
  fi
  [[ $IPV6 == [01] ]] || die "VSNAT_LAB_IPV6 must be 0 or 1, got '$IPV6'"
  V6=$IPV6
  if ((V6)) && [[ $mode == pair ]]; then
    V6=0   # the pair is IPv4 only (see the top of this file)
  elif ((V6)) && [[ ! -d /proc/sys/net/ipv6 ]]; then
    log "this kernel has no IPv6: building an IPv4-only lab"
    V6=0
  fi

  # Idempotent: whatever lab (or leftover of one) exists is taken down first.
  local ns l existing=0
  [[ -e $LAB_DIR ]] && existing=1
  for ns in "${ALL_NS[@]}"; do ns_exists "$ns" && existing=1; done
  for l in "${ROOT_LINKS[@]}"; do ip link show "$l" >/dev/null 2>&1 && existing=1; done
  if ((existing)); then
    log "a lab exists: taking it down first"
    cmd_down
  fi

  trap 'echo "lab: error: command failed at line $LINENO: $BASH_COMMAND" >&2' ERR
  trap 'on_up_exit $?' EXIT
  local t0=$SECONDS
  mount_state_dir
  mkdir -p "$LAB_DIR/files"
  chmod 0755 "$LAB_DIR" "$LAB_DIR/files"   # nginx workers (www-data) read the files
  : >"$LAB_DIR/pids"
  echo "$mode" >"$LAB_DIR/mode"

  for ns in "$NS_CLIENT" "$NS_LAN" "$NS_RS1" "$NS_RS2"; do prepare_ns "$ns"; done
  if [[ $mode == kernel-director ]]; then
    prepare_ns "$NS_KDIR"
    build_links "$NS_KDIR" "$mode"
    build_kernel_director
  else
    build_links "" "$mode"
  fi

  ((FILE_MB == 0)) || make_file "$FILE_MB"
  local rs1_6="" rs2_6=""
  ((V6 == 0)) || { rs1_6=$RS1_ADDR6; rs2_6=$RS2_ADDR6; }
  start_nginx rs1 "$NS_RS1" "$RS1_ADDR" "$rs1_6" "$RS1_HTTP_PORT"
  start_nginx rs2 "$NS_RS2" "$RS2_ADDR" "$rs2_6" "$RS2_HTTP_PORT"
  start_udp_echo rs1 "$NS_RS1" "$RS1_ADDR" "$rs1_6"
  start_udp_echo rs2 "$NS_RS2" "$RS2_ADDR" "$rs2_6"
  make_ftp_root
  start_vsftpd rs2 "$NS_RS2" "$RS2_ADDR" "$rs2_6"
  self_test_servers
  write_env "$mode"
  trap - ERR EXIT

  log "up ($mode, $( ((V6)) && echo "dual stack" || echo "IPv4 only"), $QUEUES queue(s) on $IF_OUT/$IF_IN$([[ $mode != pair ]] || echo " and $IF_OUT2/$IF_IN2")) in $((SECONDS - t0)) s; state in $LAB_DIR"
  if [[ $mode == pair ]]; then
    log "director A: vsnatd on $IF_OUT ($PAIR_A_OUT_MAC, be $PAIR_A_OUT_ADDR/24) and $IF_IN ($PAIR_A_IN_MAC, be $PAIR_A_IN_ADDR/24)"
    log "director B: vsnatd on $IF_OUT2 ($PAIR_B_OUT_MAC, be $PAIR_B_OUT_ADDR/24) and $IF_IN2 ($PAIR_B_IN_MAC, be $PAIR_B_IN_ADDR/24)"
    log "floating (keepalived on the master): VIP $VIP on outside, $DIR_IN_ADDR/24 on inside"
  elif [[ $mode == dpdk ]]; then
    log "attach vsnatd to $IF_OUT ($VSN_OUT_MAC, be $DIR_OUT_ADDR/24 + VIP $VIP) and $IF_IN ($VSN_IN_MAC, be $DIR_IN_ADDR/24)"
    ((V6 == 0)) || log "IPv6: be $DIR_OUT_ADDR6/64 + VIP $VIP6 on $IF_OUT, $DIR_IN_ADDR6/64 on $IF_IN"
  else
    log "kernel director in $NS_KDIR: try  ip netns exec $NS_CLIENT curl -s http://$VIP/"
    ((V6 == 0)) || log "IPv6:  ip netns exec $NS_CLIENT curl -gs 'http://[$VIP6]/'"
  fi
}

# Send $1 (TERM/KILL) to each recorded PID that is still the process we started.
signal_recorded() {
  local sig=$1 ns pid st label alive=0
  [[ -f $LAB_DIR/pids ]] || return 1
  while read -r ns pid st label; do
    [[ -n ${pid:-} ]] || continue
    if [[ $(proc_starttime "$pid" 2>/dev/null || true) == "$st" ]]; then
      kill "-$sig" "$pid" 2>/dev/null || true
      alive=1
    fi
  done <"$LAB_DIR/pids"
  ((alive))
}

# PIDs of every process inside our namespaces (nginx workers, or a client a test left behind).
lab_ns_pids() {
  local ns
  for ns in "${ALL_NS[@]}"; do
    if ns_exists "$ns"; then ip netns pids "$ns" 2>/dev/null || true; fi
  done
}

cmd_down() {
  local did=0 i pids ns l

  # 1. The servers we started, by recorded PID + start time: SIGTERM (nginx's master stops its
  #    workers), up to 5 s, then SIGKILL.
  if signal_recorded TERM; then
    did=1
    for ((i = 0; i < 50; i++)); do
      signal_recorded 0 || break
      sleep 0.1
    done
    signal_recorded KILL || true
  fi

  # 2. Anything else still running inside the lab namespaces (by namespace name, then PID):
  #    deleting a namespace does not kill its processes, they would keep it alive.
  pids=$(lab_ns_pids)
  if [[ -n $pids ]]; then
    did=1
    # shellcheck disable=SC2086  # word splitting of the PID list is intended
    kill -TERM $pids 2>/dev/null || true
    for ((i = 0; i < 30; i++)); do
      pids=$(lab_ns_pids)
      [[ -n $pids ]] || break
      sleep 0.1
    done
    # shellcheck disable=SC2086
    [[ -z $pids ]] || kill -KILL $pids 2>/dev/null || true
  fi

  # 3. Namespaces (their veth ends go with them, and so do the root-side peers), then any
  #    root-side veth that survived (e.g. its peer namespace was already gone).
  for ns in "${ALL_NS[@]}"; do
    if ns_exists "$ns"; then
      ip netns del "$ns"
      did=1
    fi
  done
  # A namespace is destroyed asynchronously after `ip netns del`, taking the root-side peers of
  # its veths with it a moment later: `ip link del` can lose that race ("Cannot find device"),
  # which is fine as long as the link is gone afterwards.
  for l in "${ROOT_LINKS[@]}"; do
    if ip link show "$l" >/dev/null 2>&1; then
      ip link del "$l" 2>/dev/null || ! ip link show "$l" >/dev/null 2>&1 ||
        die "cannot delete link $l"
      did=1
    fi
  done

  # 4. State.
  if [[ -e $LAB_DIR ]]; then
    if mountpoint -q "$LAB_DIR"; then
      umount "$LAB_DIR" 2>/dev/null || umount --lazy "$LAB_DIR"
    fi
    rm -rf -- "$LAB_DIR"
    did=1
  fi
  ((did == 0)) || log "down"
}

cmd_status() {
  local mode="none" ns l rc=0 up=0 pid st label now f
  [[ -f $LAB_DIR/mode ]] && mode=$(<"$LAB_DIR/mode")
  echo "mode: $mode$(grep -qx 'LAB_IPV6=1' "$LAB_DIR/lab.env" 2>/dev/null && echo ", dual stack")   state dir: $LAB_DIR$([[ -e $LAB_DIR ]] || echo ' (absent)')"

  echo "namespaces:"
  for ns in "${ALL_NS[@]}"; do
    if ns_exists "$ns"; then echo "  $ns"; up=1; fi
  done

  echo "root-namespace links:"
  for l in "${ROOT_LINKS[@]}"; do
    if ip link show "$l" >/dev/null 2>&1; then
      echo "  $(ip -br link show "$l")   addrs: $(ip -br addr show "$l" | awk '{$1=$2=""; print $0}' | xargs)"
      up=1
    fi
  done

  for ns in "${ALL_NS[@]}"; do
    ns_exists "$ns" || continue
    echo "[$ns]"
    ip -n "$ns" -br addr show | sed 's/^/  /'
    ip -n "$ns" route show | sed 's/^/  route: /'
    ip -n "$ns" -6 route show 2>/dev/null | grep -v '^fe80::/64' | sed 's/^/  route6: /' || true
  done

  if [[ $mode == kernel-director ]] && ns_exists "$NS_KDIR"; then
    echo "[$NS_KDIR nftables]"
    for f in ip ip6; do
      ip netns exec "$NS_KDIR" nft list table "$f" vsnat_kdir 2>/dev/null |
        grep -E 'dnat|reject|helper set' | sed "s/^[[:space:]]*/  $f: /" || true
    done
  fi

  echo "servers:"
  if [[ -f $LAB_DIR/pids ]]; then
    while read -r ns pid st label; do
      now=$(proc_starttime "$pid" 2>/dev/null || true)
      if [[ $now == "$st" ]]; then
        echo "  $label pid $pid ($ns) alive"
      else
        echo "  $label pid $pid ($ns) DEAD"
        rc=1
      fi
    done <"$LAB_DIR/pids"
  else
    echo "  none recorded"
  fi
  for ns in "$NS_RS1" "$NS_RS2"; do
    ns_exists "$ns" || continue
    echo "  listening in $ns: $(ip netns exec "$ns" ss -Hlntu | awk '{print $1 " " $5}' | xargs)"
  done

  if ((up == 0)); then return 3; fi
  [[ -f $LAB_DIR/pids ]] || rc=1
  return "$rc"
}

cmd_mkfile() {
  (($# == 1)) || { usage >&2; exit 2; }
  [[ -d $LAB_DIR/files ]] || die "no lab in $LAB_DIR: run '$0 up' first"
  require_tools sha256sum
  make_file "$1"
}

main() {
  local cmd=${1:-}
  case $cmd in
    -h | --help | help) usage; exit 0 ;;
    "") usage >&2; exit 2 ;;
  esac
  shift
  require_root
  case $cmd in
    up) cmd_up "$@" ;;
    down) (($# == 0)) || die "down takes no arguments"; cmd_down ;;
    status) cmd_status ;;
    mkfile) cmd_mkfile "$@" ;;
    *) usage >&2; die "unknown command: $cmd" ;;
  esac
}

main "$@"
