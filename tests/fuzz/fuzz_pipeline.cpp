// libFuzzer target: the whole pipeline on the seed's scenario (tests/dp/lab_fixture). Input bytes
// become frames and bursts through dp::process_burst while the clock moves, so connections open,
// change state, are held for ARP and expire, and fragments follow their first or wait for it; after
// every burst the invariants below are checked and any violation aborts.
//
// Input: tests/fuzz/pipeline_input.hpp.
//
// Invariants, after each burst:
// - nothing is written outside a packet: every received mbuf's buffer is filled with a pattern
//   around the frame, and the pattern must still be there outside the frame (or the reply the
//   director built in it), whether the packet was sent, held or freed;
// - every received packet ends in exactly one place: sent, held (for ARP, or as a fragment
//   before its first), or freed under a counted drop (or taken in as ARP), and the counters
//   say which;
// - an IPv4 packet that came in with valid checksums goes out with valid checksums;
// - a TCP or UDP packet that goes out is forwarded to a configured real server from a tracked
//   client, or to a tracked client from the VIP:port of its service, by the interface that
//   routes its destination; or it is the director's RST from a VIP port no service offers,
//   sent back by the port the refused packet came in by;
// - an ICMP packet that goes out answers its sender, or goes to a tracked client or real server;
// - a later fragment that goes out (no ports), after its burst or released from the hold, goes
//   between the ends of a tracked connection, by the route to its destination.
// After each input: with the clock far ahead, expiry empties the table, held packets and
// fragments time out, and every per-server active and inactive count is back to zero; both
// mbuf pools have every mbuf back.
#include <rte_mbuf.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dp/bytes.hpp"
#include "dp/checksum.hpp"
#include "dp/parse.hpp"
#include "fuzz_eal.hpp"
#include "lab_fixture.hpp"
#include "pipeline_input.hpp"

namespace {

using namespace vsnat;
using namespace vsnat::dp;
using namespace vsnat::fuzz;

constexpr uint32_t kTableCapacity = 64;  // small: full-table paths are reachable
constexpr uint8_t kPattern = 0xa5;

void require(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_pipeline: invariant violated: %s\n", what);
        std::abort();
    }
}

struct World {
    test::PipelineHarness harness{kTableCapacity};  // its pool serves the ARP requests dp builds
    // Received frames come from a pool of their own, so that the ones the pipeline frees are not
    // reused for an ARP request before check_untouched_outside looks at them.
    rte_mempool* rx_pool = nullptr;
    // Fragments' translations: a fresh table for each input, so that it replays alone.
    std::unique_ptr<FragmentTable> fragments;
};
World* world = nullptr;

// A frame as it was handed to the pipeline.
struct Received {
    rte_mbuf* mbuf;
    uint16_t port;
    uint16_t data_off;
    std::vector<uint8_t> bytes;
    bool checksums_valid;  // IPv4 TCP/UDP/ICMP, not a fragment, every checksum right
};

bool is_checksummed_ipv4(const ParsedFrame& p) {
    return p.kind == FrameKind::ipv4 && !p.fragment &&
           (p.ip_protocol == ipv4::kProtoTcp || p.ip_protocol == ipv4::kProtoUdp ||
            p.ip_protocol == ipv4::kProtoIcmp);
}

bool checksums_valid(const std::vector<uint8_t>& f) {
    return is_checksummed_ipv4(parse_frame(f.data(), f.size())) && test::checksums_valid(f);
}

// What the mutations broke, repaired: the IPv4 header checksum, and the L4 one where the
// datagram has a whole L4 header.
void fix_checksums(std::vector<uint8_t>& f) {
    const ParsedFrame p = parse_frame(f.data(), f.size());
    if (is_checksummed_ipv4(p)) {
        test::recompute_checksums(f);
    } else if (p.kind == FrameKind::ipv4) {
        uint8_t* ip = &f[p.l3_offset];
        store_u16_raw(ip + ipv4::kChecksum, 0);
        store_u16_raw(ip + ipv4::kChecksum,
                      ipv4_header_checksum(ip, static_cast<size_t>(p.l4_offset - p.l3_offset)));
    }
}

