#!/usr/bin/env bash
# Installs every Debian package vsnat needs to build, test, run its lab and its benchmarks.
# Idempotent: packages already present are not downloaded again.
set -euo pipefail

packages=(
  # build
  build-essential pkg-config meson ninja-build clang-format shellcheck git
  dpdk dpdk-dev libdpdk-dev libyaml-cpp-dev libspdlog-dev libfmt-dev catch2 nlohmann-json3-dev
  libcpp-httplib-dev
  libbpf-dev libxdp-dev libpcap-dev libnuma-dev
  # sanitizer and fuzzing builds (scripts/sanitize.sh, scripts/fuzz.sh): clang, and its ASan,
  # UBSan and libFuzzer runtimes
  clang libclang-rt-14-dev
  # the TRex profiles' unit test (tests/scenarios): scapy builds and parses their packets
  python3-scapy
  # lab, demo and end-to-end tests (python3-prometheus-client: hostile_local.sh reads /metrics
  # back with Prometheus's own parser)
  iproute2 ethtool iputils-ping curl nginx-light vsftpd python3 socat wrk jq
  python3-prometheus-client
  # the kernel side of the director (tests/e2e/kernel_*.sh): BIRD 2 peers by BGP over a port's
  # kernel mirror; tcpdump watches the mirror
  bird2 tcpdump
  # a pair of directors (scripts/lab/keepalived.sh, tests/e2e/pair_failover.sh): keepalived's
  # VRRP in each director's kernel_netns; arping asks who answers for the floating addresses
  keepalived iputils-arping
  # scripts/lab.sh up --kernel-director (nftables DNAT director, kernel baseline benchmark)
  nftables
  # scripts/pktgen.sh builds Pktgen-DPDK 23.06.1 (not a Debian package) with its Lua scripting,
  # which the scenarios in pktgen-scenarios/pktgen/ need
  liblua5.3-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
