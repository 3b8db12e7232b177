#include "dp/worker.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include "dp/conn_sync.hpp"
#include "dp/owner.hpp"
#include "dp/parse.hpp"

namespace vsnat::dp {
namespace {

// Packets received per poll: the pipeline's largest burst. A loaded worker forwarded 1M flows
// about a fifth faster with 64 than with 32 (scripts/bench.sh), 1k flows about 4% faster.
constexpr uint16_t kRxBurst = kMaxBurst;
static_assert(kRxBurst <= kMaxBurst, "a received burst is processed in one bulk lookup");
constexpr uint32_t kExpireBudget = 256;  // wheel work per loop: bounded, whatever the backlog
constexpr uint32_t kArpOrdersPerLoop = 8;
constexpr uint32_t kSyncRecordsPerLoop = 256;  // received records applied per loop, at most
constexpr uint32_t kResendIdsPerLoop = 1024;   // connection ids looked at per loop in a resend
constexpr uint32_t kBusyPolls = 256;           // empty polls before backing off
constexpr uint32_t kPausePolls = 4096;         // then polls with a pause in between
constexpr uint32_t kMaxSleepUs = 100;          // then sleeps, doubling up to this

// Queues the burst's packets for the kernel mirrors; what does not fit is counted per port.
void flush_punts(WorkerSetup& s) {
    WorkerContext& ctx = *s.ctx;
    for (size_t cls = 0; cls < kPuntClasses; ++cls) {
        PacketBatch& batch = ctx.punt[cls];
        if (batch.count == 0) {
            continue;
        }
        const unsigned queued =
            s.punt_to[cls] == nullptr
                ? 0
                : rte_ring_sp_enqueue_burst(s.punt_to[cls],
                                            reinterpret_cast<void**>(batch.packets.data()),
                                            batch.count, nullptr);
        for (unsigned i = queued; i < batch.count; ++i) {
            rte_mbuf* m = batch.packets[i];
            PuntCounters& c = ctx.punt_counters[m->port % kMaxPorts];
            ++c.dropped;
            c.control_dropped += cls == static_cast<size_t>(PuntClass::control);
            ctx.counters.drop(DropReason::kernel_full);
            rte_pktmbuf_free(m);
        }
        batch.count = 0;
    }
}

// Queues the connection sync records made since the last flush for the sync thread.
void flush_sync(WorkerSetup& s) {
    ConnSync* sync = s.ctx->sync;
    if (sync == nullptr || sync->outbox_count == 0) {
        return;
    }
    const unsigned queued = rte_ring_sp_enqueue_burst_elem(
        s.sync_out, sync->outbox.data(), sizeof(sync::AnyRecord), sync->outbox_count, nullptr);
    s.ctx->counters.sync_queued += queued;
    s.ctx->counters.sync_dropped += sync->outbox_count - queued;
    sync->outbox_count = 0;
}

// Applies what the other directors sent of this worker's connections.
uint32_t apply_sync(WorkerSetup& s, uint32_t now_ms) {
    std::array<sync::AnyRecord, ConnSync::kApplyBatch> records;
    uint32_t applied = 0;
    while (applied < kSyncRecordsPerLoop) {
        const unsigned n = rte_ring_sc_dequeue_burst_elem(
            s.sync_in, records.data(), sizeof(sync::AnyRecord), records.size(), nullptr);
        prefetch_sync_records(*s.ctx, {records.data(), n});
        for (unsigned i = 0; i < n; ++i) {
            apply_sync_record(*s.ctx, records[i], now_ms);
        }
        applied += n;
        if (n < records.size()) {
            break;
        }
    }
    return applied;
}

// Whether the sync thread asked for a whole-table resend since the last look. Read before the
// loop applies the records queued for it: the sync thread queues what a new peer sent before it
// asks for the resend that peer's arrival calls for, so those are applied before the resend
// starts, and the resend carries them.
bool resend_asked(WorkerSetup& s) {
    const uint64_t wanted = s.sync_resend->load(std::memory_order_acquire);
    const bool asked = wanted != s.sync_resend_seen;
    s.sync_resend_seen = wanted;
    return asked;
}

// Goes on with a resend of the whole table (from its start when `asked`), while the sync ring
// has room for half of it: a large table goes over in pieces, none lost to a full ring.
void resend_table(WorkerSetup& s, bool asked) {
    ConnSync& sync = *s.ctx->sync;
    if (asked) {
        sync.resend_cursor = 0;
    }
    if (sync.resend_cursor == ConnSync::kNoResend ||
        rte_ring_free_count(s.sync_out) < rte_ring_get_capacity(s.sync_out) / 2) {
        return;
    }
    sync_resend_some(*s.ctx, kResendIdsPerLoop);
    flush_sync(s);
}

void flush_tx(WorkerSetup& s) {
    WorkerContext& ctx = *s.ctx;
    flush_punts(s);
    flush_sync(s);
    if (ctx.sighting_count > 0) {
        // Before the packets: an ARP request's `asked` must reach the control thread before the
        // answer, which it learns only if awaited. Lost ones cost a later ARP request, no more.
        rte_ring_mp_enqueue_burst_elem(s.sightings, ctx.sightings.data(), sizeof(NeighborSighting),
                                       ctx.sighting_count, nullptr);
        ctx.sighting_count = 0;
    }
    for (uint16_t port : s.ports) {
        PacketBatch& batch = ctx.tx[port];
        if (batch.count == 0) {
            continue;
        }
        const uint16_t sent = rte_eth_tx_burst(port, s.queue_id, batch.packets.data(), batch.count);
        for (uint16_t i = sent; i < batch.count; ++i) {
            ctx.counters.drop(DropReason::tx_full);
            rte_pktmbuf_free(batch.packets[i]);
        }
        batch.count = 0;
    }
}

// Moves packets another worker owns onto that worker's ring; compacts the rest in place.
uint16_t hand_over(WorkerSetup& s, rte_mbuf** pkts, uint16_t n) {
    WorkerContext& ctx = *s.ctx;
    const uint32_t self = s.queue_id;
    uint16_t kept = 0;
    for (uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        const auto* frame = rte_pktmbuf_mtod(m, const uint8_t*);
        const ParsedFrame parsed = parse_frame(frame, rte_pktmbuf_data_len(m));
        const uint32_t owner = owner_of_frame(frame, parsed, *ctx.snapshot, s.worker_count, self);
        if (owner == self) {
            pkts[kept++] = m;
        } else if (rte_ring_sp_enqueue(s.handover_to[owner], m) == 0) {
            ++ctx.counters.handed_over;
        } else {
            ctx.counters.drop(DropReason::handover_full);
            rte_pktmbuf_free(m);
        }
    }
    return kept;
}

uint32_t poll_ports(WorkerSetup& s, uint32_t now_ms) {
    rte_mbuf* pkts[kRxBurst];
    uint32_t work = 0;
    for (size_t i = 0; i < s.ports.size(); ++i) {
        uint16_t n = rte_eth_rx_burst(s.ports[i], s.queue_id, pkts, kRxBurst);
        if (n == 0) {
            continue;
        }
        work += n;
        if (s.worker_count > 1 && !s.port_has_rss[i]) {
            n = hand_over(s, pkts, n);
        }
        process_burst(*s.ctx, pkts, n, now_ms);
        flush_tx(s);
    }
    for (rte_ring* ring : s.handover_from) {
        const auto n = static_cast<uint16_t>(
            rte_ring_sc_dequeue_burst(ring, reinterpret_cast<void**>(pkts), kRxBurst, nullptr));
        if (n > 0) {
            work += n;
            process_burst(*s.ctx, pkts, n, now_ms);
            flush_tx(s);
        }
    }
    return work;
}

// Sends what the kernels sent on their mirrors out of the mirrors' ports.
uint32_t send_from_kernel(WorkerSetup& s) {
    rte_mbuf* pkts[kRxBurst];
    const unsigned n =
        rte_ring_sc_dequeue_burst(s.from_kernel, reinterpret_cast<void**>(pkts), kRxBurst, nullptr);
    for (unsigned i = 0; i < n; ++i) {
        s.ctx->tx[pkts[i]->port].push(pkts[i]);
    }
    if (n > 0) {
        flush_tx(s);
    }
    return n;
}

void serve_arp_orders(WorkerSetup& s) {
    uint64_t orders[kArpOrdersPerLoop];
    const unsigned n = rte_ring_sc_dequeue_burst_elem(s.arp_orders, orders, sizeof(uint64_t),
                                                      kArpOrdersPerLoop, nullptr);
    for (unsigned i = 0; i < n; ++i) {
        const auto port = static_cast<uint16_t>(orders[i] >> 32);
        const auto ip = static_cast<uint32_t>(orders[i]);
        if (const InterfaceEntry* iface = s.ctx->snapshot->interface_of_port(port)) {
            send_arp_request(*s.ctx, *iface, ip);
        }
    }
    if (n > 0) {
        flush_tx(s);
    }
}

// The control thread's neighbor solicitations (NeighborResolver::request6), as ARP orders.
void serve_nd_orders(WorkerSetup& s) {
    if (s.nd_orders == nullptr) {
        return;
    }
    NeighborSolicitOrder orders[kArpOrdersPerLoop];
    const unsigned n = rte_ring_sc_dequeue_burst_elem(s.nd_orders, orders, sizeof(orders[0]),
                                                      kArpOrdersPerLoop, nullptr);
    for (unsigned i = 0; i < n; ++i) {
        const InterfaceEntry* iface = s.ctx->snapshot->interface_of_port(orders[i].port_id);
        if (iface != nullptr && !iface->addresses6.empty()) {
            send_neighbor_solicitation(*s.ctx, *iface, orders[i].target);
        }
    }
    if (n > 0) {
        flush_tx(s);
    }
}

// Adaptive idle: spin a little, then pause, then sleep in short, growing naps. Any packet
// resets it, so a loaded worker never sleeps.
class Backoff {
  public:
    explicit Backoff(IdleMode mode) : mode_(mode) {}
    void after(uint32_t work) {
        if (work > 0 || mode_ == IdleMode::poll) {
            idle_polls_ = 0;
            sleep_us_ = 1;
            return;
        }
        ++idle_polls_;
        if (idle_polls_ < kBusyPolls) {
            return;
        }
        if (idle_polls_ < kPausePolls) {
            rte_pause();
            return;
        }
        rte_delay_us_sleep(sleep_us_);
        sleep_us_ = std::min(sleep_us_ * 2, kMaxSleepUs);
    }

