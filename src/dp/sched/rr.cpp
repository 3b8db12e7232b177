// Round robin, as LVS's ip_vs_rr: the next server after the last one picked, skipping quiesced
// (weight 0) and overloaded servers.
#include "dp/sched/rr.hpp"

namespace vsnat::dp {

int32_t RoundRobin::pick(std::span<const Destination> servers, const FlowKey&,
                         const ServerLoad& load) {
    const auto n = static_cast<int32_t>(servers.size());
    int32_t i = last_;  // below n (a reload rebuilds the scheduler with its servers)
    for (int32_t step = 1; step <= n; ++step) {
        if (++i >= n) {
            i = 0;
        }
        if (available(servers, static_cast<size_t>(i), load)) {
            last_ = i;
            return i;
        }
    }
    return kNone;
}

}  // namespace vsnat::dp
