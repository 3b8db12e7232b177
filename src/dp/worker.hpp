// The worker lcore loop: poll, hand over, process, transmit, expire, back off when idle.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <variant>
#include <vector>

#include "dp/pipeline.hpp"

struct rte_ring;
struct rte_rcu_qsbr;

namespace vsnat::dp {

enum class IdleMode : uint8_t { poll, adaptive };

/// A copy of some of a worker's connections, made by the worker itself (its table has one
/// writer and no locks), for `vsnatctl conns`.
struct ConnDump {
    struct Row {
        std::variant<Conn, Conn6> conn;  // IPv4's rows first, then IPv6's
        uint32_t expires_in_ms;
    };
    /// The requester raises `requested` after sizing `rows` (capacity = limit); the worker fills
    /// `rows` and sets `served` to the same value.
    std::atomic<uint64_t> requested{0};
    std::atomic<uint64_t> served{0};
    uint32_t limit = 0;
    std::vector<Row> rows;
};

/// What one worker's loop is wired to. Built by the control thread before launch; read-only to
/// the worker afterwards, except `ctx`, which the worker owns.
struct WorkerSetup {
    WorkerContext* ctx = nullptr;
    uint16_t queue_id = 0;  // its RX and TX queue on every port
    std::vector<uint16_t> ports;
    std::vector<bool> port_has_rss;  // NIC delivers by owner: no software handover check
    uint32_t worker_count = 1;
    std::vector<rte_ring*> handover_to;    // [w]: single-producer ring from this worker to w
    std::vector<rte_ring*> handover_from;  // rings other workers hand this one packets on
    rte_ring* sightings = nullptr;         // to the control thread (many producers)
    rte_ring* arp_orders = nullptr;        // from the control thread: (port << 32 | ip)
    rte_ring* nd_orders = nullptr;         // from the control thread: NeighborSolicitOrder
    /// To the kernel mirrors' thread, by PuntClass (this worker is the one producer); null when
    /// no port has a mirror.
    std::array<rte_ring*, kPuntClasses> punt_to{};
    /// From the kernel mirrors' thread: what the kernels send, each packet to leave by its
    /// `port`. One worker gets it (the first), so that it never races another's TX queue.
    rte_ring* from_kernel = nullptr;
    /// Connection sync (dp/conn_sync.hpp), both null without `ha.sync`: records of this
    /// worker's connections to the sync thread (this worker the one producer), and the
    /// records received from the other directors that this worker owns (the one consumer).
    rte_ring* sync_out = nullptr;
    rte_ring* sync_in = nullptr;
    /// Raised by the sync thread when a peer appears: the worker then resends its whole table
    /// (records of every connection), paced by the room in `sync_out`.
    const std::atomic<uint64_t>* sync_resend = nullptr;
    uint64_t sync_resend_seen = 0;
    IdleMode idle = IdleMode::adaptive;
    const std::atomic<const Snapshot*>* snapshot = nullptr;
    const std::atomic<bool>* stop = nullptr;
    /// The worker reports a quiescent state here (thread id = queue_id, registered by whoever
    /// made the setup) once per loop, after which it holds no pointer into a snapshot it loaded
    /// before.
    rte_rcu_qsbr* qsbr = nullptr;
    ConnDump* dump = nullptr;
};

/// The loop; returns when `*setup.stop` becomes true. Runs on a worker lcore.
int run_worker(WorkerSetup& setup);

}  // namespace vsnat::dp
