// Per-real-server rates over the last interval, as LVS's 2-second estimator reports them
// (`vsnatctl list --rate`, /vsnat/services and /vsnat/real_servers).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "dp/pipeline.hpp"
#include "dp/snapshot.hpp"

namespace vsnat::cp {

class Workers;

/// Per second, over the last estimation interval.
struct Rates {
    uint64_t cps = 0;
    uint64_t in_pps = 0;
    uint64_t out_pps = 0;
    uint64_t in_bps = 0;
    uint64_t out_bps = 0;

    Rates& operator+=(const Rates& o) {
        cps += o.cps;
        in_pps += o.in_pps;
        out_pps += o.out_pps;
        in_bps += o.in_bps;
        out_bps += o.out_bps;
        return *this;
    }
};

class RateEstimator {
  public:
    static constexpr uint64_t kIntervalMs = 2000;

    /// Every kIntervalMs, the rates of every real server of `snapshot` from the workers'
    /// counters. Control thread, each tick.
    void update(const dp::Snapshot& snapshot, const Workers& workers, uint64_t now_ms);

    /// One real server's rates. Any thread.
    Rates rates(uint16_t dest_id) const;

  private:
    /// One real server's Rates, written by the control thread, read by telemetry.
    struct Published {
        std::atomic<uint64_t> cps{0};
        std::atomic<uint64_t> in_pps{0};
        std::atomic<uint64_t> out_pps{0};
        std::atomic<uint64_t> in_bps{0};
        std::atomic<uint64_t> out_bps{0};
    };
    std::unique_ptr<Published[]> published_ = std::make_unique<Published[]>(dp::kMaxDestinations);
    std::vector<dp::DestCounters> base_ = std::vector<dp::DestCounters>(dp::kMaxDestinations);
    uint64_t base_ms_ = 0;
};

}  // namespace vsnat::cp
