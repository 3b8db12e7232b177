#include "cp/daemon.hpp"

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstdio>
#include <set>
#include <thread>

#include "cp/signals.hpp"
#include "cp/snapshot_builder.hpp"
#include "cp/telemetry.hpp"

namespace vsnat::cp {
namespace {

constexpr unsigned kHandoverRingSize = 1024;
constexpr unsigned kSightingRingSize = 4096;
constexpr unsigned kArpOrderRingSize = 256;
constexpr uint64_t kUnresolvedRetryMs = 1000;
constexpr uint64_t kRefreshMs = 30000;
// Short: a held packet waits for the control thread to learn its next hop's MAC.
constexpr auto kControlTick = std::chrono::milliseconds(1);

uint64_t steady_ms() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
}

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
    for (const Service& s : config.services) {
        for (const RealServer& rs : s.real_servers) {
            if ((rs.address & mask) == (in.address & mask)) {
                return io::LinkSide::servers;
            }
        }
    }
    return io::LinkSide::clients;
}

std::string mac_text(const MacAddress& mac) {
    return format_mac(mac);
}

std::string ip_text(uint32_t network_order) {
    return format_ipv4(__builtin_bswap32(network_order));
}

}  // namespace

dp::DestCounters sum_dest_counters(const std::vector<dp::WorkerContext*>& workers,
                                   uint16_t dest_id) {
    dp::DestCounters sum;
    for (const dp::WorkerContext* w : workers) {
        sum += w->dest_counters[dest_id];
    }
    return sum;
}

Daemon::Daemon(Config config, std::string config_path)
    : config_(std::move(config)), config_path_(std::move(config_path)) {}

Daemon::~Daemon() = default;

uint64_t Daemon::live_connections() const {
    uint64_t n = 0;
    for (const auto& t : tables_) {
        n += t->size();
    }
    return n;
}

bool Daemon::fail(const std::string& message) {
    std::fprintf(stderr, "vsnatd: %s\n", message.c_str());
    return false;
}

bool Daemon::start() {
    std::vector<std::string> args = eal_arguments(config_);
    std::vector<char*> argv;
    for (auto& a : args) {
        argv.push_back(a.data());
    }
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
        return fail(std::string("cannot initialise DPDK (EAL): ") + rte_strerror(rte_errno) +
                    " (are hugepages reserved? scripts/hugepages.sh reserves them)");
    }
    eal_ready_ = true;
    const uint32_t workers = config_.workers;
    if (rte_lcore_count() < workers + 1) {
        return fail("workers: " + std::to_string(workers) + " needs " +
                    std::to_string(workers + 1) + " lcores (one control, one per worker); EAL " +
                    "has " + std::to_string(rte_lcore_count()) + ": widen -l/--lcores in 'eal'");
    }
    const auto ports = static_cast<unsigned>(config_.interfaces.size());
    // A power of two minus one is the mempool's most efficient size. `packet_buffers` only
    // ever raises it, exactly (a net_pcap port with infinite_rx holds its whole file).
    const unsigned mbufs = std::max<unsigned>(
        std::bit_ceil(ports * workers * 2048 + workers * workers * kHandoverRingSize +
                      (workers + 1) * 512 + 4096) -
            1,
        config_.packet_buffers);
    pool_ = rte_pktmbuf_pool_create("vsnat_mbufs", mbufs, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                    static_cast<int>(rte_socket_id()));
    if (pool_ == nullptr) {
        return fail(std::string("cannot allocate ") + std::to_string(mbufs) +
                    " packet buffers: " + rte_strerror(rte_errno) + " (too few hugepages?)");
    }
    std::vector<PortBinding> bindings;
    for (const Interface& in : config_.interfaces) {
        std::string error;
        auto port = io::open_port(in.device, static_cast<uint16_t>(workers), link_side(config_, in),
                                  pool_, error);
        if (!port) {
            return fail("interface '" + in.name + "': " + error);
        }
        if (port->port_id >= dp::kMaxPorts) {
            return fail("interface '" + in.name + "': DPDK port id " +
                        std::to_string(port->port_id) + " is beyond the " +
                        std::to_string(dp::kMaxPorts) + " ports vsnatd handles");
        }
        spdlog::info("interface {} on port {} ({}), MAC {}, RSS to owners: {}", in.name,
                     port->port_id, port->driver, mac_text(port->mac), port->rss ? "yes" : "no");
        bindings.push_back({port->port_id, port->mac});
        ports_.push_back(*port);
    }
    bindings_ = bindings;
    auto first = std::make_shared<Generation>();
    first->config = config_;
    first->snapshot = build_snapshot(config_, bindings_, workers);
    snapshot_.store(first->snapshot.get(), std::memory_order_release);
    generation_.store(std::move(first), std::memory_order_release);
    apply_static_neighbors();
    // Workers report quiescent states, so a replaced snapshot is freed only when none can
    // still be reading it.
    const size_t qsbr_size = rte_rcu_qsbr_get_memsize(workers);
    qsbr_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("vsnat_qsbr", qsbr_size, RTE_CACHE_LINE_SIZE));
    if (qsbr_ == nullptr || rte_rcu_qsbr_init(qsbr_, workers) != 0) {
        return fail("cannot set up RCU for configuration reloads");
    }
    const uint32_t per_worker = std::max<uint32_t>(config_.max_connections / workers, 1);
    for (uint32_t w = 0; w < workers; ++w) {
        std::string error;
        auto table = dp::ConnTable::create("vsnat_conns" + std::to_string(w), per_worker,
                                           static_cast<int>(rte_socket_id()), 0, &error);
        if (!table) {
            return fail(error + " (max_connections too large for the hugepages reserved?)");
        }
        spdlog::info("worker {}: connection table for {} connections, {} MiB", w, per_worker,
                     table->memory_bytes() >> 20);
        tables_.push_back(std::move(table));
        ftp_controls_.push_back(std::make_unique<dp::FtpControlPool>(per_worker));
        half_open_.push_back(std::make_unique<dp::HalfOpenQueue>());
    }
    expectations_ = std::make_unique<dp::ExpectationTable>();
    // Always made, so that a service can gain persistence without a restart.
    std::string persistence_error;
    persistence_ = dp::PersistenceTable::create(
        std::min(config_.max_connections, dp::PersistenceTable::kMaxCapacity), &persistence_error);
    if (!persistence_) {
        return fail("persistence table: " + persistence_error);
    }
    return true;
}

