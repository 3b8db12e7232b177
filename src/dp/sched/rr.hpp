#pragma once

#include "dp/sched/scheduler.hpp"

namespace vsnat::dp {

class RoundRobin final : public Scheduler {
  public:
    int32_t pick(std::span<const Destination> servers, const FlowKey& inbound,
                 const ServerLoad& load) override;

  private:
    int32_t last_ = -1;
};

}  // namespace vsnat::dp
