#include "dp/pipeline.hpp"

#include <rte_byteorder.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstring>
#include <type_traits>

#include "dp/alg/ftp_helper.hpp"
#include "dp/bytes.hpp"
#include "dp/checksum.hpp"
#include "dp/conn_sync.hpp"
#include "dp/local.hpp"
#include "dp/local6.hpp"
#include "dp/nat.hpp"
#include "dp/parse.hpp"

namespace vsnat::dp {
namespace {

constexpr uint32_t kPrefetchAhead = 3;
// Persistence buckets each worker sweeps per loop, of each family's table (two cache lines of
// IPv4's, four of IPv6's, which has as many buckets): at 10^4 loops a second, the slowest an idle
// worker goes, even the largest table is swept within two hours, far inside the 24 days after
// which an unswept expiry would compare wrongly. (Expired templates are reused without waiting
// for the sweep.)
constexpr uint32_t kPersistenceSweepBuckets = 1;
// Expectation slots each worker sweeps per loop: the whole table in well under a second.
constexpr uint32_t kExpectationSweepSlots = 1;

struct Flow {
    rte_mbuf* mbuf;
    uint8_t* frame;
    ParsedFrame parsed;
};

// A burst's worth of T, left uninitialised: each element in use is written whole before it is
// read (classify() has parse_frame() reset a flow's parsed fields; a key is written from the
// headers, padding included). Default-initialising a burst's flows and keys, 64 of each, cost
// about 12 cycles a packet in byte and word stores.
template <class T>
struct BurstArray {
    static_assert(std::is_trivially_destructible_v<T>);
    union {
        T items[kMaxBurst];
    };
    BurstArray() {}  // NOLINT(modernize-use-equals-default): `= default` would initialise items
    T& operator[](uint32_t i) { return items[i]; }
};

// A family's table shares: IPv4's Conn records, or IPv6's Conn6.
template <class Record>
TableShareCounts& shares_of(WorkerContext& ctx) {
    if constexpr (std::is_same_v<Record, Conn>) {
        return ctx.shares;
    } else {
        return ctx.shares6;
    }
}

void drop(WorkerContext& ctx, rte_mbuf* m, DropReason reason) {
    ctx.counters.drop(reason);
    rte_pktmbuf_free(m);
}

// The kernel side of the director (PuntClass): what goes to the mirror of the port a packet
// came in on, and in which queue.
constexpr uint8_t kProtoOspf = 89, kProtoVrrp = 112;
constexpr uint16_t kBgpPort = 179;

bool mirrored(const WorkerContext& ctx, const rte_mbuf* m) {
    const InterfaceEntry* in = ctx.snapshot->interface_of_port(m->port);
    return in != nullptr && in->kernel_mirror;
}

void punt(WorkerContext& ctx, rte_mbuf* m, PuntClass cls) {
    ctx.punt[static_cast<size_t>(cls)].push(m);
}

uint32_t destination_of(const Flow& f) {
    return load_u32_raw(f.frame + f.parsed.l3_offset + ipv4::kDst);
}

bool is_ipv4_multicast(const Flow& f) {
    return (f.frame[eth::kDst] & 1) != 0 && (rte_be_to_cpu_32(destination_of(f)) >> 28) == 0xe;
}

// Link-local multicast (224.0.0.0/24: VRRP, OSPF, IPVS connection sync), the routing and
// failover protocols and BGP are control; everything else for the kernel is bulk.
PuntClass punt_class_of(const Flow& f) {
    const uint32_t dst = rte_be_to_cpu_32(destination_of(f));
    if ((dst & 0xffffff00) == 0xe0000000) {
        return PuntClass::control;
    }
    switch (f.parsed.ip_protocol) {
        case kProtoOspf:
        case kProtoVrrp:
            return PuntClass::control;
        case ipv4::kProtoTcp: {
            if (f.parsed.fragment) {
                return PuntClass::bulk;
            }
            const uint8_t* l4p = f.frame + f.parsed.l4_offset;
            const bool bgp = load_be16(l4p + l4::kSrcPort) == kBgpPort ||
                             load_be16(l4p + l4::kDstPort) == kBgpPort;
            return bgp ? PuntClass::control : PuntClass::bulk;
        }
        default:
            return PuntClass::bulk;
    }
}

// Whether the packet is for the kernel: addressed to an interface's own address (not a VIP)
// and arrived on a port with a kernel mirror.
bool for_kernel(const WorkerContext& ctx, const Flow& f) {
    return mirrored(ctx, f.mbuf) && ctx.snapshot->own_address(destination_of(f)) != nullptr;
}

// The kernel gets a copy of every ARP packet the port receives (the dataplane keeps answering
// and learning from the original): it resolves its own neighbors and answers for itself.
void punt_copy(WorkerContext& ctx, rte_mbuf* m) {
    rte_mbuf* copy = ctx.pool != nullptr ? rte_pktmbuf_copy(m, ctx.pool, 0, UINT32_MAX) : nullptr;
    if (copy == nullptr) {
        PuntCounters& c = ctx.punt_counters[m->port];
        ++c.dropped;
        ++c.control_dropped;
        ctx.counters.drop(DropReason::no_mbuf);
        return;
    }
    copy->port = m->port;
    punt(ctx, copy, PuntClass::control);
}

// Sends a reply the director built in the received frame back out of the port it came in on.
void reply(WorkerContext& ctx, rte_mbuf* m, size_t new_len) {
    if (new_len != 0) {
        m->data_len = static_cast<uint16_t>(new_len);
        m->pkt_len = static_cast<uint32_t>(new_len);
    }
    ctx.tx[m->port].push(m);
}

bool ip_header_checksum_ok(const rte_mbuf* m, const uint8_t* ip) {
    switch (m->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) {
        case RTE_MBUF_F_RX_IP_CKSUM_GOOD:
            return true;
        case RTE_MBUF_F_RX_IP_CKSUM_BAD:
            return false;
        default:
            break;
    }
    const size_t header_len = static_cast<size_t>(ip[ipv4::kVersionIhl] & 0x0f) * 4;
    if (header_len == ipv4::kMinHeaderLen) {
        // Nearly every header: its five words summed inline.
        uint64_t sum = 0;
        for (size_t i = 0; i < ipv4::kMinHeaderLen; i += 4) {
            sum += load_u32_raw(ip + i);
        }
        return csum_fold(sum) == 0xffff;
    }
    return csum_fold(csum_partial(ip, header_len)) == 0xffff;
}

// RFC 1812 5.3.7: no host sends from 0/8, 127/8, a multicast (class D) or class E address
// (255.255.255.255 included); and only the director sends from its addresses and VIPs. Taking
// such a packet would open connections whose replies go to a broadcast, or answer a forged
// echo request to one.
bool is_bad_source(const Snapshot& snap, uint32_t src_raw) {
    const auto first_octet = static_cast<uint8_t>(rte_be_to_cpu_32(src_raw) >> 24);
    return first_octet == 0 || first_octet == 127 || first_octet >= 224 || snap.is_ours(src_raw);
}

// Writes the key as its two words: the addresses (adjacent in the header), then the ports and
// the protocol.
void write_flow_key(FlowKey& key, const uint8_t* frame, const ParsedFrame& p) {
    static_assert(offsetof(FlowKey, dst_ip) == 4 && ipv4::kDst == ipv4::kSrc + 4);
    static_assert(offsetof(FlowKey, src_port) == 8 && offsetof(FlowKey, protocol) == 12);
    uint64_t addresses;
    std::memcpy(&addresses, frame + p.l3_offset + ipv4::kSrc, sizeof(addresses));
    key = FlowKey::from_words(addresses, load_u32_raw(frame + p.l4_offset + l4::kSrcPort) |
                                             uint64_t{p.ip_protocol} << 32);
}

// The protocol of the datagram a fragment belongs to, the same in each of its fragments:
// IPv4's protocol field; for IPv6 the next header its fragment header names (a later fragment
// has no other).
uint8_t fragment_protocol(const Flow& f) {
    if (f.parsed.kind == FrameKind::ipv6) {
        return f.frame[f.parsed.fragment_header_offset + ipv6::kFragmentNextHeader];
    }
    return f.parsed.ip_protocol;
}

// The identity of the datagram a fragment of family `Address` (IPv4's uint32_t, or Ipv6)
// belongs to, as it arrived.
template <class Address>
BasicFragmentKey<Address> fragment_key_of(const Flow& f) {
    const uint8_t* ip = f.frame + f.parsed.l3_offset;
    BasicFragmentKey<Address> k;
    if constexpr (std::is_same_v<Address, uint32_t>) {
        k.src = load_u32_raw(ip + ipv4::kSrc);
        k.dst = load_u32_raw(ip + ipv4::kDst);
        k.id = load_u16_raw(ip + ipv4::kId);
    } else {
        k.src = load_ipv6(ip + ipv6::kSrc);
        k.dst = load_ipv6(ip + ipv6::kDst);
        k.id = load_u32_raw(f.frame + f.parsed.fragment_header_offset + ipv6::kFragmentId);
    }
    k.protocol = fragment_protocol(f);
    return k;
}

// A family's fragment table: IPv4's, or IPv6's.
template <class Address>
BasicFragmentTable<Address>* fragments_of(WorkerContext& ctx) {
    if constexpr (std::is_same_v<Address, uint32_t>) {
        return ctx.fragments;
    } else {
        return ctx.fragments6;
    }
}

uint32_t timeout_of(const WorkerContext& ctx, ConnState s) {
    return ctx.snapshot->timeouts[static_cast<size_t>(s)];
}

uint32_t expiry_for(const WorkerContext& ctx, ConnState s, uint32_t now_ms) {
    return now_ms + timeout_of(ctx, s);
}

// A packet leaves its connection's expiry where it is if it would push it later by less than a
// sixteenth of the timeout, at most a second (Linux's conntrack left one pushed by less than a
// second): the connection then expires that much early at worst. Otherwise every packet writes
// its record, and at a million connections each record written is a line written back to memory
// (established flows there 251 -> 232 cycles a packet, replies 239 -> 214).
constexpr uint32_t kMaxExpirySlackMs = 1000;

uint32_t expiry_slack(uint32_t timeout_ms) {
    return std::min(timeout_ms / 16, kMaxExpirySlackMs);
}

void queue_out(WorkerContext& ctx, rte_mbuf* m, const InterfaceEntry& out, const MacAddress& mac) {
    set_ethernet_addresses(rte_pktmbuf_mtod(m, uint8_t*), out.mac, mac);
    m->port = out.port_id;
    ctx.tx[out.port_id].push(m);
    ++ctx.counters.tx_packets;
}

// Tells the control thread about a neighbor (NeighborSighting), while the burst has room.
void report(WorkerContext& ctx, const NeighborSighting& s) {
    if (ctx.sighting_count < ctx.sightings.size()) {
        ctx.sightings[ctx.sighting_count++] = s;
    }
}

// Holds a packet whose next hop is being resolved, while the hold queue has room.
void hold_for_neighbor(WorkerContext& ctx, const HoldQueue::Held& held) {
    HoldQueue& hold = ctx.held;
    if (hold.count == HoldQueue::kCapacity) {
        drop(ctx, held.mbuf, DropReason::no_neighbor);
        return;
    }
    hold.items[hold.count++] = held;
    ++ctx.counters.held_for_arp;
}

// Whether the reply to a rejected connection attempt may be built: one of reject_per_second
// per kind (TCP resets, port unreachables). The attempt is counted as `reason`; over the budget
// it is dropped as rate_limited instead (its one reason: not `reason` as well).
bool within_reject_budget(WorkerContext& ctx, const Flow& f, uint32_t now_ms, DropReason reason) {
    const bool tcp = f.parsed.ip_protocol == ipv4::kProtoTcp;
    RateLimiter& limit = tcp ? ctx.reset_limit : ctx.unreachable_limit;
    if (!limit.allow(now_ms, ctx.snapshot->reject_per_second)) {
        drop(ctx, f.mbuf, DropReason::rate_limited);
        return false;
    }
    ctx.counters.drop(reason);
    return true;
}

// Counts a forwarded packet in its real server's counters (IP length, as ipvsadm counts).
void count_forwarded(DestCounters& dc, const Flow& f, bool inbound) {
    const uint64_t ip_bytes = static_cast<uint64_t>(f.parsed.ip_end - f.parsed.l3_offset);
    if (inbound) {
        ++dc.in_packets;
        dc.in_bytes += ip_bytes;
    } else {
        ++dc.out_packets;
        dc.out_bytes += ip_bytes;
    }
}

// Which end sent a packet of connection `c` whose key is `key` (one of its two).
template <class Key, class Record>
Direction direction_of(const Key& key, const Record& c) {
    return c.has_key(key, /*reply=*/false) ? Direction::from_client : Direction::from_server;
}

// route_and_queue() for a next hop not resolved: sends (at most once a second) an ARP request,
// tells the control thread it awaits the answer (only an awaited answer is learned), and holds
// the packet while there is room.
[[gnu::noinline]] void hold_unresolved(WorkerContext& ctx, const Flow& f, const InterfaceEntry& out,
                                       uint32_t next_hop, uint32_t now_ms) {
    if (ctx.arp_throttle.allow(next_hop, now_ms) && send_arp_request(ctx, out, next_hop)) {
        report(ctx, {next_hop, out.port_id, {}, NeighborSighting::Kind::asked});
    }
    hold_for_neighbor(ctx, {f.mbuf, next_hop, now_ms, out.port_id, false, {}});
}

// Sets the MAC addresses for `dst` and queues the packet on the interface that reaches it; an
// unresolved next hop's packet is held (hold_unresolved). Inline, with only calls on the rare
// paths: as a call of its own it saved and restored six registers a packet.
[[gnu::always_inline]] inline void route_and_queue(WorkerContext& ctx, const Flow& f, uint32_t dst,
                                                   uint32_t now_ms) {
    uint32_t next_hop = 0;
    const InterfaceEntry* out = ctx.snapshot->route(dst, next_hop);
    if (out == nullptr) [[unlikely]] {
        drop(ctx, f.mbuf, DropReason::no_route);
        return;
    }
    MacAddress mac;
    if (ctx.neighbors->lookup(out->port_id, next_hop, mac)) [[likely]] {
        queue_out(ctx, f.mbuf, *out, mac);
        return;
    }
    hold_unresolved(ctx, f, *out, next_hop, now_ms);
}

// A connection attempt the director cannot serve (a VIP port no service offers, a service with
// no real server available): refuse it so the client fails at once, as LVS's ip_vs_leave does,
// and count it as `reason`.
void reject(WorkerContext& ctx, const Flow& f, const MacAddress& our_mac, uint32_t vip,
            uint32_t now_ms, DropReason reason) {
    rte_mbuf* m = f.mbuf;
    const bool tcp = f.parsed.ip_protocol == ipv4::kProtoTcp;
    if (!within_reject_budget(ctx, f, now_ms, reason)) {
        return;
    }
    if (tcp) {
        const size_t len = make_tcp_reset(f.frame, f.parsed, our_mac);
        if (len == 0) {
            rte_pktmbuf_free(m);  // a RST is never answered
            return;
        }
        ++ctx.counters.resets_sent;
        reply(ctx, m, len);
        return;
    }
    const size_t capacity = rte_pktmbuf_data_len(m) + rte_pktmbuf_tailroom(m);
    const size_t len =
        make_unreachable(f.frame, capacity, f.parsed, our_mac, vip, UnreachableCode::port);
    if (len == 0) {
        rte_pktmbuf_free(m);
        return;
    }
    ++ctx.counters.unreachables_sent;
    reply(ctx, m, len);
}

// The index of the server `dest_id` names in `svc`, or -1 when the snapshot lacks it or its
// health check took it down.
int32_t live_server_index(const Snapshot& snap, const ServiceEntry& svc, size_t service_index,
                          uint16_t dest_id) {
    const int32_t i = snap.server_index(service_index, dest_id);
    return i >= 0 && !svc.servers[static_cast<size_t>(i)].down ? i : -1;
}

// What a scheduler sees of a flow: an IPv4 one as it is; an IPv6 one with its addresses folded
// into 32 bits each, as LVS's source and destination hashing schedulers fold them
// (ip_vs_sh_hashkey), ports and protocol as they are.
const FlowKey& scheduling_key(const FlowKey& k) {
    return k;
}
FlowKey scheduling_key(const FlowKey6& k) {
    auto fold = [](const Ipv6& a) {
        uint32_t w[4];
        std::memcpy(w, a.data(), sizeof(w));
        return w[0] ^ w[1] ^ w[2] ^ w[3];
    };
    FlowKey s;
    s.src_ip = fold(k.src_ip);
    s.dst_ip = fold(k.dst_ip);
    s.src_port = k.src_port;
    s.dst_port = k.dst_port;
    s.protocol = k.protocol;
    return s;
}

// Picks the real server for a new connection to `svc`, of either family; for a persistent
// service, as LVS's ip_vs_sched_persist: the client's live template decides, whatever the
// server's weight or load now (LVS sends persistent clients to a quiesced server too, unless
// the expire_quiescent_template sysctl is set; vsnat keeps that default). A template naming a
// server the current snapshot no longer has is pointed at a freshly scheduled one (LVS expires
// it, ip_vs_check_template), and so is one naming a server its health check took down.
// `slot` receives the template the connection will hold, or kNoSlot. Returns the server's
// index, or kNone.
template <class Key>
int32_t schedule(WorkerContext& ctx, const ServiceEntry& svc, size_t service_index, const Key& key,
                 uint32_t now_ms, uint32_t& slot) {
    const Snapshot& snap = *ctx.snapshot;
    Scheduler& scheduler = *snap.schedulers[ctx.worker_id][service_index];
    const WorkerLoad load(ctx.all_dest_counters);
    slot = PersistenceTable::kNoSlot;
    if (svc.persistence_ms == 0) {
        return scheduler.pick(svc.servers, scheduling_key(key), load);
    }
    auto* const table = persistence_of(ctx, key.src_ip);
    if (table == nullptr) {
        ++ctx.counters.persistence_unrecorded;
        return scheduler.pick(svc.servers, scheduling_key(key), load);
    }
    const auto client = persistent_client(svc, key.src_ip);
    PersistenceRef ref = table->acquire(svc.service_id, client, now_ms);
    int32_t i = ref.slot == PersistenceTable::kNoSlot
                    ? -1
                    : live_server_index(snap, svc, service_index, ref.dest_id);
    if (i >= 0) {
        ++ctx.counters.persistence_hits;
        slot = ref.slot;
        return i;
    }
    const int32_t pick = scheduler.pick(svc.servers, scheduling_key(key), load);
    if (pick == Scheduler::kNone) {
        if (ref.slot != PersistenceTable::kNoSlot) {
            table->release(ref.slot, now_ms, svc.persistence_ms);
        }
        return pick;
    }
    const uint16_t chosen = svc.servers[static_cast<size_t>(pick)].dest_id;
    if (ref.slot == PersistenceTable::kNoSlot) {
        ref = table->bind(svc.service_id, client, chosen, now_ms, svc.persistence_ms);
        if (ref.slot == PersistenceTable::kNoSlot) {
            ++ctx.counters.persistence_unrecorded;
            return pick;
        }
        i = live_server_index(snap, svc, service_index, ref.dest_id);
    }
    if (i < 0) {
        ref.dest_id = table->redirect(ref.slot, ref.dest_id, chosen);
        i = live_server_index(snap, svc, service_index, ref.dest_id);
    }
    slot = ref.slot;
    // Another worker redirected it to a server this (older) snapshot lacks: our own pick.
    return i >= 0 ? i : pick;
}

// Candidates one new connection may look at for an unanswered one to evict: bounded work per
// packet, even when a queue holds only connections that were answered since.
constexpr uint32_t kEvictionTries = 8;

// What a flood's entries look like: a TCP handshake the client never completed; UDP not (or
// once) answered and not heard from since (Linux conntrack evicts what is not "assured" first).
template <class Record>
bool evictable(const Record& c) {
    return c.state == ConnState::syn_recv || c.state == ConnState::udp_unanswered ||
           c.state == ConnState::udp_replied;
}

// A family's queues of unanswered connections; null when its connections are not evicted.
template <class Record>
UnansweredQueues* unanswered_of(WorkerContext& ctx) {
    return std::is_same_v<Record, Conn> ? ctx.unanswered : ctx.unanswered6;
}

template <class Record>
void evict(WorkerContext& ctx, uint32_t id, uint32_t now_ms) {
    auto& table = table_of<Record>(ctx);
    retire_connection(ctx, table.conn(id), now_ms);
    table.erase(id);
    ++ctx.counters.connections_evicted;
}

// Ends the oldest evictable connection of `queue`, to make room; returns whether there was one.
// Among the candidates it looks at, one with nothing left to wait for goes before a UDP one still
// waiting for its answer, which may be a real client's query in flight while a flood the server
// answers churns past it (the waiting ones it passes over go back in line).
template <class Record>
bool evict_unanswered(WorkerContext& ctx, UnansweredQueue& queue, uint32_t now_ms) {
    const auto& table = table_of<Record>(ctx);
    uint32_t waiting = ConnTable::kNoConn;  // the oldest candidate still waiting for an answer
    uint32_t id;
    for (uint32_t i = 0; i < kEvictionTries && queue.pop(id); ++i) {
        if (!table.live(id) || !evictable(table.conn(id))) {
            continue;
        }
        if (table.conn(id).state == ConnState::udp_unanswered) {
            if (waiting == ConnTable::kNoConn) {
                waiting = id;
            } else {
                queue.push(id);
            }
            continue;
        }
        evict<Record>(ctx, id, now_ms);
        if (waiting != ConnTable::kNoConn) {
            queue.push(waiting);
        }
        return true;
    }
    if (waiting == ConnTable::kNoConn) {
        return false;
    }
    evict<Record>(ctx, waiting, now_ms);
    return true;
}

template <class Record>
UnansweredQueue& unanswered_queue(WorkerContext& ctx, size_t protocol_slot) {
    UnansweredQueues& queues = *unanswered_of<Record>(ctx);
    return protocol_slot == 0 ? queues.tcp : queues.udp;
}

// Makes room in a full table: an unanswered connection of the protocol that holds more of the
// table goes first, of the other one if it has none.
template <class Record>
bool evict_any_unanswered(WorkerContext& ctx, uint32_t now_ms) {
    const auto& held = shares_of<Record>(ctx).protocol;
    const size_t first = held[0] >= held[1] ? 0 : 1;
    return evict_unanswered<Record>(ctx, unanswered_queue<Record>(ctx, first), now_ms) ||
           evict_unanswered<Record>(ctx, unanswered_queue<Record>(ctx, 1 - first), now_ms);
}

// Whether the table is nearly full: past this, a new connection first evicts an unanswered one.
// The table refuses a connection when its records run out (its index has room for all their
// keys); evicting from 15/16 on keeps a flood from ever getting it there.
template <class Table>
bool nearly_full(const Table& table) {
    return table.size() >= table.capacity() - table.capacity() / 16;
}

// What a share of `percent` lets one protocol or prefix hold; 100%: no limit but the table's.
template <class Table>
uint32_t share_limit(const Table& table, uint32_t percent) {
    if (percent >= 100) {
        return UINT32_MAX;
    }
    return std::max<uint32_t>(
        static_cast<uint32_t>(static_cast<uint64_t>(table.capacity()) * percent / 100), 1);
}

// Whether new connection `c` may take a place in the table under the snapshot's shares; over
// its protocol's share it takes the place of that protocol's oldest unanswered connection if
// there is one. Drops the packet (counted) when not.
template <class Record>
bool within_shares(WorkerContext& ctx, const Flow& f, const Record& c, uint32_t now_ms) {
    const Snapshot& snap = *ctx.snapshot;
    TableShareCounts& shares = shares_of<Record>(ctx);
    const auto& table = table_of<Record>(ctx);
    if (shares.prefix[shares.prefix_bucket(c.client_ip)] >=
        share_limit(table, snap.prefix_share_percent)) {
        drop(ctx, f.mbuf, DropReason::prefix_share);
        return false;
    }
    const size_t slot = TableShareCounts::protocol_slot(c.protocol);
    if (shares.protocol[slot] >= share_limit(table, snap.protocol_share_percent) &&
        (unanswered_of<Record>(ctx) == nullptr ||
         !evict_unanswered<Record>(ctx, unanswered_queue<Record>(ctx, slot), now_ms))) {
        drop(ctx, f.mbuf, DropReason::protocol_share);
        return false;
    }
    return true;
}

template <class Record>
void count_share(WorkerContext& ctx, const Record& c, int32_t delta) {
    TableShareCounts& shares = shares_of<Record>(ctx);
    shares.protocol[TableShareCounts::protocol_slot(c.protocol)] += static_cast<uint32_t>(delta);
    shares.prefix[shares.prefix_bucket(c.client_ip)] += static_cast<uint32_t>(delta);
}

// count_connection() of either family.
template <class Record>
void count_in(WorkerContext& ctx, const Record& c, int32_t delta) {
    count_state(ctx.dest_counters[c.dest_id], c.state, delta);
    count_share(ctx, c, delta);
}

// Whether a TCP connection has ended and only waits out its timeout (TIME_WAIT or CLOSE).
template <class Record>
bool finished(const Record& c) {
    return c.state == ConnState::time_wait || c.state == ConnState::close;
}

// Ends connection `id` so that a new one can take its keys (LVS's conn_reuse_mode).
template <class Record>
void end_for_reuse(WorkerContext& ctx, uint32_t id, uint32_t now_ms) {
    auto& table = table_of<Record>(ctx);
    retire_connection(ctx, table.conn(id), now_ms);
    table.erase(id);
    ++ctx.counters.connections_reused;
}

// Admits new connection `c`, opened by the packet of `f`, within the table's shares, and counts
// it in (its real server's load, the shares) before it is inserted: the connections scheduled
// after it see it, in the table yet or not. False after dropping the packet (over a share).
template <class Record>
bool admit_connection(WorkerContext& ctx, const Flow& f, const Record& c, uint32_t now_ms) {
    if (!within_shares(ctx, f, c, now_ms)) {
        return false;
    }
    count_connection(ctx, c, +1);
    return true;
}

// Inserts admitted connection `c`; in a nearly full table, in place of an unanswered connection
// if there is one. Returns its id, or kNoConn after counting it out again and dropping the
// packet (table full, or a key in use).
template <class Record>
uint32_t insert_connection(WorkerContext& ctx, const Flow& f, const Record& c, uint32_t now_ms) {
    auto& table = table_of<Record>(ctx);
    UnansweredQueues* const unanswered = unanswered_of<Record>(ctx);
    if (unanswered != nullptr && nearly_full(table)) {
        evict_any_unanswered<Record>(ctx, now_ms);
    }
    ConnInsertError error;
    uint32_t id = table.insert(c, expiry_for(ctx, c.state, now_ms), error);
    if (id == ConnTable::kNoConn && error == ConnInsertError::full && unanswered != nullptr &&
        evict_any_unanswered<Record>(ctx, now_ms)) {
        id = table.insert(c, expiry_for(ctx, c.state, now_ms), error);
    }
    if (id == ConnTable::kNoConn && error == ConnInsertError::conflict) {
        // Two services that send to the same real server port (two VIP ports, one server port)
        // give a client port reused across them the same reply key: a finished connection of
        // the other service gives way, as a finished one of the same service does.
        const uint32_t old = table.lookup(c.reply_key());
        if (old != ConnTable::kNoConn && c.protocol == ipv4::kProtoTcp &&
            finished(table.conn(old))) {
            end_for_reuse<Record>(ctx, old, now_ms);
            id = table.insert(c, expiry_for(ctx, c.state, now_ms), error);
        }
    }
    if (id == ConnTable::kNoConn) {
        count_connection(ctx, c, -1);
        drop(ctx, f.mbuf,
             error == ConnInsertError::conflict ? DropReason::flow_conflict
                                                : DropReason::table_full);
        return id;
    }
    ++ctx.counters.connections_created;
    ++ctx.dest_counters[c.dest_id].connections;
    if (ctx.sync != nullptr) {
        sync_on_insert<Record>(ctx, id);
    }
    if (unanswered != nullptr) {
        if (c.protocol == ipv4::kProtoUdp) {
            unanswered->udp.push(id);
        } else if ((f.parsed.tcp_flags & l4::kTcpAckFlag) == 0) {
            unanswered->tcp.push(id);  // a SYN: unanswered until the handshake completes
        }
    }
    return id;
}

// admit_connection() and insert_connection() in one. Returns the connection's id, or kNoConn
// after dropping the packet.
template <class Record>
uint32_t add_connection(WorkerContext& ctx, const Flow& f, const Record& c, uint32_t now_ms) {
    return admit_connection(ctx, f, c, now_ms) ? insert_connection(ctx, f, c, now_ms)
                                               : ConnTable::kNoConn;
}

bool opens_tcp(const Flow& f) {
    return (f.parsed.tcp_flags & (l4::kTcpSyn | l4::kTcpRst | l4::kTcpAckFlag)) == l4::kTcpSyn;
}

// A SYN that matched no connection may open an FTP data connection, by the client (passive
// mode, to the VIP) or by the real server (active mode, to the client), of either family.
// Returns the new connection; kNoConn after dropping the packet, or when nothing was expected
// (`claimed` false).
template <class Record, class Key>
uint32_t open_data_connection(WorkerContext& ctx, const Flow& f, const Key& key, uint32_t now_ms,
                              bool& claimed) {
    Record c;
    claimed = ftp_claim_data_connection(ctx, key, now_ms, c);
    if (!claimed) {
        return ConnTable::kNoConn;
    }
    const uint32_t id = add_connection(ctx, f, c, now_ms);
    ctx.counters.ftp_data_connections += id != ConnTable::kNoConn;
    return id;
}

// Makes `c` the connection a packet with `key` opens to real server `dest`, of either family.
template <class Record, class Key>
void new_connection(Record& c, const Key& key, const Destination& dest, uint16_t helper,
                    uint32_t slot) {
    c = Record{};
    c.client_ip = key.src_ip;
    c.vip = key.dst_ip;
    if constexpr (std::is_same_v<Record, Conn>) {
        c.rip = dest.ip;
    } else {
        c.rip = dest.ip6;
    }
    c.client_port = key.src_port;
    c.vport = key.dst_port;
    c.rport = dest.port;
    c.protocol = key.protocol;
    c.state = key.protocol == ipv4::kProtoTcp ? ConnState::none : ConnState::udp_unanswered;
    c.dest_id = dest.dest_id;
    c.persistence_slot = slot;
    c.helper = helper;
}

// The service connection `c` belongs to in the current snapshot; null once a reload removed it.
const ServiceEntry* service_of(const Snapshot& snap, const Conn& c) {
    return snap.find_service(c.protocol, c.vip, c.vport);
}
const ServiceEntry* service_of(const Snapshot& snap, const Conn6& c) {
    return snap.find_service6(c.protocol, c.vip, c.vport);
}

// Gives back the persistence template connection `c` holds, if any, as the connection ends (or
// fails to be added). The template's timeout is the service's as it is now (0 if a reload
// removed it).
template <class Record>
void release_template(WorkerContext& ctx, const Record& c, uint32_t now_ms) {
    if (c.persistence_slot != PersistenceTable::kNoSlot) {
        const ServiceEntry* svc = service_of(*ctx.snapshot, c);
        persistence_of(ctx, c.client_ip)
            ->release(c.persistence_slot, now_ms, svc != nullptr ? svc->persistence_ms : 0);
    }
}

// The helper state a new connection to `svc` starts with: FtpControlPool::kNone for a service
// without a helper. False after dropping the packet (helper_full) when none is left.
template <class Record>
bool take_helper(WorkerContext& ctx, const Flow& f, const ServiceEntry& svc, uint16_t& helper) {
    helper = FtpControlPool::kNone;
    if (svc.helper != AppHelper::ftp) {
        return true;
    }
    helper = ftp_acquire<Record>(ctx);
    if (helper == FtpControlPool::kNone) {
        drop(ctx, f.mbuf, DropReason::helper_full);
        return false;
    }
    return true;
}

// Gives back what take_helper() took, for a connection that was not made after all.
void release_helper(WorkerContext& ctx, uint16_t helper) {
    if (helper != FtpControlPool::kNone) {
        ctx.ftp_controls->release(helper);
    }
}

// Gives back what new connection `c` held (its persistence template and helper state), when it
// was not admitted or not inserted after all.
template <class Record>
void give_back(WorkerContext& ctx, const Record& c, uint32_t now_ms) {
    release_template(ctx, c, now_ms);
    release_helper(ctx, c.helper);
}

// open_connection()'s answer for a connection made and admitted, to be inserted soon
// (NewConnections); not a connection id (those are below 2^31).
constexpr uint32_t kMade = ConnTable::kNoConn - 1;

// Makes the new connection to `dest` into `made` and admits it (admit_connection). Returns
// kMade, or kNoConn when it was not admitted (its persistence template and helper state given
// back, the packet dropped).
template <class Record, class Key>
uint32_t make_connection(WorkerContext& ctx, const Flow& f, const Key& key, const Destination& dest,
                         uint16_t helper, uint32_t slot, uint32_t now_ms, Record& made) {
    new_connection(made, key, dest, helper, slot);
    if (!admit_connection(ctx, f, made, now_ms)) {
        give_back(ctx, made, now_ms);
        return ConnTable::kNoConn;
    }
    return kMade;
}

// Inserts connection `c` that make_connection() made (insert_connection); one not inserted gives
// back its persistence template and helper state. Returns its id, or kNoConn.
template <class Record>
uint32_t insert_made(WorkerContext& ctx, const Flow& f, const Record& c, uint32_t now_ms) {
    const uint32_t id = insert_connection(ctx, f, c, now_ms);
    if (id == ConnTable::kNoConn) {
        give_back(ctx, c, now_ms);
    }
    return id;
}

// The connections a burst's flows made, each inserted (and its packet forwarded) a few new
// connections later: an insert reads its reply key's bucket, in a large table a memory miss,
// and the misses of the window's connections are in flight together instead of one after
// another. In the order made. A flow that finds no connection but whose key
// hashes like one of theirs (either direction's key) has them inserted and is looked up again.
template <class Record>
class NewConnections {
  public:
    using Hash = typename BasicConnTable<Record>::PendingLookup;
    static constexpr uint32_t kWindow = 8;
    struct Entry {
        uint64_t inbound;  // the hashes of its keys, packed()
        uint64_t reply;
        uint32_t flow;  // the index of the flow that made it in the burst's flows
        Record conn;
    };

