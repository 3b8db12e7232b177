#pragma once

#include "dp/sched/table_scheduler.hpp"

namespace vsnat::dp {

/// Destination hashing, as LVS's ip_vs_dh: the packet's destination address picks one of 256
/// buckets, which servers fill one each in turn (LVS's dh table ignores weights, which only
/// quiesce). LVS meant it for cache farms, where destinations vary; in VS/NAT the destination
/// is the service's VIP, so every connection to a service goes to one server (the VIP's
/// bucket), and only different VIPs spread. When that server is quiesced or overloaded the
/// next available one of the fallback walk takes over (LVS's dh has no fallback and refuses
/// the connection; vsnat walks as sh-fallback does).
class DestinationHash final : public TableScheduler {
  public:
    explicit DestinationHash(SharedSchedulerState& shared) : TableScheduler(shared) {}
    /// The one-bucket-per-server table. Control thread.
    static std::vector<uint16_t> build_table(std::span<const Destination> servers);
    int32_t pick(std::span<const Destination> servers, const FlowKey& inbound,
                 const ServerLoad& load) override;
};

}  // namespace vsnat::dp
