#pragma once

#include "dp/sched/least_overhead.hpp"

namespace vsnat::dp {

/// Least connection, as LVS's ip_vs_lc: the available server with the least overhead
/// (active * 256 + inactive connections). Weights do not divide it; 0 still quiesces.
class LeastConnection final : public LeastOverheadScheduler {
  public:
    explicit LeastConnection(SharedSchedulerState& shared) : LeastOverheadScheduler(shared) {}
    int32_t pick(std::span<const Destination> servers, const FlowKey& inbound,
                 const ServerLoad& load) override;
};

}  // namespace vsnat::dp