rte_mbuf* make_mbuf(const std::vector<uint8_t>& frame, uint16_t port) {
    rte_mbuf* m = rte_pktmbuf_alloc(world->rx_pool);
    require(m != nullptr, "rx pool has an mbuf");
    std::memset(m->buf_addr, kPattern, m->buf_len);
    char* data = rte_pktmbuf_append(m, static_cast<uint16_t>(frame.size()));
    std::copy(frame.begin(), frame.end(), data);
    m->port = port;
    return m;
}

// The pattern is intact around the frame, or around the reply the director built in its place
// (which may be longer: a port unreachable quotes the datagram after a new header).
void check_untouched_outside(const Received& r) {
    const rte_mbuf* m = r.mbuf;
    require(m->data_off == r.data_off, "data offset unchanged");
    const auto* buf = static_cast<const uint8_t*>(m->buf_addr);
    const size_t end = r.data_off + std::max<size_t>(r.bytes.size(), m->data_len);
    require(end <= m->buf_len, "data inside the buffer");
    const auto untouched = [](const uint8_t* from, const uint8_t* to) {
        return std::all_of(from, to, [](uint8_t b) { return b == kPattern; });
    };
    require(untouched(buf, buf + r.data_off) && untouched(buf + end, buf + m->buf_len),
            "nothing written outside the packet");
}

struct Endpoints {
    uint8_t protocol;
    uint32_t src_ip, dst_ip;
    uint16_t src_port, dst_port;
    uint8_t tcp_flags;
};

Endpoints endpoints_of(const std::vector<uint8_t>& f, const ParsedFrame& p) {
    const uint8_t* ip = &f[p.l3_offset];
    const uint8_t* l4p = &f[p.l4_offset];
    const bool ports = (p.ip_protocol == ipv4::kProtoTcp || p.ip_protocol == ipv4::kProtoUdp) &&
                       (!p.fragment || p.first_fragment);
    return {p.ip_protocol,
            load_u32_raw(ip + ipv4::kSrc),
            load_u32_raw(ip + ipv4::kDst),
            ports ? load_u16_raw(l4p + l4::kSrcPort) : uint16_t{0},
            ports ? load_u16_raw(l4p + l4::kDstPort) : uint16_t{0},
            p.ip_protocol == ipv4::kProtoTcp ? p.tcp_flags : uint8_t{0}};
}

bool serves(const ServiceEntry& svc, const Endpoints& e) {
    return std::any_of(svc.servers.begin(), svc.servers.end(), [&](const Destination& d) {
        return d.ip == e.dst_ip && d.port == e.dst_port;
    });
}

// Where a TCP or UDP packet that left by `port` may go (see the header).
void check_tcp_udp_destination(const Snapshot& snap, const std::vector<Conn>& tracked,
                               const Endpoints& e, uint16_t port, const Received* in) {
    uint32_t next_hop = 0;
    const InterfaceEntry* route = snap.route(e.dst_ip, next_hop);
    const bool to_client = std::any_of(tracked.begin(), tracked.end(), [&](const Conn& c) {
        return c.protocol == e.protocol && c.vip == e.src_ip && c.vport == e.src_port &&
               c.client_ip == e.dst_ip && c.client_port == e.dst_port;
    });
    // An FTP data connection's VIP port (20, or a passive port) is no service's: it is
    // matched as a tracked connection.
    if (to_client || snap.find_service(e.protocol, e.src_ip, e.src_port) != nullptr) {
        require(to_client, "from a VIP:port only to a tracked client");
        require(route != nullptr && route->port_id == port, "to the client by its route");
        return;
    }
    if (snap.is_vip(e.src_ip)) {
        require(in != nullptr && in->port == port && e.protocol == ipv4::kProtoTcp &&
                    (e.tcp_flags & l4::kTcpRst) != 0,
                "from a VIP port with no service only a RST, back where it came from");
        return;
    }
    // Matched by client and service rather than by real server: a new SYN on a closed
    // connection (conn_reuse_mode) may replace it within the burst by one to another server.
    // An FTP data connection, to a port no service names, matches its tracked real server.
    const bool from_client = std::any_of(tracked.begin(), tracked.end(), [&](const Conn& c) {
        const ServiceEntry* svc = snap.find_service(c.protocol, c.vip, c.vport);
        const bool to_its_server = c.rip == e.dst_ip && c.rport == e.dst_port;
        return c.protocol == e.protocol && c.client_ip == e.src_ip && c.client_port == e.src_port &&
               ((svc != nullptr && serves(*svc, e)) || to_its_server);
    });
    require(from_client, "to a real server of its service only from a tracked client");
    require(route != nullptr && route->port_id == port, "to the real server by its route");
}

