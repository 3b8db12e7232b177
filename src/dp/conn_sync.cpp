#include "dp/conn_sync.hpp"

#include <algorithm>

#include "dp/alg/ftp_control.hpp"
#include "dp/alg/ftp_helper.hpp"
#include "dp/bytes.hpp"
#include "dp/pipeline.hpp"

namespace vsnat::dp {
namespace {

// The TCP states LVS syncs a connection in (ip_vs_sync_conn_needed).
bool synced_tcp_state(ConnState s) {
    switch (s) {
        case ConnState::established:
        case ConnState::fin_wait:
        case ConnState::close:
        case ConnState::close_wait:
        case ConnState::time_wait:
            return true;
        default:
            return false;
    }
}

sync::SeqInfo seq_info_of(const SeqShift& s) {
    return {s.init_seq, static_cast<uint32_t>(s.delta), static_cast<uint32_t>(s.previous_delta)};
}

SeqShift seq_shift_of(const sync::SeqInfo& s) {
    SeqShift out;
    out.init_seq = s.init_seq;
    out.delta = static_cast<int32_t>(s.delta);
    out.previous_delta = static_cast<int32_t>(s.previous_delta);
    out.active = true;
    return out;
}

// The service of record `r`'s VIP port, of its family.
const ServiceEntry* service_of(const Snapshot& snap, const sync::Record& r) {
    return snap.find_service(r.protocol, r.vip, r.vport);
}

const ServiceEntry* service_of(const Snapshot& snap, const sync::Record6& r) {
    return snap.find_service6(r.protocol, r.vip, r.vport);
}

// A service's VIP and a server's address in the family of `Address`.
const uint32_t& vip_of(const ServiceEntry& s, uint32_t) {
    return s.vip;
}

const Ipv6& vip_of(const ServiceEntry& s, const Ipv6&) {
    return s.vip6;
}

const uint32_t& address_of(const Destination& d, uint32_t) {
    return d.ip;
}

const Ipv6& address_of(const Destination& d, const Ipv6&) {
    return d.ip6;
}

// The real server a record names, in this director's configuration: the service's own, or, for
// an FTP data connection (whose VIP port no service has), that server in an FTP service of the
// VIP. -1 when none.
template <class Address>
int32_t dest_of_record(const Snapshot& snap, const sync::BasicRecord<Address>& r,
                       const ServiceEntry*& svc) {
    svc = service_of(snap, r);
    if (svc != nullptr) {
        for (const Destination& d : svc->servers) {
            if (address_of(d, r.real_ip) == r.real_ip && d.port == r.real_port) {
                return d.dest_id;
            }
        }
        return -1;
    }
    if (r.protocol != ipv4::kProtoTcp) {
        return -1;
    }
    for (const ServiceEntry& s : snap.services) {
        if (s.helper != AppHelper::ftp || s.ipv6 != sync::BasicRecord<Address>::kInet6 ||
            vip_of(s, r.vip) != r.vip) {
            continue;
        }
        for (const Destination& d : s.servers) {
            if (address_of(d, r.real_ip) == r.real_ip) {
                return d.dest_id;
            }
        }
    }
    return -1;
}

// The expiry a received record gives its connection: its timeout, or ours for its state.
template <class Address>
uint32_t synced_expiry(const WorkerContext& ctx, const sync::BasicRecord<Address>& r,
                       ConnState state, uint32_t now_ms) {
    const uint32_t timeout_ms = r.timeout_s > 0
                                    ? std::min(r.timeout_s, ConnSync::kMaxTimeoutS) * 1000
                                    : ctx.snapshot->timeouts[static_cast<size_t>(state)];
    return now_ms + timeout_ms + ConnSync::kMarginMs;
}

// The sequence shifts of FTP control connection `helper` (a Conn::helper), as record `r` has
// them: the peer rewrote its 227 replies.
template <class Address>
void set_seq_shifts(WorkerContext& ctx, const sync::BasicRecord<Address>& r, uint16_t helper) {
    if (!r.seq) {
        return;
    }
    FtpControl& control = (*ctx.ftp_controls)[helper];
    if (r.flags & sync::kConnInSeq) {
        control.shift[static_cast<size_t>(Direction::from_client)] = seq_shift_of(r.seq->in_seq);
    }
    if (r.flags & sync::kConnOutSeq) {
        control.shift[static_cast<size_t>(Direction::from_server)] = seq_shift_of(r.seq->out_seq);
    }
}

// The FTP helper's state for a control connection received from a peer, with the sequence
// shifts its record carries. False when the pool is exhausted.
template <class Address, class ConnRecord>
bool attach_helper(WorkerContext& ctx, const sync::BasicRecord<Address>& r, ConnRecord& c) {
    c.helper = ftp_acquire<ConnRecord>(ctx);
    if (c.helper == FtpControlPool::kNone) {
        return false;
    }
    set_seq_shifts(ctx, r, c.helper);
    return true;
}

// The persistence template a connection of persistent service `svc` received from a peer holds:
// the client's live one, or one made for the record's server, so that the client's next
// connections go where this one went.
template <class ConnRecord>
uint32_t pin_client(WorkerContext& ctx, const ServiceEntry& svc, const ConnRecord& c,
                    uint32_t now_ms) {
    auto* const table = persistence_of(ctx, c.client_ip);
    if (svc.persistence_ms == 0 || table == nullptr) {
        return PersistenceTable::kNoSlot;
    }
    const auto client = persistent_client(svc, c.client_ip);
    PersistenceRef ref = table->acquire(svc.service_id, client, now_ms);
    if (ref.slot == PersistenceTable::kNoSlot) {
        ref = table->bind(svc.service_id, client, c.dest_id, now_ms, svc.persistence_ms);
    }
    return ref.slot;
}

// The connection record `r` describes, its state, real server and helper still to be filled in.
template <class Address>
ConnFor<Address> conn_of(const sync::BasicRecord<Address>& r) {
    ConnFor<Address> c{};
    c.client_ip = r.client_ip;
    c.vip = r.vip;
    c.rip = r.real_ip;
    c.client_port = r.client_port;
    c.vport = r.vport;
    c.rport = r.real_port;
    c.protocol = r.protocol;
    c.helper = FtpControlPool::kNone;
    c.persistence_slot = PersistenceTable::kNoSlot;
    return c;
}

SyncApplied refuse(WorkerContext& ctx) {
    ++ctx.counters.sync_refused;
    return SyncApplied::refused;
}

// A record for a connection this worker has, to the same real server: its state and timeout.
template <class ConnRecord, class Address>
SyncApplied update(WorkerContext& ctx, uint32_t id, ConnState state,
                   const sync::BasicRecord<Address>& r, uint32_t now_ms) {
    auto& table = table_of<ConnRecord>(ctx);
    ConnRecord& c = table.conn(id);
    if (state != c.state) {
        DestCounters& dc = ctx.dest_counters[c.dest_id];
        count_state(dc, c.state, -1);
        count_state(dc, state, +1);
        c.state = state;
    }
    if (c.helper != FtpControlPool::kNone) {
        set_seq_shifts(ctx, r, c.helper);
    }
    table.set_expiry(id, synced_expiry(ctx, r, state, now_ms));
    ctx.sync->packets_of<ConnRecord>()[id] = ConnSync::kPeerCopy;
    ++ctx.counters.sync_applied;
    return SyncApplied::updated;
}

template <class Address>
SyncApplied apply_record(WorkerContext& ctx, const sync::BasicRecord<Address>& r, uint32_t now_ms) {
    using ConnRecord = ConnFor<Address>;
    const std::optional<ConnState> state = sync::conn_state_of(r.protocol, r.state);
    if (!state || (r.flags & (sync::kConnTemplate | sync::kConnFwdMask)) != sync::kConnMasq) {
        return refuse(ctx);  // persistence templates and other forwarding methods: not ours
    }
    if (std::is_same_v<ConnRecord, Conn6> && ctx.table6 == nullptr) {
        return refuse(ctx);  // an IPv6 connection, and this director has no IPv6 address
    }
    auto& table = table_of<ConnRecord>(ctx);
    ConnRecord c = conn_of(r);
    c.state = *state;

    SyncApplied outcome = SyncApplied::inserted;
    const uint32_t existing = table.lookup(c.inbound_key());
    if (existing != ConnTable::kNoConn) {
        const ConnRecord& old = table.conn(existing);
        if (old.rip == c.rip && old.rport == c.rport) {
            return update<ConnRecord>(ctx, existing, *state, r, now_ms);
        }
        // The peer's connection is newer than ours (the client reused its port there).
        retire_connection(ctx, old, now_ms);
        table.erase(existing);
        outcome = SyncApplied::replaced;
    }
    const ServiceEntry* svc = nullptr;
    const int32_t dest_id = dest_of_record(*ctx.snapshot, r, svc);
    if (dest_id < 0) {
        return refuse(ctx);
    }
    c.dest_id = static_cast<uint16_t>(dest_id);
    if (svc != nullptr && svc->helper == AppHelper::ftp && !attach_helper(ctx, r, c)) {
        return refuse(ctx);
    }
    if (svc != nullptr) {
        c.persistence_slot = pin_client(ctx, *svc, c, now_ms);
    }
    ConnInsertError error;
    const uint32_t id = table.insert(c, synced_expiry(ctx, r, *state, now_ms), error);
    if (id == ConnTable::kNoConn) {
        if (c.helper != FtpControlPool::kNone) {
            ctx.ftp_controls->release(c.helper);
        }
        if (c.persistence_slot != PersistenceTable::kNoSlot) {
            persistence_of(ctx, c.client_ip)
                ->release(c.persistence_slot, now_ms, svc->persistence_ms);
        }
        return refuse(ctx);
    }
    count_connection(ctx, c, +1);
    ctx.sync->packets_of<ConnRecord>()[id] = ConnSync::kPeerCopy;
    ++ctx.counters.sync_applied;
    return outcome;
}

// Queues the record of the live connection `id` of ConnRecord's family, if the outbox has room
// (false when it has none).
template <class ConnRecord>
bool resend_one(WorkerContext& ctx, uint32_t id) {
    ConnSync& sync = *ctx.sync;
    if (sync.outbox_count == ConnSync::kOutboxSize) {
        return false;
    }
    const auto& table = table_of<ConnRecord>(ctx);
    if (table.live(id)) {
        sync.outbox[sync.outbox_count++] = sync_record_of(ctx, table.conn(id));
    }
    return true;
}

// The lookup keys of connections of one family (both keys of each), for one bulk lookup.
template <class Key, size_t N>
struct KeyBatch {
    std::array<Key, N> keys;
    std::array<const Key*, N> key_ptrs;
    std::array<uint32_t, N> ids;
    uint32_t n = 0;

