// Round robin, as LVS's ip_vs_rr: the next server after the last one picked, skipping quiesced
// (weight 0) and overloaded servers.
#include "dp/sched/rr.hpp"

namespace vsnat::dp {

int32_t RoundRobin::pick(std::span<const Destination> servers, const FlowKey&,
                         const ServerLoad& load) {
    const auto n = static_cast<int32_t>(servers.size());
    for (int32_t step = 1; step <= n; ++step) {
        int32_t i = (last_ + step) % n;
        if (available(servers, static_cast<size_t>(i), load)) {
            last_ = i;
            return i;
        }
    }
    return kNone;
}

}  // namespace vsnat::dp