// Where a later fragment (no ports) may go: as its datagram's first did, so between the ends
// of a tracked connection, by the route to its destination.
void check_later_fragment(const Snapshot& snap, const std::vector<Conn>& tracked,
                          const Endpoints& e, uint16_t port) {
    const bool between_ends = std::any_of(tracked.begin(), tracked.end(), [&](const Conn& c) {
        return c.protocol == e.protocol && ((c.vip == e.src_ip && c.client_ip == e.dst_ip) ||
                                            (c.client_ip == e.src_ip && c.rip == e.dst_ip));
    });
    require(between_ends, "a later fragment only between the ends of a tracked connection");
    uint32_t next_hop = 0;
    const InterfaceEntry* route = snap.route(e.dst_ip, next_hop);
    require(route != nullptr && route->port_id == port, "a later fragment by its route");
}

void check_sent(const Snapshot& snap, const std::vector<Conn>& tracked, uint16_t port,
                const std::vector<uint8_t>& out, const Received* in) {
    const ParsedFrame p = parse_frame(out.data(), out.size());
    if (in == nullptr) {  // built by the director from its own pool: an ARP request
        require(p.kind == FrameKind::arp, "a packet the director builds is an ARP request");
        return;
    }
    if (p.kind != FrameKind::ipv4) {
        require(p.kind == FrameKind::arp, "what goes out parses as IPv4 or ARP");
        return;
    }
    if (in->checksums_valid) {
        require(checksums_valid(out), "valid checksums out when valid in");
    }
    const Endpoints e = endpoints_of(out, p);
    if (p.fragment && !p.first_fragment) {
        check_later_fragment(snap, tracked, e, port);
        return;
    }
    if (e.protocol == ipv4::kProtoTcp || e.protocol == ipv4::kProtoUdp) {
        check_tcp_udp_destination(snap, tracked, e, port, in);
        return;
    }
    require(e.protocol == ipv4::kProtoIcmp, "only TCP, UDP and ICMP go out");
    const ParsedFrame in_parsed = parse_frame(in->bytes.data(), in->bytes.size());
    const bool answers_sender =
        in_parsed.kind == FrameKind::ipv4 && e.dst_ip == endpoints_of(in->bytes, in_parsed).src_ip;
    const bool to_tracked = std::any_of(tracked.begin(), tracked.end(), [&](const Conn& c) {
        return e.dst_ip == c.client_ip || e.dst_ip == c.rip;
    });
    require(answers_sender || to_tracked, "ICMP only to its sender or a tracked endpoint");
}

std::vector<Conn> live_connections(const ConnTable& table) {
    std::vector<Conn> out;
    table.for_each([&](uint32_t, const Conn& c) { out.push_back(c); });
    return out;
}

uint64_t total_drops(const WorkerCounters& c) {
    uint64_t sum = 0;
    for (uint64_t d : c.drops) {
        sum += d;
    }
    return sum;
}

