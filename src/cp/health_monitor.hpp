// The health of the real servers (README.md, "Health checks"): the checks the configuration asks
// for, run by a HealthChecker in kernel_netns; the passive check, read from the workers' counts;
// and each server's state as the snapshot builder and the operator's views want it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "cp/config.hpp"
#include "cp/health_checker.hpp"
#include "cp/passive_check.hpp"
#include "dp/snapshot.hpp"

namespace vsnat::cp {

class Workers;

/// What a real server's check is, as the operator sees it.
struct ServerHealthView {
    bool up = true;
    std::string reason;  // the last result ("ok", "http 503", "timeout", "passive: ...")
    uint64_t probes = 0;
    uint64_t failures = 0;
};

/// Owned by the daemon; the control thread calls everything but view(), which telemetry and
/// /metrics call too.
class HealthMonitor {
  public:
    /// `netns_fd`: where the probes run (kernel_netns; -1: vsnatd's own). Borrowed.
    explicit HealthMonitor(int netns_fd) : checker_(netns_fd) {}

    /// Starts the checker's thread. False with `error` set to one line.
    bool start(std::string& error) { return checker_.start(error); }
    void stop() { checker_.stop(); }

    /// The checks of `config` from now on (at start, and before each reload's snapshot is
    /// built): servers whose check did not change keep their state; new ones start up, or down
    /// with `start: down`.
    void configure(const Config& config);

    /// Takes the checks' transitions (each logged once, with its reason) and runs the passive
    /// checks on the counts `workers` keep for the servers of `snapshot` (built from `config`).
    /// True when a server changed state: a snapshot must be built anew.
    bool poll(uint64_t now_ms, const Config& config, const dp::Snapshot& snapshot,
              const Workers& workers);

    /// Whether real server `rs` of service `s` is up (one without a check always is).
    bool up(const Service& s, const RealServer& rs) const;
    /// Its check's state; nullopt when it has none.
    std::optional<ServerHealthView> view(const RealServer& rs) const;

    /// The VIPs, of both families, with at least one real server up (what BGP advertises).
    std::set<IpAddress> served_vips(const Config& config) const;

  private:
    // A passive check's server: (protocol, VIP, port) of the service, then address and port.
    using ServerKey = std::tuple<Protocol, IpAddress, uint16_t, IpAddress, uint16_t>;
    struct Passive {
        CheckTarget target;
        PassiveWatch watch;
    };

    static CheckTarget target_of(const RealServer& rs);
    void sample_passive(uint64_t now_ms, const Config& config, const dp::Snapshot& snapshot,
                        const Workers& workers);

    HealthChecker checker_;
    std::map<ServerKey, Passive> passive_;
    uint64_t next_passive_ms_ = 0;
};

}  // namespace vsnat::cp
