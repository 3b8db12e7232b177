#include "dp/sched/wrr.hpp"

#include <numeric>

namespace vsnat::dp {

WeightedRoundRobin::WeightedRoundRobin(std::span<const Destination> servers,
                                       SharedSchedulerState& shared)
    : Scheduler(shared) {
    uint32_t g = 0;
    for (const Destination& d : servers) {
        max_weight_ = std::max(max_weight_, d.weight);
        g = std::gcd(g, d.weight);
    }
    gcd_ = g == 0 ? 1 : g;
    // LVS: mw = max - (di - 1), and the first pass starts at mw.
    max_weight_ = max_weight_ == 0 ? 0 : max_weight_ - (gcd_ - 1);
    current_ = 0;
    step_limit_ = static_cast<int64_t>(servers.size()) * (max_weight_ / gcd_ + 2);
}

int32_t WeightedRoundRobin::pick(std::span<const Destination> servers, const FlowKey&,
                                 const ServerLoad& load) {
    const auto n = static_cast<int32_t>(servers.size());
    if (max_weight_ == 0 || n == 0 || !any_available(servers, load)) {
        return kNone;
    }
    for (int64_t step = 0; step < step_limit_; ++step) {
        if (++index_ >= n) {
            index_ = 0;
        }
        if (index_ == 0) {  // a new pass (the first starts from index -1)
            current_ -= gcd_;
            if (current_ <= 0) {
                current_ = max_weight_;
            }
        }
        const auto i = static_cast<size_t>(index_);
        // LVS ip_vs_wrr_schedule: weight >= cw and not IP_VS_DEST_F_OVERLOAD.
        if (servers[i].weight >= current_ && available(servers, i, load)) {
            return index_;
        }
    }
    return kNone;
}

}  // namespace vsnat::dp
