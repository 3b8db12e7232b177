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

// The real server a record names, in this director's configuration: the service's own, or, for
// an FTP data connection (whose VIP port no service has), that server in an FTP service of the
// VIP. -1 when none.
int32_t dest_of_record(const Snapshot& snap, const sync::Record& r, const ServiceEntry*& svc) {
    svc = snap.find_service(r.protocol, r.vip, r.vport);
    if (svc != nullptr) {
        for (const Destination& d : svc->servers) {
            if (d.ip == r.real_ip && d.port == r.real_port) {
                return d.dest_id;
            }
        }
        return -1;
    }
    if (r.protocol != ipv4::kProtoTcp) {
        return -1;
    }
    for (const ServiceEntry& s : snap.services) {
        if (s.helper != AppHelper::ftp || s.vip != r.vip) {
            continue;
        }
        for (const Destination& d : s.servers) {
            if (d.ip == r.real_ip) {
                return d.dest_id;
            }
        }
    }
    return -1;
}

// The expiry a received record gives its connection: its timeout, or ours for its state.
uint32_t synced_expiry(const WorkerContext& ctx, const sync::Record& r, ConnState state,
                       uint32_t now_ms) {
    const uint32_t timeout_ms = r.timeout_s > 0
                                    ? std::min(r.timeout_s, ConnSync::kMaxTimeoutS) * 1000
                                    : ctx.snapshot->timeouts[static_cast<size_t>(state)];
    return now_ms + timeout_ms + ConnSync::kMarginMs;
}

// The sequence shifts of FTP control connection `helper` (a Conn::helper), as record `r` has
// them: the peer rewrote its 227 replies.
void set_seq_shifts(WorkerContext& ctx, const sync::Record& r, uint16_t helper) {
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
bool attach_helper(WorkerContext& ctx, const sync::Record& r, Conn& c) {
    c.helper = ftp_acquire<Conn>(ctx);
    if (c.helper == FtpControlPool::kNone) {
        return false;
    }
    set_seq_shifts(ctx, r, c.helper);
    return true;
}

// The persistence template a connection of persistent service `svc` received from a peer holds:
// the client's live one, or one made for the record's server, so that the client's next
// connections go where this one went.
uint32_t pin_client(WorkerContext& ctx, const ServiceEntry& svc, const Conn& c, uint32_t now_ms) {
    if (svc.persistence_ms == 0 || ctx.persistence == nullptr) {
        return PersistenceTable::kNoSlot;
    }
    const uint32_t client = c.client_ip & svc.persistence_mask;
    PersistenceTable::Ref ref = ctx.persistence->acquire(svc.service_id, client, now_ms);
    if (ref.slot == PersistenceTable::kNoSlot) {
        ref = ctx.persistence->bind(svc.service_id, client, c.dest_id, now_ms, svc.persistence_ms);
    }
    return ref.slot;
}

// The connection record `r` describes, its state, real server and helper still to be filled in.
Conn conn_of(const sync::Record& r) {
    Conn c{};
    c.client_ip = r.client_ip;
    c.vip = r.vip;
    c.rip = r.real_ip;
    c.client_port = r.client_port;
    c.vport = r.vport;
    c.rport = r.real_port;
    c.protocol = r.protocol;
    c.persistence_slot = PersistenceTable::kNoSlot;
    return c;
}

SyncApplied refuse(WorkerContext& ctx) {
    ++ctx.counters.sync_refused;
    return SyncApplied::refused;
}

// A record for a connection this worker has, to the same real server: its state and timeout.
SyncApplied update(WorkerContext& ctx, uint32_t id, ConnState state, const sync::Record& r,
                   uint32_t now_ms) {
    Conn& c = ctx.table->conn(id);
    if (state != c.state) {
        DestCounters& dc = ctx.dest_counters[c.dest_id];
        count_state(dc, c.state, -1);
        count_state(dc, state, +1);
        c.state = state;
    }
    if (c.helper != FtpControlPool::kNone) {
        set_seq_shifts(ctx, r, c.helper);
    }
    ctx.table->set_expiry(id, synced_expiry(ctx, r, state, now_ms));
    ctx.sync->packets[id] = ConnSync::kPeerCopy;
    ++ctx.counters.sync_applied;
    return SyncApplied::updated;
}

}  // namespace

