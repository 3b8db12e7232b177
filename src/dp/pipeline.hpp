// One burst through every stage: parse, bulk connection lookup, scheduling of misses only,
// state update, NAT rewrite, L2 addressing, TX buffering per port.
#pragma once

#include <array>
#include <cstdint>

#include "dp/conn_table.hpp"
#include "dp/neighbor.hpp"
#include "dp/snapshot.hpp"
#include "vsnat/types.hpp"

struct rte_mbuf;

namespace vsnat::dp {

constexpr uint16_t kMaxBurst = 64;
constexpr uint32_t kMaxDestinations = 65536;  // dest_id is 16 bits

/// Per real server, per worker. Plain counters: only the owning worker writes them; the control
/// thread sums them across workers (aligned 64-bit reads do not tear on the platforms we run).
struct DestCounters {
    uint64_t connections = 0;  // created
    uint64_t in_packets = 0;   // client -> server
    uint64_t out_packets = 0;  // server -> client
    uint64_t in_bytes = 0;     // IP length, as ipvsadm counts
    uint64_t out_bytes = 0;
    int64_t active = 0;        // ESTABLISHED now
    int64_t inactive = 0;      // any other state now
};

struct WorkerCounters {
    uint64_t rx_packets = 0;
    uint64_t tx_packets = 0;
    uint64_t to_control = 0;
    uint64_t connections_created = 0;
    uint64_t connections_expired = 0;
    std::array<uint64_t, kDropReasonCount> drops{};

    void drop(DropReason r) { ++drops[static_cast<size_t>(r)]; }
    uint64_t dropped(DropReason r) const { return drops[static_cast<size_t>(r)]; }
};

/// Packets waiting to leave by one port; the caller sends and empties it after each burst.
struct PacketBatch {
    std::array<rte_mbuf*, kMaxBurst> packets{};
    uint16_t count = 0;
    void push(rte_mbuf* m) { packets[count++] = m; }
};

/// Everything one worker owns, passed by reference down the stages. Cache-aligned; never shared
/// for writing.
struct alignas(64) WorkerContext {
    uint32_t worker_id = 0;
    ConnTable* table = nullptr;
    const Snapshot* snapshot = nullptr;     // swapped by the worker between bursts
    const NeighborTable* neighbors = nullptr;
    std::array<PacketBatch, kMaxPorts> tx{};
    /// For the control thread: ARP, ICMP and traffic for the director itself, and rejected
    /// connection attempts to answer with a RST or a port unreachable.
    PacketBatch control;
    WorkerCounters counters;
    DestCounters* dest_counters = nullptr;  // kMaxDestinations entries
};

/// Processes `count` (<= kMaxBurst) packets received at `now_ms`. Worker thread only. Every mbuf
/// ends in exactly one place: a `tx` batch, the `control` batch, or freed as a counted drop.
/// The batches must be empty on entry.
void process_burst(WorkerContext& ctx, rte_mbuf** packets, uint16_t count, uint32_t now_ms);

/// Expires due connections with at most `budget` units of work. Worker thread only.
uint32_t expire_connections(WorkerContext& ctx, uint32_t now_ms, uint32_t budget);

}  // namespace vsnat::dp
