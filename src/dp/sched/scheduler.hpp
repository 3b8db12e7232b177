// The one interface every scheduler implements (LVS's ip_vs_scheduler, DPVS's dp_vs_scheduler),
// and what they share: the availability test with LVS's connection thresholds, and the slot
// tables the control thread precomputes for the hashing schedulers.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "dp/conn.hpp"

namespace vsnat::dp {

/// A real server as the dataplane sees it. Address and port in network order.
struct Destination {
    uint32_t ip = 0;  // IPv4
    uint16_t port = 0;
    uint16_t dest_id = 0;  // stable across reloads
    uint32_t weight = 0;   // 0: quiesced, gets no new connections
    /// LVS's upper and lower connection thresholds (ipvsadm -x / -y); 0 = none. See
    /// Scheduler::available().
    uint32_t max_connections = 0;
    uint32_t min_connections = 0;
    /// Its health check says down: weight 0 as well, and a persistence template naming it sends
    /// the client elsewhere (unlike a server the operator quiesced).
    bool down = false;
    Ipv6 ip6{};  // an IPv6 service's
};

/// Connection counts of real servers (by dest id) summed over all workers, as LVS keeps
/// activeconns and inactconns. Read without locks: each worker's count is exact, the sum a
/// moment old, which is all a least-connection scheduler needs.
class ServerLoad {
  public:
    virtual ~ServerLoad() = default;
    virtual uint64_t active(uint16_t dest_id) const = 0;
    virtual uint64_t inactive(uint16_t dest_id) const = 0;
};

enum class SchedulerKind : uint8_t { rr, wrr, lc, wlc, sed, nq, sh, dh, mh, fo };

/// What the schedulers of one service share across all workers, made once by the control
/// thread with the snapshot (LVS keeps the like in svc->sched_data and in each dest's flags).
struct SharedSchedulerState {
    static constexpr uint16_t kEmpty = UINT16_MAX;

    explicit SharedSchedulerState(size_t server_count) : overloaded(server_count) {}

    /// Server indexes by slot, only read once built: sh and dh's 256 buckets, mh's Maglev
    /// lookup table; empty for the other kinds. kEmpty: no server.
    std::vector<uint16_t> slots;
    /// Per server: LVS's IP_VS_DEST_F_OVERLOAD (see Scheduler::available). One flag for all
    /// workers, as LVS has one per server, so they agree on the hysteresis; written (relaxed)
    /// only when it changes.
    std::vector<std::atomic<uint8_t>> overloaded;
};

/// Picks a real server for a new connection. Each worker owns its own instance per service, so
/// implementations keep plain (non-atomic) state; what all workers share is in
/// SharedSchedulerState. Built for one service's server list (a snapshot's), and only ever
/// given that list.
class Scheduler {
  public:
    static constexpr int32_t kNone = -1;

    virtual ~Scheduler() = default;
    /// Index into `servers` of the chosen one, or kNone when none is available. The owning
    /// worker only; on the packet path: no allocation.
    virtual int32_t pick(std::span<const Destination> servers, const FlowKey& inbound,
                         const ServerLoad& load) = 0;

  protected:
    explicit Scheduler(SharedSchedulerState& shared) : shared_(shared) {}

    /// Whether servers[i] may take a new connection: a weight above 0 and not overloaded.
    /// Overloaded follows LVS (ip_vs_bind_dest / ip_vs_unbind_dest, IP_VS_DEST_F_OVERLOAD): set
    /// once active + inactive connections reach max_connections, cleared only when they fall
    /// below min_connections (or below 3/4 of max_connections when min_connections is 0). LVS
    /// updates the flag as connections come and go; here the worker whose scheduler considers
    /// the server re-evaluates the shared flag against the all-worker sum, which gives the same
    /// hysteresis without a write per connection.
    bool available(std::span<const Destination> servers, size_t i, const ServerLoad& load);
    /// Whether any server is available: lets a scheduler whose search can be long (a wrr
    /// descent, a walk of a Maglev table) give up at once when every server is overloaded.
    bool any_available(std::span<const Destination> servers, const ServerLoad& load);

    SharedSchedulerState& shared_;
};

/// The shared state of a `kind` scheduler for `servers`: flags clear, and the slot table
/// computed when the kind has one. Control thread.
std::unique_ptr<SharedSchedulerState> make_shared_state(SchedulerKind kind,
                                                        std::span<const Destination> servers);

/// A scheduler of `kind` for `servers`; `shared` is make_shared_state()'s result for the same
/// kind and servers, and must outlive it. Control thread (then handed to one worker).
std::unique_ptr<Scheduler> make_scheduler(SchedulerKind kind, std::span<const Destination> servers,
                                          SharedSchedulerState& shared);

/// Heap bytes, the allocator's overhead included, of make_shared_state(kind, servers) and of one
/// make_scheduler(kind, ...): for estimating a snapshot before building it. Any thread.
struct SchedulerFootprint {
    size_t shared = 0;
    size_t instance = 0;
};
SchedulerFootprint scheduler_footprint(SchedulerKind kind, size_t servers);

}  // namespace vsnat::dp
