// libFuzzer target: the whole pipeline on the seed's dual-stack scenario (tests/dp/lab_fixture).
// Input bytes become frames and bursts through dp::process_burst while the clock moves, so
// connections of both families open, change state, are held for ARP or neighbor discovery and
// expire, and fragments follow their first or wait for it; after every burst the invariants below
// are checked and any violation aborts.
//
// Input: tests/fuzz/pipeline_input.hpp.
//
// Invariants, after each burst, both families:
// - nothing is written outside a packet: every received mbuf's buffer is filled with a pattern
//   around the frame, and the pattern must still be there outside the frame (or the reply the
//   director built in it), whether the packet was sent, held or freed;
// - every received packet ends in exactly one place: sent, held (for ARP or neighbor discovery,
//   or as a fragment before its first), or freed under a counted drop (or taken in as ARP or
//   neighbor discovery), and the counters say which; every packet the director builds (ARP
//   request, neighbor solicitation) is counted; nothing goes to a kernel mirror (there is none);
// - what goes out parses, in the family it came in (ARP as ARP), from the MAC of the port it
//   leaves by, no larger than that link's MTU unless it came in larger than its own link's;
// - a packet that came in with valid checksums goes out with valid checksums;
// - a packet is held only for the unresolved next hop its destination routes to; a neighbor the
//   control thread is told of is on the link of its port and not one of the director's addresses;
// - the tables hold connections to configured real servers of their service only (IPv6 ones of
//   IPv6 services), or FTP data connections to their control connection's server; each server's
//   active and inactive counts are its connections in the tables; connections created less those
//   ended are the tables' sizes; the table shares count them all; the FTP helper's states in use
//   are the live control connections'.
// IPv4:
// - a TCP or UDP packet that goes out is forwarded to a configured real server from a tracked
//   client, or to a tracked client from the VIP:port of its service, by the interface that
//   routes its destination; or it is the director's RST from a VIP port no service offers,
//   sent back by the port the refused packet came in by;
// - an ICMP packet that goes out answers its sender, or goes to a tracked client or real server;
// - a later fragment that goes out (no ports), after its burst or released from the hold, goes
//   between the ends of a tracked connection, by the route to its destination.
// IPv6:
// - a TCP or UDP packet that goes out is a tracked client's, to a real server of the service it
//   sent it to, or a real server's, to its tracked client from the VIP:port of the service (for
//   an FTP data connection, whose VIP port is no service's: its tracked real server's); by
//   the route to its destination, to the MAC of that route's next hop; nothing changed but that
//   address and port, the hop limit (one less) and the checksum; neither end link-local,
//   multicast, unspecified, loopback, IPv4-mapped or the director's (RFC 4291 2.5). Or it is the
//   director's RST from a VIP port no service offers, back to its sender by the port it came in;
//   a first fragment goes out as such a packet;
// - a later fragment that goes out (no ports), after its burst or released from the hold, goes
//   between the ends of a tracked connection, by the route to its destination, to the MAC of that
//   route's next hop; nothing changed but one address and the hop limit (one less);
// - an ICMPv6 error about a tracked connection goes out translated to the sender of the packet
//   it quotes (the client, from the VIP; the real server), by its route; the quote reads as that
//   end sent it; nothing changed but those addresses and ports, the hop limit and the checksums;
// - what the director answers goes back by the port it came in on to its sender's MAC and
//   address, a host's (all nodes for duplicate address detection): echo replies to requests for
//   its addresses with the request's data, neighbor advertisements for the address solicited (one
//   of its own or a VIP), port unreachables from the VIP about UDP and packet too big from its
//   address on the link, with an MTU below the packet's size, quoting the packet within 1,280
//   bytes; all but echo replies with valid checksums;
// - a neighbor solicitation the director builds asks, from its address on the link of the port
//   it leaves by, to the solicited-node group, for an unresolved neighbor on that link.
// After each input: with the clock far ahead, expiry empties both tables, held packets and
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

// ICMPv6 (RFC 4443 2.1, RFC 4861 4): the types the director sends or translates, and where the
// fields it reads are.
constexpr uint8_t kUnreachable6 = 1, kPacketTooBig = 2, kParameterProblem = 4, kEchoRequest6 = 128,
                  kEchoReply6 = 129, kSolicitation = 135, kAdvertisement = 136;
constexpr uint8_t kPortUnreachable6 = 4;
constexpr size_t kIcmp6Data = 4;  // after type, code and checksum: MTU, echo identifier
constexpr size_t kNdTarget = 8;
constexpr size_t kMinMtu6 = 1280;  // RFC 8200 5; an ICMPv6 error fits in it (RFC 4443 2.4(c))
constexpr uint8_t kNdHopLimit = 255;
constexpr Ipv6 kAllNodes = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};

void require(bool ok, const char* what) {
    if (!ok) {
        std::fprintf(stderr, "fuzz_pipeline: invariant violated: %s\n", what);
        std::abort();
    }
}

struct World {
    // Its pool serves the ARP requests and neighbor solicitations dp builds; its neighbor tables
    // (the gateways and real servers of both families resolved) stay as they are.
    test::PipelineHarness harness{kTableCapacity};
    // Received frames come from a pool of their own, so that the ones the pipeline frees are not
    // reused for an ARP request before check_untouched_outside looks at them.
    rte_mempool* rx_pool = nullptr;
    // Fresh for each input too: fragments' translations, the FTP helper's control states and
    // expected data connections, the unanswered connections the flood defence evicts.
    std::unique_ptr<FragmentTable> fragments;
    std::unique_ptr<FragmentTable6> fragments6;
    std::unique_ptr<FtpControlPool> ftp_controls;
    std::unique_ptr<ExpectationTable> expectations;
    std::unique_ptr<ExpectationTable6> expectations6;
    std::unique_ptr<UnansweredQueues> unanswered;
};
World* world = nullptr;

