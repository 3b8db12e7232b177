// One burst through every stage: parse, bulk connection lookup, scheduling of misses only,
// state update, NAT rewrite, L2 addressing, TX buffering per port.
#pragma once

#include <array>
#include <bit>
#include <cassert>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "dp/alg/expectation.hpp"
#include "dp/alg/ftp_control.hpp"
#include "dp/conn_table.hpp"
#include "dp/fragments.hpp"
#include "dp/neighbor.hpp"
#include "dp/persistence.hpp"
#include "dp/snapshot.hpp"
#include "vsnat/counters.hpp"
#include "vsnat/types.hpp"

struct rte_mbuf;
struct rte_mempool;

namespace vsnat::dp {

struct ConnSync;

constexpr uint16_t kMaxBurst = ConnTable::kMaxBurst;  // one bulk lookup per burst

/// Per real server, per worker. Plain counters: only the owning worker writes them; the control
/// thread sums them across workers (aligned 64-bit reads do not tear on the platforms we run).
struct DestCounters {
    uint64_t connections = 0;  // created
    uint64_t in_packets = 0;   // client -> server
    uint64_t out_packets = 0;  // server -> client
    uint64_t in_bytes = 0;     // IP length, as ipvsadm counts
    uint64_t out_bytes = 0;
    int64_t active = 0;    // ESTABLISHED now
    int64_t inactive = 0;  // any other state now
    /// How the server answered new TCP connections (the passive health check): with a
    /// SYN-ACK, or with a reset.
    uint64_t syn_answered = 0;
    uint64_t syn_refused = 0;
    DestCounters& operator+=(const DestCounters& o) {
        connections += o.connections;
        in_packets += o.in_packets;
        out_packets += o.out_packets;
        in_bytes += o.in_bytes;
        out_bytes += o.out_bytes;
        active += o.active;
        inactive += o.inactive;
        syn_answered += o.syn_answered;
        syn_refused += o.syn_refused;
        return *this;
    }
};

/// A worker's event counters (vsnat/counters.hpp lists them) and drops by reason. Plain: only
/// the owning worker writes them; other threads read them without locks.
struct WorkerCounters {
#define VSNAT_COUNTER_FIELD(name, help) uint64_t name = 0;
    VSNAT_WORKER_COUNTERS(VSNAT_COUNTER_FIELD)
#undef VSNAT_COUNTER_FIELD
    std::array<uint64_t, kDropReasonCount> drops{};

    void drop(DropReason r) {
        ++drops[static_cast<size_t>(r)];
    }
    uint64_t dropped(DropReason r) const {
        return drops[static_cast<size_t>(r)];
    }
    /// The event counters in kWorkerCounters' order.
    std::array<uint64_t, kWorkerCounterCount> values() const {
        return {
#define VSNAT_COUNTER_VALUE(name, help) name,
            VSNAT_WORKER_COUNTERS(VSNAT_COUNTER_VALUE)
#undef VSNAT_COUNTER_VALUE
        };
    }
};

/// Packets waiting to leave by one port; the caller sends and empties it after each burst.
struct PacketBatch {
    std::array<rte_mbuf*, kMaxBurst + kMaxPorts> packets{};
    uint16_t count = 0;
    void push(rte_mbuf* m) {
        assert(count < packets.size());
        packets[count++] = m;
    }
};

/// What goes to a port's kernel mirror, in two queues (README.md, "The kernel side of the
/// director"): `control` for what keeps the director's routing and failover alive (ARP, BGP,
/// VRRP, OSPF, link-local multicast), `bulk` for the rest (SSH, health-check answers, pings),
/// so that a flood to the director's own addresses fills the bulk queue and control traffic
/// still gets through.
enum class PuntClass : uint8_t { control, bulk };
constexpr size_t kPuntClasses = 2;

/// Per port: what one worker could not hand the kernel mirror (its queue was full, or no
/// buffer for an ARP copy). Plain: only the worker writes it.
struct PuntCounters {
    uint64_t dropped = 0;
    uint64_t control_dropped = 0;  // of which control
};

/// What a worker tells the control thread (the neighbor tables' one writer) about neighbors, in
/// the order it happened: an ARP request or a neighbor solicitation it sent (`asked`: the answer
/// is awaited, and may be learned), or an ARP packet or neighbor discovery message whose sender
/// may be worth learning (`seen`: an answer to the director, for IPv6 a neighbor advertisement or
/// a solicitation's source link-layer address option, or a known neighbor at a new MAC). IPv4's
/// are built as {ip, port_id, mac, kind}, IPv6's with seen6() and asked6(); either way the
/// resolver learns only a next hop, a neighbor it has, or an address asked for lately.
struct NeighborSighting {
    enum class Kind : uint8_t { seen, asked };
    uint32_t ip;  // network order; IPv4 only
    uint16_t port_id;
    MacAddress mac;  // seen only
    Kind kind = Kind::seen;
    bool ipv6 = false;  // an IPv6 neighbor, at `ip6`
    Ipv6 ip6{};         // network order; IPv6 only