void Daemon::launch_workers() {
    const uint32_t workers = config_.workers;
    sightings_ =
        rte_ring_create_elem("vsnat_sightings", sizeof(dp::NeighborSighting), kSightingRingSize,
                             static_cast<int>(rte_socket_id()), RING_F_SC_DEQ);
    rings_.push_back(sightings_);
    // handover[from][to]: one producer, one consumer each.
    std::vector<std::vector<rte_ring*>> handover(workers, std::vector<rte_ring*>(workers));
    for (uint32_t from = 0; from < workers; ++from) {
        for (uint32_t to = 0; to < workers; ++to) {
            if (from == to) {
                continue;
            }
            const std::string name = "vsnat_ho" + std::to_string(from) + "_" + std::to_string(to);
            handover[from][to] =
                rte_ring_create(name.c_str(), kHandoverRingSize, static_cast<int>(rte_socket_id()),
                                RING_F_SP_ENQ | RING_F_SC_DEQ);
            rings_.push_back(handover[from][to]);
        }
    }
    dest_counters_.assign(workers, std::vector<dp::DestCounters>(dp::kMaxDestinations));
    for (auto& per_worker : dest_counters_) {
        all_dest_counters_.push_back(per_worker.data());
    }
    setups_.resize(workers);
    for (uint32_t w = 0; w < workers; ++w) {
        auto* ctx = new dp::WorkerContext();
        ctx->worker_id = w;
        ctx->table = tables_[w].get();
        ctx->snapshot = snapshot_.load();
        ctx->neighbors = &neighbors_;
        ctx->pool = pool_;
        ctx->persistence = persistence_.get();
        ctx->ftp_controls = ftp_controls_[w].get();
        ctx->half_open = half_open_[w].get();
        ctx->expectations = expectations_.get();
        ctx->dest_counters = dest_counters_[w].data();
        ctx->all_dest_counters = all_dest_counters_;
        contexts_.push_back(ctx);

        dp::WorkerSetup& s = setups_[w];
        s.ctx = ctx;
        s.queue_id = static_cast<uint16_t>(w);
        for (const io::OpenPort& p : ports_) {
            s.ports.push_back(p.port_id);
            s.port_has_rss.push_back(p.rss);
        }
        s.worker_count = workers;
        s.handover_to = handover[w];
        for (uint32_t from = 0; from < workers; ++from) {
            if (from != w) {
                s.handover_from.push_back(handover[from][w]);
            }
        }
        s.sightings = sightings_;
        const std::string orders = "vsnat_arp" + std::to_string(w);
        s.arp_orders =
            rte_ring_create_elem(orders.c_str(), sizeof(uint64_t), kArpOrderRingSize,
                                 static_cast<int>(rte_socket_id()), RING_F_SP_ENQ | RING_F_SC_DEQ);
        rings_.push_back(s.arp_orders);
        s.idle = config_.idle == IdleMode::poll ? dp::IdleMode::poll : dp::IdleMode::adaptive;
        s.snapshot = &snapshot_;
        s.qsbr = qsbr_;
        dumps_.push_back(std::make_unique<dp::ConnDump>());
        s.dump = dumps_.back().get();
        s.stop = &stop_;
    }
    uint32_t w = 0;
    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore) {
        if (w == workers) {
            break;
        }
        rte_eal_remote_launch(
            [](void* arg) { return dp::run_worker(*static_cast<dp::WorkerSetup*>(arg)); },
            &setups_[w], lcore);
        spdlog::info("worker {} on lcore {}", w, lcore);
        ++w;
    }
    workers_launched_ = true;
}