// One burst through the pipeline, then the checks of the header.
void run_burst(std::vector<Received>& burst, uint32_t now_ms) {
    test::PipelineHarness& h = world->harness;
    WorkerContext& ctx = h.ctx;
    const WorkerCounters before = ctx.counters;
    const uint16_t held_before = ctx.held.count;
    const uint64_t fragments_held_before = ctx.counters.fragments_held;
    std::vector<Conn> tracked = live_connections(*h.table);

    std::vector<rte_mbuf*> mbufs;
    for (const Received& r : burst) {
        mbufs.push_back(r.mbuf);
    }
    process_burst(ctx, mbufs.data(), static_cast<uint16_t>(mbufs.size()), now_ms);
    const std::vector<Conn> after = live_connections(*h.table);
    tracked.insert(tracked.end(), after.begin(), after.end());

    for (const Received& r : burst) {
        check_untouched_outside(r);
    }
    uint64_t sent_received = 0;
    for (uint16_t port = 0; port < kMaxPorts; ++port) {
        PacketBatch& batch = ctx.tx[port];
        for (uint16_t i = 0; i < batch.count; ++i) {
            rte_mbuf* m = batch.packets[i];
            require(m->port == port, "queued on the port it leaves by");
            const auto it = std::find_if(burst.begin(), burst.end(),
                                         [m](const Received& r) { return r.mbuf == m; });
            const Received* in = it == burst.end() ? nullptr : &*it;
            sent_received += in != nullptr;
            const auto* data = rte_pktmbuf_mtod(m, const uint8_t*);
            check_sent(*ctx.snapshot, tracked, port, {data, data + m->data_len}, in);
            rte_pktmbuf_free(m);
        }
        batch.count = 0;
    }
    ctx.sighting_count = 0;

    const WorkerCounters& now = ctx.counters;
    const uint64_t replies =
        (now.arp_replies - before.arp_replies) + (now.echo_replies - before.echo_replies) +
        (now.resets_sent - before.resets_sent) + (now.unreachables_sent - before.unreachables_sent);
    require(sent_received == (now.tx_packets - before.tx_packets) + replies,
            "every packet sent is counted as forwarded or as a reply");
    // A refused connection counts no_service whether or not it is answered (rate_limited
    // instead when over the unreachables' rate); no_mbuf counts an ARP request that could not
    // be built.
    // Held: for ARP, or as a fragment before its first. A full fragment hold gives up its
    // oldest, an earlier burst's packet: its fragment_hold_full is not this burst's.
    const uint64_t freed = burst.size() - sent_received - (ctx.held.count - held_before) -
                           (now.fragments_held - fragments_held_before);
    const uint64_t evicted = now.dropped(DropReason::fragment_hold_full) -
                             before.dropped(DropReason::fragment_hold_full);
    const uint64_t counted =
        total_drops(now) - total_drops(before) + (now.arp_received - before.arp_received) +
        (now.arp_ignored - before.arp_ignored) - (now.resets_sent - before.resets_sent) -
        (now.unreachables_sent - before.unreachables_sent) -
        (now.dropped(DropReason::no_mbuf) - before.dropped(DropReason::no_mbuf)) - evicted;
    require(freed == counted, "every packet not sent or held is counted once");
    burst.clear();
}

// What the worker loop does between bursts: held packets released or dropped, expiry.
void run_housekeeping(uint32_t now_ms) {
    WorkerContext& ctx = world->harness.ctx;
    release_held(ctx, now_ms);  // nothing gets resolved here: held packets only time out
    for (PacketBatch& batch : ctx.tx) {
        require(batch.count == 0, "held packets are not sent to an unresolved next hop");
    }
    // Held fragments whose first came since leave; the others time out.
    const std::vector<Conn> tracked = live_connections(*world->harness.table);
    release_fragments(ctx, now_ms);
    for (uint16_t port = 0; port < kMaxPorts; ++port) {
        PacketBatch& batch = ctx.tx[port];
        for (uint16_t i = 0; i < batch.count; ++i) {
            rte_mbuf* m = batch.packets[i];
            const auto* data = rte_pktmbuf_mtod(m, const uint8_t*);
            const std::vector<uint8_t> out(data, data + m->data_len);
            const ParsedFrame p = parse_frame(out.data(), out.size());
            require(p.kind == FrameKind::ipv4 && p.fragment && !p.first_fragment,
                    "what a release sends is a later fragment");
            check_later_fragment(*ctx.snapshot, tracked, endpoints_of(out, p), port);
            rte_pktmbuf_free(m);
        }
        batch.count = 0;
    }
    expire_connections(ctx, now_ms, 64);
}

