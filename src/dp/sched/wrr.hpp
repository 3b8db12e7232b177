#pragma once

#include "dp/sched/scheduler.hpp"

namespace vsnat::dp {

/// Weighted round robin exactly as LVS's ip_vs_wrr: the current weight steps down from the
/// maximum by the gcd of the weights; each pass picks, in order, the servers whose weight
/// reaches it and are not overloaded. Weights 4,3,2 give A A B A B C A B C.
class WeightedRoundRobin final : public Scheduler {
  public:
    WeightedRoundRobin(std::span<const Destination> servers, SharedSchedulerState& shared);
    int32_t pick(std::span<const Destination> servers, const FlowKey& inbound,
                 const ServerLoad& load) override;

  private:
    int32_t index_ = -1;       // last server looked at
    int64_t current_ = 0;      // current weight (LVS mark->cw)
    uint32_t max_weight_ = 0;  // LVS mark->mw
    uint32_t gcd_ = 1;         // LVS mark->di
    /// Servers looked at before giving up: some server qualifies within one full descent of
    /// the current weight plus one pass. Computed once, so a pick divides nothing.
    int64_t step_limit_ = 0;
};

}  // namespace vsnat::dp