void Daemon::learn_neighbors() {
    dp::NeighborSighting seen[64];
    unsigned n;
    while ((n = rte_ring_sc_dequeue_burst_elem(sightings_, seen, sizeof(dp::NeighborSighting), 64,
                                               nullptr)) > 0) {
        for (unsigned i = 0; i < n; ++i) {
            const dp::NeighborSighting& s = seen[i];
            const bool is_static =
                std::any_of(config_.neighbors.begin(), config_.neighbors.end(),
                            [&s](const Neighbor& nb) { return to_network(nb.address) == s.ip; });
            const auto known = neighbors_.find(s.port_id, s.ip);
            if (is_static || (known && *known == s.mac)) {
                continue;
            }
            if (!neighbors_.set(s.port_id, s.ip, s.mac)) {
                spdlog::warn("neighbor table full: {} not learned", ip_text(s.ip));
                continue;
            }
            spdlog::info("neighbor {} is at {} (port {})", ip_text(s.ip), mac_text(s.mac),
                         s.port_id);
        }
    }
}

// Asks worker 0 to ARP for every next hop: unresolved ones each second, known ones every
// 30 s so a replaced server's new MAC is learned.
void Daemon::resolve_next_hops(uint64_t now_ms) {
    for (NextHop& hop : next_hops_) {
        const bool known = neighbors_.find(hop.port_id, hop.ip).has_value();
        const uint64_t interval = known ? kRefreshMs : kUnresolvedRetryMs;
        if (hop.last_request_ms != 0 && now_ms - hop.last_request_ms < interval) {
            continue;
        }
        uint64_t order = (static_cast<uint64_t>(hop.port_id) << 32) | hop.ip;
        if (rte_ring_sp_enqueue_elem(setups_[0].arp_orders, &order, sizeof order) == 0) {
            hop.last_request_ms = now_ms;
        }
    }
}

void Daemon::estimate_rates(uint64_t now_ms) {
    constexpr uint64_t kIntervalMs = 2000;
    if (now_ms - rate_base_ms_ < kIntervalMs) {
        return;
    }
    const double seconds = static_cast<double>(now_ms - rate_base_ms_) / 1000.0;
    auto per_second = [seconds](uint64_t now, uint64_t before) {
        return static_cast<uint64_t>(static_cast<double>(now - before) / seconds + 0.5);
    };
    for (const dp::ServiceEntry& s : generation()->snapshot->services) {
        for (const dp::Destination& d : s.servers) {
            const dp::DestCounters c = sum_dest_counters(contexts_, d.dest_id);
            const dp::DestCounters& b = rate_base_[d.dest_id];
            DestRates& r = rates_[d.dest_id];
            r.cps.store(per_second(c.connections, b.connections), std::memory_order_relaxed);
            r.in_pps.store(per_second(c.in_packets, b.in_packets), std::memory_order_relaxed);
            r.out_pps.store(per_second(c.out_packets, b.out_packets), std::memory_order_relaxed);
            r.in_bps.store(per_second(c.in_bytes, b.in_bytes) * 8, std::memory_order_relaxed);
            r.out_bps.store(per_second(c.out_bytes, b.out_bytes) * 8, std::memory_order_relaxed);
            rate_base_[d.dest_id] = c;
        }
    }
    rate_base_ms_ = now_ms;
}

