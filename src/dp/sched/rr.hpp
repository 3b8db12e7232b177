#pragma once

#include "dp/sched/scheduler.hpp"

namespace vsnat::dp {

/// Round robin, as LVS's ip_vs_rr: the next available server after the last one picked.
class RoundRobin final : public Scheduler {
  public:
    explicit RoundRobin(SharedSchedulerState& shared) : Scheduler(shared) {}
    int32_t pick(std::span<const Destination> servers, const FlowKey& inbound,
                 const ServerLoad& load) override;

  private:
    int32_t last_ = -1;
};

}  // namespace vsnat::dp
