#!/usr/bin/env bash
# scripts/hugepages.sh — reserve 2 MiB hugepages for vsnatd (docs/ARCHITECTURE.md, "The lab").
#
# usage: scripts/hugepages.sh [N]     (N pages of 2 MiB, default 512 = 1 GiB)
#
# Idempotent: raises /proc/sys/vm/nr_hugepages to N when it is lower (never lowers it: another
# DPDK process may be using what is there), mounts hugetlbfs at /dev/hugepages when no hugetlbfs
# is mounted there, and prints what it has. Exits 1 when fewer than N pages could be reserved
# (memory too fragmented or too small) or the mount fails.

set -euo pipefail

want=${1:-512}
if ! [[ $want =~ ^[0-9]+$ ]] || ((want < 1 || want > 65536)); then
  echo "hugepages: N must be 1..65536, got '$want'" >&2
  exit 2
fi
[[ $(id -u) -eq 0 ]] || { echo "hugepages: must run as root" >&2; exit 1; }

readonly NR=/proc/sys/vm/nr_hugepages MNT=/dev/hugepages
size_kb=$(awk '/^Hugepagesize:/{print $2}' /proc/meminfo)
[[ $size_kb == 2048 ]] || echo "hugepages: note: the default hugepage size is ${size_kb} kB, not 2048 kB" >&2

have=$(<"$NR")
if ((have < want)); then
  echo "$want" >"$NR"
  have=$(<"$NR")
fi

if ! awk -v m="$MNT" '$2 == m && $3 == "hugetlbfs" {found = 1} END {exit !found}' /proc/mounts; then
  mkdir -p "$MNT"
  mount -t hugetlbfs -o pagesize=2M nodev "$MNT"
fi

free=$(awk '/^HugePages_Free:/{print $2}' /proc/meminfo)
echo "hugepages: $have pages of ${size_kb} kB reserved ($free free), hugetlbfs at $MNT"
if ((have < want)); then
  echo "hugepages: error: wanted $want pages, the kernel gave $have" >&2
  exit 1
fi
