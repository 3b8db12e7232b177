// What LVS's lc, wlc, sed and nq share: one scan for the available server with the least
// overhead per unit of weight. They differ only in how overhead is counted, whether weight
// divides it, and whether an idle server wins at once.
#pragma once

#include <algorithm>

#include "dp/sched/scheduler.hpp"

namespace vsnat::dp {

class LeastOverheadScheduler : public Scheduler {
  protected:
    using Scheduler::Scheduler;

    /// Counts are clamped to 2^32 (no table holds more connections), so an overhead stays below
    /// 2^41 and overhead * weight (weight < 2^16) below 2^57: the cross-multiplication LVS uses
    /// instead of a division cannot overflow.
    static uint64_t clamp_count(uint64_t count) { return std::min<uint64_t>(count, 1ULL << 32); }

    /// The available server with the least overhead(dest_id) / weight (or least overhead when
    /// not `weighted`), compared by cross-multiplying as LVS does; on a tie the first in config
    /// order. With `idle_first` (nq), the first available server with no active connection
    /// wins at once. kNone when no server is available. The owning worker only.
    template <class Overhead>
    int32_t least(std::span<const Destination> servers, const ServerLoad& load, bool weighted,
                  bool idle_first, Overhead&& overhead) {
        int32_t least = kNone;
        uint64_t least_overhead = 0;
        uint64_t least_weight = 1;
        for (size_t i = 0; i < servers.size(); ++i) {
            if (!available(servers, i, load)) {
                continue;
            }
            const Destination& d = servers[i];
            if (idle_first && load.active(d.dest_id) == 0) {
                return static_cast<int32_t>(i);
            }
            const uint64_t o = overhead(d.dest_id);
            const uint64_t w = weighted ? d.weight : 1;
            // LVS: loh * dest->weight > doh * least->weight (strict: ties keep the first).
            if (least == kNone || least_overhead * w > o * least_weight) {
                least = static_cast<int32_t>(i);
                least_overhead = o;
                least_weight = w;
            }
        }
        return least;
    }

    /// LVS ip_vs_dest_conn_overhead: an active connection weighs 256 inactive ones.
    static uint64_t connection_overhead(const ServerLoad& load, uint16_t dest_id) {
        return clamp_count(load.active(dest_id)) * 256 + clamp_count(load.inactive(dest_id));
    }
    /// LVS ip_vs_sed_dest_overhead (also nq's): the expected delay of one more connection.
    static uint64_t expected_delay_overhead(const ServerLoad& load, uint16_t dest_id) {
        return clamp_count(load.active(dest_id)) + 1;
    }
};

}  // namespace vsnat::dp
