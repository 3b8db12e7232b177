// The one interface every scheduler implements (LVS's ip_vs_scheduler, DPVS's dp_vs_scheduler).
#pragma once

#include <cstdint>
#include <memory>
#include <span>

#include "dp/conn.hpp"

namespace vsnat::dp {

/// A real server as the dataplane sees it. Address and port in network order.
struct Destination {
    uint32_t ip = 0;
    uint16_t port = 0;
    uint16_t dest_id = 0;  // stable across reloads
    uint32_t weight = 0;   // 0: quiesced, gets no new connections
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

/// Picks a real server for a new connection. Each worker owns its own instance per service, so
/// implementations keep plain (non-atomic) state. Called on the packet path: no allocation.
class Scheduler {
  public:
    static constexpr int32_t kNone = -1;

    virtual ~Scheduler() = default;
    /// Index into `servers` of the chosen one, or kNone when none is available.
    virtual int32_t pick(std::span<const Destination> servers, const FlowKey& inbound,
                         const ServerLoad& load) = 0;
};

enum class SchedulerKind : uint8_t { rr, wrr };

std::unique_ptr<Scheduler> make_scheduler(SchedulerKind kind, std::span<const Destination> servers);

}  // namespace vsnat::dp