    bool empty() const { return count_ == 0; }
    bool full() const { return count_ == kWindow; }
    // Where the next connection is made, in place (copying a record just written field by field
    // would wait for the writes to reach the cache).
    Record& spare() { return entries_[(first_ + count_) & (kSlots - 1)].conn; }
    // Adds the connection made in spare() by flow `flow`, whose key hashed to `inbound`, and
    // starts fetching its reply key's primary bucket. (Only that one: the insert reads a key's
    // alternate bucket only when the primary is full or has sent keys there, a few keys in a
    // hundred in an index half full, and fetching it for every new connection took memory
    // bandwidth from the rest.) Not when full().
    void add(const BasicConnTable<Record>& table, uint32_t flow, Hash inbound) {
        assert(!full());
        Entry& e = entries_[(first_ + count_) & (kSlots - 1)];
        e.inbound = packed(inbound);
        e.reply = packed(table.start_lookup(e.conn.reply_key()));
        e.flow = flow;
        ++count_;
    }
    // Whether a key that hashed to `h` may be one of the connections'.
    bool involves(Hash h) const {
        const uint64_t want = packed(h);
        for (uint32_t k = 0; k < count_; ++k) {
            const Entry& e = entries_[(first_ + k) & (kSlots - 1)];
            if (e.inbound == want || e.reply == want) {
                return true;
            }
        }
        return false;
    }
    // The oldest, taken out; it stays valid through the next kSlots - kWindow add()s. Not when
    // empty().
    const Entry& take_oldest() {
        assert(!empty());
        const Entry& e = entries_[first_];
        first_ = (first_ + 1) & (kSlots - 1);
        --count_;
        return e;
    }