// A frame as it was handed to the pipeline.
struct Received {
    rte_mbuf* mbuf;
    uint16_t port;
    uint16_t data_off;
    std::vector<uint8_t> bytes;
    ParsedFrame parsed;    // of `bytes`
    bool checksums_valid;  // IPv4 TCP/UDP/ICMP or IPv6 TCP/UDP/ICMPv6, not a fragment, all right
};

// The connections of both tables, before and after a burst.
struct Tracked {
    std::vector<Conn> v4;
    std::vector<Conn6> v6;
};

// The frames whose checksums test::checksums_valid checks and recompute_checksums makes.
bool is_checksummed(const ParsedFrame& p) {
    if (p.fragment) {
        return false;
    }
    const uint8_t l4 = p.ip_protocol;
    const bool tcp_udp = l4 == ipv4::kProtoTcp || l4 == ipv4::kProtoUdp;
    return (p.kind == FrameKind::ipv4 && (tcp_udp || l4 == ipv4::kProtoIcmp)) ||
           (p.kind == FrameKind::ipv6 && (tcp_udp || l4 == ipv6::kProtoIcmpv6));
}

bool checksums_valid(const std::vector<uint8_t>& f) {
    return is_checksummed(parse_frame(f.data(), f.size())) && test::checksums_valid(f);
}

// What the mutations broke, repaired: the IPv4 header checksum, and the L4 one (IPv6: over the
// pseudo-header) where the packet has a whole L4 header.
void fix_checksums(std::vector<uint8_t>& f) {
    const ParsedFrame p = parse_frame(f.data(), f.size());
    if (is_checksummed(p)) {
        test::recompute_checksums(f);
    } else if (p.kind == FrameKind::ipv4) {
        uint8_t* ip = &f[p.l3_offset];
        store_u16_raw(ip + ipv4::kChecksum, 0);
        store_u16_raw(ip + ipv4::kChecksum,
                      ipv4_header_checksum(ip, static_cast<size_t>(p.l4_offset - p.l3_offset)));
    }
}

