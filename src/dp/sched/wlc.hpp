#pragma once

#include "dp/sched/least_overhead.hpp"

namespace vsnat::dp {

/// Weighted least connection, as LVS's ip_vs_wlc: the available server with the least
/// (active * 256 + inactive connections) / weight.
class WeightedLeastConnection final : public LeastOverheadScheduler {
  public:
    explicit WeightedLeastConnection(SharedSchedulerState& shared)
        : LeastOverheadScheduler(shared) {}
    int32_t pick(std::span<const Destination> servers, const FlowKey& inbound,
                 const ServerLoad& load) override;
};

}  // namespace vsnat::dp