  private:
    // More slots than the window (spare() is free while the window is full), a power of two (an
    // index wraps with a mask).
    static constexpr uint32_t kSlots = 2 * kWindow;
    static uint64_t packed(Hash h) { return uint64_t{h.sig} << 32 | h.bucket; }

    Entry entries_[kSlots];
    uint32_t first_ = 0;
    uint32_t count_ = 0;
};

// A packet that matched no connection: schedule it if it opens one to a service. Returns the
// new connection's id (an FTP data connection, inserted), kMade (the connection in `made`, to be
// inserted: NewConnections), or kNoConn after disposing of the packet.
uint32_t open_connection(WorkerContext& ctx, const Flow& f, const FlowKey& key, uint32_t now_ms,
                         Conn& made) {
    if (key.protocol == ipv4::kProtoTcp && opens_tcp(f)) {
        bool claimed;
        const uint32_t id = open_data_connection<Conn>(ctx, f, key, now_ms, claimed);
        if (claimed) {
            return id;
        }
    }
    const Snapshot& snap = *ctx.snapshot;
    // Under follow_kernel, a VIP the other director holds now; nothing to look up otherwise.
    if (snap.follow_kernel && snap.is_vip(key.dst_ip) && !snap.serves(key.dst_ip)) {
        drop(ctx, f.mbuf, DropReason::not_for_us);
        return ConnTable::kNoConn;
    }
    const ServiceEntry* svc = snap.find_service(key.protocol, key.dst_ip, key.dst_port);
    if (svc == nullptr) {
        const InterfaceEntry* in = snap.interface_of_port(f.mbuf->port);
        if (snap.is_vip(key.dst_ip) && in != nullptr) {
            reject(ctx, f, in->mac, key.dst_ip, now_ms, DropReason::no_service);
        } else if (snap.own_address(key.dst_ip) != nullptr) {
            if (mirrored(ctx, f.mbuf)) {
                punt(ctx, f.mbuf, punt_class_of(f));
            } else {
                drop(ctx, f.mbuf, DropReason::to_director);
            }
        } else {
            drop(ctx, f.mbuf, DropReason::not_for_us);
        }
        return ConnTable::kNoConn;
    }
    const bool tcp = key.protocol == ipv4::kProtoTcp;
    // LVS schedules TCP only on a SYN without RST (tcp_conn_schedule).
    if (tcp && ((f.parsed.tcp_flags & (l4::kTcpSyn | l4::kTcpRst)) != l4::kTcpSyn)) {
        drop(ctx, f.mbuf, DropReason::no_connection);
        return ConnTable::kNoConn;
    }
    uint16_t helper;
    if (!take_helper<Conn>(ctx, f, *svc, helper)) {
        return ConnTable::kNoConn;
    }
    const auto service_index = static_cast<size_t>(svc - snap.services.data());
    uint32_t slot;
    const int32_t pick = schedule(ctx, *svc, service_index, key, now_ms, slot);
    if (pick == Scheduler::kNone) {
        release_helper(ctx, helper);
        const InterfaceEntry* in = snap.interface_of_port(f.mbuf->port);
        if (in == nullptr) {
            drop(ctx, f.mbuf, DropReason::no_real_server);
            return ConnTable::kNoConn;
        }
        reject(ctx, f, in->mac, key.dst_ip, now_ms, DropReason::no_real_server);
        return ConnTable::kNoConn;
    }
    return make_connection(ctx, f, key, svc->servers[static_cast<size_t>(pick)], helper, slot,
                           now_ms, made);
}

// The real server's first word on a connection the client opened: a SYN-ACK says it is alive, a
// reset that it refused (the passive health check reads both).
void count_handshake_answer(DestCounters& dc, uint8_t tcp_flags) {
    if (tcp_flags & l4::kTcpRst) {
        ++dc.syn_refused;
    } else if ((tcp_flags & (l4::kTcpSyn | l4::kTcpAckFlag)) == (l4::kTcpSyn | l4::kTcpAckFlag)) {
        ++dc.syn_answered;
    }
}

template <class Record>
void update_state(WorkerContext& ctx, uint32_t id, Record& c, Direction dir, uint8_t tcp_flags,
                  uint32_t now_ms) {
    if (c.protocol == ipv4::kProtoTcp) {
        if (dir == Direction::from_server && c.state == ConnState::syn_recv) {
            count_handshake_answer(ctx.dest_counters[c.dest_id], tcp_flags);
        }
        ConnState next = tcp_next_state(c.state, dir, tcp_flags);
        if (next != c.state) {
            DestCounters& dc = ctx.dest_counters[c.dest_id];
            count_state(dc, c.state, -1);
            count_state(dc, next, +1);
            c.state = next;
        }
    } else if (dir == Direction::from_server && c.state == ConnState::udp_unanswered) {
        c.state = ConnState::udp_replied;
    } else if (dir == Direction::from_client && c.state == ConnState::udp_replied) {
        c.state = ConnState::udp;  // both ways more than once: a flood no longer evicts it
    }
    const uint32_t timeout = timeout_of(ctx, c.state);
    table_of<Record>(ctx).refresh_expiry(id, now_ms + timeout, expiry_slack(timeout));
}

// A datagram larger than the link it would leave by takes: the director does not fragment.
// With DF set the sender is told that link's MTU (RFC 1191: path MTU discovery works through
// the director), from the address of the link it came in on; without DF it is dropped. Both
// are counted as over_mtu.
void refuse_oversized(WorkerContext& ctx, const Flow& f, uint16_t mtu, uint32_t now_ms) {
    ctx.counters.drop(DropReason::over_mtu);
    rte_mbuf* m = f.mbuf;
    const uint8_t* ip = f.frame + f.parsed.l3_offset;
    const bool dont_fragment = (load_be16(ip + ipv4::kFragment) & 0x4000) != 0;
    const InterfaceEntry* in = ctx.snapshot->interface_of_port(m->port);
    if (!dont_fragment || in == nullptr ||
        !ctx.unreachable_limit.allow(now_ms, ctx.snapshot->reject_per_second)) {
        rte_pktmbuf_free(m);
        return;
    }
    const size_t capacity = rte_pktmbuf_data_len(m) + rte_pktmbuf_tailroom(m);
    const size_t len = make_unreachable(f.frame, capacity, f.parsed, in->mac, in->address,
                                        UnreachableCode::fragmentation_needed, mtu);
    if (len == 0) {
        rte_pktmbuf_free(m);
        return;
    }
    ++ctx.counters.frag_needed_sent;
    reply(ctx, m, len);
}

// Whether the packet fits the link towards `dst`; if not, it is refused (refuse_oversized).
// Most packets cost one compare: they fit the smallest link.
bool fits_egress(WorkerContext& ctx, const Flow& f, uint32_t dst, uint32_t now_ms) {
    const auto ip_len = static_cast<uint32_t>(f.parsed.ip_end - f.parsed.l3_offset);
    if (ip_len <= ctx.snapshot->smallest_mtu()) {
        return true;
    }
    uint32_t next_hop;
    const InterfaceEntry* out = ctx.snapshot->route(dst, next_hop);
    if (out == nullptr || ip_len <= out->mtu) {
        return true;  // no route: route_and_queue counts it
    }
    refuse_oversized(ctx, f, out->mtu, now_ms);
    return false;
}

// The first fragment of a datagram of connection `c` (either family): records how it is
// translated, for the datagram's later fragments. False after dropping it: the FTP helper needs
// whole segments.
template <class Record>
bool record_first_fragment(WorkerContext& ctx, const Flow& f, const Record& c, bool inbound,
                           uint32_t now_ms) {
    if (c.helper != FtpControlPool::kNone) {
        drop(ctx, f.mbuf, DropReason::ip_fragment);
        return false;
    }
    using Address = decltype(c.vip);
    if (!fragments_of<Address>(ctx)->record(fragment_key_of<Address>(f),
                                            {inbound ? c.rip : c.vip, inbound}, now_ms)) {
        ++ctx.counters.fragments_unrecorded;  // it goes on; its datagram's others will not
    }
    return true;
}

// Rewrites, addresses and queues a packet of a tracked connection.
void forward(WorkerContext& ctx, Flow& f, const FlowKey& key, uint32_t id, uint32_t now_ms) {
    Conn& c = ctx.table->conn(id);
    const Direction dir = direction_of(key, c);
    const bool inbound = dir == Direction::from_client;
    if (!fits_egress(ctx, f, inbound ? c.rip : c.client_ip, now_ms)) {
        return;
    }
    if (f.parsed.fragment && !record_first_fragment(ctx, f, c, inbound, now_ms)) {
        return;
    }
    const ConnState old_state = c.state;
    update_state(ctx, id, c, dir, f.parsed.tcp_flags, now_ms);
    if (ctx.sync != nullptr) {
        sync_after_packet(ctx, id, c, old_state, dir);
    }
    if (c.helper != FtpControlPool::kNone && !ftp_process(ctx, f.mbuf, f.parsed, c, dir, now_ms)) {
        return;
    }

    // The TTL too (classify() refused TTL <= 1).
    uint8_t* ip = f.frame + f.parsed.l3_offset;
    uint8_t* l4p = f.frame + f.parsed.l4_offset;
    if (inbound) {
        nat_forward_rewrite(ip, l4p, c.protocol, Endpoint::destination, c.rip, c.rport);
    } else {
        nat_forward_rewrite(ip, l4p, c.protocol, Endpoint::source, c.vip, c.vport);
    }
    count_forwarded(ctx.dest_counters[c.dest_id], f, inbound);
    route_and_queue(ctx, f, inbound ? c.rip : c.client_ip, now_ms);
}

// Answers ARP requests for the director's addresses and VIPs, and reports the on-link senders
// worth learning: answers to the director (to a request it made, the control thread decides) and
// known neighbors at a new MAC. Any other sender is a host the director does not talk to: no
// report, so it takes no room anywhere (Linux, too, learns from unsolicited ARP only what it
// has). A sender claiming an address of the director's is refused: a VIP or an own address
// stored as a neighbor would send the director's traffic for it to whoever said so.
void handle_arp(WorkerContext& ctx, const Flow& f) {
    const InterfaceEntry* iface = ctx.snapshot->interface_of_port(f.mbuf->port);
    const ArpInfo arp = read_arp(f.frame, f.parsed);
    if (iface == nullptr) {
        drop(ctx, f.mbuf, DropReason::not_for_us);
        return;
    }
    // A VIP or floating address the other director of a pair holds now is its to announce
    // (keepalived's gratuitous ARPs on taking it over): only what this one answers for is a claim.
    if (ctx.snapshot->answers_for(arp.sender_ip)) {
        drop(ctx, f.mbuf, DropReason::arp_claims_ours);
        return;
    }
    if (iface->kernel_mirror) {
        punt_copy(ctx, f.mbuf);
    }
    const bool sender_on_link =
        arp.sender_ip != 0 && (arp.sender_ip & iface->netmask) == (iface->address & iface->netmask);
    bool reported = false;
    if (sender_on_link) {
        MacAddress known;
        const bool answer_to_us = arp.operation == 2 && arp.target_ip == iface->address;
        if (answer_to_us || (ctx.neighbors->peek(iface->port_id, arp.sender_ip, known) &&
                             known != arp.sender_mac)) {
            report(ctx, {arp.sender_ip, iface->port_id, arp.sender_mac});
            reported = true;
        }
    }
    const bool for_us = ctx.snapshot->own_address(arp.target_ip) == iface ||
                        ctx.snapshot->answers_arp_for_vip(*iface, arp.target_ip);
    if (arp.operation == 1 && for_us) {
        make_arp_reply(f.frame, f.parsed, iface->mac);
        ++ctx.counters.arp_replies;
        reply(ctx, f.mbuf, 0);
        return;
    }
    if (sender_on_link) {
        ++(reported ? ctx.counters.arp_received : ctx.counters.arp_ignored);
        rte_pktmbuf_free(f.mbuf);
        return;
    }
    drop(ctx, f.mbuf, DropReason::not_for_us);
}

// An ICMP error quoting a packet of a tracked connection is translated and forwarded; echo
// requests to the director's addresses and VIPs are answered.
void handle_icmp(WorkerContext& ctx, const Flow& f, uint32_t now_ms) {
    IcmpError error;
    if (parse_icmp_error(f.frame, f.parsed, error)) {
        const uint32_t id = ctx.table->lookup(error.reply_key);
        if (id == ConnTable::kNoConn) {
            if (for_kernel(ctx, f)) {
                punt(ctx, f.mbuf, PuntClass::bulk);  // about a connection of the kernel's
                return;
            }
            drop(ctx, f.mbuf, DropReason::icmp_untracked);
            return;
        }
        const Conn& c = ctx.table->conn(id);
        // The quoted packet went to the real server if its reversed key is the reply key.
        const bool towards_client =
            error.reply_key.src_ip == c.rip && error.reply_key.src_port == c.rport;
        // An error goes to the sender of the packet it quotes (the client, or the VIP):
        // anything else is forged, and translating it would send it from the VIP.
        if (destination_of(f) != (towards_client ? c.client_ip : c.vip)) {
            drop(ctx, f.mbuf, DropReason::icmp_untracked);
            return;
        }
        if (!decrement_ttl(f.frame + f.parsed.l3_offset)) {
            drop(ctx, f.mbuf, DropReason::ttl_expired);
            return;
        }
        const uint32_t dst = translate_icmp_error(f.frame, f.parsed, error, c, towards_client);
        ++ctx.counters.icmp_errors_translated;
        route_and_queue(ctx, f, dst, now_ms);
        return;
    }
    const uint32_t dst = load_u32_raw(f.frame + f.parsed.l3_offset + ipv4::kDst);
    const InterfaceEntry* iface = ctx.snapshot->interface_of_port(f.mbuf->port);
    const bool ours = ctx.snapshot->answers_for(dst);
    if (iface != nullptr && ours && make_echo_reply(f.frame, f.parsed, iface->mac)) {
        ++ctx.counters.echo_replies;
        reply(ctx, f.mbuf, 0);
        return;
    }
    if (for_kernel(ctx, f)) {
        punt(ctx, f.mbuf, PuntClass::bulk);  // echo replies and the rest: the kernel's
        return;
    }
    drop(ctx, f.mbuf, DropReason::icmp_untracked);
}

// LVS's conn_reuse_mode: a client's new SYN (no ACK) on a connection in TIME_WAIT or CLOSE is
// a new connection from a reused port, to be scheduled afresh, not sent to the old server.
// Connections pinned by persistence keep their server, as in LVS (they have a controller).
template <class Record, class Key>
bool ends_for_new_connection(WorkerContext& ctx, uint32_t id, const Key& key, uint8_t tcp_flags,
                             uint32_t now_ms) {
    const Record& c = table_of<Record>(ctx).conn(id);
    const bool new_syn = (tcp_flags & (l4::kTcpSyn | l4::kTcpAckFlag)) == l4::kTcpSyn;
    if (!new_syn || key.protocol != ipv4::kProtoTcp || key.src_ip != c.client_ip ||
        key.src_port != c.client_port || c.persistence_slot != PersistenceTable::kNoSlot ||
        !finished(c)) {
        return false;
    }
    end_for_reuse<Record>(ctx, id, now_ms);
    return true;
}

// ---- IPv6 --------------------------------------------------------------------------------------
// The same stages for IPv6 (NAT66), on the IPv6 connection table: neighbor discovery in place of
// ARP, ICMPv6 in place of ICMP, no header checksum, the hop limit for the TTL.

constexpr uint8_t kNeighborSolicit = 135;  // ICMPv6 type

const uint8_t* ipv6_source(const Flow& f) {
    return f.frame + f.parsed.l3_offset + ipv6::kSrc;
}

const uint8_t* ipv6_destination(const Flow& f) {
    return f.frame + f.parsed.l3_offset + ipv6::kDst;
}

bool is_link_local6(const Ipv6& a) {
    return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}

// Writes the key in place (returned and copied whole, its wide loads would stall on the narrow
// stores that built it).
void write_flow_key6(FlowKey6& key, const uint8_t* frame, const ParsedFrame& p) {
    const uint8_t* ip = frame + p.l3_offset;
    const uint8_t* l4p = frame + p.l4_offset;
    std::memcpy(key.src_ip.data(), ip + ipv6::kSrc, ipv6::kAddressLen);
    std::memcpy(key.dst_ip.data(), ip + ipv6::kDst, ipv6::kAddressLen);
    const uint64_t ports_protocol = load_u32_raw(l4p + l4::kSrcPort) | uint64_t{p.ip_protocol}
                                                                           << 32;
    static_assert(offsetof(FlowKey6, src_port) == 32 && offsetof(FlowKey6, protocol) == 36);
    std::memcpy(reinterpret_cast<char*>(&key) + offsetof(FlowKey6, src_port), &ports_protocol,
                sizeof(ports_protocol));
}

// Whether the packet is for the kernel: to an own IPv6 address of the director's (not a VIP),
// arrived on a port with a kernel mirror.
bool for_kernel6(const WorkerContext& ctx, const Flow& f) {
    return mirrored(ctx, f.mbuf) &&
           ctx.snapshot->own_address6(load_ipv6(ipv6_destination(f))) != nullptr;
}

// The director's address to send from towards `to` on `iface`: its address whose prefix holds
// `to`, else its first, else its link-local one.
const Ipv6& source_address6(const InterfaceEntry& iface, const Ipv6& to) {
    for (const Prefix6& p : iface.addresses6) {
        if (p.holds(to)) {
            return p.address;
        }
    }
    return is_link_local6(to) || iface.addresses6.empty() ? iface.link_local
                                                          : iface.addresses6.front().address;
}

// The interface whose link `address` is on: inside one of its prefixes, or link-local (then the
// link the packet came in on).
bool on_link6(const InterfaceEntry& iface, const Ipv6& address) {
    return is_link_local6(address) ||
           std::any_of(iface.addresses6.begin(), iface.addresses6.end(),
                       [&](const Prefix6& p) { return p.holds(address); });
}

// The throttle's key for an IPv6 next hop: its words folded (a collision only shares a second's
// throttling between two next hops).
uint32_t throttle_key6(const Ipv6& a) {
    return scheduling_key(FlowKey6{a, {}, 0, 0, 0, {}}).src_ip | 1;
}

// route_and_queue for IPv6: neighbor solicitation in place of ARP.
void route_and_queue(WorkerContext& ctx, const Flow& f, const Ipv6& dst, uint32_t now_ms) {
    Ipv6 next_hop;
    const InterfaceEntry* out = ctx.snapshot->route6(dst, next_hop);
    if (out == nullptr) {
        drop(ctx, f.mbuf, DropReason::no_route);
        return;
    }
    MacAddress mac;
    if (ctx.neighbors6->lookup(out->port_id, next_hop, mac)) {
        queue_out(ctx, f.mbuf, *out, mac);
        return;
    }
    if (ctx.arp_throttle.allow(throttle_key6(next_hop), now_ms) &&
        send_neighbor_solicitation(ctx, *out, next_hop)) {
        report(ctx, NeighborSighting::asked6(out->port_id, next_hop));
    }
    hold_for_neighbor(ctx, {f.mbuf, 0, now_ms, out->port_id, true, next_hop});
}

// reject() for IPv6: a TCP reset, or an ICMPv6 port unreachable from the VIP.
void reject6(WorkerContext& ctx, const Flow& f, const MacAddress& our_mac, const Ipv6& vip,
             uint32_t now_ms, DropReason reason) {
    rte_mbuf* m = f.mbuf;
    const bool tcp = f.parsed.ip_protocol == ipv4::kProtoTcp;
    if (!within_reject_budget(ctx, f, now_ms, reason)) {
        return;
    }
    const size_t capacity = rte_pktmbuf_data_len(m) + rte_pktmbuf_tailroom(m);
    const size_t len =
        tcp ? make_tcp_reset6(f.frame, f.parsed, our_mac)
            : make_unreachable6(f.frame, capacity, f.parsed, our_mac, vip, Unreachable6::port);
    if (len == 0) {
        rte_pktmbuf_free(m);
        return;
    }
    ++(tcp ? ctx.counters.resets_sent : ctx.counters.unreachables_sent);
    reply(ctx, m, len);
}

// An IPv6 packet larger than the link it would leave by: routers do not fragment IPv6, the
// sender is told the link's MTU (RFC 8201), from the address of the link it came in on.
bool fits_egress(WorkerContext& ctx, const Flow& f, const Ipv6& dst, uint32_t now_ms) {
    const auto ip_len = static_cast<uint32_t>(f.parsed.ip_end - f.parsed.l3_offset);
    if (ip_len <= ctx.snapshot->smallest_mtu()) {
        return true;
    }
    Ipv6 next_hop;
    const InterfaceEntry* out = ctx.snapshot->route6(dst, next_hop);
    if (out == nullptr || ip_len <= out->mtu) {
        return true;
    }
    ctx.counters.drop(DropReason::over_mtu);
    rte_mbuf* m = f.mbuf;
    const InterfaceEntry* in = ctx.snapshot->interface_of_port(m->port);
    const size_t capacity = rte_pktmbuf_data_len(m) + rte_pktmbuf_tailroom(m);
    const size_t len =
        in == nullptr || !ctx.unreachable_limit.allow(now_ms, ctx.snapshot->reject_per_second)
            ? 0
            : make_unreachable6(f.frame, capacity, f.parsed, in->mac,
                                source_address6(*in, load_ipv6(ipv6_source(f))),
                                Unreachable6::packet_too_big, out->mtu);
    if (len == 0) {
        rte_pktmbuf_free(m);
        return false;
    }
    ++ctx.counters.packet_too_big_sent;
    reply(ctx, m, len);
    return false;
}

// forward() for IPv6.
void forward(WorkerContext& ctx, Flow& f, const FlowKey6& key, uint32_t id, uint32_t now_ms) {
    Conn6& c = ctx.table6->conn(id);
    const Direction dir = direction_of(key, c);
    const bool inbound = dir == Direction::from_client;
    if (!fits_egress(ctx, f, inbound ? c.rip : c.client_ip, now_ms)) {
        return;
    }
    if (f.parsed.fragment && !record_first_fragment(ctx, f, c, inbound, now_ms)) {
        return;
    }
    uint8_t* ip = f.frame + f.parsed.l3_offset;
    decrement_hop_limit(ip);  // cannot fail: classify6() refused a hop limit <= 1
    const ConnState old_state = c.state;
    update_state(ctx, id, c, dir, f.parsed.tcp_flags, now_ms);
    if (ctx.sync != nullptr) {
        sync_after_packet(ctx, id, c, old_state, dir);
    }
    if (c.helper != FtpControlPool::kNone && !ftp_process(ctx, f.mbuf, f.parsed, c, dir, now_ms)) {
        return;
    }
    uint8_t* l4p = f.frame + f.parsed.l4_offset;
    if (inbound) {
        nat6_rewrite(ip, l4p, c.protocol, Endpoint::destination, c.rip, c.rport);
    } else {
        nat6_rewrite(ip, l4p, c.protocol, Endpoint::source, c.vip, c.vport);
    }
    count_forwarded(ctx.dest_counters[c.dest_id], f, inbound);
    route_and_queue(ctx, f, inbound ? c.rip : c.client_ip, now_ms);
}

// open_connection() for IPv6.
uint32_t open_connection(WorkerContext& ctx, const Flow& f, const FlowKey6& key, uint32_t now_ms,
                         Conn6& made) {
    if (key.protocol == ipv4::kProtoTcp && opens_tcp(f)) {
        bool claimed;
        const uint32_t id = open_data_connection<Conn6>(ctx, f, key, now_ms, claimed);
        if (claimed) {
            return id;
        }
    }
    const Snapshot& snap = *ctx.snapshot;
    if (snap.follow_kernel && snap.is_vip6(key.dst_ip) && !snap.serves6(key.dst_ip)) {
        drop(ctx, f.mbuf, DropReason::not_for_us);
        return ConnTable::kNoConn;
    }
    const ServiceEntry* svc = snap.find_service6(key.protocol, key.dst_ip, key.dst_port);
    const InterfaceEntry* in = snap.interface_of_port(f.mbuf->port);
    if (svc == nullptr) {
        if (snap.is_vip6(key.dst_ip) && in != nullptr) {
            reject6(ctx, f, in->mac, key.dst_ip, now_ms, DropReason::no_service);
        } else if (snap.own_address6(key.dst_ip) != nullptr) {
            if (mirrored(ctx, f.mbuf)) {
                punt(ctx, f.mbuf, PuntClass::bulk);
            } else {
                drop(ctx, f.mbuf, DropReason::to_director);
            }
        } else {
            drop(ctx, f.mbuf, DropReason::not_for_us);
        }
        return ConnTable::kNoConn;
    }
    const bool tcp = key.protocol == ipv4::kProtoTcp;
    if (tcp && ((f.parsed.tcp_flags & (l4::kTcpSyn | l4::kTcpRst)) != l4::kTcpSyn)) {
        drop(ctx, f.mbuf, DropReason::no_connection);
        return ConnTable::kNoConn;
    }
    uint16_t helper;
    if (!take_helper<Conn6>(ctx, f, *svc, helper)) {
        return ConnTable::kNoConn;
    }
    const auto service_index = static_cast<size_t>(svc - snap.services.data());
    uint32_t slot;
    const int32_t pick = schedule(ctx, *svc, service_index, key, now_ms, slot);
    if (pick == Scheduler::kNone) {
        release_helper(ctx, helper);
        if (in == nullptr) {
            drop(ctx, f.mbuf, DropReason::no_real_server);
        } else {
            reject6(ctx, f, in->mac, key.dst_ip, now_ms, DropReason::no_real_server);
        }
        return ConnTable::kNoConn;
    }
    return make_connection(ctx, f, key, svc->servers[static_cast<size_t>(pick)], helper, slot,
                           now_ms, made);
}

// Whether the director answers neighbor solicitations for `target` on `iface`: its own addresses
// and the floating addresses it serves on that link, and the VIPs it serves on the links whose
// prefix holds them (on every link when none does: the VIP is routed to the director).
bool answers_nd_for(const Snapshot& snap, const InterfaceEntry& iface, const Ipv6& target) {
    if (snap.own_address6(target) == &iface) {
        return true;
    }
    if (!snap.is_vip6(target) || !snap.answers_for6(target)) {
        return false;
    }
    auto holds = [&](const InterfaceEntry& i) {
        return std::any_of(i.addresses6.begin(), i.addresses6.end(),
                           [&](const Prefix6& p) { return p.holds(target); });
    };
    return holds(iface) || std::none_of(snap.interfaces.begin(), snap.interfaces.end(), holds);
}

// Tells the control thread about an on-link neighbor worth learning: one that answered the
// director, or a known one at a new MAC (handle_arp's rule).
bool report_neighbor6(WorkerContext& ctx, const InterfaceEntry& iface, const Ipv6& address,
                      const MacAddress& mac, bool answer_to_us) {
    MacAddress known;
    if (!on_link6(iface, address) ||
        !(answer_to_us || (ctx.neighbors6->peek(iface.port_id, address, known) && known != mac))) {
        return false;
    }
    report(ctx, NeighborSighting::seen6(iface.port_id, address, mac));
    return true;
}

// Neighbor solicitations and advertisements: answered for the director's addresses and VIPs,
// learned from as ARP is; the kernel mirror gets a copy of each, as of ARP.
void handle_nd(WorkerContext& ctx, const Flow& f, const InterfaceEntry& iface, uint8_t type) {
    bool learned = false;
    if (type == kNeighborSolicit) {
        NeighborSolicitation ns;
        if (!parse_neighbor_solicitation(f.frame, f.parsed, ns)) {
            drop(ctx, f.mbuf, DropReason::bad_nd);
            return;
        }
        if (ctx.snapshot->answers_for6(ns.source) && ns.source != Ipv6{}) {
            drop(ctx, f.mbuf, DropReason::arp_claims_ours);
            return;
        }
        if (iface.kernel_mirror) {
            punt_copy(ctx, f.mbuf);
        }
        learned =
            ns.has_source_mac && report_neighbor6(ctx, iface, ns.source, ns.source_mac, false);
        if (answers_nd_for(*ctx.snapshot, iface, ns.target)) {
            const size_t capacity = rte_pktmbuf_data_len(f.mbuf) + rte_pktmbuf_tailroom(f.mbuf);
            const size_t len =
                make_neighbor_advertisement(f.frame, capacity, f.parsed, ns, iface.mac);
            if (len != 0) {
                ++ctx.counters.nd_advertisements_sent;
                reply(ctx, f.mbuf, len);
                return;
            }
        }
    } else {
        NeighborAdvertisement na;
        if (!parse_neighbor_advertisement(f.frame, f.parsed, na)) {
            drop(ctx, f.mbuf, DropReason::bad_nd);
            return;
        }
        if (ctx.snapshot->answers_for6(na.target)) {
            drop(ctx, f.mbuf, DropReason::arp_claims_ours);
            return;
        }
        if (iface.kernel_mirror) {
            punt_copy(ctx, f.mbuf);
        }
        learned = na.has_target_mac &&
                  report_neighbor6(ctx, iface, na.target, na.target_mac, na.solicited);
    }
    ++(learned ? ctx.counters.nd_received : ctx.counters.nd_ignored);
    rte_pktmbuf_free(f.mbuf);
}

// handle_icmp() for ICMPv6: errors about tracked connections translated, echo requests to the
// director answered, neighbor discovery handled; router discovery, multicast listener
// discovery and the rest are the kernel's.
void handle_icmp6(WorkerContext& ctx, const Flow& f, const InterfaceEntry& iface, uint32_t now_ms) {
    constexpr uint8_t kEchoRequest = 128, kAdvertisement = 136;
    const uint8_t type = f.frame[f.parsed.l4_offset];
    if (type == kNeighborSolicit || type == kAdvertisement) {
        handle_nd(ctx, f, iface, type);
        return;
    }
    Icmp6Error error;
    if (parse_icmp6_error(f.frame, f.parsed, error)) {
        const uint32_t id = ctx.table6->lookup(error.reply_key);
        if (id != ConnTable::kNoConn) {
            const Conn6& c = ctx.table6->conn(id);
            const bool towards_client =
                error.reply_key.src_ip == c.rip && error.reply_key.src_port == c.rport;
            // An error goes to the sender of the packet it quotes: the client (the director
            // forwarded its packet untranslated at the source) or the VIP. Anything else is
            // forged, and translating it would send it from the VIP to whoever it names.
            if (load_ipv6(ipv6_destination(f)) != (towards_client ? c.client_ip : c.vip)) {
                drop(ctx, f.mbuf, DropReason::icmp_untracked);
                return;
            }
            if (!decrement_hop_limit(f.frame + f.parsed.l3_offset)) {
                drop(ctx, f.mbuf, DropReason::ttl_expired);
                return;
            }
            const Ipv6 dst = translate_icmp6_error(f.frame, f.parsed, error, c, towards_client);
            ++ctx.counters.icmp_errors_translated;
            route_and_queue(ctx, f, dst, now_ms);
            return;
        }
    } else if (type == kEchoRequest && ctx.snapshot->answers_for6(load_ipv6(ipv6_destination(f)))) {
        const size_t len = make_echo6_reply(f.frame, f.parsed, iface.mac);
        if (len != 0) {
            ++ctx.counters.echo_replies;
            reply(ctx, f.mbuf, len);
            return;
        }
    }
    if (for_kernel6(ctx, f) || (iface.kernel_mirror && (f.frame[eth::kDst] & 1) != 0)) {
        punt(ctx, f.mbuf, (f.frame[eth::kDst] & 1) != 0 ? PuntClass::control : PuntClass::bulk);
        return;
    }
    drop(ctx, f.mbuf, DropReason::icmp_untracked);
}

// No host sends from a multicast, the unspecified, the loopback or an IPv4-mapped address
// (RFC 4291 2.5), and only the director from its own addresses and VIPs.
bool is_bad_source6(const Snapshot& snap, const Ipv6& src) {
    static constexpr Ipv6 kUnspecified{};
    static constexpr Ipv6 kLoopback{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return src[0] == 0xff || src == kUnspecified || src == kLoopback ||
           std::memcmp(src.data(), kMappedPrefix, sizeof(kMappedPrefix)) == 0 || snap.is_ours6(src);
}

bool reverse_path_ok6(const Snapshot& snap, const InterfaceEntry& in, const Ipv6& src) {
    if (snap.reverse_path == ReversePathMode::off) {
        return true;
    }
    Ipv6 next_hop;
    const InterfaceEntry* back = snap.route6(src, next_hop);
    return snap.reverse_path == ReversePathMode::loose ? back != nullptr : back == &in;
}

// ---- Fragments, both families -------------------------------------------------------------

// A later fragment's header translated as its datagram's first was, one hop older. No L4
// checksum to fix: it is in the first fragment, whose update covered the new address.
void translate_later_fragment(uint8_t* ip, const FragmentRewrite& r) {
    nat_rewrite_address(ip, r.destination ? Endpoint::destination : Endpoint::source, r.address);
    decrement_ttl(ip);
}

void translate_later_fragment(uint8_t* ip, const FragmentRewrite6& r) {
    std::memcpy(ip + (r.destination ? ipv6::kDst : ipv6::kSrc), r.address.data(), r.address.size());
    decrement_hop_limit(ip);
}

// Where a later fragment goes once translated as `r` says.
uint32_t destination_after(const uint8_t* ip, const FragmentRewrite& r) {
    return r.destination ? r.address : load_u32_raw(ip + ipv4::kDst);
}

Ipv6 destination_after(const uint8_t* ip, const FragmentRewrite6& r) {
    return r.destination ? r.address : load_ipv6(ip + ipv6::kDst);
}

// Forwards a later fragment of family `Address` as its datagram's first fragment was
// translated. False, the packet untouched, when that translation is not known (yet).
template <class Address>
bool forward_later_fragment(WorkerContext& ctx, Flow& f, uint32_t now_ms) {
    BasicFragmentRewrite<Address> rewrite;
    if (!fragments_of<Address>(ctx)->find(fragment_key_of<Address>(f), now_ms, rewrite)) {
        return false;
    }
    uint8_t* ip = f.frame + f.parsed.l3_offset;
    constexpr size_t kHopLimitAt = std::is_same_v<Address, uint32_t> ? ipv4::kTtl : ipv6::kHopLimit;
    if (ip[kHopLimitAt] <= 1) {
        drop(ctx, f.mbuf, DropReason::ttl_expired);
        return true;
    }
    const Address dst = destination_after(ip, rewrite);
    // Before the rewrite, as for any packet: a fragmentation needed or packet too big quotes
    // the fragment as its sender sent it.
    if (!fits_egress(ctx, f, dst, now_ms)) {
        return true;
    }
    translate_later_fragment(ip, rewrite);
    ++ctx.counters.fragments_forwarded;
    route_and_queue(ctx, f, dst, now_ms);
    return true;
}

// forward_later_fragment in the fragment's family.
bool forward_fragment(WorkerContext& ctx, Flow& f, uint32_t now_ms) {
    return f.parsed.kind == FrameKind::ipv6 ? forward_later_fragment<Ipv6>(ctx, f, now_ms)
                                            : forward_later_fragment<uint32_t>(ctx, f, now_ms);
}

// Holds a later fragment until its datagram's first is translated (release_fragments). A full
// hold gives up its oldest: under a flood of fragments whose first never comes, those are the
// flood's, and a real datagram's wait for theirs a moment only.
void hold_fragment(WorkerContext& ctx, rte_mbuf* m, uint32_t now_ms) {
    FragmentHold& hold = ctx.fragment_hold;
    if (hold.count == FragmentHold::kCapacity) {
        drop(ctx, hold.items[0].mbuf, DropReason::fragment_hold_full);
        std::move(hold.items.begin() + 1, hold.items.begin() + hold.count, hold.items.begin());
        --hold.count;
    }
    hold.items[hold.count++] = {m, now_ms};
    ++ctx.counters.fragments_held;
}

// A fragment of a datagram through the director (its own are the kernel's, which reassembles
// them): a first fragment goes on to the lookup like any TCP or UDP packet (true); a later one
// follows its first, now or once it came. Under `fragments: drop`, without the family's table,
// or for a protocol vsnat does not balance (IPv6: what the fragment header names, so that every
// fragment of a datagram is judged alike), all are dropped.
bool classify_fragment(WorkerContext& ctx, Flow& f, uint32_t now_ms) {
    const bool ipv6 = f.parsed.kind == FrameKind::ipv6;
    if (ipv6 ? for_kernel6(ctx, f) : for_kernel(ctx, f)) {
        punt(ctx, f.mbuf, PuntClass::bulk);
        return false;
    }
    const uint8_t protocol = fragment_protocol(f);
    const bool balanced = protocol == ipv4::kProtoTcp || protocol == ipv4::kProtoUdp;
    const bool tracked = ipv6 ? ctx.fragments6 != nullptr : ctx.fragments != nullptr;
    if (ctx.snapshot->drop_fragments || !tracked || !balanced) {
        drop(ctx, f.mbuf, DropReason::ip_fragment);
        return false;
    }
    if (f.parsed.first_fragment) {
        return true;
    }
    if (!forward_fragment(ctx, f, now_ms)) {
        // Its first may be in this very burst: looked at again once the burst's flows are
        // forwarded (settle_fragments), held only if it was not.
        ctx.fragment_hold.deferred[ctx.fragment_hold.deferred_count++] = f.mbuf;
    }
    return false;
}

// forward_fragment for a later fragment set aside (deferred or held), parsed again. False, the
// packet untouched, when its translation is not known (yet).
bool forward_set_aside(WorkerContext& ctx, rte_mbuf* m, uint32_t now_ms) {
    Flow f{m, rte_pktmbuf_mtod(m, uint8_t*), {}};
    parse_frame(f.frame, rte_pktmbuf_data_len(m), f.parsed);
    return forward_fragment(ctx, f, now_ms);
}

// The burst's later fragments whose first had not been translated when they were sorted:
// forwarded now if it was since, else held.
void settle_fragments(WorkerContext& ctx, uint32_t now_ms) {
    FragmentHold& hold = ctx.fragment_hold;
    for (uint16_t i = 0; i < hold.deferred_count; ++i) {
        if (!forward_set_aside(ctx, hold.deferred[i], now_ms)) {
            hold_fragment(ctx, hold.deferred[i], now_ms);
        }
    }
    hold.deferred_count = 0;
}

// The translations both families' tables recorded so far (wrapping).
uint32_t fragments_recorded(const WorkerContext& ctx) {
    return (ctx.fragments != nullptr ? ctx.fragments->recorded() : 0) +
           (ctx.fragments6 != nullptr ? ctx.fragments6->recorded() : 0);
}

// classify() for IPv6: true when the packet is a TCP or UDP flow for the IPv6 lookup stage.
bool classify6(WorkerContext& ctx, Flow& f, uint32_t now_ms) {
    rte_mbuf* m = f.mbuf;
    const InterfaceEntry* in = ctx.snapshot->interface_of_port(m->port);
    if (in == nullptr || in->addresses6.empty() || ctx.table6 == nullptr) {
        drop(ctx, m, DropReason::not_for_us);  // IPv6 is not configured on this link
        return false;
    }
    const bool our_mac = std::memcmp(f.frame + eth::kDst, in->mac.data(), in->mac.size()) == 0;
    const bool multicast = (f.frame[eth::kDst] & 1) != 0;
    if (!our_mac && !multicast) {
        drop(ctx, m, DropReason::not_our_mac);
        return false;
    }
    const bool icmp6 = f.parsed.ip_protocol == ipv6::kProtoIcmpv6 && !f.parsed.fragment;
    const Ipv6 src = load_ipv6(ipv6_source(f));
    // Duplicate address detection solicits from the unspecified address (RFC 4862 5.4.2).
    const bool dad = icmp6 && src == Ipv6{} && f.frame[f.parsed.l4_offset] == kNeighborSolicit;
    if (!dad && is_bad_source6(*ctx.snapshot, src)) {
        drop(ctx, m, DropReason::bad_source);
        return false;
    }
    // A link-local source is on the link it came in on, whatever the routes say.
    if (!dad && !is_link_local6(src) && !reverse_path_ok6(*ctx.snapshot, *in, src)) {
        drop(ctx, m, DropReason::reverse_path);
        return false;
    }
    if (icmp6) {
        handle_icmp6(ctx, f, *in, now_ms);
        return false;
    }
    if (!our_mac) {
        if (in->kernel_mirror) {
            punt(ctx, m, PuntClass::control);
            return false;
        }
        drop(ctx, m, DropReason::not_our_mac);
        return false;
    }
    // Link-local addresses are not forwarded beyond their link (RFC 4291 2.5.6).
    if (is_link_local6(src) || is_link_local6(load_ipv6(ipv6_destination(f)))) {
        if (for_kernel6(ctx, f)) {
            punt(ctx, m, PuntClass::bulk);
            return false;
        }
        drop(ctx, m, DropReason::bad_source);
        return false;
    }
    if (f.parsed.fragment && !classify_fragment(ctx, f, now_ms)) {
        return false;
    }
    switch (f.parsed.ip_protocol) {
        case ipv4::kProtoTcp:
        case ipv4::kProtoUdp:
            // As for IPv4: the kernel's packets are not forwarded (eBGP sends with hop limit 1).
            if (f.frame[f.parsed.l3_offset + ipv6::kHopLimit] <= 1 && !for_kernel6(ctx, f)) {
                drop(ctx, m, DropReason::ttl_expired);
                return false;
            }
            // RFC 8200 8.1: a UDP checksum of zero is invalid over IPv6.
            if (f.parsed.ip_protocol == ipv4::kProtoUdp &&
                load_u16_raw(f.frame + f.parsed.l4_offset + l4::kUdpChecksum) == 0) {
                drop(ctx, m, DropReason::bad_l4_header);
                return false;
            }
            return true;
        default:
            if (for_kernel6(ctx, f)) {
                punt(ctx, m, PuntClass::bulk);
                return false;
            }
            drop(ctx, m, DropReason::unsupported_l4);
            return false;
    }
}

// What classify() made of a frame: a TCP/UDP flow for the lookup stage of its family, or done
// (handled there).
enum class Sorted : uint8_t { done, flow4, flow6 };

// classify() for IPv4: true when the packet is a TCP or UDP flow for the lookup stage. Always
// inline: every IPv4 packet passes its checks, and as a call of its own (the compiler's choice,
// for its size) it cost 5-13 cycles a packet in cache; what it does with the others is calls.
[[gnu::always_inline]] inline bool classify4(WorkerContext& ctx, Flow& f, uint32_t now_ms) {
    rte_mbuf* m = f.mbuf;
    // RFC 1812 5.3.4: what arrived as a link-layer broadcast or multicast is not forwarded, nor
    // what was sent to another host's MAC (an AF_PACKET or promiscuous port sees those too).
    // Multicast goes to the kernel mirror, which takes the groups it joined (VRRP, OSPF,
    // connection sync) and drops the rest.
    const InterfaceEntry* in = ctx.snapshot->interface_of_port(m->port);
    if (in == nullptr || std::memcmp(f.frame + eth::kDst, in->mac.data(), in->mac.size()) != 0) {
        if (in != nullptr && in->kernel_mirror && is_ipv4_multicast(f)) {
            punt(ctx, m, punt_class_of(f));
            return false;
        }
        drop(ctx, m, DropReason::not_our_mac);
        return false;
    }
    if (!ip_header_checksum_ok(m, f.frame + f.parsed.l3_offset)) {
        drop(ctx, m, DropReason::bad_ip_checksum);
        return false;
    }
    const uint32_t src = load_u32_raw(f.frame + f.parsed.l3_offset + ipv4::kSrc);
    if (is_bad_source(*ctx.snapshot, src)) {
        drop(ctx, m, DropReason::bad_source);
        return false;
    }
    // A source the director would not answer through this interface is forged, or has lost its
    // way: forwarding it could reach the servers' network from outside (a real server's address
    // as source) or open connections whose replies go elsewhere.
    if (!ctx.snapshot->reverse_path_ok(*in, src)) {
        drop(ctx, m, DropReason::reverse_path);
        return false;
    }
    if (f.parsed.fragment && !classify_fragment(ctx, f, now_ms)) {
        return false;
    }
    switch (f.parsed.ip_protocol) {
        case ipv4::kProtoTcp:
        case ipv4::kProtoUdp:
            // Checked before any lookup, so a packet that cannot be forwarded opens nothing.
            // The kernel's packets are not forwarded: eBGP sends with TTL 1.
            if (f.frame[f.parsed.l3_offset + ipv4::kTtl] <= 1 && !for_kernel(ctx, f)) {
                drop(ctx, m, DropReason::ttl_expired);
                return false;
            }
            return true;
        case ipv4::kProtoIcmp:
            handle_icmp(ctx, f, now_ms);
            return false;
        default:
            if (for_kernel(ctx, f)) {
                punt(ctx, m, punt_class_of(f));
                return false;
            }
            drop(ctx, m, DropReason::unsupported_l4);
            return false;
    }
}

// Sorts one received frame; everything but the TCP/UDP flows is handled here.
Sorted classify(WorkerContext& ctx, Flow& f, uint32_t now_ms) {
    rte_mbuf* m = f.mbuf;
    if (m->nb_segs != 1) {
        drop(ctx, m, DropReason::multi_segment);
        return Sorted::done;
    }
    f.frame = rte_pktmbuf_mtod(m, uint8_t*);
    parse_frame(f.frame, rte_pktmbuf_data_len(m), f.parsed);
    switch (f.parsed.kind) {
        case FrameKind::drop:
            drop(ctx, m, f.parsed.drop_reason);
            return Sorted::done;
        case FrameKind::arp:
            handle_arp(ctx, f);
            return Sorted::done;
        case FrameKind::ipv6:
            return classify6(ctx, f, now_ms) ? Sorted::flow6 : Sorted::done;
        case FrameKind::ipv4:
            return classify4(ctx, f, now_ms) ? Sorted::flow4 : Sorted::done;
    }
    return Sorted::done;
}

// Counts the table's connections by source prefix afresh under the snapshot's prefix length:
// at the first burst, and after a reload that changed it.
void recount_source_prefixes(WorkerContext& ctx) {
    TableShareCounts& shares = ctx.shares;
    shares.prefix_mask = ctx.snapshot->source_prefix_mask;
    std::fill(shares.prefix.begin(), shares.prefix.end(), 0);
    ctx.table->for_each(
        [&shares](uint32_t, const Conn& c) { ++shares.prefix[shares.prefix_bucket(c.client_ip)]; });
}

}  // namespace

void retire_connection(WorkerContext& ctx, const Conn6& c, uint32_t now_ms) {
    count_connection(ctx, c, -1);
    if (c.helper != FtpControlPool::kNone) {
        ftp_release(ctx, c);
    }
    release_template(ctx, c, now_ms);
}

void count_connection(WorkerContext& ctx, const Conn6& c, int32_t delta) {
    count_in(ctx, c, delta);
}

void retire_connection(WorkerContext& ctx, const Conn& c, uint32_t now_ms) {
    count_connection(ctx, c, -1);
    if (c.helper != FtpControlPool::kNone) {
        ftp_release(ctx, c);
    }
    release_template(ctx, c, now_ms);
}

void count_connection(WorkerContext& ctx, const Conn& c, int32_t delta) {
    count_in(ctx, c, delta);
}

bool RateLimiter::allow(uint32_t now_ms, uint32_t per_second) {
    const uint32_t burst = std::max<uint32_t>(per_second / 10, per_second == 0 ? 0 : 1);
    const uint32_t elapsed = now_ms - last_ms;
    const uint64_t refill = static_cast<uint64_t>(elapsed) * per_second / 1000;
    if (refill > 0 || tokens > burst) {
        tokens = static_cast<uint32_t>(std::min<uint64_t>(burst, tokens + refill));
        last_ms = now_ms;
    }
    if (tokens == 0) {
        return false;
    }
    --tokens;
    return true;
}

bool ArpThrottle::allow(uint32_t ip, uint32_t now_ms) {
    Slot& s = slots[(ip * 2654435761u) >> 24];
    if (s.ip == ip && now_ms - s.last_ms < kIntervalMs) {
        return false;
    }
    s = Slot{ip, now_ms};
    return true;
}

bool send_arp_request(WorkerContext& ctx, const InterfaceEntry& iface, uint32_t ip) {
    PacketBatch& batch = ctx.tx[iface.port_id];
    if (ctx.pool == nullptr || batch.count == batch.packets.size()) {
        return false;
    }
    rte_mbuf* m = rte_pktmbuf_alloc(ctx.pool);
    if (m == nullptr) {
        ctx.counters.drop(DropReason::no_mbuf);
        return false;
    }
    auto* frame = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, 60));
    build_arp_request(frame, iface.mac, iface.address, ip);
    m->port = iface.port_id;
    batch.push(m);
    ++ctx.counters.arp_requests;
    return true;
}

