// vsnatd's life: EAL, packet buffers, ports, the first configuration, the workers, telemetry
// and /metrics; then the control loop until a stop signal; then everything down in reverse.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "cp/config.hpp"
#include "cp/dpdk_handles.hpp"
#include "cp/health_monitor.hpp"
#include "cp/held_addresses.hpp"
#include "cp/kernel_mirrors.hpp"
#include "cp/metrics.hpp"
#include "cp/neighbor_resolver.hpp"
#include "cp/rate_estimator.hpp"
#include "cp/reload_channel.hpp"
#include "cp/snapshot_builder.hpp"
#include "cp/sync_daemon.hpp"
#include "cp/vip_advertiser.hpp"
#include "cp/workers.hpp"
#include "dp/snapshot.hpp"
#include "io/device_lock.hpp"
#include "io/port.hpp"

namespace vsnat::cp {

/// One configuration in force: the file as read and the dataplane snapshot built from it.
/// Published as a whole; readers outside the workers (telemetry, metrics) hold a reference for
/// as long as they look at it.
struct Generation {
    Config config;
    std::unique_ptr<dp::Snapshot> snapshot;
};

class Daemon {
  public:
    Daemon(Config config, std::string config_path);
    /// Releases whatever start-up made, in reverse: workers, ports, packet buffers, EAL.
    ~Daemon();
    Daemon(const Daemon&) = delete;
    Daemon& operator=(const Daemon&) = delete;

    /// Initialises everything and runs until SIGTERM/SIGINT. Returns the process exit code;
    /// start-up failures print one line to stderr and return 1. Main thread, once.
    int run();

    // Views for telemetry and /metrics, valid between their registration and shutdown. Any
    // thread; counters are read without locks.
    std::shared_ptr<const Generation> generation() const {
        return generation_.load(std::memory_order_acquire);
    }
    uint64_t reloads_applied() const { return reloads_applied_.load(); }
    uint64_t reloads_refused() const { return reloads_refused_.load(); }
    const Workers& workers() const { return *workers_; }
    Workers& workers() { return *workers_; }
    const RateEstimator& rates() const { return rates_; }
    const dp::NeighborTable& neighbors() const { return neighbors_.table(); }
    const dp::NeighborTable6& neighbors6() const { return neighbors_.table6(); }
    const KernelMirrors& kernel_mirrors() const { return kernel_; }
    const HealthMonitor& health() const { return *health_; }
    const SyncDaemon& sync() const { return sync_; }

    /// Has the control thread re-read the file; waits up to 30 s for the outcome, refused at
    /// once when vsnatd is stopping. Any thread but the control thread.
    ReloadResult request_reload() { return reload_channel_.request(); }

  private:
    static void raise_open_file_limit();
    bool start(std::string& error);
    bool lock_devices(std::string& error);
    bool open_ports(std::string& error);
    bool serve_operators(std::string& error);
    bool start_vip_advertisement(std::string& error);
    bool create_sync(std::string& error);
    void keep_metrics_up(uint64_t now_ms);
    void control_loop();
    ReloadResult reload();
    ReloadResult load_and_publish();
    bool follow_kernel_addresses(std::string& error);
    // The servers' health and the addresses the mirrors hold, for build_snapshot.
    LiveState live_state() const;
    // A new snapshot of the running configuration with the live state as it is now.
    void republish();
    void advertise_vips();
    void publish(std::shared_ptr<const Generation> next);
    void shutdown();
    void log_counters() const;

    // Declared in the order they are made; released in reverse.
    Config config_;
    std::string config_path_;
    io::DeviceLocks device_locks_;  // released last: after EAL let go of the devices
    EalSession eal_;
    UniqueMempool pool_;
    // Made before EAL (its namespace) and after the ports (its interfaces); released after the
    // ports, which may still hold its packet buffers.
    KernelMirrors kernel_;
    SyncDaemon sync_;  // with ha.sync: its socket is in the mirrors' namespace
    io::OpenPorts ports_;
    std::vector<PortBinding> bindings_;
    std::atomic<std::shared_ptr<const Generation>> generation_;
    std::atomic<const dp::Snapshot*> snapshot_{nullptr};  // what workers read
    NeighborResolver neighbors_;
    std::unique_ptr<Workers> workers_;
    std::unique_ptr<HealthMonitor> health_;  // its probes run in the kernel mirrors' namespace
    VipAdvertiser vips_;
    HeldAddresses held_;  // under ha.addresses: follow_kernel
    RateEstimator rates_;
    ReloadChannel reload_channel_;
    MetricsServer metrics_;
    uint64_t metrics_retry_ms_ = 0;  // when keep_metrics_up tries to bind again
    unsigned metrics_failures_ = 0;
    std::atomic<uint64_t> reloads_applied_{0};
    std::atomic<uint64_t> reloads_refused_{0};
};

}  // namespace vsnat::cp
