#pragma once

#include "dp/sched/least_overhead.hpp"

namespace vsnat::dp {

/// Shortest expected delay, as LVS's ip_vs_sed: the available server with the least
/// (active + 1) / weight; inactive connections cost a server nothing.
class ShortestExpectedDelay final : public LeastOverheadScheduler {
  public:
    explicit ShortestExpectedDelay(SharedSchedulerState& shared) : LeastOverheadScheduler(shared) {}
    int32_t pick(std::span<const Destination> servers, const FlowKey& inbound,
                 const ServerLoad& load) override;
};

}  // namespace vsnat::dp