bool send_neighbor_solicitation(WorkerContext& ctx, const InterfaceEntry& iface,
                                const Ipv6& target) {
    PacketBatch& batch = ctx.tx[iface.port_id];
    if (ctx.pool == nullptr || batch.count == batch.packets.size()) {
        return false;
    }
    rte_mbuf* m = rte_pktmbuf_alloc(ctx.pool);
    if (m == nullptr) {
        ctx.counters.drop(DropReason::no_mbuf);
        return false;
    }
    auto* frame = reinterpret_cast<uint8_t*>(rte_pktmbuf_append(m, kNeighborSolicitationFrameLen));
    build_neighbor_solicitation(frame, iface.mac, source_address6(iface, target), target);
    m->port = iface.port_id;
    batch.push(m);
    ++ctx.counters.nd_solicitations_sent;
    return true;
}

namespace {

// The burst's IPv6 flows, looked up in the IPv6 table after the IPv4 ones.
struct FlowBatch6 {
    BurstArray<Flow> flows;
    BurstArray<FlowKey6> keys;
    uint32_t n = 0;

    void add(const Flow& f) {
        flows[n] = f;
        write_flow_key6(keys[n], f.frame, f.parsed);
        ++n;
    }
};

// The lookup stage's hits and misses: each flow forwarded on its connection, or a new one. The
// lookups start together; each finishes just before its flow is forwarded, so that the records
// of the later flows arrive meanwhile. New connections are inserted a few later
// (NewConnections), all by the end. One call of forward(), which the compiler inlines (as a
// call of its own it costs the packet path).
template <class Record, class Key>
void forward_flows(WorkerContext& ctx, Flow* flows, const Key* keys, uint32_t n, uint32_t now_ms) {
    auto& table = table_of<Record>(ctx);
    // All the buckets first, then each one's likely record. At 1M connections a bucket fetch
    // misses the caches and held up the instructions behind it (a profile put four fifths of
    // start_lookup's time on the instruction after it): issued back to back, the burst's misses
    // overlap, where one per packet between the packets' parsing they followed one another.
    typename BasicConnTable<Record>::PendingLookup lookups[kMaxBurst];
    for (uint32_t i = 0; i < n; ++i) {
        lookups[i] = table.start_lookup(keys[i]);
    }
    for (uint32_t i = 0; i < n; ++i) {
        const uint32_t likely = table.fetch_candidate(lookups[i]);
        if (likely != ConnTable::kNoConn && ctx.sync != nullptr) {
            // Its sync packet count.
            __builtin_prefetch(&ctx.sync->packets_of<Record>()[likely], 1);
        }
    }
    NewConnections<Record> made;
    bool inserting = false;  // the waiting connections go in, oldest first, before flow i
    uint32_t i = 0;
    while (i < n || !made.empty()) {
        uint32_t flow = i;  // the flow whose packet is forwarded now
        uint32_t id;
        if (inserting || i == n) {
            const auto& e = made.take_oldest();
            inserting = !made.empty();
            flow = e.flow;
            id = insert_made(ctx, flows[flow], e.conn, now_ms);
        } else {
            // Afresh: an earlier packet of this burst may have opened or ended the connection.
            id = table.finish_lookup(keys[i], lookups[i]);
            if (id == ConnTable::kNoConn && !made.empty() && made.involves(lookups[i])) {
                inserting = true;
                continue;  // flow i is looked up again once they are in
            }
            ++i;
            if (id != ConnTable::kNoConn && ctx.snapshot->any_dropped() &&
                ctx.snapshot->dest_dropped(table.conn(id).dest_id)) {
                // Its real server was removed under `drain: drop`: the connection ends here.
                retire_connection(ctx, table.conn(id), now_ms);
                table.erase(id);
                drop(ctx, flows[flow].mbuf, DropReason::drained);
                continue;
            }
            if (id != ConnTable::kNoConn &&
                ends_for_new_connection<Record>(ctx, id, keys[flow], flows[flow].parsed.tcp_flags,
                                                now_ms)) {
                id = ConnTable::kNoConn;
            }
            if (id == ConnTable::kNoConn) {
                id = open_connection(ctx, flows[flow], keys[flow], now_ms, made.spare());
                if (id == kMade) {
                    if (!made.full()) {
                        made.add(table, flow, lookups[flow]);
                        continue;
                    }
                    // The window is full: its oldest goes in now, and its packet out.
                    const auto& oldest = made.take_oldest();
                    made.add(table, flow, lookups[flow]);
                    flow = oldest.flow;
                    id = insert_made(ctx, flows[flow], oldest.conn, now_ms);
                }
            }
        }
        if (id != ConnTable::kNoConn) {
            forward(ctx, flows[flow], keys[flow], id, now_ms);
        }
    }
}

}  // namespace

