#pragma once

#include "dp/sched/least_overhead.hpp"

namespace vsnat::dp {

/// Never queue, as LVS's ip_vs_nq: the first available server with no active connection; when
/// every one has some, the least (active + 1) / weight, as sed.
class NeverQueue final : public LeastOverheadScheduler {
  public:
    explicit NeverQueue(SharedSchedulerState& shared) : LeastOverheadScheduler(shared) {}
    int32_t pick(std::span<const Destination> servers, const FlowKey& inbound,
                 const ServerLoad& load) override;
};

}  // namespace vsnat::dp
