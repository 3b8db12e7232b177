#include "dp/sched/sh.hpp"

namespace vsnat::dp {

std::vector<uint16_t> SourceHash::build_table(std::span<const Destination> servers) {
    return lvs_bucket_table(servers, /*weighted=*/true);
}

int32_t SourceHash::pick(std::span<const Destination> servers, const FlowKey& inbound,
                         const ServerLoad& load) {
    const size_t bucket = lvs_bucket_of(host_order(inbound.src_ip));
    // LVS ip_vs_sh_get_fallback tries bucket (offset + 2 * hash) % 256 for offset 0, 1, ...
    return pick_slot(bucket, 2 * bucket, servers, load);
}

}  // namespace vsnat::dp