void process_burst(WorkerContext& ctx, rte_mbuf** packets, uint16_t count, uint32_t now_ms) {
    assert(count <= kMaxBurst);
    assert(std::all_of(ctx.tx.begin(), ctx.tx.end(), [count](const PacketBatch& b) {
        return b.count + count + kMaxPorts <= b.packets.size();
    }));
    assert(std::all_of(ctx.punt.begin(), ctx.punt.end(), [count](const PacketBatch& b) {
        return b.count + count <= b.packets.size();
    }));
    BurstArray<Flow> flows;
    BurstArray<FlowKey> keys;
    uint32_t n = 0;
    FlowBatch6 v6;

    ctx.counters.rx_packets += count;
    if (ctx.shares.prefix_mask != ctx.snapshot->source_prefix_mask) [[unlikely]] {
        recount_source_prefixes(ctx);
    }
    for (uint32_t i = 0; i < kPrefetchAhead && i < count; ++i) {
        rte_prefetch0(rte_pktmbuf_mtod(packets[i], void*));
    }
    for (uint32_t i = 0; i < count; ++i) {
        if (i + kPrefetchAhead < count) {
            rte_prefetch0(rte_pktmbuf_mtod(packets[i + kPrefetchAhead], void*));
        }
        Flow& f = flows[n];
        f.mbuf = packets[i];
        switch (classify(ctx, f, now_ms)) {
            case Sorted::flow4:
                write_flow_key(keys[n], f.frame, f.parsed);
                ++n;
                break;
            case Sorted::flow6:
                v6.add(f);
                break;
            case Sorted::done:
                break;
        }
    }
    if (n > 0) {
        forward_flows<Conn>(ctx, flows.items, keys.items, n, now_ms);
    }
    if (v6.n > 0) {
        forward_flows<Conn6>(ctx, v6.flows.items, v6.keys.items, v6.n, now_ms);
    }
    if (ctx.fragment_hold.deferred_count > 0) {
        settle_fragments(ctx, now_ms);
    }
}

