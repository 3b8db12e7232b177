#include "cp/rate_estimator.hpp"

#include "cp/workers.hpp"

namespace vsnat::cp {

void RateEstimator::update(const dp::Snapshot& snapshot, const Workers& workers, uint64_t now_ms) {
    if (now_ms - base_ms_ < kIntervalMs) {
        return;
    }
    const double seconds = static_cast<double>(now_ms - base_ms_) / 1000.0;
    auto per_second = [seconds](uint64_t now, uint64_t before) {
        return static_cast<uint64_t>(static_cast<double>(now - before) / seconds + 0.5);
    };
    constexpr auto relaxed = std::memory_order_relaxed;
    for (const dp::ServiceEntry& s : snapshot.services) {
        for (const dp::Destination& d : s.servers) {
            const dp::DestCounters c = workers.dest_totals(d.dest_id);
            const dp::DestCounters& b = base_[d.dest_id];
            Published& r = published_[d.dest_id];
            r.cps.store(per_second(c.connections, b.connections), relaxed);
            r.in_pps.store(per_second(c.in_packets, b.in_packets), relaxed);
            r.out_pps.store(per_second(c.out_packets, b.out_packets), relaxed);
            r.in_bps.store(per_second(c.in_bytes, b.in_bytes) * 8, relaxed);
            r.out_bps.store(per_second(c.out_bytes, b.out_bytes) * 8, relaxed);
            base_[d.dest_id] = c;
        }
    }
    base_ms_ = now_ms;
}

Rates RateEstimator::rates(uint16_t dest_id) const {
    constexpr auto relaxed = std::memory_order_relaxed;
    const Published& r = published_[dest_id];
    return {r.cps.load(relaxed), r.in_pps.load(relaxed), r.out_pps.load(relaxed),
            r.in_bps.load(relaxed), r.out_bps.load(relaxed)};
}

}  // namespace vsnat::cp
