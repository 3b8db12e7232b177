// Turns a validated config into the dataplane's immutable snapshot.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "cp/config.hpp"
#include "dp/snapshot.hpp"

namespace vsnat::cp {

/// Where each configured interface ended up: its DPDK port and MAC (by interface order).
struct PortBinding {
    uint16_t port_id = 0;
    MacAddress mac{};
    uint16_t mtu = 1500;
};

/// Whether real server `rs` of service `s` is up by its health check (one without a check is).
using ServerHealth = std::function<bool(const Service& s, const RealServer& rs)>;

/// What the running director knows beyond the file.
struct LiveState {
    ServerHealth health{};  // none: every server up
    /// Under `ha.addresses: follow_kernel`, whether a kernel mirror holds VIP or floating
    /// address `address`; none: none does.
    std::function<bool(const IpAddress& address)> held{};
};

/// Builds the snapshot. Control thread only. Services and real servers keep the ids they have
/// in `previous` (the snapshot being replaced on a reload; null at start-up), matched by
/// (protocol, VIP, port) and, within a service, (address, port): so per-server counters,
/// connections and persistence templates stay with their server; so do the servers' overload
/// flags (connection thresholds). New ones get ids no recent snapshot used. `stop` is asked
/// between services (65,535 mh services take some 25 s); null when it said stop.
///
/// `live.health` decides each real server's availability: a server that is down gets weight 0
/// and `down`, and with `on_down: drop` its connections end. A service's `sorry_server` follows
/// its real servers, as its last server: weight 1 while none of them is up, else weight 0 and
/// `down`. Under `ha.addresses: follow_kernel`, `live.held` says which VIPs and floating
/// addresses are served.
std::unique_ptr<dp::Snapshot> build_snapshot(
    const Config& config, const std::vector<PortBinding>& ports, uint32_t workers,
    const dp::Snapshot* previous = nullptr, const StopCheck& stop = {}, const LiveState& live = {});

/// Server `j` of service `s` as the snapshot lists a service's servers (its real servers, then
/// its sorry server): its address and port. Any thread.
std::pair<IpAddress, uint16_t> server_endpoint(const Service& s, size_t j);

/// The dataplane's form of a configured scheduler. Any thread.
dp::SchedulerKind dataplane_scheduler(Scheduler s);

/// Network-order form of a host-order address (the dataplane keeps packet byte order).
uint32_t to_network(Ipv4 address);

}  // namespace vsnat::cp
