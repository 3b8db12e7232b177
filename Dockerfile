# vsnatd and vsnatctl on Debian 12: a build stage with the same install script CI and newcomers
# use, and a runtime stage with the binaries, their libraries and the DPDK drivers.
#   docker build -t vsnat .        (run it: README.md, "Container image")

FROM debian:12 AS build
WORKDIR /src/vsnat
COPY scripts/install-deps.sh scripts/install-deps.sh
RUN bash scripts/install-deps.sh && rm -rf /var/lib/apt/lists/*
COPY . .
# -Dmarch=x86-64-v2: a portable baseline instead of this build machine's CPU (-march=native),
# the ISA level DPDK's Debian package itself is built for (-march=corei7 in libdpdk.pc).
RUN meson setup /build -Dwerror=true -Dmarch=x86-64-v2 \
 && ninja -C /build \
 && meson test -C /build --suite unit --print-errorlogs \
 && meson install -C /build --no-rebuild --strip --destdir /staging

FROM debian:12
# The runtime packages, all in this one list (build dependencies: scripts/install-deps.sh):
# - vsnatd's libraries (readelf -d: NEEDED), by Debian package;
# - the DPDK drivers EAL loads at start from its plugin directory,
#   /usr/lib/x86_64-linux-gnu/dpdk/pmds-23.0/ (each package puts its driver there): the mempool
#   and bus drivers, the vdevs (AF_PACKET, AF_XDP, TAP, memif, pcap, null, ring), virtio, and the
#   Intel (e1000/igb, ixgbe, i40e, ice, iavf) and Mellanox (mlx5) PCI drivers; VFIO is in EAL;
# - dpdk: dpdk-devbind.py and dpdk-hugepages.py (with python3, pciutils); iproute2: devbind's
#   --status runs `ip`.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libyaml-cpp0.7 libspdlog1.10 libfmt9 libcpp-httplib0.11 \
      librte-eal23 librte-ethdev23 librte-mbuf23 librte-mempool23 librte-ring23 librte-rcu23 \
      librte-telemetry23 \
      librte-mempool-ring23 librte-bus-pci23 librte-bus-vdev23 \
      librte-net-af-packet23 librte-net-af-xdp23 librte-net-tap23 librte-net-memif23 \
      librte-net-pcap23 librte-net-null23 librte-net-ring23 librte-net-virtio23 \
      librte-net-e1000-23 librte-net-ixgbe23 librte-net-i40e23 librte-net-ice23 \
      librte-net-iavf23 librte-net-mlx5-23 \
      dpdk iproute2 \
 && apt-get clean && rm -rf /var/lib/apt/lists/*
COPY --from=build /staging/usr/local/bin/vsnatd /staging/usr/local/bin/vsnatctl /usr/local/bin/
# dpdk-telemetry.py comes with dpdk-dev (8 MB and all of DPDK's libraries): only the script.
COPY --from=build /usr/bin/dpdk-telemetry.py /usr/local/bin/
COPY config/example.yaml /etc/vsnat/vsnat.yaml
STOPSIGNAL SIGTERM
ENTRYPOINT ["vsnatd"]
CMD ["-c", "/etc/vsnat/vsnat.yaml"]
