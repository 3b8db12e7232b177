#include "dp/sched/dh.hpp"

namespace vsnat::dp {

std::vector<uint16_t> DestinationHash::build_table(std::span<const Destination> servers) {
    return lvs_bucket_table(servers, /*weighted=*/false);
}

int32_t DestinationHash::pick(std::span<const Destination> servers, const FlowKey& inbound,
                              const ServerLoad& load) {
    const size_t bucket = lvs_bucket_of(host_order(inbound.dst_ip));
    return pick_slot(bucket, 2 * bucket, servers, load);
}

}  // namespace vsnat::dp
