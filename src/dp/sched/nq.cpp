#include "dp/sched/nq.hpp"

namespace vsnat::dp {

int32_t NeverQueue::pick(std::span<const Destination> servers, const FlowKey&,
                         const ServerLoad& load) {
    return least(servers, load, /*weighted=*/true, /*idle_first=*/true,
                 [&load](uint16_t dest_id) { return expected_delay_overhead(load, dest_id); });
}

}  // namespace vsnat::dp