void Daemon::compute_next_hops() {
    next_hops_.clear();
    const dp::Snapshot& snap = *generation()->snapshot;
    std::set<std::pair<uint16_t, uint32_t>> hops;
    for (const dp::ServiceEntry& s : snap.services) {
        for (const dp::Destination& d : s.servers) {
            uint32_t next_hop = 0;
            if (const dp::InterfaceEntry* out = snap.route(d.ip, next_hop)) {
                hops.insert({out->port_id, next_hop});
            }
        }
    }
    for (const dp::InterfaceEntry& in : snap.interfaces) {
        if (in.gateway != 0) {
            hops.insert({in.port_id, in.gateway});
        }
    }
    for (const auto& [port, ip] : hops) {
        const bool is_static =
            std::any_of(config_.neighbors.begin(), config_.neighbors.end(),
                        [ip = ip](const Neighbor& nb) { return to_network(nb.address) == ip; });
        if (!is_static) {
            next_hops_.push_back({port, ip});
        }
    }
}

void Daemon::control_loop() {
    compute_next_hops();
    while (!stop_requested()) {
        const uint64_t now_ms = steady_ms();
        learn_neighbors();
        resolve_next_hops(now_ms);
        estimate_rates(now_ms);
        if (take_reload_request()) {
            spdlog::info("SIGHUP: reloading {}", config_path_);
            reload();
        }
        serve_reload_requests();
        std::this_thread::sleep_for(kControlTick);
    }
}

void Daemon::apply_static_neighbors() {
    for (const Neighbor& n : config_.neighbors) {
        for (size_t i = 0; i < config_.interfaces.size(); ++i) {
            if (config_.interfaces[i].name == n.interface) {
                neighbors_.set(bindings_[i].port_id, to_network(n.address), n.mac);
            }
        }
    }
}