  private:
    IdleMode mode_;
    uint32_t idle_polls_ = 0;
    uint32_t sleep_us_ = 1;
};

// Answers a pending connection dump; rows were reserved by the requester, so nothing allocates.
void serve_dump(WorkerSetup& s, uint32_t now_ms) {
    ConnDump& d = *s.dump;
    const uint64_t wanted = d.requested.load(std::memory_order_acquire);
    if (wanted == d.served.load(std::memory_order_relaxed)) {
        return;
    }
    d.rows.clear();
    const auto copy = [&](const auto& table) {
        table.for_each([&](uint32_t id, const auto& c) {
            if (d.rows.size() < d.limit) {
                const auto left = static_cast<int32_t>(table.expiry(id) - now_ms);
                d.rows.push_back({c, left > 0 ? static_cast<uint32_t>(left) : 0});
            }
        });
    };
    copy(*s.ctx->table);
    if (s.ctx->table6 != nullptr) {
        copy(*s.ctx->table6);
    }
    d.served.store(wanted, std::memory_order_release);
}

}  // namespace

int run_worker(WorkerSetup& s) {
    const uint64_t tsc_per_ms = rte_get_tsc_hz() / 1000;
    Backoff backoff(s.idle);
    if (s.qsbr != nullptr) {
        rte_rcu_qsbr_thread_online(s.qsbr, s.queue_id);
    }
    // Each turn's cycles count as busy or idle by whether it had work, as DPDK's lcore poll
    // telemetry counts them: busy / (busy + idle) is the share of the core the load takes.
    uint64_t turn_start = rte_rdtsc();
    while (!s.stop->load(std::memory_order_relaxed)) {
        const Snapshot* adopted = s.ctx->snapshot;
        s.ctx->snapshot = s.snapshot->load(std::memory_order_acquire);
        const auto now_ms = static_cast<uint32_t>(turn_start / tsc_per_ms);
        if (s.ctx->snapshot != adopted) {
            end_drained_connections(*s.ctx, now_ms);
        }
        uint32_t work = poll_ports(s, now_ms);
        if (s.from_kernel != nullptr) {
            work += send_from_kernel(s);
        }
        serve_arp_orders(s);
        serve_nd_orders(s);
        if (s.ctx->held.count > 0) {
            release_held(*s.ctx, now_ms);
            flush_tx(s);
        }
        if (s.ctx->fragment_hold.count > 0) {
            release_fragments(*s.ctx, now_ms);
            flush_tx(s);
        }
        expire_connections(*s.ctx, now_ms, kExpireBudget);
        if (s.sync_in != nullptr) {
            flush_sync(s);  // what the wheel refreshed
            const bool asked = resend_asked(s);
            work += apply_sync(s, now_ms);
            resend_table(s, asked);
        }
        if (s.dump != nullptr) {
            serve_dump(s, now_ms);
        }
        if (s.qsbr != nullptr) {
            rte_rcu_qsbr_quiescent(s.qsbr, s.queue_id);
        }
        backoff.after(work);
        const uint64_t turn_end = rte_rdtsc();
        (work > 0 ? s.ctx->counters.busy_cycles : s.ctx->counters.idle_cycles) +=
            turn_end - turn_start;
        turn_start = turn_end;
    }
    if (s.qsbr != nullptr) {
        rte_rcu_qsbr_thread_offline(s.qsbr, s.queue_id);
    }
    return 0;
}

}  // namespace vsnat::dp