size_t ip_length(const ParsedFrame& p) {
    return static_cast<size_t>(p.ip_end - p.l3_offset);
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

// ---- IPv4 --------------------------------------------------------------------------------------

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

void check_sent4(const Snapshot& snap, const std::vector<Conn>& tracked, uint16_t port,
                 const std::vector<uint8_t>& out, const ParsedFrame& p, const Received& in) {
    const Endpoints e = endpoints_of(out, p);
    if (p.fragment && !p.first_fragment) {
        check_later_fragment(snap, tracked, e, port);
        return;
    }
    if (e.protocol == ipv4::kProtoTcp || e.protocol == ipv4::kProtoUdp) {
        check_tcp_udp_destination(snap, tracked, e, port, &in);
        return;
    }
    require(e.protocol == ipv4::kProtoIcmp, "only TCP, UDP and ICMP go out");
    const bool answers_sender = e.dst_ip == endpoints_of(in.bytes, in.parsed).src_ip;
    const bool to_tracked = std::any_of(tracked.begin(), tracked.end(), [&](const Conn& c) {
        return e.dst_ip == c.client_ip || e.dst_ip == c.rip;
    });
    require(answers_sender || to_tracked, "ICMP only to its sender or a tracked endpoint");
}

// ---- IPv6 --------------------------------------------------------------------------------------

bool is_multicast6(const Ipv6& a) {
    return a[0] == 0xff;
}

bool is_link_local6(const Ipv6& a) {
    return a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
}

// An address a host may have (RFC 4291 2.5: not multicast, unspecified, loopback or IPv4-mapped)
// and that is not the director's own: what the director answers, or forwards from and to.
bool is_host6(const Snapshot& snap, const Ipv6& a) {
    static constexpr Ipv6 kUnspecified{};
    static constexpr Ipv6 kLoopback{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
    static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return !is_multicast6(a) && a != kUnspecified && a != kLoopback &&
           std::memcmp(a.data(), kMappedPrefix, sizeof kMappedPrefix) != 0 && !snap.is_ours6(a);
}

// What a router forwards from one link to another: a host's address, not link-local (RFC 4291
// 2.5.6).
bool is_forwardable6(const Snapshot& snap, const Ipv6& a) {
    return is_host6(snap, a) && !is_link_local6(a);
}

bool on_link6(const InterfaceEntry& iface, const Ipv6& a) {
    return is_link_local6(a) || std::any_of(iface.addresses6.begin(), iface.addresses6.end(),
                                            [&](const Prefix6& p) { return p.holds(a); });
}

struct Endpoints6 {
    uint8_t protocol;
    Ipv6 src, dst;
    uint16_t src_port, dst_port;  // TCP and UDP
    uint8_t tcp_flags;
    uint8_t icmp_type;  // ICMPv6
    uint8_t hop_limit;
};

Endpoints6 endpoints6_of(const std::vector<uint8_t>& f, const ParsedFrame& p) {
    const uint8_t* ip = f.data() + p.l3_offset;
    const uint8_t* l4p = f.data() + p.l4_offset;
    const bool l4_header = !p.fragment || p.first_fragment;
    const bool tcp = p.ip_protocol == ipv4::kProtoTcp;
    Endpoints6 e{};
    e.protocol = p.ip_protocol;
    e.src = load_ipv6(ip + ipv6::kSrc);
    e.dst = load_ipv6(ip + ipv6::kDst);
    e.hop_limit = ip[ipv6::kHopLimit];
    if (l4_header && (tcp || p.ip_protocol == ipv4::kProtoUdp)) {
        e.src_port = load_u16_raw(l4p + l4::kSrcPort);
        e.dst_port = load_u16_raw(l4p + l4::kDstPort);
        e.tcp_flags = tcp ? p.tcp_flags : uint8_t{0};
    }
    if (l4_header && p.ip_protocol == ipv6::kProtoIcmpv6) {
        e.icmp_type = l4p[0];
    }
    return e;
}

bool serves6(const ServiceEntry& svc, const Ipv6& ip, uint16_t port) {
    return std::any_of(svc.servers.begin(), svc.servers.end(),
                       [&](const Destination& d) { return d.ip6 == ip && d.port == port; });
}

// A byte range of a frame.
struct Span {
    size_t at, len;
};

// Whether `out` is `in` but for the Ethernet addresses and the bytes in `may_change`.
bool same_but(const std::vector<uint8_t>& in, const std::vector<uint8_t>& out,
              const std::vector<Span>& may_change) {
    if (in.size() != out.size()) {
        return false;
    }
    std::vector<bool> free(in.size(), false);
    std::fill_n(free.begin(), std::min<size_t>(in.size(), 2 * 6), true);
    for (const Span& s : may_change) {
        for (size_t i = s.at; i < s.at + s.len && i < free.size(); ++i) {
            free[i] = true;
        }
    }
    for (size_t i = 0; i < in.size(); ++i) {
        if (!free[i] && in[i] != out[i]) {
            return false;
        }
    }
    return true;
}

size_t l4_checksum_at(uint8_t protocol) {
    return protocol == ipv4::kProtoTcp ? l4::kTcpChecksum : l4::kUdpChecksum;
}

// Whether `out` is `in` forwarded by NAT66: the hop limit one less, the source (or destination)
// address and port rewritten, the L4 checksum updated, and nothing else but the MACs changed.
bool nat66_of(const Received& in, const std::vector<uint8_t>& out, const ParsedFrame& p,
              bool source) {
    const ParsedFrame& q = in.parsed;
    if (q.kind != FrameKind::ipv6 || q.l3_offset != p.l3_offset || q.l4_offset != p.l4_offset ||
        q.ip_end != p.ip_end || q.ip_protocol != p.ip_protocol) {
        return false;
    }
    const size_t hop = p.l3_offset + ipv6::kHopLimit;
    return out[hop] + 1 == in.bytes[hop] &&
           same_but(in.bytes, out,
                    {{hop, 1},
                     {p.l3_offset + (source ? ipv6::kSrc : ipv6::kDst), ipv6::kAddressLen},
                     {p.l4_offset + (source ? l4::kSrcPort : l4::kDstPort), 2},
                     {p.l4_offset + l4_checksum_at(p.ip_protocol), 2}});
}

// A packet the director forwards: by the route to `dst`, to the MAC of that route's next hop.
void check_forwarded6(const WorkerContext& ctx, const Ipv6& dst, uint16_t port,
                      const std::vector<uint8_t>& out, const char* what) {
    Ipv6 next_hop{};
    const InterfaceEntry* route = ctx.snapshot->route6(dst, next_hop);
    require(route != nullptr && route->port_id == port, what);
    MacAddress mac{};
    require(ctx.neighbors6->lookup(port, next_hop, mac) &&
                std::equal(mac.begin(), mac.end(), out.begin() + eth::kDst),
            "IPv6: forwarded to the MAC of the next hop its destination routes to");
}

void check_tcp_udp6(const WorkerContext& ctx, const std::vector<Conn6>& tracked, uint16_t port,
                    const std::vector<uint8_t>& out, const ParsedFrame& p, const Endpoints6& e,
                    const Received& in, const Endpoints6& i) {
    const Snapshot& snap = *ctx.snapshot;
    const auto to_this_client = [&](const Conn6& c) {
        return c.protocol == e.protocol && c.vip == e.src && c.vport == e.src_port &&
               c.client_ip == e.dst && c.client_port == e.dst_port;
    };
    const bool to_client = std::any_of(tracked.begin(), tracked.end(), to_this_client);
    const ServiceEntry* from_service = snap.find_service6(e.protocol, e.src, e.src_port);
    if (to_client || from_service != nullptr) {
        require(to_client, "IPv6: from a VIP:port only to a tracked client");
        // Sent by a real server of the service (not necessarily the tracked connection's now: a
        // new SYN on a closed one may have replaced it within the burst), or by the tracked
        // connection's own server: an FTP data connection's VIP port is no service's (or
        // another's).
        const bool from_server =
            (from_service != nullptr && serves6(*from_service, i.src, i.src_port)) ||
            std::any_of(tracked.begin(), tracked.end(), [&](const Conn6& c) {
                return to_this_client(c) && c.rip == i.src && c.rport == i.src_port;
            });
        require(
            i.protocol == e.protocol && from_server && i.dst == e.dst && i.dst_port == e.dst_port,
            "IPv6: to a client only what a real server of the service sent it");
        require(is_forwardable6(snap, e.dst),
                "IPv6: forwarded only to a host address, not link-local");
        require(nat66_of(in, out, p, true),
                "IPv6: towards the client only the source address and port change, and the hop "
                "limit by one");
        check_forwarded6(ctx, e.dst, port, out, "IPv6: to the client by its route");
        return;
    }
    if (snap.is_vip6(e.src)) {
        require(in.port == port && e.protocol == ipv4::kProtoTcp &&
                    (e.tcp_flags & l4::kTcpRst) != 0 && i.protocol == ipv4::kProtoTcp &&
                    e.src == i.dst && e.src_port == i.dst_port && e.dst == i.src &&
                    e.dst_port == i.src_port,
                "IPv6: from a VIP port with no service only a RST, back to its sender");
        require(checksums_valid(out) && is_host6(snap, e.dst),
                "IPv6: the director's RST has valid checksums and goes to a host address");
        return;
    }
    // An FTP data connection, to a VIP port no service names, goes to its tracked real server.
    const bool data_connection = std::any_of(tracked.begin(), tracked.end(), [&](const Conn6& c) {
        return c.protocol == e.protocol && c.client_ip == e.src && c.client_port == e.src_port &&
               c.vip == i.dst && c.vport == i.dst_port && c.rip == e.dst && c.rport == e.dst_port;
    });
    const bool from_client = std::any_of(tracked.begin(), tracked.end(), [&](const Conn6& c) {
        const ServiceEntry* svc = snap.find_service6(c.protocol, c.vip, c.vport);
        return c.protocol == e.protocol && c.client_ip == e.src && c.client_port == e.src_port &&
               svc != nullptr && serves6(*svc, e.dst, e.dst_port);
    });
    require(from_client || data_connection,
            "IPv6: to a real server of its service only from a tracked client");
    const ServiceEntry* to_service = snap.find_service6(i.protocol, i.dst, i.dst_port);
    require(data_connection || (to_service != nullptr && serves6(*to_service, e.dst, e.dst_port)),
            "IPv6: to a real server only what was sent to the VIP:port of a service it serves");
    require(is_forwardable6(snap, e.src),
            "IPv6: forwarded only from a host address, not link-local");
    require(nat66_of(in, out, p, false),
            "IPv6: towards the real server only the destination address and port change, and "
            "the hop limit by one");
    check_forwarded6(ctx, e.dst, port, out, "IPv6: to the real server by its route");
}

// An ICMPv6 error about a tracked connection, translated (see the header).
void check_translated_error6(const WorkerContext& ctx, const std::vector<Conn6>& tracked,
                             uint16_t port, const std::vector<uint8_t>& out, const ParsedFrame& p,
                             const Endpoints6& e, const Received& in, const Endpoints6& i) {
    const Snapshot& snap = *ctx.snapshot;
    const ParsedFrame q = parse_ipv6(out.data(), p.ip_end, p.l4_offset + l4::kIcmpHeaderLen, true);
    require(q.kind == FrameKind::ipv6 && !q.fragment &&
                (q.ip_protocol == ipv4::kProtoTcp || q.ip_protocol == ipv4::kProtoUdp),
            "IPv6: a translated error quotes a TCP or UDP packet");
    const Endpoints6 quoted = endpoints6_of(out, q);
    require(e.icmp_type == i.icmp_type && e.dst == quoted.src,
            "IPv6: a translated error goes to the sender of the packet it quotes");
    require(is_forwardable6(snap, e.dst),
            "IPv6: an error is forwarded only to a host address, not link-local");
    // Towards the client it quotes the client's packet to the VIP:port, towards the real server
    // the real server's to the client.
    const bool towards_client =
        snap.find_service6(quoted.protocol, quoted.dst, quoted.dst_port) != nullptr;
    if (towards_client) {
        const bool of_tracked = std::any_of(tracked.begin(), tracked.end(), [&](const Conn6& c) {
            return c.protocol == quoted.protocol && c.client_ip == quoted.src &&
                   c.client_port == quoted.src_port && c.vip == quoted.dst &&
                   c.vport == quoted.dst_port;
        });
        require(of_tracked && e.src == quoted.dst,
                "IPv6: an error towards a client comes from the VIP and quotes its packet to the "
                "VIP:port of a tracked connection");
    } else {
        const bool of_tracked = std::any_of(tracked.begin(), tracked.end(), [&](const Conn6& c) {
            const ServiceEntry* svc = snap.find_service6(c.protocol, c.vip, c.vport);
            return c.protocol == quoted.protocol && c.client_ip == quoted.dst &&
                   c.client_port == quoted.dst_port && svc != nullptr &&
                   serves6(*svc, quoted.src, quoted.src_port);
        });
        require(of_tracked && e.src == i.src,
                "IPv6: an error towards a real server quotes its packet to a tracked client, "
                "from the error's sender");
        require(is_forwardable6(snap, e.src),
                "IPv6: an error is forwarded only from a host address, not link-local");
    }
    const size_t l3 = p.l3_offset, hop = l3 + ipv6::kHopLimit;
    std::vector<Span> may_change = {
        {hop, 1},
        {l3 + (towards_client ? ipv6::kSrc : ipv6::kDst), ipv6::kAddressLen},
        {p.l4_offset + l4::kIcmpChecksum, 2},
        {q.l3_offset + (towards_client ? ipv6::kDst : ipv6::kSrc), ipv6::kAddressLen},
        {q.l4_offset + (towards_client ? l4::kDstPort : l4::kSrcPort), 2}};
    const size_t quoted_checksum = q.l4_offset + l4_checksum_at(q.ip_protocol);
    if (quoted_checksum + 2 <= p.ip_end) {
        may_change.push_back({quoted_checksum, 2});
    }
    require(in.parsed.l3_offset == l3 && in.parsed.l4_offset == p.l4_offset &&
                in.parsed.ip_end == p.ip_end && out[hop] + 1 == in.bytes[hop] &&
                same_but(in.bytes, out, may_change),
            "IPv6: a translated error changes only the translated addresses and ports, the "
            "checksums, and the hop limit by one");
    check_forwarded6(ctx, e.dst, port, out, "IPv6: a translated error by its route");
}

// What the director answers to a packet of its own, built in its place (see the header).
void check_answer6(const WorkerContext& ctx, uint16_t port, const std::vector<uint8_t>& out,
                   const ParsedFrame& p, const Endpoints6& e, const Received& in,
                   const Endpoints6& i) {
    const Snapshot& snap = *ctx.snapshot;
    const uint8_t* icmp = out.data() + p.l4_offset;
    const uint8_t* in_icmp = in.bytes.data() + in.parsed.l4_offset;
    const bool dad = e.icmp_type == kAdvertisement && i.src == Ipv6{};
    const MacAddress all_nodes_mac = {0x33, 0x33, 0, 0, 0, 0x01};
    require(in.port == port &&
                (dad ? std::equal(all_nodes_mac.begin(), all_nodes_mac.end(), out.begin())
                     : std::equal(out.begin(), out.begin() + 6, in.bytes.begin() + eth::kSrc)),
            "IPv6: the director answers by the port a packet came in on, to its sender's MAC");
    require(dad ? e.dst == kAllNodes : e.dst == i.src && is_host6(snap, e.dst),
            "IPv6: the director answers a packet's sender, a host address (all nodes for "
            "duplicate address detection)");
    switch (e.icmp_type) {
        case kEchoReply6: {
            const size_t len = static_cast<size_t>(p.ip_end - p.l4_offset);
            require(i.protocol == ipv6::kProtoIcmpv6 && i.icmp_type == kEchoRequest6 &&
                        snap.answers_for6(i.dst) && e.src == i.dst,
                    "IPv6: an echo reply answers an echo request to the director, from the "
                    "address it asked");
            require(icmp[1] == 0 &&
                        len == static_cast<size_t>(in.parsed.ip_end - in.parsed.l4_offset) &&
                        std::equal(icmp + kIcmp6Data, icmp + len, in_icmp + kIcmp6Data),
                    "IPv6: an echo reply carries the request's identifier, sequence and data");
            return;
        }
        case kAdvertisement: {
            const Ipv6 target = load_ipv6(icmp + kNdTarget);
            require(i.protocol == ipv6::kProtoIcmpv6 && i.icmp_type == kSolicitation &&
                        target == load_ipv6(in_icmp + kNdTarget) && snap.is_ours6(target) &&
                        e.src == target,
                    "IPv6: an advertisement answers a solicitation for an address of the "
                    "director's, from it");
            require(e.hop_limit == kNdHopLimit && checksums_valid(out),
                    "IPv6: an advertisement has hop limit 255 and a valid checksum");
            return;
        }
        case kUnreachable6:
        case kPacketTooBig: {
            const bool too_big = e.icmp_type == kPacketTooBig;
            require(too_big ? snap.own_address6(e.src) == snap.interface_of_port(in.port)
                            : icmp[1] == kPortUnreachable6 && snap.is_vip6(e.src) &&
                                  i.protocol == ipv4::kProtoUdp && e.src == i.dst,
                    "IPv6: port unreachable about UDP from the VIP, packet too big from the "
                    "director's address on the link");
            const size_t quoted = static_cast<size_t>(p.ip_end - p.l4_offset) - l4::kIcmpHeaderLen;
            const size_t needed = std::min<size_t>(ip_length(in.parsed),
                                                   in.parsed.l4_offset + 8u - in.parsed.l3_offset);
            require(ip_length(p) <= kMinMtu6 && quoted >= needed &&
                        quoted <= ip_length(in.parsed) &&
                        std::equal(icmp + l4::kIcmpHeaderLen, icmp + l4::kIcmpHeaderLen + quoted,
                                   in.bytes.begin() + in.parsed.l3_offset) &&
                        checksums_valid(out),
                    "IPv6: an error quotes its packet, as much as 1,280 bytes hold, with a valid "
                    "checksum");
            if (too_big) {
                const uint32_t mtu = load_be32(icmp + kIcmp6Data);
                const bool a_links =
                    std::any_of(snap.interfaces.begin(), snap.interfaces.end(),
                                [mtu](const InterfaceEntry& iface) { return iface.mtu == mtu; });
                require(a_links && mtu < ip_length(in.parsed),
                        "IPv6: packet too big names a link's MTU, below the packet's size");
            }
            return;
        }
        default:
            require(false,
                    "IPv6: the director answers only with echo replies, neighbor advertisements, "
                    "port unreachables and packet too big (RSTs are TCP)");
    }
}

// A neighbor solicitation the director built, leaving by `iface`.
void check_solicitation(const WorkerContext& ctx, const InterfaceEntry& iface,
                        const std::vector<uint8_t>& out, const ParsedFrame& p) {
    require(p.ip_protocol == ipv6::kProtoIcmpv6 && !p.fragment &&
                out[p.l4_offset] == kSolicitation && p.l4_offset == p.l3_offset + ipv6::kHeaderLen,
            "a packet the director builds is an ARP request or a neighbor solicitation");
    const Endpoints6 e = endpoints6_of(out, p);
    const Ipv6 target = load_ipv6(out.data() + p.l4_offset + kNdTarget);
    Ipv6 group = {0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0xff};
    std::copy(target.begin() + 13, target.end(), group.begin() + 13);
    const MacAddress group_mac = {0x33, 0x33, 0xff, target[13], target[14], target[15]};
    require(e.hop_limit == kNdHopLimit && checksums_valid(out) &&
                ctx.snapshot->own_address6(e.src) == &iface && e.dst == group &&
                std::equal(group_mac.begin(), group_mac.end(), out.begin()),
            "IPv6: a solicitation from the director's address on the link, to the target's "
            "solicited-node group, hop limit 255, checksum valid");
    MacAddress mac{};
    require(on_link6(iface, target) && !ctx.snapshot->is_ours6(target) &&
                !ctx.neighbors6->lookup(iface.port_id, target, mac),
            "IPv6: a solicitation asks for an unresolved neighbor on the link");
}

// Where an IPv6 later fragment (no ports) may go: as its datagram's first did, so between the
// ends of a tracked connection, by the route to its destination.
void check_later_fragment6(const WorkerContext& ctx, const std::vector<Conn6>& tracked,
                           uint16_t port, const std::vector<uint8_t>& out, const ParsedFrame& p) {
    const Endpoints6 e = endpoints6_of(out, p);
    const bool between_ends = std::any_of(tracked.begin(), tracked.end(), [&](const Conn6& c) {
        return c.protocol == e.protocol && ((c.vip == e.src && c.client_ip == e.dst) ||
                                            (c.client_ip == e.src && c.rip == e.dst));
    });
    require(between_ends, "IPv6: a later fragment only between the ends of a tracked connection");
    check_forwarded6(ctx, e.dst, port, out, "IPv6: a later fragment by its route");
}

void check_sent6(const WorkerContext& ctx, const std::vector<Conn6>& tracked, uint16_t port,
                 const std::vector<uint8_t>& out, const ParsedFrame& p, const Received& in) {
    const Endpoints6 e = endpoints6_of(out, p);
    const Endpoints6 i = endpoints6_of(in.bytes, in.parsed);
    if (p.fragment && !p.first_fragment) {
        check_later_fragment6(ctx, tracked, port, out, p);
        const size_t hop = p.l3_offset + ipv6::kHopLimit;
        const size_t address = p.l3_offset + (e.src != i.src ? ipv6::kSrc : ipv6::kDst);
        require(in.parsed.l3_offset == p.l3_offset && out[hop] + 1 == in.bytes[hop] &&
                    same_but(in.bytes, out, {{hop, 1}, {address, ipv6::kAddressLen}}),
                "IPv6: a later fragment changes only one address, and the hop limit by one");
        return;
    }
    if (e.protocol == ipv4::kProtoTcp || e.protocol == ipv4::kProtoUdp) {
        check_tcp_udp6(ctx, tracked, port, out, p, e, in, i);
        return;
    }
    require(e.protocol == ipv6::kProtoIcmpv6, "IPv6: only TCP, UDP and ICMPv6 go out");
    const bool in_error = i.protocol == ipv6::kProtoIcmpv6 && !in.parsed.fragment &&
                          i.icmp_type >= kUnreachable6 && i.icmp_type <= kParameterProblem;
    if (in_error) {
        check_translated_error6(ctx, tracked, port, out, p, e, in, i);
    } else {
        check_answer6(ctx, port, out, p, e, in, i);
    }
}

// ---- Both --------------------------------------------------------------------------------------

void check_sent(const WorkerContext& ctx, const Tracked& tracked, uint16_t port,
                const std::vector<uint8_t>& out, const Received* in) {
    const Snapshot& snap = *ctx.snapshot;
    const ParsedFrame p = parse_frame(out.data(), out.size());
    const InterfaceEntry* iface = snap.interface_of_port(port);
    require(p.kind != FrameKind::drop, "what goes out parses");
    require(iface != nullptr &&
                std::equal(iface->mac.begin(), iface->mac.end(), out.begin() + eth::kSrc),
            "everything leaves from the MAC of the port it leaves by");
    if (in == nullptr) {  // built by the director from its own pool
        if (p.kind == FrameKind::ipv6) {
            check_solicitation(ctx, *iface, out, p);
            return;
        }
        require(p.kind == FrameKind::arp,
                "a packet the director builds is an ARP request or a neighbor solicitation");
        return;
    }
    require(p.kind == in->parsed.kind, "a packet goes out in the family it came in (ARP as ARP)");
    if (p.kind == FrameKind::arp) {
        return;
    }
    const InterfaceEntry* in_iface = snap.interface_of_port(in->port);
    require(ip_length(p) <= iface->mtu ||
                (in_iface != nullptr && ip_length(in->parsed) > in_iface->mtu),
            "nothing goes out larger than its link's MTU unless it came in larger than its own");
    if (in->checksums_valid) {
        require(checksums_valid(out), "valid checksums out when valid in");
    }
    if (p.kind == FrameKind::ipv6) {
        check_sent6(ctx, tracked.v6, port, out, p, *in);
    } else {
        check_sent4(snap, tracked.v4, port, out, p, *in);
    }
}

// The packets held in this burst (from `first` on): each for the unresolved next hop its
// destination routes to.
void check_held(const WorkerContext& ctx, uint16_t first) {
    const Snapshot& snap = *ctx.snapshot;
    for (uint16_t k = first; k < ctx.held.count; ++k) {
        const HoldQueue::Held& h = ctx.held.items[k];
        const auto* data = rte_pktmbuf_mtod(h.mbuf, const uint8_t*);
        const std::vector<uint8_t> f(data, data + h.mbuf->data_len);
        const ParsedFrame p = parse_frame(f.data(), f.size());
        MacAddress mac{};
        if (h.ipv6) {
            Ipv6 next_hop{};
            const InterfaceEntry* route =
                p.kind == FrameKind::ipv6
                    ? snap.route6(load_ipv6(f.data() + p.l3_offset + ipv6::kDst), next_hop)
                    : nullptr;
            require(route != nullptr && route->port_id == h.port_id && next_hop == h.next_hop6 &&
                        !ctx.neighbors6->lookup(h.port_id, h.next_hop6, mac),
                    "IPv6: held only for the unresolved next hop its destination routes to");
        } else {
            uint32_t next_hop = 0;
            const InterfaceEntry* route =
                p.kind == FrameKind::ipv4
                    ? snap.route(load_u32_raw(f.data() + p.l3_offset + ipv4::kDst), next_hop)
                    : nullptr;
            require(route != nullptr && route->port_id == h.port_id && next_hop == h.next_hop &&
                        !ctx.neighbors->lookup(h.port_id, h.next_hop, mac),
                    "held only for the unresolved next hop its destination routes to");
        }
    }
}

// What the burst told the control thread about neighbors: never one of the director's own
// addresses (whoever claims one), always on the link of its port.
void check_sightings(const WorkerContext& ctx) {
    const Snapshot& snap = *ctx.snapshot;
    for (uint16_t k = 0; k < ctx.sighting_count; ++k) {
        const NeighborSighting& s = ctx.sightings[k];
        const InterfaceEntry* iface = snap.interface_of_port(s.port_id);
        require(iface != nullptr, "a neighbor is reported on a port with an interface");
        if (s.ipv6) {
            require(on_link6(*iface, s.ip6) && !snap.is_ours6(s.ip6),
                    "IPv6: a neighbor reported is on the port's link and not the director's");
        } else {
            require(((s.ip ^ iface->address) & iface->netmask) == 0 && !snap.is_ours(s.ip),
                    "a neighbor reported is on the port's link and not the director's");
        }
    }
}

Tracked live_connections(const WorkerContext& ctx) {
    Tracked out;
    ctx.table->for_each([&](uint32_t, const Conn& c) { out.v4.push_back(c); });
    ctx.table6->for_each([&](uint32_t, const Conn6& c) { out.v6.push_back(c); });
    return out;
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

// The real server `dest_id` names among the services of one family, or null.
const Destination* server_of(const Snapshot& snap, uint16_t dest_id, bool ipv6) {
    for (const ServiceEntry& svc : snap.services) {
        for (const Destination& d : svc.servers) {
            if (svc.ipv6 == ipv6 && d.dest_id == dest_id) {
                return &d;
            }
        }
    }
    return nullptr;
}

// The tables against the snapshot, the per-server counters and the worker's counters.
void check_tables(const WorkerContext& ctx) {
    const Snapshot& snap = *ctx.snapshot;
    uint16_t max_id = 0;
    for_each_server(snap, [&](uint16_t id) { max_id = std::max(max_id, id); });
    std::vector<int64_t> active(max_id + 1u, 0), inactive(max_id + 1u, 0);
    auto count = [&](uint16_t dest_id, ConnState state) {
        ++(conn_state_is_active(state) ? active : inactive)[dest_id];
    };
    uint32_t helped = 0;
    ctx.table->for_each([&](uint32_t, const Conn& c) {
        helped += c.helper != FtpControlPool::kNone;
        // An FTP data connection goes to a port no service names: its server's address only.
        const Destination* d = server_of(snap, c.dest_id, false);
        const ServiceEntry* svc = snap.find_service(c.protocol, c.vip, c.vport);
        require(d != nullptr && d->ip == c.rip &&
                    (svc == nullptr ||
                     (!svc->ipv6 &&
                      std::any_of(svc->servers.begin(), svc->servers.end(),
                                  [&](const Destination& s) { return s.dest_id == c.dest_id; }))),
                "an IPv4 connection goes to a configured real server of its service");
        count(c.dest_id, c.state);
    });
    ctx.table6->for_each([&](uint32_t, const Conn6& c) {
        helped += c.helper != FtpControlPool::kNone;
        // An FTP data connection goes to a port no service names: its server's address only.
        const Destination* server = server_of(snap, c.dest_id, true);
        const ServiceEntry* svc = snap.find_service6(c.protocol, c.vip, c.vport);
        const bool configured =
            server != nullptr && server->ip6 == c.rip &&
            (svc == nullptr ||
             (svc->ipv6 &&
              std::any_of(svc->servers.begin(), svc->servers.end(), [&](const Destination& d) {
                  return d.dest_id == c.dest_id && d.ip6 == c.rip && d.port == c.rport;
              })));
        require(configured, "IPv6: a connection goes to a configured real server of its service");
        count(c.dest_id, c.state);
    });
    require(helped == ctx.ftp_controls->in_use(),
            "the FTP helper's states in use are the live control connections'");
    uint64_t created = 0;
    for_each_server(snap, [&](uint16_t id) {
        const DestCounters& d = ctx.dest_counters[id];
        require(d.active == active[id] && d.inactive == inactive[id],
                "per-server active and inactive counts are the tables' connections");
        created += d.connections;
    });
    const WorkerCounters& n = ctx.counters;
    require(created == n.connections_created, "every connection created is counted for its server");
    require(n.connections_created - n.connections_expired - n.connections_reused -
                    n.connections_evicted - n.connections_drained ==
                uint64_t{ctx.table->size()} + ctx.table6->size(),
            "connections created less those ended are the tables' sizes");
    require(ctx.shares.protocol[0] + ctx.shares.protocol[1] == ctx.table->size() &&
                ctx.shares6.protocol[0] + ctx.shares6.protocol[1] == ctx.table6->size(),
            "the table shares count every connection");
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
    Tracked tracked = live_connections(ctx);

    std::vector<rte_mbuf*> mbufs;
    for (const Received& r : burst) {
        mbufs.push_back(r.mbuf);
    }
    process_burst(ctx, mbufs.data(), static_cast<uint16_t>(mbufs.size()), now_ms);
    const Tracked after = live_connections(ctx);
    tracked.v4.insert(tracked.v4.end(), after.v4.begin(), after.v4.end());
    tracked.v6.insert(tracked.v6.end(), after.v6.begin(), after.v6.end());

    for (const Received& r : burst) {
        check_untouched_outside(r);
    }
    uint64_t sent_received = 0;
    uint64_t built = 0;
    for (uint16_t port = 0; port < kMaxPorts; ++port) {
        PacketBatch& batch = ctx.tx[port];
        for (uint16_t i = 0; i < batch.count; ++i) {
            rte_mbuf* m = batch.packets[i];
            require(m->port == port, "queued on the port it leaves by");
            const auto it = std::find_if(burst.begin(), burst.end(),
                                         [m](const Received& r) { return r.mbuf == m; });
            const Received* in = it == burst.end() ? nullptr : &*it;
            sent_received += in != nullptr;
            built += in == nullptr;
            const auto* data = rte_pktmbuf_mtod(m, const uint8_t*);
            check_sent(ctx, tracked, port, {data, data + m->data_len}, in);
            rte_pktmbuf_free(m);
        }
        batch.count = 0;
    }
    for (const PacketBatch& batch : ctx.punt) {
        require(batch.count == 0, "nothing goes to a kernel mirror: the snapshot has none");
    }
    check_held(ctx, held_before);
    check_sightings(ctx);
    ctx.sighting_count = 0;
    check_tables(ctx);

    const WorkerCounters& now = ctx.counters;
    auto delta = [&](uint64_t WorkerCounters::*field) { return now.*field - before.*field; };
    const uint64_t replies =
        delta(&WorkerCounters::arp_replies) + delta(&WorkerCounters::nd_advertisements_sent) +
        delta(&WorkerCounters::echo_replies) + delta(&WorkerCounters::resets_sent) +
        delta(&WorkerCounters::unreachables_sent) + delta(&WorkerCounters::frag_needed_sent) +
        delta(&WorkerCounters::packet_too_big_sent);
    require(sent_received == delta(&WorkerCounters::tx_packets) + replies,
            "every packet sent is counted as forwarded or as a reply");
    require(built == delta(&WorkerCounters::arp_requests) +
                         delta(&WorkerCounters::nd_solicitations_sent),
            "every packet the director builds is counted");
    // A refused connection counts no_service whether or not it is answered (rate_limited
    // instead when over the unreachables' rate), and a packet over the MTU over_mtu whether or
    // not fragmentation needed or packet too big answers it; no_mbuf counts an ARP request or
    // neighbor solicitation that could not be built.
    // Held: for ARP or neighbor discovery, or as a fragment before its first. A full fragment
    // hold gives up its oldest, an earlier burst's packet: its fragment_hold_full is not this
    // burst's.
    const uint64_t freed = burst.size() - sent_received - (ctx.held.count - held_before) -
                           (now.fragments_held - fragments_held_before);
    const uint64_t evicted = now.dropped(DropReason::fragment_hold_full) -
                             before.dropped(DropReason::fragment_hold_full);
    const uint64_t counted =
        total_drops(now) - total_drops(before) + delta(&WorkerCounters::arp_received) +
        delta(&WorkerCounters::arp_ignored) + delta(&WorkerCounters::nd_received) +
        delta(&WorkerCounters::nd_ignored) - delta(&WorkerCounters::resets_sent) -
        delta(&WorkerCounters::unreachables_sent) - delta(&WorkerCounters::frag_needed_sent) -
        delta(&WorkerCounters::packet_too_big_sent) -
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
    const Tracked tracked = live_connections(ctx);
    release_fragments(ctx, now_ms);
    for (uint16_t port = 0; port < kMaxPorts; ++port) {
        PacketBatch& batch = ctx.tx[port];
        for (uint16_t i = 0; i < batch.count; ++i) {
            rte_mbuf* m = batch.packets[i];
            const auto* data = rte_pktmbuf_mtod(m, const uint8_t*);
            const std::vector<uint8_t> out(data, data + m->data_len);
            const ParsedFrame p = parse_frame(out.data(), out.size());
            require(p.fragment && !p.first_fragment, "what a release sends is a later fragment");
            if (p.kind == FrameKind::ipv6) {
                check_later_fragment6(ctx, tracked.v6, port, out, p);
            } else {
                check_later_fragment(*ctx.snapshot, tracked.v4, endpoints_of(out, p), port);
            }
            rte_pktmbuf_free(m);
        }
        batch.count = 0;
    }
    expire_connections(ctx, now_ms, 64);
    check_tables(ctx);
}

// A fresh pair of tables, snapshot (schedulers start over) and worker state for each input, so
// that an input replays the same way alone.
void reset_worker() {
    test::PipelineHarness& h = world->harness;
    h.table.reset();
    h.table6.reset();
    std::string error;
    h.table = ConnTable::create("fuzz", kTableCapacity, SOCKET_ID_ANY, 0, &error);
    h.table6 = ConnTable6::create("fuzz6", kTableCapacity, SOCKET_ID_ANY, 0, &error);
    require(h.table != nullptr && h.table6 != nullptr, "connection tables created");
    h.snapshot = test::seed_snapshot();
    test::add_ftp6_service(*h.snapshot);
    h.snapshot->finalize(1);
    for_each_server(*h.snapshot, [&](uint16_t dest_id) { h.dest_counters[dest_id] = {}; });
    h.ctx = WorkerContext{};
    h.ctx.table = h.table.get();
    h.ctx.table6 = h.table6.get();
    h.ctx.snapshot = h.snapshot.get();
    h.ctx.neighbors = &h.neighbors;
    h.ctx.neighbors6 = &h.neighbors6;
    h.ctx.pool = h.pool;
    h.ctx.dest_counters = h.dest_counters.data();
    h.ctx.all_dest_counters = h.all_dest_counters;
    world->fragments = std::make_unique<FragmentTable>();
    h.ctx.fragments = world->fragments.get();
    world->fragments6 = std::make_unique<FragmentTable6>();
    h.ctx.fragments6 = world->fragments6.get();
    world->ftp_controls = std::make_unique<FtpControlPool>(kTableCapacity);
    h.ctx.ftp_controls = world->ftp_controls.get();
    world->expectations = std::make_unique<ExpectationTable>();
    h.ctx.expectations = world->expectations.get();
    world->expectations6 = std::make_unique<ExpectationTable6>();
    h.ctx.expectations6 = world->expectations6.get();
    world->unanswered = std::make_unique<UnansweredQueues>(4 * kTableCapacity);
    h.ctx.unanswered = world->unanswered.get();
}

void check_all_expire(uint32_t now_ms) {
    test::PipelineHarness& h = world->harness;
    const uint32_t later = now_ms + kClockSteps[7] + kClockSteps[6];
    release_held(h.ctx, later);
    require(h.ctx.held.count == 0, "held packets time out");
    release_fragments(h.ctx, later);
    require(h.ctx.fragment_hold.count == 0, "held fragments time out");
    expire_connections(h.ctx, later, UINT32_MAX);
    require(h.table->size() == 0 && h.table6->size() == 0, "every connection expires");
    check_tables(h.ctx);
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
        Received r{m, port, m->data_off, std::move(frame), {}, false};
        r.parsed = parse_frame(r.bytes.data(), r.bytes.size());
        r.checksums_valid = is_checksummed(r.parsed) && test::checksums_valid(r.bytes);
        burst.push_back(std::move(r));
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