// Calls `visit(dest_id)` for each real server of the snapshot: the only per-server counters the
// pipeline can touch (all kMaxDestinations of them would cost more than a run).
template <class Visit>
void for_each_server(const Snapshot& snap, Visit&& visit) {
    for (const ServiceEntry& svc : snap.services) {
        for (const Destination& d : svc.servers) {
            visit(d.dest_id);
        }
    }
}

// A fresh table, snapshot (schedulers start over) and worker state for each input, so that an
// input replays the same way alone.
void reset_worker() {
    test::PipelineHarness& h = world->harness;
    h.table.reset();
    std::string error;
    h.table = ConnTable::create("fuzz", kTableCapacity, SOCKET_ID_ANY, 0, &error);
    require(h.table != nullptr, "connection table created");
    h.snapshot = test::seed_snapshot();
    for_each_server(*h.snapshot, [&](uint16_t dest_id) { h.dest_counters[dest_id] = {}; });
    h.ctx = WorkerContext{};
    h.ctx.table = h.table.get();
    h.ctx.snapshot = h.snapshot.get();
    h.ctx.neighbors = &h.neighbors;
    h.ctx.pool = h.pool;
    h.ctx.dest_counters = h.dest_counters.data();
    h.ctx.all_dest_counters = h.all_dest_counters;
    world->fragments = std::make_unique<FragmentTable>();
    h.ctx.fragments = world->fragments.get();
}

void check_all_expire(uint32_t now_ms) {
    test::PipelineHarness& h = world->harness;
    const uint32_t later = now_ms + kClockSteps[7] + kClockSteps[6];
    release_held(h.ctx, later);
    require(h.ctx.held.count == 0, "held packets time out");
    release_fragments(h.ctx, later);
    require(h.ctx.fragment_hold.count == 0, "held fragments time out");
    expire_connections(h.ctx, later, UINT32_MAX);
    require(h.table->size() == 0, "every connection expires");
    for_each_server(*h.snapshot, [&](uint16_t dest_id) {
        const DestCounters& d = h.dest_counters[dest_id];
        require(d.active == 0 && d.inactive == 0, "per-server counts back to zero");
    });
    require(rte_mempool_full(world->rx_pool) && rte_mempool_full(h.pool),
            "every mbuf back in its pool");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
    init_eal("fuzz_pipeline", 512);
    world = new World;
    world->rx_pool = rte_pktmbuf_pool_create("fuzz_rx", 2 * kMaxBurst, 0, 0,
                                             RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    require(world->rx_pool != nullptr, "rx pool created");
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    reset_worker();
    uint32_t now_ms = 0;
    std::vector<Received> burst;
    size_t at = 0;
    while (at < size) {
        const uint8_t control = data[at++];
        size_t len = 0;
        if (at + 2 <= size) {
            len = load_be16(data + at);
            at += 2;
        }
        len = std::min({len, size - at, size_t{RTE_MBUF_DEFAULT_DATAROOM}});
        std::vector<uint8_t> frame(data + at, data + at + len);
        at += len;

        const uint32_t step = kClockSteps[(control >> kClockShift) & 7];
        if (step != 0 && !burst.empty()) {
            run_burst(burst, now_ms);  // a burst happens at one instant
        }
        if (step != 0) {
            now_ms += step;
            run_housekeeping(now_ms);
        }
        if (control & kFixChecksums) {
            fix_checksums(frame);
        }
        const uint16_t port = control & kFromInside ? test::kInsidePort : test::kOutsidePort;
        rte_mbuf* m = make_mbuf(frame, port);
        burst.push_back({m, port, m->data_off, std::move(frame), false});
        burst.back().checksums_valid = checksums_valid(burst.back().bytes);
        if ((control & kEndBurst) || burst.size() == kMaxBurst) {
            run_burst(burst, now_ms);
        }
    }
    if (!burst.empty()) {
        run_burst(burst, now_ms);
    }
    check_all_expire(now_ms);
    return 0;
}