    static NeighborSighting seen6(uint16_t port_id, const Ipv6& ip, const MacAddress& mac) {
        return {0, port_id, mac, Kind::seen, true, ip};
    }
    static NeighborSighting asked6(uint16_t port_id, const Ipv6& ip) {
        return {0, port_id, {}, Kind::asked, true, ip};
    }
};
static_assert(sizeof(NeighborSighting) % 4 == 0, "rte_ring elements are whole 32-bit words");

/// What the control thread asks worker 0 to send for an IPv6 neighbor it resolves or probes: a
/// neighbor solicitation for `target` out of `port_id`. The IPv6 twin of an ARP order (the word
/// port << 32 | ip), on a ring of its own.
struct NeighborSolicitOrder {
    Ipv6 target;  // network order
    uint16_t port_id;
    uint16_t reserved = 0;
};
static_assert(sizeof(NeighborSolicitOrder) % 4 == 0, "rte_ring elements are whole 32-bit words");

/// Token bucket for the replies a worker builds to rejected connection attempts (RFC 1812
/// 4.3.2.8): `per_second` comes from the snapshot each time, so a reload changes it at once.
struct RateLimiter {
    uint32_t tokens = UINT32_MAX;  // more than any burst: a full bucket at first use
    uint32_t last_ms = 0;
    /// Whether one more reply may go now; a burst of up to a tenth of a second's worth.
    bool allow(uint32_t now_ms, uint32_t per_second);
};

/// Remembers when each next hop was last asked for, so a burst of packets to an unresolved one
/// sends one ARP request, not one each.
struct ArpThrottle {
    static constexpr uint32_t kSlots = 256;
    static constexpr uint32_t kIntervalMs = 1000;
    struct Slot {
        uint32_t ip = 0;
        uint32_t last_ms = 0;
    };
    std::array<Slot, kSlots> slots{};
    bool allow(uint32_t ip, uint32_t now_ms);
};

/// Packets whose next hop's MAC is being resolved: held briefly instead of lost, so the first
/// packet to a new client or server does not cost a retransmission.
struct HoldQueue {
    static constexpr uint16_t kCapacity = 64;
    static constexpr uint32_t kMaxWaitMs = 1000;
    struct Held {
        rte_mbuf* mbuf;
        uint32_t next_hop;  // IPv4's
        uint32_t since_ms;
        uint16_t port_id;
        bool ipv6;
        Ipv6 next_hop6;
    };
    std::array<Held, kCapacity> items{};  // oldest first
    uint16_t count = 0;
};

/// Later fragments that came before their datagram's first (whose translation they need), held
/// briefly instead of dropped: fragments may take different paths, and reach another worker
/// sooner than their first reaches its owner.
struct FragmentHold {
    static constexpr uint16_t kCapacity = 64;
    static constexpr uint32_t kMaxWaitMs = 1000;
    struct Held {
        rte_mbuf* mbuf;
        uint32_t since_ms;
    };
    std::array<Held, kCapacity> items{};  // oldest first
    uint16_t count = 0;
    /// This burst's later fragments not forwarded yet: their first may come later in it.
    std::array<rte_mbuf*, kMaxBurst> deferred{};
    uint16_t deferred_count = 0;
    /// When release_fragments last looked the held ones up: the tables' recorded() (summed)
    /// and the clock then.
    uint32_t seen_recorded = 0;
    uint32_t seen_ms = 0;
};

/// The connections most recently opened that their real server has not answered yet, oldest
/// first, for the flood defence: when the table is nearly full, or a protocol holds its share
/// of it, a new connection takes the place of the oldest one still unanswered (a TCP connection
/// in SYN_RECV, a UDP one with no reply), the idea of LVS's drop_entry. A legitimate client's
/// connection is answered within a round trip; a flood's forged sources never are, so the
/// oldest unanswered entries are the flood's. A fixed ring: past its size the oldest ids are
/// forgotten, which only narrows the choice. Ids may name a record reused since: checked when
/// taken.
class UnansweredQueue {
  public:
    static constexpr uint32_t kDefaultSize = 1u << 16;
    explicit UnansweredQueue(uint32_t size = kDefaultSize) : ids_(std::bit_ceil(size)) {}
    void push(uint32_t id) {
        ids_[head_++ & mask()] = id;
        if (head_ - tail_ > ids_.size()) {
            tail_ = head_ - static_cast<uint32_t>(ids_.size());
        }
    }
    bool pop(uint32_t& id) {
        if (tail_ == head_) {
            return false;
        }
        id = ids_[tail_++ & mask()];
        return true;
    }

