// Connection sync on the packet path (README.md, "A pair of directors"): which packets make a
// worker send a record of their connection to the other directors, and how a record received
// from them lands in the worker's table. The sync thread (cp/sync_daemon) carries the records
// between the workers' rings and the wire (dp/sync_wire).
//
// When a record is sent follows LVS (ip_vs_sync_conn_needed, net/netfilter/ipvs/ip_vs_sync.c,
// with its defaults sync_threshold = 3 50, sync_refresh_period = 0): a TCP connection is synced
// only in ESTABLISHED, FIN_WAIT, CLOSE_WAIT, TIME_WAIT or CLOSE; on entering any of those but
// ESTABLISHED at once, and otherwise on the 3rd of every 50 packets from the client (UDP as
// well). LVS leaves an idle connection to expire on the backup one timeout after its last
// record, even while the master keeps it; vsnat also sends a record whenever its timer wheel
// finds a connection still live at a deadline it has passed (at least once per wheel turn,
// 262 s, and when a short timeout was extended), so the backup's copy is refreshed before it
// could expire, at no cost per packet.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <type_traits>
#include <vector>

#include "dp/conn.hpp"
#include "dp/sync_wire.hpp"

namespace vsnat::dp {

struct WorkerContext;

// Records travel between the workers and the sync thread as rte_ring elements: whole 32-bit
// words, copied as bytes.
static_assert(std::is_trivially_copyable_v<sync::AnyRecord> && sizeof(sync::AnyRecord) % 4 == 0);

/// The sync record of a connection of either family: sync::Record for Conn, sync::Record6 for
/// Conn6.
template <class ConnRecord>
using SyncRecordOf = sync::BasicRecord<std::remove_cvref_t<decltype(ConnRecord::client_ip)>>;

/// The connection a sync record of addresses `Address` describes: Conn or Conn6.
template <class Address>
using ConnFor = std::conditional_t<std::is_same_v<Address, Ipv6>, Conn6, Conn>;

/// A worker's sync state, made only when `ha.sync` is configured (WorkerContext::sync stays
/// null otherwise, and the packet path pays one test).
struct ConnSync {
    /// LVS's sync_threshold defaults: the 3rd of every 50 packets from the client.
    static constexpr uint8_t kThreshold = 3;
    static constexpr uint8_t kPeriod = 50;
    /// A connection received from a peer that this worker has not forwarded a packet of since:
    /// its copy is the peer's to refresh, so the wheel sends no record of it (which, stale, could
    /// move the peer's connection back to an older state).
    static constexpr uint8_t kPeerCopy = 0xff;
    /// Added to a received record's timeout: the sender refreshes a connection when its own
    /// deadline passes, so the copy must outlive that deadline by the trip of the record.
    static constexpr uint32_t kMarginMs = 2000;
    /// The longest timeout a received record may give (a week): beyond 2^31 ms the wheel's
    /// wrapping clock would take it for a time past.
    static constexpr uint32_t kMaxTimeoutS = 7 * 24 * 3600;
    /// Records queued by one worker between two flushes to its ring (a burst and the wheel's
    /// budget produce at most one per packet or expiry visit); more are counted as dropped.
    static constexpr uint16_t kOutboxSize = 512;
    /// Received records a worker applies together (prefetch_sync_records: two keys each).
    static constexpr size_t kApplyBatch = 32;

    static constexpr uint32_t kNoResend = UINT32_MAX;

    /// For tables of `table_capacity` IPv4 and `table6_capacity` IPv6 connections.
    ConnSync(uint32_t table_capacity, uint32_t table6_capacity)
        : packets(table_capacity, 0), packets6(table6_capacity, 0) {}

    /// Per connection id: packets from the client modulo kPeriod, or kPeerCopy. IPv4's
    /// connections, and IPv6's (by their ids in the IPv6 table).
    std::vector<uint8_t> packets;
    std::vector<uint8_t> packets6;
    std::array<sync::AnyRecord, kOutboxSize> outbox{};
    uint16_t outbox_count = 0;
    /// A resend of the whole table (a peer appeared: sync_resend_some): the next connection id
    /// to look at, or kNoResend. IPv4's ids, then IPv6's numbered after them.
    uint32_t resend_cursor = kNoResend;

    /// The packet counts of ConnRecord's family.
    template <class ConnRecord>
    std::vector<uint8_t>& packets_of() {
        if constexpr (std::is_same_v<ConnRecord, Conn>) {
            return packets;
        } else {
            return packets6;
        }
    }
};

// What follows takes connections of either family: ConnRecord is Conn or Conn6, and an id is
// one in that family's table.

/// After a packet of connection `id` from `dir` moved it from `old_state` to c.state (maybe the
/// same): queues its record when LVS would sync it now. Worker thread only.
template <class ConnRecord>
void sync_after_packet(WorkerContext& ctx, uint32_t id, const ConnRecord& c, ConnState old_state,
                       Direction dir);

/// Queues the record of `c` now (its FTP helper shifted its sequence numbers). Worker thread
/// only, with sync on.
template <class ConnRecord>
void sync_connection(WorkerContext& ctx, const ConnRecord& c);

/// A connection just made by this worker: its packet count starts at 0.
template <class ConnRecord>
void sync_on_insert(WorkerContext& ctx, uint32_t id);

/// The timer wheel found connection `id` live past a deadline: queues its record unless it is
/// a peer's copy. Worker thread only.
template <class ConnRecord>
void sync_on_rearm(WorkerContext& ctx, uint32_t id);

/// Goes on with a resend of the whole table (both families'): queues the record of every live
/// connection among the next `ids` connection ids (the peer's copies too: a peer that restarted
/// lost them), and at most the outbox's room. Returns false once the resend is done (or none was
/// going on). Worker thread only.
bool sync_resend_some(WorkerContext& ctx, uint32_t ids);

/// The record a peer receives for `c`, as it is now.
template <class ConnRecord>
SyncRecordOf<ConnRecord> sync_record_of(const WorkerContext& ctx, const ConnRecord& c);

/// What became of a received record.
enum class SyncApplied : uint8_t {
    inserted,  // a new connection in the table
    updated,   // the connection was there: its state and timeout refreshed
    replaced,  // one with the same client and VIP ports but another real server gave way
    refused,   // no service or real server of this config matches, the table is full, no
               // room for the FTP helper's state, or a key in use by another connection
};

/// Brings into cache what applying `records` (at most ConnSync::kApplyBatch) will touch in
/// the table: the buckets of both their keys and the records already there, looked up in one
/// bulk lookup, so that their misses overlap instead of coming one after another. Worker
/// thread only.
void prefetch_sync_records(const WorkerContext& ctx, std::span<const sync::AnyRecord> records);

/// Puts the connection `r` describes into the worker's table, with its state and its timeout
/// (plus kMarginMs), as a peer's copy; counted in sync_applied or sync_refused. `r` must be a
/// connection this worker owns (owner_of_client). An IPv6 one is refused when the worker has no
/// IPv6 table. Worker thread only.
SyncApplied apply_sync_record(WorkerContext& ctx, const sync::AnyRecord& r, uint32_t now_ms);

}  // namespace vsnat::dp