uint32_t end_drained_connections(WorkerContext& ctx, uint32_t now_ms) {
    if (!ctx.snapshot->any_dropped()) {
        return 0;
    }
    uint32_t ended = 0;
    auto end_drained = [&](auto& table) {
        table.for_each([&](uint32_t id, const auto& c) {
            if (ctx.snapshot->dest_dropped(c.dest_id)) {
                retire_connection(ctx, c, now_ms);
                table.erase(id);  // safe here: for_each goes by id, not by list
                ++ended;
            }
        });
    };
    end_drained(*ctx.table);
    if (ctx.table6 != nullptr) {
        end_drained(*ctx.table6);
    }
    ctx.counters.connections_drained += ended;
    return ended;
}

void release_held(WorkerContext& ctx, uint32_t now_ms) {
    HoldQueue& hold = ctx.held;
    uint16_t kept = 0;
    for (uint16_t i = 0; i < hold.count; ++i) {
        const HoldQueue::Held& h = hold.items[i];
        const InterfaceEntry* out = ctx.snapshot->interface_of_port(h.port_id);
        MacAddress mac;
        const bool resolved =
            out != nullptr && (h.ipv6 ? ctx.neighbors6->lookup(h.port_id, h.next_hop6, mac)
                                      : ctx.neighbors->lookup(h.port_id, h.next_hop, mac));
        if (resolved && ctx.tx[h.port_id].count < kMaxBurst) {
            queue_out(ctx, h.mbuf, *out, mac);
        } else if (out == nullptr || now_ms - h.since_ms > HoldQueue::kMaxWaitMs) {
            drop(ctx, h.mbuf, DropReason::no_neighbor);
        } else {
            hold.items[kept++] = h;
        }
    }
    hold.count = kept;
}