  private:
    uint32_t mask() const { return static_cast<uint32_t>(ids_.size() - 1); }
    std::vector<uint32_t> ids_;
    uint32_t head_ = 0, tail_ = 0;
};

/// A worker's unanswered connections, one queue per protocol, so that a protocol over its share
/// gives up one of its own.
struct UnansweredQueues {
    explicit UnansweredQueues(uint32_t size = UnansweredQueue::kDefaultSize)
        : tcp(size), udp(size) {}
    UnansweredQueue tcp;
    UnansweredQueue udp;
};

/// What each protocol and each source prefix of clients holds of a worker's table, kept on
/// every insert and removal, for the shares the snapshot allows. Prefixes are counted in
/// hashed buckets: two prefixes that share a bucket share its count, which can only make the
/// limit stricter for them, never let a prefix past it.
struct TableShareCounts {
    static constexpr uint32_t kPrefixBuckets = 1u << 16;
    std::array<uint32_t, 2> protocol{};  // [0] TCP, [1] UDP
    std::vector<uint32_t> prefix = std::vector<uint32_t>(kPrefixBuckets);
    uint32_t prefix_mask = 0;  // network order: the mask `prefix` is counted under

    static size_t protocol_slot(uint8_t ip_protocol) { return ip_protocol == 6 ? 0 : 1; }
    size_t prefix_bucket(uint32_t client_ip) const {
        return ((client_ip & prefix_mask) * 0x9e3779b1u) >> 16;
    }
    /// An IPv6 client's prefix is its /64, what one subscriber or LAN gets (RFC 6177).
    size_t prefix_bucket(const Ipv6& client_ip) const {
        uint64_t first_half;
        std::memcpy(&first_half, client_ip.data(), sizeof(first_half));
        return (first_half * 0x9e3779b97f4a7c15ULL) >> 48;
    }
};

/// Everything one worker owns, passed by reference down the stages. Cache-aligned; never shared
/// for writing.
struct alignas(64) WorkerContext {
    uint32_t worker_id = 0;
    ConnTable* table = nullptr;
    /// IPv6 connections; null when no interface has an IPv6 address (IPv6 is then dropped).
    ConnTable6* table6 = nullptr;
    const Snapshot* snapshot = nullptr;  // swapped by the worker between bursts
    const NeighborTable* neighbors = nullptr;
    const NeighborTable6* neighbors6 = nullptr;  // set with table6
    rte_mempool* pool = nullptr;                 // for packets the worker builds (ARP requests)
    std::array<PacketBatch, kMaxPorts> tx{};
    /// Neighbors seen and asked for in this burst (at most one per packet), for the control
    /// thread; the caller hands them over before it sends the burst's packets, so that an
    /// `asked` reaches the control thread before the answer can.
    std::array<NeighborSighting, kMaxBurst> sightings{};
    uint16_t sighting_count = 0;
    RateLimiter unreachable_limit;
    RateLimiter reset_limit;
    TableShareCounts shares;
    TableShareCounts shares6;  // table6's
    ArpThrottle arp_throttle;
    HoldQueue held;
    /// Packets for the kernel mirrors, by PuntClass; the caller queues them for the mirrors'
    /// thread after each burst, as it sends `tx`. Each packet's `port` is the one it came in on.
    std::array<PacketBatch, kPuntClasses> punt{};
    std::array<PuntCounters, kMaxPorts> punt_counters{};
    WorkerCounters counters;
    DestCounters* dest_counters = nullptr;  // kMaxDestinations entries
    /// Every worker's dest_counters (this one's included), for least-connection schedulers.
    std::span<DestCounters* const> all_dest_counters;
    /// The persistence templates, one table per address family shared by every worker (IPv6's
    /// made with table6). Without it a persistent service's connections go unpinned, each
    /// counted in persistence_unrecorded.
    PersistenceTable* persistence = nullptr;
    PersistenceTable6* persistence6 = nullptr;
    uint32_t persistence_sweep = 0;  // this worker's sweep cursors
    uint32_t persistence6_sweep = 0;
    /// Unanswered connections to evict when the table is nearly full or a protocol holds its
    /// share; null: none are (the new connection is dropped as table_full or protocol_share).
    UnansweredQueues* unanswered = nullptr;
    UnansweredQueues* unanswered6 = nullptr;  // table6's
    /// The FTP helper's control-connection states (this worker's, both families') and the data
    /// connections it expects (one table per family shared by every worker; IPv6's set with
    /// table6). Without them a control connection of a service with `helper: ftp` is refused
    /// (helper_full).
    FtpControlPool* ftp_controls = nullptr;
    ExpectationTable* expectations = nullptr;
    ExpectationTable6* expectations6 = nullptr;
    uint32_t expectation_sweep = 0;  // this worker's sweep cursors
    uint32_t expectation_sweep6 = 0;
    /// Connection sync (dp/conn_sync.hpp); null when `ha.sync` is not configured.
    ConnSync* sync = nullptr;
    /// How the first fragments of datagrams were translated (one table per family shared by
    /// every worker), and this worker's later fragments of both waiting for theirs. Without
    /// its family's table every fragment is dropped (ip_fragment).
    FragmentTable* fragments = nullptr;
    FragmentTable6* fragments6 = nullptr;
    FragmentHold fragment_hold;
};

/// A family's connection table: IPv4's (Conn records) or IPv6's (Conn6). IPv6's must exist.
template <class Record>
BasicConnTable<Record>& table_of(const WorkerContext& ctx) {
    if constexpr (std::is_same_v<Record, Conn>) {
        return *ctx.table;
    } else {
        return *ctx.table6;
    }
}

/// The persistence table of the family of `client`, an IPv4 or IPv6 address; null when none.
inline PersistenceTable* persistence_of(const WorkerContext& ctx, uint32_t /*client*/) {
    return ctx.persistence;
}
inline PersistenceTable6* persistence_of(const WorkerContext& ctx, const Ipv6& /*client*/) {
    return ctx.persistence6;
}

/// What a persistent service's templates are keyed on: the client's address under the
/// service's persistence_netmask.
inline uint32_t persistent_client(const ServiceEntry& svc, uint32_t client) {
    return client & svc.persistence_mask;
}
inline Ipv6 persistent_client(const ServiceEntry& svc, const Ipv6& client) {
    return masked(client, svc.persistence_mask6);
}

/// The ServerLoad a worker's schedulers see: its own and the other workers' counts, summed.
class WorkerLoad final : public ServerLoad {
  public:
    explicit WorkerLoad(std::span<DestCounters* const> workers) : workers_(workers) {}
    uint64_t active(uint16_t dest_id) const override { return sum(dest_id, &DestCounters::active); }
    uint64_t inactive(uint16_t dest_id) const override {
        return sum(dest_id, &DestCounters::inactive);
    }

