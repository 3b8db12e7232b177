#include "cp/daemon.hpp"

#include <malloc.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>

#include "cp/memory_budget.hpp"
#include "cp/signals.hpp"
#include "cp/steady_clock.hpp"
#include "cp/telemetry.hpp"

namespace vsnat::cp {
namespace {

// Short: a held packet waits for the control thread to learn its next hop's MAC.
constexpr auto kControlTick = std::chrono::milliseconds(1);
// A /metrics address that cannot be bound is tried again this often, and the failure logged
// again every kMetricsLogEvery attempts (once a minute).
constexpr uint64_t kMetricsRetryMs = 5000;
constexpr unsigned kMetricsLogEvery = 12;

// EAL arguments: the config's, plus a --vdev for every interface device that is a vdev the
// config did not already pass to EAL.
std::vector<std::string> eal_arguments(const Config& config) {
    std::vector<std::string> args = {"vsnatd"};
    args.insert(args.end(), config.eal.begin(), config.eal.end());
    for (const Interface& in : config.interfaces) {
        const bool is_vdev = in.device.rfind("net_", 0) == 0;
        if (is_vdev &&
            std::find(config.eal.begin(), config.eal.end(), in.device) == config.eal.end()) {
            args.push_back("--vdev");
            args.push_back(in.device);
        }
    }
    return args;
}

// A link faces the servers if some real server is reached through it.
io::LinkSide link_side(const Config& config, const Interface& in) {
    const uint32_t mask = in.prefix_len == 0 ? 0 : ~0u << (32 - in.prefix_len);
    auto on_link = [&](const IpAddress& a) {
        return a.is_v6 ? std::any_of(in.addresses6.begin(), in.addresses6.end(),
                                     [&](const Prefix6& p) { return p.holds(a.v6); })
                       : (a.v4 & mask) == (in.address & mask);
    };
    for (const Service& s : config.services) {
        for (const RealServer& rs : s.real_servers) {
            if (on_link(rs.address)) {
                return io::LinkSide::servers;
            }
        }
    }
    return io::LinkSide::clients;
}

bool same_interfaces(const std::vector<Interface>& a, const std::vector<Interface>& b) {
    return std::equal(
        a.begin(), a.end(), b.begin(), b.end(), [](const Interface& x, const Interface& y) {
            return x.name == y.name && x.device == y.device && x.address == y.address &&
                   x.prefix_len == y.prefix_len && x.gateway == y.gateway && x.mtu == y.mtu &&
                   x.kernel == y.kernel && x.kernel_type == y.kernel_type &&
                   x.floating == y.floating && x.floating6 == y.floating6 &&
                   x.addresses6 == y.addresses6 && x.gateway6 == y.gateway6;
        });
}

// Keys read once at start-up (config/README.md): a reload may not change them.
std::vector<std::string> startup_only_changes(const Config& running, const Config& next) {
    std::vector<std::string> out;
    auto check = [&out](bool same, const char* key) {
        if (!same) {
            out.push_back(std::string("'") + key +
                          "' is startup-only: restart vsnatd to change it (reload refused)");
        }
    };
    check(running.eal == next.eal, "eal");
    check(running.workers == next.workers, "workers");
    check(running.max_connections == next.max_connections, "max_connections");
    check(running.idle == next.idle, "idle");
    check(running.packet_buffers == next.packet_buffers, "packet_buffers");
    check(running.metrics == next.metrics, "metrics");
    check(running.kernel_netns == next.kernel_netns, "kernel_netns");
    check(same_interfaces(running.interfaces, next.interfaces), "interfaces");
    check(running.ha == next.ha, "ha");
    return out;
}

}  // namespace

Daemon::Daemon(Config config, std::string config_path)
    : config_(std::move(config)), config_path_(std::move(config_path)) {}

Daemon::~Daemon() = default;

int Daemon::run() {
    install_signal_handlers();
    raise_open_file_limit();
    std::string error;
    if (!start(error)) {
        shutdown();
        std::fprintf(stderr, "vsnatd: %s\n", error.c_str());  // last, where an operator looks
        return 1;
    }
    spdlog::info("vsnatd ready: {} services, {} workers, config {}", config_.services.size(),
                 config_.workers, config_path_);
    control_loop();
    spdlog::info("vsnatd stopping");
    shutdown();
    return 0;
}

// Every health-check probe in flight holds a descriptor, and /metrics and DPDK hold more: the
// soft limit (often 1024) goes up to the hard one, as servers with many sockets do.
void Daemon::raise_open_file_limit() {
    rlimit limit{};
    if (getrlimit(RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= limit.rlim_max) {
        return;
    }
    const rlim_t was = limit.rlim_cur;
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) {
        spdlog::warn("open files: cannot raise the limit from {}: {}", was, std::strerror(errno));
    }
}

// EAL, packet buffers, ports, the first snapshot, the workers; then the operators' views.
bool Daemon::start(std::string& error) {
    // Before anything is allocated: a configuration the machine cannot hold is refused whole
    // rather than failing half-way, or drawing the OOM killer (config/README.md, "Memory").
    if (const auto machine = read_machine_memory()) {
        const MemoryVerdict verdict = check_start(memory_need(config_), *machine);
        if (verdict.refusal) {
            error = config_path_ + ": " + *verdict.refusal + ": this machine cannot run it";
            return false;
        }
        if (verdict.advice) {
            spdlog::warn("{}: {}", config_path_, *verdict.advice);
        }
    }
    if (!lock_devices(error) || !kernel_.prepare(config_, error) ||
        !eal_.init(eal_arguments(config_), error)) {
        return false;
    }
    const uint32_t workers = config_.workers;
    if (rte_lcore_count() < workers + 1) {
        error = "workers: " + std::to_string(workers) + " needs " + std::to_string(workers + 1) +
                " lcores (one control, one per worker); EAL has " +
                std::to_string(rte_lcore_count()) + ": widen -l/--lcores in 'eal'";
        return false;
    }
    const unsigned mbufs = packet_buffer_count(config_);
    pool_.reset(rte_pktmbuf_pool_create("vsnat_mbufs", mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                        static_cast<int>(rte_socket_id())));
    if (!pool_) {
        error = "cannot allocate " + std::to_string(mbufs) +
                " packet buffers: " + rte_strerror(rte_errno) + " (too few hugepages?)";
        return false;
    }
    if (!open_ports(error) || !kernel_.create(config_, ports_.list(), workers, error) ||
        !create_sync(error)) {
        return false;
    }
    health_ =
        std::make_unique<HealthMonitor>(kernel_.netns() != nullptr ? kernel_.netns()->fd() : -1);
    health_->configure(config_);
    if (!follow_kernel_addresses(error)) {
        return false;
    }
    auto first = std::make_shared<Generation>();
    first->config = config_;
    first->snapshot = build_snapshot(config_, bindings_, workers, nullptr, {}, live_state());
    snapshot_.store(first->snapshot.get(), std::memory_order_release);
    neighbors_.configure(config_, bindings_, *first->snapshot, steady_ms());
    generation_.store(std::move(first), std::memory_order_release);

    WorkersSpec spec;
    spec.count = workers;
    spec.max_connections = config_.max_connections;
    spec.ipv6 = ipv6_configured(config_);
    spec.idle = config_.idle == IdleMode::poll ? dp::IdleMode::poll : dp::IdleMode::adaptive;
    spec.pool = pool_.get();
    spec.ports = ports_.list();
    spec.snapshot = &snapshot_;
    spec.neighbors = &neighbors_.table();
    spec.neighbors6 = &neighbors_.table6();
    for (uint32_t w = 0; kernel_.any() && w < workers; ++w) {
        spec.punt_to.push_back(kernel_.punt_rings(w));
    }
    spec.from_kernel = kernel_.to_ports();
    for (uint32_t w = 0; sync_.active() && w < workers; ++w) {
        spec.sync_out.push_back(sync_.from_worker(w));
        spec.sync_in.push_back(sync_.to_worker(w));
        spec.sync_resend = sync_.resend_request();
    }
    workers_ = Workers::create(spec, error);
    if (!workers_ || !workers_->launch(error)) {
        return false;
    }
    kernel_.start();
    sync_.start();
    if (!health_->start(error) || !start_vip_advertisement(error)) {
        return false;
    }
    return serve_operators(error);
}

// With ha.sync, the sync thread's rings and socket, on the sync interface's kernel mirror.
bool Daemon::create_sync(std::string& error) {
    if (!config_.ha.sync) {
        return true;
    }
    const SyncConfig& sync = *config_.ha.sync;
    const auto in = std::find_if(config_.interfaces.begin(), config_.interfaces.end(),
                                 [&](const Interface& i) { return i.name == sync.interface; });
    if (in == config_.interfaces.end() || in->kernel.empty() || kernel_.netns() == nullptr) {
        error = "ha.sync: interface " + sync.interface + " has no kernel mirror";
        return false;
    }
    return sync_.create(sync, *in, in->kernel, *kernel_.netns(), config_.workers, error);
}

// With kernel_netns, the VIPs being served are kept as addresses there for a routing daemon.
bool Daemon::start_vip_advertisement(std::string& error) {
    if (config_.kernel_netns.empty() || kernel_.netns() == nullptr) {
        return true;
    }
    if (!vips_.start(*kernel_.netns(), error)) {
        return false;
    }
    advertise_vips();
    return true;
}

// The VIPs with a real server up; under follow_kernel, of those, the ones this director holds.
void Daemon::advertise_vips() {
    std::set<IpAddress> vips = health_->served_vips(config_);
    if (held_.active()) {
        std::erase_if(vips, [this](const IpAddress& vip) { return !held_.held(vip); });
    }
    vips_.advertise(vips);
}

// Under `ha.addresses: follow_kernel`, what the kernel mirrors hold decides what is served.
bool Daemon::follow_kernel_addresses(std::string& error) {
    if (config_.ha.addresses != AddressOwnership::follow_kernel || kernel_.netns() == nullptr) {
        return true;
    }
    std::vector<std::string> mirrors;
    for (const KernelMirrors::Mirror& m : kernel_.mirrors()) {
        mirrors.push_back(m.name);
    }
    if (!held_.start(*kernel_.netns(), mirrors, error)) {
        return false;
    }
    held_.poll(config_);  // logs what is held at start
    return true;
}

LiveState Daemon::live_state() const {
    LiveState live;
    live.health = [this](const Service& s, const RealServer& rs) { return health_->up(s, rs); };
    if (held_.active()) {
        live.held = [this](const IpAddress& address) { return held_.held(address); };
    }
    return live;
}

void Daemon::republish() {
    const StopCheck stop = [] { return stop_requested(); };
    auto next = std::make_shared<Generation>();
    next->config = config_;
    next->snapshot = build_snapshot(config_, bindings_, config_.workers,
                                    generation()->snapshot.get(), stop, live_state());
    if (!next->snapshot) {
        return;  // stopping
    }
    publish(std::move(next));
    advertise_vips();
}

// Before EAL attaches to anything: a device another vsnatd holds ends the start here, so the
// other one forwards alone.
bool Daemon::lock_devices(std::string& error) {
    for (const Interface& in : config_.interfaces) {
        for (const std::string& name : io::device_lock_names(in.device)) {
            if (!device_locks_.lock(name, error)) {
                error = "interface '" + in.name + "': device '" + in.device + "' is " + error +
                        "; stop that vsnatd first: two on one device would both forward";
                return false;
            }
        }
    }
    return true;
}

bool Daemon::open_ports(std::string& error) {
    for (const Interface& in : config_.interfaces) {
        auto port = io::open_port(in.device, static_cast<uint16_t>(config_.workers),
                                  link_side(config_, in), in.mtu, pool_.get(), error);
        if (!port) {
            error = "interface '" + in.name + "': " + error;
            return false;
        }
        ports_.add(*port);
        if (port->port_id >= dp::kMaxPorts) {
            error = "interface '" + in.name + "': DPDK port id " + std::to_string(port->port_id) +
                    " is beyond the " + std::to_string(dp::kMaxPorts) + " ports vsnatd handles";
            return false;
        }
        spdlog::info("interface {} on port {} ({}), MAC {}, MTU {}, RSS to owners: {}", in.name,
                     port->port_id, port->driver, format_mac(port->mac), port->mtu,
                     port->rss ? "yes" : "no");
        bindings_.push_back({port->port_id, port->mac, port->mtu});
    }
    return true;
}

// /metrics, then telemetry: `vsnatctl` answering means start-up is over. The balancer does not
// need /metrics: when its address is taken, vsnatd runs on and keeps trying (keep_metrics_up).
bool Daemon::serve_operators(std::string& error) {
    keep_metrics_up(steady_ms());
    return register_telemetry(*this, error);
}

// Binds /metrics if it is configured and not served yet, at most every kMetricsRetryMs.
void Daemon::keep_metrics_up(uint64_t now_ms) {
    if (!config_.metrics || metrics_.serving() || now_ms < metrics_retry_ms_) {
        return;
    }
    const std::string address = format_ipv4(config_.metrics->address);
    std::string error;
    if (metrics_.start(*this, address, config_.metrics->port, error)) {
        spdlog::info("metrics on http://{}:{}/metrics (attempt {})", address, config_.metrics->port,
                     metrics_failures_ + 1);
        return;
    }
    metrics_retry_ms_ = now_ms + kMetricsRetryMs;
    if (metrics_failures_++ % kMetricsLogEvery == 0) {
        spdlog::error(
            "/metrics: {}; vsnatd forwards without /metrics and tries again every {} s "
            "(attempt {})",
            error, kMetricsRetryMs / 1000, metrics_failures_);
    }
}

void Daemon::control_loop() {
    while (!stop_requested()) {
        const uint64_t now_ms = steady_ms();
        neighbors_.poll(workers_->sightings(), workers_->arp_orders(), now_ms,
                        workers_->nd_orders());
        rates_.update(*generation()->snapshot, *workers_, now_ms);
        keep_metrics_up(now_ms);
        const bool health_changed =
            health_->poll(now_ms, config_, *generation()->snapshot, *workers_);
        const bool addresses_changed = held_.poll(config_);
        if (health_changed || addresses_changed) {
            republish();
        }
        if (take_reload_request()) {
            spdlog::info("SIGHUP: reloading {}", config_path_);
            reload();
        }
        reload_channel_.serve([this] {
            spdlog::info("vsnatctl reload: reloading {}", config_path_);
            return reload();
        });
        std::this_thread::sleep_for(kControlTick);
    }
}

void Daemon::publish(std::shared_ptr<const Generation> next) {
    std::shared_ptr<const Generation> old = generation_.load();
    snapshot_.store(next->snapshot.get(), std::memory_order_release);
    generation_.store(std::move(next), std::memory_order_release);
    // Every worker passes a quiescent point once per loop: after that, none reads `old`'s
    // snapshot. Telemetry may still hold `old`; it goes when the last reference does.
    workers_->wait_quiescent();
    old.reset();
}

ReloadResult Daemon::reload() {
    ReloadResult result = load_and_publish();
    // The file's text, its YAML tree, a refused or replaced snapshot are freed by now (unless
    // telemetry still holds the old generation), but glibc keeps freed memory for later: hand
    // it back, or a refused reload of a big file leaves the daemon that much bigger.
    malloc_trim(0);
    return result;
}

ReloadResult Daemon::load_and_publish() {
    // A stop signal ends the reading and the building between two pieces of work, so that a
    // reload of a big file does not hold vsnatd's exit for seconds.
    const StopCheck stop = [] { return stop_requested(); };
    const std::string abandoned = config_path_ + ": reload abandoned: vsnatd is stopping";
    ReloadResult result;
    LoadResult loaded = load_config_file(config_path_, stop);
    for (const ConfigError& e : loaded.errors) {
        result.messages.push_back(e.to_string());
    }
    if (loaded.config) {
        for (const std::string& m : startup_only_changes(config_, *loaded.config)) {
            result.messages.push_back(config_path_ + ": " + m);
        }
    }
    if (loaded.config && result.messages.empty()) {
        // The new snapshot is built while the running one is held.
        const auto machine = read_machine_memory();
        const auto refusal =
            machine ? check_reload(memory_need(*loaded.config), *machine) : std::nullopt;
        if (refusal) {
            result.messages.push_back(config_path_ + ": " + *refusal);
        }
    }
    if (!result.messages.empty()) {
        reloads_refused_.fetch_add(1);
        for (const std::string& m : result.messages) {
            spdlog::error("reload refused, the running configuration stays: {}", m);
        }
        return result;
    }
    auto next = std::make_shared<Generation>();
    next->config = std::move(*loaded.config);
    health_->configure(next->config);  // servers whose check is unchanged keep their state
    next->snapshot = build_snapshot(next->config, bindings_, config_.workers,
                                    generation()->snapshot.get(), stop, live_state());
    if (!next->snapshot) {
        reloads_refused_.fetch_add(1);
        spdlog::error("reload refused, the running configuration stays: {}", abandoned);
        result.messages.push_back(abandoned);
        return result;
    }
    config_ = next->config;
    neighbors_.configure(config_, bindings_, *next->snapshot, steady_ms());
    publish(std::move(next));
    advertise_vips();
    reloads_applied_.fetch_add(1);
    result.applied = true;
    spdlog::info("reload applied: {} services", config_.services.size());
    return result;
}

// The operators' views go first, each after its calls in flight have returned (a waiting
// `vsnatctl reload` is refused); then the workers stop, and their final counters are logged.
// What start() made is released by the members' destructors, in reverse.
void Daemon::shutdown() {
    vips_.stop();  // first: a routing daemon withdraws the VIPs while vsnatd still serves them
    if (health_) {
        health_->stop();
    }
    reload_channel_.close();
    unregister_telemetry();
    metrics_.stop();
    sync_.stop();
    if (workers_) {
        workers_->stop();
    }
    kernel_.stop();
    if (workers_) {
        log_counters();
    }
}

void Daemon::log_counters() const {
    for (const dp::WorkerContext* w : workers_->contexts()) {
        const auto values = w->counters.values();
        std::string line = "worker " + std::to_string(w->worker_id) + ":";
        for (size_t i = 0; i < kWorkerCounterCount; ++i) {
            line += ' ';
            line += kWorkerCounters[i].name;
            line += ' ' + std::to_string(values[i]);
        }
        for (size_t r = 0; r < kDropReasonCount; ++r) {
            line += " drop_";
            line += drop_reason_name(static_cast<DropReason>(r));
            line += ' ' + std::to_string(w->counters.drops[r]);
        }
        spdlog::info("{}", line);
    }
    for (const KernelMirrors::Mirror& m : kernel_.mirrors()) {
        const MirrorTotals totals = kernel_.totals(m.port_id, workers_->contexts());
        std::string line = "kernel mirror " + m.name + " of interface " + m.interface + ":";
        for (size_t i = 0; i < kMirrorCounterCount; ++i) {
            line += ' ';
            line += kMirrorCounters[i].name;
            line += ' ' + std::to_string(totals[i]);
        }
        spdlog::info("{}", line);
    }
    const auto gen = generation();
    const dp::Snapshot& snap = *gen->snapshot;
    for (size_t i = 0; i < snap.services.size(); ++i) {
        const Service& s = gen->config.services[i];
        for (size_t j = 0; j < snap.services[i].servers.size(); ++j) {
            const dp::DestCounters c = workers_->dest_totals(snap.services[i].servers[j].dest_id);
            const auto [address, port] = server_endpoint(s, j);
            spdlog::info("service {} -> {}: connections {} in {} pkts / {} B, out {} pkts / {} B",
                         s.name, format_endpoint(address, port), c.connections, c.in_packets,
                         c.in_bytes, c.out_packets, c.out_bytes);
        }
    }
}

}  // namespace vsnat::cp