void release_fragments(WorkerContext& ctx, uint32_t now_ms) {
    FragmentHold& hold = ctx.fragment_hold;
    // Looked up again once a translation was recorded since the last look, or a millisecond
    // passed (a lookup may have found its bucket busy): not at every turn of the worker's loop,
    // whose lookups would keep the bucket's lock from the worker recording the very
    // translation they wait for.
    const uint32_t recorded = fragments_recorded(ctx);
    const bool look = recorded != hold.seen_recorded || now_ms != hold.seen_ms;
    hold.seen_recorded = recorded;
    hold.seen_ms = now_ms;
    uint16_t kept = 0;
    for (uint16_t i = 0; i < hold.count; ++i) {
        const FragmentHold::Held h = hold.items[i];
        // Each TX batch keeps room for a burst: what does not fit waits for the next look.
        const bool room = std::all_of(ctx.tx.begin(), ctx.tx.end(),
                                      [](const PacketBatch& b) { return b.count < kMaxBurst; });
        if (look && room && forward_set_aside(ctx, h.mbuf, now_ms)) {
            continue;
        }
        if (now_ms - h.since_ms > FragmentHold::kMaxWaitMs) {
            drop(ctx, h.mbuf, DropReason::fragment_timeout);
        } else {
            hold.items[kept++] = h;
        }
    }
    hold.count = kept;
}