namespace {

bool same_interfaces(const std::vector<Interface>& a, const std::vector<Interface>& b) {
    return std::equal(
        a.begin(), a.end(), b.begin(), b.end(), [](const Interface& x, const Interface& y) {
            return x.name == y.name && x.device == y.device && x.address == y.address &&
                   x.prefix_len == y.prefix_len && x.gateway == y.gateway;
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
    check(same_interfaces(running.interfaces, next.interfaces), "interfaces");
    return out;
}

}  // namespace

void Daemon::publish(std::shared_ptr<const Generation> next) {
    std::shared_ptr<const Generation> old = generation_.load();
    snapshot_.store(next->snapshot.get(), std::memory_order_release);
    generation_.store(std::move(next), std::memory_order_release);
    // Every worker passes a quiescent point once per loop: after that, none reads `old`'s
    // snapshot. Telemetry may still hold `old`; it goes when the last reference does.
    rte_rcu_qsbr_synchronize(qsbr_, RTE_QSBR_THRID_INVALID);
    old.reset();
}

ReloadResult Daemon::reload() {
    ReloadResult result;
    LoadResult loaded = load_config_file(config_path_);
    for (const ConfigError& e : loaded.errors) {
        result.messages.push_back(e.to_string());
    }
    if (loaded.config) {
        for (const std::string& m : startup_only_changes(config_, *loaded.config)) {
            result.messages.push_back(config_path_ + ": " + m);
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
    next->snapshot =
        build_snapshot(next->config, bindings_, config_.workers, generation()->snapshot.get());
    config_ = next->config;
    publish(std::move(next));
    apply_static_neighbors();
    compute_next_hops();
    reloads_applied_.fetch_add(1);
    result.applied = true;
    spdlog::info("reload applied: {} services", config_.services.size());
    return result;
}

std::vector<dp::ConnDump::Row> Daemon::dump_connections(uint32_t limit) {
    std::lock_guard<std::mutex> one_at_a_time(dump_mutex_);
    std::vector<dp::ConnDump::Row> out;
    for (auto& dump : dumps_) {
        dump->limit = limit;
        dump->rows.reserve(limit);
        const uint64_t wanted = dump->served.load() + 1;
        dump->requested.store(wanted, std::memory_order_release);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (dump->served.load(std::memory_order_acquire) != wanted) {
            if (std::chrono::steady_clock::now() > deadline) {
                return out;  // a stopped worker: what was gathered so far
            }
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        for (const auto& row : dump->rows) {
            if (out.size() < limit) {
                out.push_back(row);
            }
        }
    }
    return out;
}

ReloadResult Daemon::request_reload() {
    std::lock_guard<std::mutex> one_at_a_time(reload_mutex_);
    std::unique_lock<std::mutex> lock(reload_state_mutex_);
    const uint64_t wanted = reload_sequence_ + 1;
    reload_wanted_ = true;
    if (!reload_done_.wait_for(lock, std::chrono::seconds(30),
                               [&] { return reload_sequence_ >= wanted; })) {
        return ReloadResult{false, {"vsnatd did not answer the reload within 30 s"}};
    }
    return last_reload_;
}

void Daemon::serve_reload_requests() {
    {
        std::lock_guard<std::mutex> lock(reload_state_mutex_);
        if (!reload_wanted_) {
            return;
        }
        reload_wanted_ = false;
    }
    spdlog::info("vsnatctl reload: reloading {}", config_path_);
    ReloadResult result = reload();
    {
        std::lock_guard<std::mutex> lock(reload_state_mutex_);
        last_reload_ = std::move(result);
        ++reload_sequence_;
    }
    reload_done_.notify_all();
}

void Daemon::log_counters() const {
    for (const dp::WorkerContext* w : contexts_) {
        const dp::WorkerCounters& c = w->counters;
        spdlog::info(
            "worker {}: rx {} tx {} handed over {} connections created {} expired {} "
            "arp replies {} echo replies {} resets {} unreachables {} icmp translated {}",
            w->worker_id, c.rx_packets, c.tx_packets, c.handed_over, c.connections_created,
            c.connections_expired, c.arp_replies, c.echo_replies, c.resets_sent,
            c.unreachables_sent, c.icmp_errors_translated);
        for (size_t r = 0; r < kDropReasonCount; ++r) {
            if (c.drops[r] != 0) {
                spdlog::info("worker {}: dropped {} {}", w->worker_id, c.drops[r],
                             drop_reason_name(static_cast<DropReason>(r)));
            }
        }
    }
    const auto gen = generation();
    const dp::Snapshot& snap = *gen->snapshot;
    for (size_t i = 0; i < snap.services.size(); ++i) {
        const Service& s = gen->config.services[i];
        for (const dp::Destination& d : snap.services[i].servers) {
            const dp::DestCounters c = sum_dest_counters(contexts_, d.dest_id);
            spdlog::info(
                "service {} -> {}:{}: connections {} in {} pkts / {} B, out {} pkts / {} B", s.name,
                ip_text(d.ip), __builtin_bswap16(d.port), c.connections, c.in_packets, c.in_bytes,
                c.out_packets, c.out_bytes);
        }
    }
}

void Daemon::stop_and_release() {
    metrics_.stop();
    unregister_telemetry();
    stop_.store(true, std::memory_order_relaxed);
    if (workers_launched_) {
        rte_eal_mp_wait_lcore();
        log_counters();
    }
    for (const io::OpenPort& p : ports_) {
        io::close_port(p.port_id);
    }
    for (rte_ring* r : rings_) {
        rte_ring_free(r);
    }
    for (dp::WorkerContext* c : contexts_) {
        delete c;
    }
    contexts_.clear();
    tables_.clear();
    persistence_.reset();
    ftp_controls_.clear();
    half_open_.clear();
    expectations_.reset();
    generation_.store(nullptr);
    rte_free(qsbr_);
    rte_mempool_free(pool_);
    if (eal_ready_) {
        rte_eal_cleanup();
    }
}

int Daemon::run() {
    install_signal_handlers();
    if (!start()) {
        stop_and_release();
        return 1;
    }
    launch_workers();
    register_telemetry(*this);
    if (config_.metrics) {
        std::string error;
        const std::string address = format_ipv4(config_.metrics->address);
        if (!metrics_.start(*this, address, config_.metrics->port, error)) {
            fail(error + " (another vsnatd? set 'metrics' to a free port, or off)");
            stop_and_release();
            return 1;
        }
        spdlog::info("metrics on http://{}:{}/metrics", address, config_.metrics->port);
    }
    spdlog::info("vsnatd ready: {} services, {} workers, config {}", config_.services.size(),
                 config_.workers, config_path_);
    control_loop();
    spdlog::info("vsnatd stopping");
    stop_and_release();
    return 0;
}

}  // namespace vsnat::cp