void sync_connection(WorkerContext& ctx, const Conn& c) {
    ConnSync& sync = *ctx.sync;
    if (sync.outbox_count == ConnSync::kOutboxSize) {
        ++ctx.counters.sync_dropped;
        return;
    }
    sync.outbox[sync.outbox_count++] = sync_record_of(ctx, c);
}

void sync_on_insert(WorkerContext& ctx, uint32_t id) {
    ctx.sync->packets[id] = 0;
}

void sync_after_packet(WorkerContext& ctx, uint32_t id, const Conn& c, ConnState old_state,
                       Direction dir) {
    uint8_t& count = ctx.sync->packets[id];
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

void sync_on_rearm(WorkerContext& ctx, uint32_t id) {
    const Conn& c = ctx.table->conn(id);
    if (ctx.sync->packets[id] == ConnSync::kPeerCopy ||
        (c.protocol == ipv4::kProtoTcp && !synced_tcp_state(c.state))) {
        return;
    }
    sync_connection(ctx, c);
}

bool sync_resend_some(WorkerContext& ctx, uint32_t ids) {
    ConnSync& sync = *ctx.sync;
    const uint32_t capacity = ctx.table->capacity();
    uint32_t& id = sync.resend_cursor;
    for (uint32_t seen = 0; id < capacity && seen < ids; ++id, ++seen) {
        if (sync.outbox_count == ConnSync::kOutboxSize) {
            return true;  // the rest next time, once the outbox is flushed
        }
        if (ctx.table->live(id)) {
            sync.outbox[sync.outbox_count++] = sync_record_of(ctx, ctx.table->conn(id));
        }
    }
    if (id >= capacity) {
        id = ConnSync::kNoResend;
    }
    return id != ConnSync::kNoResend;
}

sync::Record sync_record_of(const WorkerContext& ctx, const Conn& c) {
    sync::Record r;
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

void prefetch_sync_records(const WorkerContext& ctx, std::span<const sync::Record> records) {
    std::array<FlowKey, 2 * ConnSync::kApplyBatch> keys;
    std::array<const FlowKey*, keys.size()> key_ptrs;
    std::array<uint32_t, keys.size()> ids;
    uint32_t n = 0;
    for (const sync::Record& r : records.first(std::min(records.size(), ConnSync::kApplyBatch))) {
        const Conn c = conn_of(r);
        keys[n++] = c.inbound_key();
        keys[n++] = c.reply_key();
    }
    for (uint32_t i = 0; i < n; ++i) {
        key_ptrs[i] = &keys[i];
    }
    ctx.table->lookup_bulk(key_ptrs.data(), n, ids.data());
}

SyncApplied apply_sync_record(WorkerContext& ctx, const sync::Record& r, uint32_t now_ms) {
    const std::optional<ConnState> state = sync::conn_state_of(r.protocol, r.state);
    if (!state || (r.flags & (sync::kConnTemplate | sync::kConnFwdMask)) != sync::kConnMasq) {
        return refuse(ctx);  // persistence templates and other forwarding methods: not ours
    }
    Conn c = conn_of(r);
    c.state = *state;

    SyncApplied outcome = SyncApplied::inserted;
    const uint32_t existing = ctx.table->lookup(c.inbound_key());
    if (existing != ConnTable::kNoConn) {
        const Conn& old = ctx.table->conn(existing);
        if (old.rip == c.rip && old.rport == c.rport) {
            return update(ctx, existing, *state, r, now_ms);
        }
        // The peer's connection is newer than ours (the client reused its port there).
        retire_connection(ctx, old, now_ms);
        ctx.table->erase(existing);
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
    ConnTable::InsertError error;
    const uint32_t id = ctx.table->insert(c, synced_expiry(ctx, r, *state, now_ms), error);
    if (id == ConnTable::kNoConn) {
        if (c.helper != FtpControlPool::kNone) {
            ctx.ftp_controls->release(c.helper);
        }
        if (c.persistence_slot != PersistenceTable::kNoSlot) {
            ctx.persistence->release(c.persistence_slot, now_ms, svc->persistence_ms);
        }
        return refuse(ctx);
    }
    count_connection(ctx, c, +1);
    ctx.sync->packets[id] = ConnSync::kPeerCopy;
    ++ctx.counters.sync_applied;
    return outcome;
}

}  // namespace vsnat::dp
