#pragma once

#include "dp/sched/scheduler.hpp"

namespace vsnat::dp {

/// Weighted failover, as LVS's ip_vs_fo: always the available server with the highest weight,
/// the first in config order on a tie; the others take over only when it is quiesced or
/// overloaded.
class WeightedFailover final : public Scheduler {
  public:
    explicit WeightedFailover(SharedSchedulerState& shared) : Scheduler(shared) {}
    int32_t pick(std::span<const Destination> servers, const FlowKey& inbound,
                 const ServerLoad& load) override;
};

}  // namespace vsnat::dp
