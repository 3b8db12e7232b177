// vsnatd's life: EAL, ports, tables, workers, then the control loop until a stop signal.
#pragma once

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "cp/config.hpp"
#include "cp/metrics.hpp"
#include "cp/snapshot_builder.hpp"
#include "dp/alg/expectation.hpp"
#include "dp/alg/ftp_control.hpp"
#include "dp/conn_table.hpp"
#include "dp/neighbor.hpp"
#include "dp/persistence.hpp"
#include "dp/snapshot.hpp"
#include "dp/worker.hpp"
#include "io/port.hpp"

struct rte_mempool;
struct rte_ring;
struct rte_rcu_qsbr;

namespace vsnat::cp {

/// Totals over all workers, for one real server (by dest id).
dp::DestCounters sum_dest_counters(const std::vector<dp::WorkerContext*>& workers,
                                   uint16_t dest_id);

/// Rates over the last estimation interval (LVS's 2-second estimator), per second.
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

/// One real server's Rates, written by the control thread, read by telemetry.
struct DestRates {
    std::atomic<uint64_t> cps{0};
    std::atomic<uint64_t> in_pps{0};
    std::atomic<uint64_t> out_pps{0};
    std::atomic<uint64_t> in_bps{0};
    std::atomic<uint64_t> out_bps{0};

    Rates load() const {
        return {cps.load(std::memory_order_relaxed), in_pps.load(std::memory_order_relaxed),
                out_pps.load(std::memory_order_relaxed), in_bps.load(std::memory_order_relaxed),
                out_bps.load(std::memory_order_relaxed)};
    }
};

/// One configuration in force: the file as read and the dataplane snapshot built from it.
/// Published as a whole; readers outside the workers (telemetry, metrics) hold a reference for
/// as long as they look at it.
struct Generation {
    Config config;
    std::unique_ptr<dp::Snapshot> snapshot;
};

/// What a reload did: applied, or refused with every reason (`FILE:LINE:COL: message` lines for
/// errors in the file).
struct ReloadResult {
    bool applied = false;
    std::vector<std::string> messages;
};

class Daemon {
  public:
    Daemon(Config config, std::string config_path);
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    /// Initialises everything and runs until SIGTERM/SIGINT. Returns the process exit code;
    /// start-up failures print one line to stderr and return 1.
    int run();

    // Read-only views for telemetry (any thread; counters are read without locks).
    std::shared_ptr<const Generation> generation() const {
        return generation_.load(std::memory_order_acquire);
    }
    uint64_t reloads_applied() const { return reloads_applied_.load(); }
    uint64_t reloads_refused() const { return reloads_refused_.load(); }

    /// Asks the control thread to re-read the file and waits (up to 30 s) for the outcome. Any
    /// thread but the control thread (telemetry's, for `vsnatctl reload`).
    ReloadResult request_reload();

    /// Up to `limit` connections of every worker, copied by the workers themselves; waits up to
    /// 2 s. Any thread but a worker's or the control thread's.
    std::vector<dp::ConnDump::Row> dump_connections(uint32_t limit);
    const std::vector<dp::WorkerContext*>& workers() const { return contexts_; }
    uint64_t live_connections() const;
    const DestRates& rates(uint16_t dest_id) const { return rates_[dest_id]; }

  private:
    bool start();
    void launch_workers();
    void control_loop();
    void learn_neighbors();
    void resolve_next_hops(uint64_t now_ms);
    void log_counters() const;
    ReloadResult reload();
    void serve_reload_requests();
    void publish(std::shared_ptr<const Generation> next);
    void compute_next_hops();
    void apply_static_neighbors();
    void estimate_rates(uint64_t now_ms);
    void stop_and_release();
    bool fail(const std::string& message);

    struct NextHop {
        uint16_t port_id;
        uint32_t ip;
        uint64_t last_request_ms = 0;
    };

    Config config_;
    std::string config_path_;
    std::atomic<bool> stop_{false};
    rte_mempool* pool_ = nullptr;
    std::vector<io::OpenPort> ports_;
    std::vector<PortBinding> bindings_;
    std::atomic<std::shared_ptr<const Generation>> generation_;
    std::atomic<const dp::Snapshot*> snapshot_{nullptr};  // what workers read
    rte_rcu_qsbr* qsbr_ = nullptr;
    std::atomic<uint64_t> reloads_applied_{0};
    std::atomic<uint64_t> reloads_refused_{0};
    std::vector<std::unique_ptr<dp::ConnDump>> dumps_;
    std::mutex dump_mutex_;    // one dump at a time
    std::mutex reload_mutex_;  // one vsnatctl reload at a time
    std::mutex reload_state_mutex_;
    std::condition_variable reload_done_;
    bool reload_wanted_ = false;
    uint64_t reload_sequence_ = 0;
    ReloadResult last_reload_;
    dp::NeighborTable neighbors_;
    std::vector<std::unique_ptr<dp::ConnTable>> tables_;
    std::unique_ptr<dp::PersistenceTable> persistence_;
    // The FTP helper's: always made, so that a reload can enable it.
    std::vector<std::unique_ptr<dp::HalfOpenQueue>> half_open_;      // per worker
    std::vector<std::unique_ptr<dp::FtpControlPool>> ftp_controls_;  // per worker
    std::unique_ptr<dp::ExpectationTable> expectations_;
    std::vector<std::vector<dp::DestCounters>> dest_counters_;
    std::vector<dp::DestCounters*> all_dest_counters_;
    std::vector<dp::WorkerContext*> contexts_;
    std::vector<dp::WorkerSetup> setups_;
    std::vector<rte_ring*> rings_;
    rte_ring* sightings_ = nullptr;
    std::vector<NextHop> next_hops_;
    std::unique_ptr<DestRates[]> rates_ = std::make_unique<DestRates[]>(dp::kMaxDestinations);
    std::vector<dp::DestCounters> rate_base_ = std::vector<dp::DestCounters>(dp::kMaxDestinations);
    uint64_t rate_base_ms_ = 0;
    MetricsServer metrics_;
    bool eal_ready_ = false;
    bool workers_launched_ = false;
};

}  // namespace vsnat::cp
