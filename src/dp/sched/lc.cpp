#include "dp/sched/lc.hpp"

namespace vsnat::dp {

int32_t LeastConnection::pick(std::span<const Destination> servers, const FlowKey&,
                              const ServerLoad& load) {
    return least(servers, load, /*weighted=*/false, /*idle_first=*/false,
                 [&load](uint16_t dest_id) { return connection_overhead(load, dest_id); });
}

}  // namespace vsnat::dp