namespace {

// Expires up to `budget` of a family's connections; with sync on, the wheel's refreshes of live
// ones send their records.
template <class Record, class OnExpire>
uint32_t expire_table(WorkerContext& ctx, uint32_t now_ms, uint32_t budget,
                      const OnExpire& on_expire) {
    auto& table = table_of<Record>(ctx);
    if (ctx.sync == nullptr) {
        return table.expire(now_ms, budget, on_expire);
    }
    return table.expire(now_ms, budget, on_expire,
                        [&ctx](uint32_t id) { sync_on_rearm<Record>(ctx, id); });
}

}  // namespace

uint32_t expire_connections(WorkerContext& ctx, uint32_t now_ms, uint32_t budget) {
    const auto on_expire = [&ctx, now_ms](const auto& c) {
        retire_connection(ctx, c, now_ms);
        ++ctx.counters.connections_expired;
    };
    uint32_t expired = expire_table<Conn>(ctx, now_ms, budget, on_expire);
    if (ctx.table6 != nullptr) {
        expired += expire_table<Conn6>(ctx, now_ms, budget, on_expire);
    }
    if (ctx.persistence != nullptr) {
        ctx.persistence->sweep(ctx.persistence_sweep, kPersistenceSweepBuckets, now_ms);
    }
    if (ctx.persistence6 != nullptr) {
        ctx.persistence6->sweep(ctx.persistence6_sweep, kPersistenceSweepBuckets, now_ms);
    }
    if (ctx.expectations != nullptr) {
        ctx.expectations->sweep(ctx.expectation_sweep, kExpectationSweepSlots, now_ms);
    }
    if (ctx.expectations6 != nullptr) {
        ctx.expectations6->sweep(ctx.expectation_sweep6, kExpectationSweepSlots, now_ms);
    }
    return expired;
}

}  // namespace vsnat::dp