  private:
    uint64_t sum(uint16_t dest_id, int64_t DestCounters::*field) const {
        int64_t total = 0;
        for (const DestCounters* w : workers_) {
            total += w[dest_id].*field;
        }
        return total < 0 ? 0 : static_cast<uint64_t>(total);
    }
    std::span<DestCounters* const> workers_;
};

/// Moves a connection's count in its real server's active or inactive connections.
inline void count_state(DestCounters& d, ConnState s, int64_t delta) {
    (conn_state_is_active(s) ? d.active : d.inactive) += delta;
}

/// Counts connection `c` in (delta +1) or out of (-1) its real server's state counts and the
/// table's shares. Worker thread only.
void count_connection(WorkerContext& ctx, const Conn& c, int32_t delta);
void count_connection(WorkerContext& ctx, const Conn6& c, int32_t delta);

/// What a connection leaving the table gives back: its counts, its persistence template's
/// reference and its helper state. The caller removes it from the table. Worker thread only.
void retire_connection(WorkerContext& ctx, const Conn& c, uint32_t now_ms);
void retire_connection(WorkerContext& ctx, const Conn6& c, uint32_t now_ms);

/// Processes `count` (<= kMaxBurst) packets received at `now_ms`. Worker thread only. Every mbuf
/// ends in exactly one place: a `tx` batch (forwarded, or turned into the director's own reply),
/// the `held` queue (its next hop's MAC is being resolved), a `punt` batch (for the kernel
/// mirror of the port it came in on), or freed (a counted drop, or ARP taken in; a copy of ARP
/// may go to the mirror as well). The `tx` batches must have room for `count` + ports more
/// packets (ARP requests), the `punt` batches for `count`, on entry: callers empty them after
/// each burst.
void process_burst(WorkerContext& ctx, rte_mbuf** packets, uint16_t count, uint32_t now_ms);

/// Queues an ARP request for `ip` on `iface` (no throttling). Worker thread only. Returns false
/// when no mbuf or no room is left.
bool send_arp_request(WorkerContext& ctx, const InterfaceEntry& iface, uint32_t ip);

/// Queues a neighbor solicitation for `target` on `iface` (no throttling), from the director's
/// address on that link. Worker thread only. Returns false when no mbuf or no room is left.
bool send_neighbor_solicitation(WorkerContext& ctx, const InterfaceEntry& iface,
                                const Ipv6& target);

/// Sends held packets whose next hop is now resolved; drops (no_neighbor) those held too long.
/// Worker thread only; the caller flushes the TX batches afterwards.
void release_held(WorkerContext& ctx, uint32_t now_ms);

/// Ends every connection whose real server the current snapshot marks as dropped (`drain:
/// drop`); returns how many. Worker thread only, once after adopting a new snapshot.
uint32_t end_drained_connections(WorkerContext& ctx, uint32_t now_ms);

/// Forwards held fragments whose datagram's first has been translated since; drops
/// (fragment_timeout) those held too long. Worker thread only; the caller flushes the TX
/// batches afterwards.
void release_fragments(WorkerContext& ctx, uint32_t now_ms);

/// Expires due connections with at most `budget` units of work. Worker thread only.
uint32_t expire_connections(WorkerContext& ctx, uint32_t now_ms, uint32_t budget);

}  // namespace vsnat::dp
