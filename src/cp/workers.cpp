#include "cp/workers.hpp"

#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "dp/conn_sync.hpp"

namespace vsnat::cp {
namespace {

constexpr unsigned kSightingRingSize = 4096;
constexpr unsigned kArpOrderRingSize = 256;

int worker_main(void* setup) {
    return dp::run_worker(*static_cast<dp::WorkerSetup*>(setup));
}

}  // namespace

/// One worker's own resources. The context points into them; `setup` wires the loop.
struct Workers::Worker {
    std::unique_ptr<dp::ConnTable> table;
    std::unique_ptr<dp::ConnTable6> table6;  // with IPv6 configured
    std::unique_ptr<dp::FtpControlPool> ftp_controls;
    std::unique_ptr<dp::UnansweredQueues> unanswered;
    std::unique_ptr<dp::UnansweredQueues> unanswered6;  // with table6
    std::unique_ptr<dp::ConnSync> sync;                 // with ha.sync only
    std::vector<dp::DestCounters> dest_counters;
    UniqueRing arp_orders;
    UniqueRing nd_orders;
    dp::ConnDump dump;
    std::unique_ptr<dp::WorkerContext> context;  // 64-byte aligned: its own allocation
    dp::WorkerSetup setup;
};

std::unique_ptr<Workers> Workers::create(const WorkersSpec& spec, std::string& error) {
    std::unique_ptr<Workers> workers(new Workers());
    if (!workers->make(spec, error)) {
        return nullptr;
    }
    return workers;
}

Workers::~Workers() {
    stop();
}

bool Workers::make(const WorkersSpec& spec, std::string& error) {
    // Workers report quiescent states, so a replaced snapshot is freed only when none can still
    // be reading it. Registered here, where a failure can be reported; they go online in the loop.
    const size_t qsbr_size = rte_rcu_qsbr_get_memsize(spec.count);
    qsbr_.reset(
        static_cast<rte_rcu_qsbr*>(rte_zmalloc("vsnat_qsbr", qsbr_size, RTE_CACHE_LINE_SIZE)));
    if (!qsbr_ || rte_rcu_qsbr_init(qsbr_.get(), spec.count) != 0) {
        error = "cannot set up RCU for configuration reloads";
        return false;
    }
    for (uint32_t w = 0; w < spec.count; ++w) {
        if (rte_rcu_qsbr_thread_register(qsbr_.get(), w) != 0) {
            error = "cannot register worker " + std::to_string(w) + " with RCU";
            return false;
        }
    }
    sightings_ = create_ring("vsnat_sightings", sizeof(dp::NeighborSighting), kSightingRingSize,
                             RING_F_SC_DEQ, error);
    if (!sightings_) {
        return false;
    }
    // handover[from][to]: one producer, one consumer each.
    handover_.resize(spec.count);
    for (uint32_t from = 0; from < spec.count; ++from) {
        handover_[from].resize(spec.count);
        for (uint32_t to = 0; to < spec.count; ++to) {
            if (from == to) {
                continue;
            }
            handover_[from][to] =
                create_ring("vsnat_ho" + std::to_string(from) + "_" + std::to_string(to),
                            sizeof(void*), kHandoverRingSize, RING_F_SP_ENQ | RING_F_SC_DEQ, error);
            if (!handover_[from][to]) {
                return false;
            }
        }
    }
    expectations_ = std::make_unique<dp::ExpectationTable>();
    if (spec.ipv6) {
        expectations6_ = std::make_unique<dp::ExpectationTable6>();
    }
    fragments_ = std::make_unique<dp::FragmentTable>();
    if (spec.ipv6) {
        fragments6_ = std::make_unique<dp::FragmentTable6>();
    }
    // Always made (IPv6's whenever IPv6 is), so that a service can gain persistence without a
    // restart.
    const uint32_t templates = std::min(spec.max_connections, dp::PersistenceTable::kMaxCapacity);
    persistence_ = dp::PersistenceTable::create(templates, &error);
    if (!persistence_) {
        return false;
    }
    if (spec.ipv6) {
        persistence6_ = dp::PersistenceTable6::create(templates, &error);
        if (!persistence6_) {
            return false;
        }
    }
    for (uint32_t w = 0; w < spec.count; ++w) {
        if (!make_worker(spec, w, error)) {
            return false;
        }
    }
    // Every context sees every worker's per-server counters (least-connection schedulers).
    for (auto& w : workers_) {
        w->context->all_dest_counters = all_dest_counters_;
    }
    return true;
}

bool Workers::make_worker(const WorkersSpec& spec, uint32_t id, std::string& error) {
    auto worker = std::make_unique<Worker>();
    const uint32_t capacity = std::max<uint32_t>(spec.max_connections / spec.count, 1);
    worker->table = dp::ConnTable::create("vsnat_conns" + std::to_string(id), capacity,
                                          static_cast<int>(rte_socket_id()), 0, &error);
    if (!worker->table) {
        error += " (max_connections too large for the hugepages reserved?)";
        return false;
    }
    spdlog::info("worker {}: connection table for {} connections, {} MiB", id, capacity,
                 worker->table->memory_bytes() >> 20);
    if (spec.ipv6) {
        worker->table6 = dp::ConnTable6::create("vsnat_conns6_" + std::to_string(id), capacity,
                                                static_cast<int>(rte_socket_id()), 0, &error);
        if (!worker->table6) {
            error += " (max_connections too large for the hugepages reserved?)";
            return false;
        }
        spdlog::info("worker {}: IPv6 connection table for {} connections, {} MiB", id, capacity,
                     worker->table6->memory_bytes() >> 20);
    }
    // The FTP helper's state: always made, so that a reload can enable it.
    worker->ftp_controls = std::make_unique<dp::FtpControlPool>(capacity);
    worker->unanswered = std::make_unique<dp::UnansweredQueues>(std::min(capacity, kMaxUnanswered));
    if (worker->table6) {
        worker->unanswered6 =
            std::make_unique<dp::UnansweredQueues>(std::min(capacity, kMaxUnanswered));
    }
    worker->dest_counters.resize(dp::kMaxDestinations);
    all_dest_counters_.push_back(worker->dest_counters.data());
    worker->arp_orders = create_ring("vsnat_arp" + std::to_string(id), sizeof(uint64_t),
                                     kArpOrderRingSize, RING_F_SP_ENQ | RING_F_SC_DEQ, error);
    if (!worker->arp_orders) {
        return false;
    }
    worker->nd_orders =
        create_ring("vsnat_nd" + std::to_string(id), sizeof(dp::NeighborSolicitOrder),
                    kArpOrderRingSize, RING_F_SP_ENQ | RING_F_SC_DEQ, error);
    if (!worker->nd_orders) {
        return false;
    }

    auto ctx = std::make_unique<dp::WorkerContext>();
    ctx->worker_id = id;
    ctx->table = worker->table.get();
    ctx->table6 = worker->table6.get();
    ctx->snapshot = spec.snapshot->load();
    ctx->neighbors = spec.neighbors;
    ctx->neighbors6 = spec.neighbors6;
    ctx->pool = spec.pool;
    ctx->persistence = persistence_.get();
    ctx->persistence6 = persistence6_.get();
    ctx->ftp_controls = worker->ftp_controls.get();
    ctx->unanswered = worker->unanswered.get();
    ctx->unanswered6 = worker->unanswered6.get();
    ctx->expectations = expectations_.get();
    ctx->expectations6 = expectations6_.get();
    ctx->fragments = fragments_.get();
    ctx->fragments6 = fragments6_.get();
    ctx->dest_counters = worker->dest_counters.data();

    dp::WorkerSetup& s = worker->setup;
    s.ctx = ctx.get();
    s.queue_id = static_cast<uint16_t>(id);
    for (const io::OpenPort& p : spec.ports) {
        s.ports.push_back(p.port_id);
        s.port_has_rss.push_back(p.rss);
    }
    s.worker_count = spec.count;
    for (uint32_t to = 0; to < spec.count; ++to) {
        s.handover_to.push_back(handover_[id][to].get());
        if (to != id) {
            s.handover_from.push_back(handover_[to][id].get());
        }
    }
    s.sightings = sightings_.get();
    s.arp_orders = worker->arp_orders.get();
    s.nd_orders = worker->nd_orders.get();
    if (id < spec.punt_to.size()) {
        s.punt_to = spec.punt_to[id];
    }
    s.from_kernel = id == 0 ? spec.from_kernel : nullptr;
    if (id < spec.sync_out.size()) {
        const uint32_t capacity6 = ctx->table6 != nullptr ? ctx->table6->capacity() : 0;
        worker->sync = std::make_unique<dp::ConnSync>(capacity, capacity6);
        ctx->sync = worker->sync.get();
        s.sync_out = spec.sync_out[id];
        s.sync_in = spec.sync_in[id];
        s.sync_resend = spec.sync_resend;
    }
    s.idle = spec.idle;
    s.snapshot = spec.snapshot;
    s.qsbr = qsbr_.get();
    s.dump = &worker->dump;
    s.stop = &stop_;
    contexts_.push_back(ctx.get());
    worker->context = std::move(ctx);
    workers_.push_back(std::move(worker));
    return true;
}

bool Workers::launch(std::string& error) {
    unsigned lcore = rte_get_next_lcore(-1, 1, 0);
    for (auto& w : workers_) {
        if (lcore >= RTE_MAX_LCORE) {
            error = "EAL has " + std::to_string(launched_lcores_.size()) + " worker lcores for " +
                    std::to_string(workers_.size()) + " workers: widen -l/--lcores in 'eal'";
            stop();
            return false;
        }
        if (const int rc = rte_eal_remote_launch(worker_main, &w->setup, lcore); rc != 0) {
            error = "cannot launch worker " + std::to_string(w->setup.queue_id) + " on lcore " +
                    std::to_string(lcore) + ": " + rte_strerror(-rc);
            stop();
            return false;
        }
        spdlog::info("worker {} on lcore {}", w->setup.queue_id, lcore);
        launched_lcores_.push_back(lcore);
        lcore = rte_get_next_lcore(lcore, 1, 0);
    }
    return true;
}

void Workers::stop() {
    stop_.store(true, std::memory_order_relaxed);
    for (const unsigned lcore : launched_lcores_) {
        rte_eal_wait_lcore(lcore);
    }
    launched_lcores_.clear();
}

void Workers::wait_quiescent() const {
    rte_rcu_qsbr_synchronize(qsbr_.get(), RTE_QSBR_THRID_INVALID);
}

rte_ring* Workers::nd_orders() const {
    return workers_.front()->nd_orders.get();
}

rte_ring* Workers::arp_orders() const {
    return workers_.front()->arp_orders.get();
}

uint64_t Workers::live_connections() const {
    uint64_t n = 0;
    for (const auto& w : workers_) {
        n += w->table->size() + (w->table6 ? w->table6->size() : 0);
    }
    return n;
}

dp::DestCounters Workers::dest_totals(uint16_t dest_id) const {
    dp::DestCounters sum;
    for (const dp::DestCounters* per_worker : all_dest_counters_) {
        sum += per_worker[dest_id];
    }
    return sum;
}

std::vector<dp::ConnDump::Row> Workers::dump_connections(uint32_t limit) {
    std::lock_guard<std::mutex> one_at_a_time(dump_mutex_);
    std::vector<dp::ConnDump::Row> out;
    for (auto& w : workers_) {
        dp::ConnDump& dump = w->dump;
        if (dump.served.load(std::memory_order_acquire) != dump.requested.load()) {
            continue;  // still owes an earlier dump (stopped or stalled): its rows are its own
        }
        dump.limit = limit;
        dump.rows.reserve(limit);
        const uint64_t wanted = dump.served.load() + 1;
        dump.requested.store(wanted, std::memory_order_release);
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (dump.served.load(std::memory_order_acquire) != wanted) {
            if (std::chrono::steady_clock::now() > deadline) {
                return out;  // a stalled worker: what was gathered so far
            }
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        for (const auto& row : dump.rows) {
            if (out.size() < limit) {
                out.push_back(row);
            }
        }
    }
    return out;
}

}  // namespace vsnat::cp