    template <class ConnRecord>
    void add(const ConnRecord& c) {
        keys[n] = c.inbound_key();
        key_ptrs[n] = &keys[n];
        ++n;
        keys[n] = c.reply_key();
        key_ptrs[n] = &keys[n];
        ++n;
    }
};

}  // namespace

template <class ConnRecord>
void sync_connection(WorkerContext& ctx, const ConnRecord& c) {
    ConnSync& sync = *ctx.sync;
    if (sync.outbox_count == ConnSync::kOutboxSize) {
        ++ctx.counters.sync_dropped;
        return;
    }
    sync.outbox[sync.outbox_count++] = sync_record_of(ctx, c);
}

template <class ConnRecord>
void sync_on_insert(WorkerContext& ctx, uint32_t id) {
    ctx.sync->packets_of<ConnRecord>()[id] = 0;
}

template <class ConnRecord>
void sync_after_packet(WorkerContext& ctx, uint32_t id, const ConnRecord& c, ConnState old_state,
                       Direction dir) {
    uint8_t& count = ctx.sync->packets_of<ConnRecord>()[id];
    bool threshold = false;
    if (dir == Direction::from_client) {
        // A peer's copy this worker now forwards is its own from here on.
        count = count == ConnSync::kPeerCopy || count + 1 == ConnSync::kPeriod ? 0 : count + 1;
        threshold = count == ConnSync::kThreshold;
    } else if (count == ConnSync::kPeerCopy) {
        count = 0;
    }
    if (c.protocol != ipv4::kProtoTcp) {
        if (threshold) {
            sync_connection(ctx, c);
        }
        return;
    }
    if (!synced_tcp_state(c.state)) {
        return;
    }
    const bool entered = c.state != old_state && c.state != ConnState::established;
    if (entered || threshold) {
        sync_connection(ctx, c);
    }
}

template <class ConnRecord>
void sync_on_rearm(WorkerContext& ctx, uint32_t id) {
    const ConnRecord& c = table_of<ConnRecord>(ctx).conn(id);
    if (ctx.sync->packets_of<ConnRecord>()[id] == ConnSync::kPeerCopy ||
        (c.protocol == ipv4::kProtoTcp && !synced_tcp_state(c.state))) {
        return;
    }
    sync_connection(ctx, c);
}

bool sync_resend_some(WorkerContext& ctx, uint32_t ids) {
    ConnSync& sync = *ctx.sync;
    const uint32_t capacity = ctx.table->capacity();
    const uint32_t end = capacity + (ctx.table6 != nullptr ? ctx.table6->capacity() : 0);
    uint32_t& id = sync.resend_cursor;
    for (uint32_t seen = 0; id < end && seen < ids; ++id, ++seen) {
        const bool room =
            id < capacity ? resend_one<Conn>(ctx, id) : resend_one<Conn6>(ctx, id - capacity);
        if (!room) {
            return true;  // the rest next time, once the outbox is flushed
        }
    }
    if (id >= end) {
        id = ConnSync::kNoResend;
    }
    return id != ConnSync::kNoResend;
}

template <class ConnRecord>
SyncRecordOf<ConnRecord> sync_record_of(const WorkerContext& ctx, const ConnRecord& c) {
    SyncRecordOf<ConnRecord> r;
    r.protocol = c.protocol;
    r.flags = sync::kConnMasq | (conn_state_is_active(c.state) ? 0 : sync::kConnInactive);
    r.state = sync::ipvs_state_of(c.state);
    r.client_ip = c.client_ip;
    r.vip = c.vip;
    r.real_ip = c.rip;
    r.client_port = c.client_port;
    r.vport = c.vport;
    r.real_port = c.rport;
    r.timeout_s = (ctx.snapshot->timeouts[static_cast<size_t>(c.state)] + 999) / 1000;
    if (c.helper != FtpControlPool::kNone) {
        const FtpControl& control = (*ctx.ftp_controls)[c.helper];
        const SeqShift& in = control.shift[static_cast<size_t>(Direction::from_client)];
        const SeqShift& out = control.shift[static_cast<size_t>(Direction::from_server)];
        if (in.active || out.active) {
            r.flags |= (in.active ? sync::kConnInSeq : 0) | (out.active ? sync::kConnOutSeq : 0);
            r.seq = sync::SeqOptions{seq_info_of(in), seq_info_of(out)};
        }
    }
    return r;
}

static_assert(2 * ConnSync::kApplyBatch <= ConnTable::kMaxBurst, "one bulk lookup");

void prefetch_sync_records(const WorkerContext& ctx, std::span<const sync::AnyRecord> records) {
    constexpr size_t kKeys = 2 * ConnSync::kApplyBatch;
    KeyBatch<FlowKey, kKeys> v4;
    KeyBatch<FlowKey6, kKeys> v6;
    for (const sync::AnyRecord& any :
         records.first(std::min(records.size(), ConnSync::kApplyBatch))) {
        if (const auto* r = std::get_if<sync::Record>(&any)) {
            v4.add(conn_of(*r));
        } else if (ctx.table6 != nullptr) {
            v6.add(conn_of(std::get<sync::Record6>(any)));
        }
    }
    ctx.table->lookup_bulk(v4.key_ptrs.data(), v4.n, v4.ids.data());
    if (v6.n > 0) {
        ctx.table6->lookup_bulk(v6.key_ptrs.data(), v6.n, v6.ids.data());
    }
}

SyncApplied apply_sync_record(WorkerContext& ctx, const sync::AnyRecord& r, uint32_t now_ms) {
    return std::visit([&ctx, now_ms](const auto& one) { return apply_record(ctx, one, now_ms); },
                      r);
}

template void sync_connection(WorkerContext&, const Conn&);
template void sync_connection(WorkerContext&, const Conn6&);
template void sync_on_insert<Conn>(WorkerContext&, uint32_t);
template void sync_on_insert<Conn6>(WorkerContext&, uint32_t);
template void sync_after_packet(WorkerContext&, uint32_t, const Conn&, ConnState, Direction);
template void sync_after_packet(WorkerContext&, uint32_t, const Conn6&, ConnState, Direction);
template void sync_on_rearm<Conn>(WorkerContext&, uint32_t);
template void sync_on_rearm<Conn6>(WorkerContext&, uint32_t);
template sync::Record sync_record_of(const WorkerContext&, const Conn&);
template sync::Record6 sync_record_of(const WorkerContext&, const Conn6&);

}  // namespace vsnat::dp
