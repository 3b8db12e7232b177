#include "dp/sched/fo.hpp"

namespace vsnat::dp {

int32_t WeightedFailover::pick(std::span<const Destination> servers, const FlowKey&,
                               const ServerLoad& load) {
    int32_t best = kNone;
    uint32_t best_weight = 0;
    for (size_t i = 0; i < servers.size(); ++i) {
        // LVS: weight > hw (strict, so the first of equals stays) and not overloaded. Checking
        // the weight first keeps the threshold sums off servers that could not win anyway.
        if (servers[i].weight > best_weight && available(servers, i, load)) {
            best = static_cast<int32_t>(i);
            best_weight = servers[i].weight;
        }
    }
    return best;
}

}  // namespace vsnat::dp
