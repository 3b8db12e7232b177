#include "dp/sched/table_scheduler.hpp"

namespace vsnat::dp {

int32_t TableScheduler::pick_slot(size_t slot, size_t walk_from,
                                  std::span<const Destination> servers, const ServerLoad& load) {
    const std::vector<uint16_t>& slots = shared_.slots;
    if (slots.empty() || slots[slot] == SharedSchedulerState::kEmpty) {
        return kNone;
    }
    if (available(servers, slots[slot], load)) {
        return slots[slot];
    }
    // A walk over a whole Maglev table costs 65537 steps: skip it when it cannot succeed.
    if (!any_available(servers, load)) {
        return kNone;
    }
    const size_t n = slots.size();
    size_t at = walk_from % n;  // once per walk, not per step
    for (size_t step = 0; step < n; ++step, at = at + 1 == n ? 0 : at + 1) {
        const uint16_t s = slots[at];
        if (s != SharedSchedulerState::kEmpty && available(servers, s, load)) {
            return s;
        }
    }
    return kNone;
}

std::vector<uint16_t> lvs_bucket_table(std::span<const Destination> servers, bool weighted) {
    constexpr size_t kBuckets = 256;
    std::vector<uint16_t> t(kBuckets, SharedSchedulerState::kEmpty);
    if (servers.empty()) {
        return t;
    }
    size_t p = 0;
    uint32_t count = 0;
    for (uint16_t& bucket : t) {
        bucket = static_cast<uint16_t>(p);
        // LVS: "Don't move to next dest until filling weight" (++d_count >= weight).
        if (++count >= (weighted ? servers[p].weight : 1)) {
            p = (p + 1) % servers.size();
            count = 0;
        }
    }
    return t;
}

}  // namespace vsnat::dp
