// The IPv6 path (NAT66) through the real pipeline, on the seed's scenario in IPv6: byte-exact
// fixtures like the IPv4 ones, every TCP state on the IPv6 table, neighbor discovery, ICMPv6.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <map>

#include "dp/bytes.hpp"
#include "dp/tcp_state.hpp"
#include "lab_fixture.hpp"

using namespace vsnat;
using namespace vsnat::dp;
using namespace vsnat::test;

namespace {

constexpr uint8_t FIN = 0x01, RST = 0x04;
constexpr uint8_t kIcmp6 = 58;

// A neighbor discovery message of `type` about `target` from `source` at `source_mac` to `to`
// at `to_mac`, with `flags` and a link-layer address option of `option` (1: source, 2: target)
// carrying `source_mac`.
std::vector<uint8_t> nd_message(uint8_t type, const std::string& source,
                                const MacAddress& source_mac, const std::string& to,
                                const MacAddress& to_mac, const std::string& target, uint8_t option,
                                uint8_t flags, uint8_t hop_limit) {
    const Ipv6 t = ip6_raw(target);
    PacketSpec s;
    s.src_ip = source;
    s.dst_ip = to;
    s.src_mac = source_mac;
    s.dst_mac = to_mac;
    s.protocol = kIcmp6;
    s.ttl = hop_limit;
    std::vector<uint8_t> upper(8 + 16 + 8, 0);
    upper[0] = type;
    upper[4] = flags;
    std::copy(t.begin(), t.end(), upper.begin() + 8);
    upper[24] = option;  // 8 bytes
    upper[25] = 1;
    std::copy(source_mac.begin(), source_mac.end(), upper.begin() + 26);
    std::vector<uint8_t> frame = build_ipv6_frame(s, upper);
    recompute_checksums(frame);
    return frame;
}

// A neighbor solicitation for `target` from `source` at `source_mac`, to the target's
// solicited-node multicast address, with a source link-layer address option.
std::vector<uint8_t> solicitation(const std::string& source, const MacAddress& source_mac,
                                  const std::string& target, uint8_t hop_limit = 255) {
    const Ipv6 t = ip6_raw(target);
    const std::string solicited_node =
        "ff02::1:ff" +
        format_ip(Ipv6{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, t[13], t[14], t[15]}).substr(2);
    return nd_message(135, source, source_mac, solicited_node,
                      {0x33, 0x33, 0xff, t[13], t[14], t[15]}, target, 1, 0, hop_limit);
}

// An unsolicited advertisement (override flag) of `target` at `mac` to all nodes, from a
// link-local address, as a director that takes an address over sends it.
std::vector<uint8_t> advertisement(const std::string& target, const MacAddress& mac) {
    return nd_message(136, "fe80::99", mac, "ff02::1", {0x33, 0x33, 0, 0, 0, 1}, target, 2, 0x20,
                      255);
}

// The ICMPv6 header of a sent frame (no extension headers in what the director sends).
const uint8_t* icmp6_of(const std::vector<uint8_t>& frame) {
    return frame.data() + 14 + 40;
}

Ipv6 address_at(const std::vector<uint8_t>& frame, size_t offset) {
    return load_ipv6(frame.data() + offset);
}

}  // namespace

TEST_CASE("IPv6: the seed's example, byte for byte: in to [::3]:8000, reply out from the VIP") {
    PipelineHarness h;
    PacketSpec syn = client_packet6(6, SYN);
    syn.payload = {'h', 'i', '!'};  // odd length on purpose
    h.run({build_packet(syn)});
    REQUIRE(h.sent.size() == 1);
    CHECK(h.sent[0].port == kInsidePort);
    CHECK(h.sent[0].bytes == expected(syn, kClient6, 3456, kRs2Ip6, 8000, kInsideMac, kRs2Mac));
    CHECK(checksums_valid(h.sent[0].bytes));

    PacketSpec reply = server_packet6(6, kRs2Ip6, 8000, SYN | ACK);
    reply.payload = {1, 2, 3, 4, 5};
    h.run({build_packet(reply)});
    REQUIRE(h.sent.size() == 2);
    CHECK(h.sent[1].port == kOutsidePort);
    CHECK(h.sent[1].bytes == expected(reply, kVip6, 80, kClient6, 3456, kOutsideMac, kGatewayMac));
    CHECK(checksums_valid(h.sent[1].bytes));
    CHECK(h.table6->size() == 1);
    CHECK(h.table->size() == 0);
    CHECK(h.ctx.counters.connections_created == 1);
}

TEST_CASE("IPv6: wrr 1:2 over new connections; later packets follow their connection") {
    PipelineHarness h;
    std::vector<std::vector<uint8_t>> syns;
    for (uint16_t port = 1000; port < 1030; ++port) {
        syns.push_back(build_packet(client_packet6(6, SYN, 80, port)));
    }
    h.run(syns);
    REQUIRE(h.sent.size() == 30);
    std::map<uint16_t, std::string> server_of;
    int to_rs1 = 0;
    for (const auto& s : h.sent) {
        const PacketFields f = read_fields(s.bytes);
        REQUIRE(f.ipv6);
        server_of[f.src_port] = format_ip(f.dst_ip6);
        to_rs1 += format_ip(f.dst_ip6) == kRs1Ip6;
        CHECK(f.ttl == 63);
    }
    CHECK(to_rs1 == 10);
    h.sent.clear();
    std::vector<std::vector<uint8_t>> acks;
    for (uint16_t port = 1000; port < 1030; ++port) {
        acks.push_back(build_packet(client_packet6(6, ACK, 80, port)));
    }
    h.run(acks);
    REQUIRE(h.sent.size() == 30);
    for (const auto& s : h.sent) {
        const PacketFields f = read_fields(s.bytes);
        CHECK(format_ip(f.dst_ip6) == server_of[f.src_port]);
    }
}

TEST_CASE("IPv6: a connection's TCP states, handshake to close, as the IPv4 machine moves") {
    PipelineHarness h;
    auto state = [&] {
        ConnState s = ConnState::count_;
        h.table6->for_each([&](uint32_t, const Conn6& c) { s = c.state; });
        return s;
    };
    struct Step {
        Direction from;
        uint8_t flags;
    };
    const Step steps[] = {{Direction::from_client, SYN},       {Direction::from_server, SYN | ACK},
                          {Direction::from_client, ACK},       {Direction::from_client, ACK},
                          {Direction::from_client, FIN | ACK}, {Direction::from_server, ACK},
                          {Direction::from_server, FIN | ACK}, {Direction::from_client, ACK}};
    ConnState model = ConnState::none;
    bool was_established = false;
    for (const Step& step : steps) {
        h.run({build_packet(step.from == Direction::from_client
                                ? client_packet6(6, step.flags)
                                : server_packet6(6, kRs2Ip6, 8000, step.flags))});
        model = tcp_next_state(model, step.from, step.flags);
        INFO("flags " << int(step.flags));
        CHECK(state() == model);
        CHECK(h.dest_counters[6].active + h.dest_counters[6].inactive == 1);
        was_established |= model == ConnState::established;
    }
    CHECK(was_established);
    CHECK(model != ConnState::established);
    CHECK(h.sent.size() == std::size(steps));
    // Past the last state's timeout the connection is gone, and its counts with it.
    CHECK(expire_connections(h.ctx, 1000 * 1000, UINT32_MAX) == 1);
    CHECK(h.table6->size() == 0);
    CHECK(h.dest_counters[6].active + h.dest_counters[6].inactive == 0);
}

TEST_CASE("IPv6: a reset ends the connection; a new SYN on a finished one is scheduled afresh") {
    PipelineHarness h;
    h.run({build_packet(client_packet6(6, SYN))});
    h.run({build_packet(server_packet6(6, kRs2Ip6, 8000, RST))});
    ConnState s = ConnState::none;
    h.table6->for_each([&](uint32_t, const Conn6& c) { s = c.state; });
    CHECK(s == ConnState::close);
    CHECK(h.dest_counters[6].syn_refused == 1);
    h.run({build_packet(client_packet6(6, SYN))});
    CHECK(h.ctx.counters.connections_reused == 1);
    CHECK(h.sent.size() == 3);
}

TEST_CASE("IPv6: UDP round robin over both servers, answers from the VIP") {
    PipelineHarness h;
    h.run({build_packet(client_packet6(17, 0, 53, 5000)),
           build_packet(client_packet6(17, 0, 53, 5001))});
    REQUIRE(h.sent.size() == 2);
    CHECK(format_ip(read_fields(h.sent[0].bytes).dst_ip6) !=
          format_ip(read_fields(h.sent[1].bytes).dst_ip6));
    h.run({build_packet(server_packet6(17, kRs1Ip6, 53, 0, 5000)),
           build_packet(server_packet6(17, kRs2Ip6, 53, 0, 5001))});
    REQUIRE(h.sent.size() == 4);
    for (size_t i = 2; i < 4; ++i) {
        const PacketFields f = read_fields(h.sent[i].bytes);
        CHECK(format_ip(f.src_ip6) == kVip6);
        CHECK(f.src_port == 53);
        CHECK(checksums_valid(h.sent[i].bytes));
    }
    // A UDP checksum of 0 is refused over IPv6 (RFC 8200 8.1).
    PacketSpec bare = client_packet6(17, 0, 53, 5002);
    bare.udp_checksum = false;
    h.run({build_packet(bare)});
    CHECK(h.sent.size() == 4);
    CHECK(dropped(h, DropReason::bad_l4_header) == 1);
}

TEST_CASE("IPv6: neighbor solicitations for the VIP and own addresses are answered") {
    PipelineHarness h;
    const MacAddress client_mac = kGatewayMac;
    for (const std::string& target : {kVip6, kOutsideIp6}) {
        INFO(target);
        h.sent.clear();
        h.run({solicitation(kGateway6, client_mac, target)});
        REQUIRE(h.sent.size() == 1);
        const std::vector<uint8_t>& na = h.sent[0].bytes;
        CHECK(h.sent[0].port == kOutsidePort);
        CHECK(checksums_valid(na));
        CHECK(std::equal(client_mac.begin(), client_mac.end(), na.begin()));
        CHECK(icmp6_of(na)[0] == 136);
        CHECK(address_at(na, 14 + 40 + 8) == ip6_raw(target));
        CHECK(address_at(na, 14 + 24) == ip6_raw(kGateway6));
        CHECK(std::equal(kOutsideMac.begin(), kOutsideMac.end(), icmp6_of(na) + 24 + 2));
    }
    CHECK(h.ctx.counters.nd_advertisements_sent == 2);
    // Not ours: not answered. The inside address asked on the outside link: not answered.
    h.sent.clear();
    h.run({solicitation(kGateway6, client_mac, "2001:2:0:18::77"),
           solicitation(kGateway6, client_mac, kInsideIp6)});
    CHECK(h.sent.empty());
    // RFC 4861 7.1.1: a hop limit below 255 is not from the link.
    h.run({solicitation(kGateway6, client_mac, kVip6, 64)});
    CHECK(h.sent.empty());
    CHECK(dropped(h, DropReason::bad_nd) == 1);
}

TEST_CASE("IPv6: an unresolved next hop is solicited, its packets held until it answers") {
    PipelineHarness h;
    h.neighbors6.erase(kInsidePort, ip6_raw(kRs2Ip6));
    h.run({build_packet(client_packet6(6, SYN))});
    REQUIRE(h.sent.size() == 1);  // the solicitation, not the SYN
    const std::vector<uint8_t>& ns = h.sent[0].bytes;
    CHECK(h.sent[0].port == kInsidePort);
    CHECK(icmp6_of(ns)[0] == 135);
    CHECK(address_at(ns, 14 + 40 + 8) == ip6_raw(kRs2Ip6));
    CHECK(address_at(ns, 14 + 8) == ip6_raw(kInsideIp6));
    CHECK(h.ctx.held.count == 1);
    REQUIRE(h.sightings.size() == 1);
    CHECK(h.sightings[0].ipv6);
    CHECK(h.sightings[0].kind == NeighborSighting::Kind::asked);
    h.neighbors6.set(kInsidePort, ip6_raw(kRs2Ip6), kRs2Mac);
    h.sent.clear();
    release_held(h.ctx, 10);
    h.run({});
    REQUIRE(h.sent.size() == 1);
    CHECK(format_ip(read_fields(h.sent[0].bytes).dst_ip6) == kRs2Ip6);
}

TEST_CASE("IPv6: echo requests to the VIP and own addresses are answered") {
    PipelineHarness h;
    for (const std::string& to : {kVip6, kOutsideIp6}) {
        PacketSpec ping = client_packet6(kIcmp6);
        ping.dst_ip = to;
        ping.payload = {1, 2, 3};
        h.run({build_packet(ping)});
    }
    REQUIRE(h.sent.size() == 2);
    for (const auto& s : h.sent) {
        CHECK(icmp6_of(s.bytes)[0] == 129);
        CHECK(checksums_valid(s.bytes));
        CHECK(format_ip(read_fields(s.bytes).dst_ip6) == kClient6);
    }
    CHECK(h.ctx.counters.echo_replies == 2);
}

TEST_CASE("IPv6: a VIP port without service is refused at once: RST, port unreachable") {
    PipelineHarness h;
    h.run({build_packet(client_packet6(6, SYN, 81)), build_packet(client_packet6(17, 0, 54))});
    REQUIRE(h.sent.size() == 2);
    const PacketFields rst = read_fields(h.sent[0].bytes);
    CHECK(format_ip(rst.src_ip6) == kVip6);
    CHECK((h.sent[0].bytes[14 + 40 + 13] & RST) != 0);
    CHECK(checksums_valid(h.sent[0].bytes));
    CHECK(icmp6_of(h.sent[1].bytes)[0] == 1);
    CHECK(icmp6_of(h.sent[1].bytes)[1] == 4);
    CHECK(checksums_valid(h.sent[1].bytes));
    CHECK(dropped(h, DropReason::no_service) == 2);
}

TEST_CASE("IPv6: larger than the egress link: packet too big to the sender, with the link's MTU") {
    PipelineHarness h;
    h.snapshot->interfaces[1].mtu = 1280;
    h.snapshot->finalize(1);
    h.run({build_packet(client_packet6(6, SYN))});
    REQUIRE(h.sent.size() == 1);
    PacketSpec big = client_packet6(6, ACK);
    big.payload.assign(1300, 7);
    h.run({build_packet(big)});
    REQUIRE(h.sent.size() == 2);
    const std::vector<uint8_t>& ptb = h.sent[1].bytes;
    CHECK(h.sent[1].port == kOutsidePort);
    CHECK(icmp6_of(ptb)[0] == 2);
    CHECK(load_be32(icmp6_of(ptb) + 4) == 1280);
    CHECK(format_ip(read_fields(ptb).dst_ip6) == kClient6);
    CHECK(ptb.size() <= 14 + 1280u);
    CHECK(checksums_valid(ptb));
    CHECK(h.ctx.counters.packet_too_big_sent == 1);
}

TEST_CASE("IPv6: a packet too big from the real server's path reaches the client from the VIP") {
    PipelineHarness h;
    h.run({build_packet(client_packet6(6, SYN))});
    REQUIRE(h.sent.size() == 1);
    // A router on the inside answers the SYN the director sent to [::3]:8000.
    std::vector<uint8_t> quoted(h.sent[0].bytes.begin() + 14, h.sent[0].bytes.end());
    PacketSpec s = server_packet6(kIcmp6, kRs2Ip6, 0);
    s.src_ip = "2001:2:0:19::99";
    s.src_mac = kRs2Mac;
    s.dst_ip = format_ip(read_fields(h.sent[0].bytes).src_ip6);  // the client, untranslated
    std::vector<uint8_t> upper(8 + quoted.size(), 0);
    upper[0] = 2;     // packet too big
    upper[6] = 0x05;  // MTU 1280
    std::copy(quoted.begin(), quoted.end(), upper.begin() + 8);
    std::vector<uint8_t> frame = build_ipv6_frame(s, upper);
    recompute_checksums(frame);
    h.run({frame});
    REQUIRE(h.sent.size() == 2);
    const std::vector<uint8_t>& out = h.sent[1].bytes;
    CHECK(h.sent[1].port == kOutsidePort);
    CHECK(format_ip(read_fields(out).dst_ip6) == kClient6);
    CHECK(checksums_valid(out));
    // The quoted packet now reads as the client's SYN to the VIP.
    CHECK(address_at(out, 14 + 40 + 8 + 24) == ip6_raw(kVip6));
    CHECK(load_be16(out.data() + 14 + 40 + 8 + 40 + 2) == 80);
    CHECK(h.ctx.counters.icmp_errors_translated == 1);

    // The same error addressed to another host than the client is forged: not sent on from
    // the VIP.
    s.dst_ip = "2001:2:0:1::99";
    frame = build_ipv6_frame(s, upper);
    recompute_checksums(frame);
    h.run({frame});
    CHECK(h.sent.size() == 2);
    CHECK(dropped(h, DropReason::icmp_untracked) == 1);
}

TEST_CASE("IPv6: what must not be forwarded is dropped under its reason") {
    PipelineHarness h;
    PacketSpec last_hop = client_packet6(6, SYN);
    last_hop.ttl = 1;
    PacketSpec multicast_source = client_packet6(6, SYN);
    multicast_source.src_ip = "ff02::1";
    PacketSpec routed = client_packet6(6, SYN);
    routed.ipv6_extensions = {ipv6_routing("2001:2:0:19::9", 1)};
    PacketSpec fragment = client_packet6(17, 0, 53);
    fragment.payload.assign(3000, 1);
    auto pieces = ipv6_fragments(build_packet(fragment), {0, 1448});
    h.run(
        {build_packet(last_hop), build_packet(multicast_source), build_packet(routed), pieces[1]});
    CHECK(h.sent.empty());
    CHECK(dropped(h, DropReason::ttl_expired) == 1);
    CHECK(dropped(h, DropReason::bad_source) == 1);
    CHECK(dropped(h, DropReason::bad_extension_header) == 1);
    CHECK(dropped(h, DropReason::ip_fragment) == 1);
    CHECK(h.table6->size() == 0);
}

TEST_CASE(
    "IPv6: a SYN flood never fills the IPv6 table; a new connection replaces a half-open one") {
    PipelineHarness h(64);
    h.snapshot->protocol_share_percent = 100;  // one client fills the table: no shares
    h.snapshot->prefix_share_percent = 100;
    std::vector<std::vector<uint8_t>> flood;
    for (uint16_t port = 1000; port < 1200; ++port) {
        flood.push_back(build_packet(client_packet6(6, SYN, 80, port)));
    }
    for (size_t i = 0; i < flood.size(); i += 32) {
        h.run({flood.begin() + static_cast<long>(i),
               flood.begin() + static_cast<long>(std::min(i + 32, flood.size()))});
    }
    CHECK(h.table6->size() == 60);  // from 15/16 full on, each SYN takes a half-open one's place
    CHECK(h.ctx.counters.connections_evicted == 140);
    CHECK(dropped(h, DropReason::table_full) == 0);
    CHECK(h.sent.size() == 200);
    // The newest 60 are the ones left.
    h.run({build_packet(client_packet6(6, ACK, 80, 1199)),
           build_packet(client_packet6(6, ACK, 80, 1100))});
    CHECK(h.sent.size() == 201);
    CHECK(dropped(h, DropReason::no_connection) == 1);
    CHECK(h.table->size() == 0);
}

TEST_CASE("IPv6: over its protocol's share, a UDP flood gives up its own unanswered entries") {
    PipelineHarness h(64);
    h.snapshot->prefix_share_percent = 100;
    h.snapshot->protocol_share_percent = 50;  // 32 of 64 for each protocol
    std::vector<std::vector<uint8_t>> flood;
    for (uint16_t port = 3000; port < 3100; ++port) {
        flood.push_back(build_packet(client_packet6(17, 0, 53, port)));
    }
    for (size_t i = 0; i < flood.size(); i += 32) {
        h.run({flood.begin() + static_cast<long>(i),
               flood.begin() + static_cast<long>(std::min(i + 32, flood.size()))});
    }
    CHECK(h.table6->size() == 32);
    CHECK(h.ctx.counters.connections_evicted == 68);
    CHECK(dropped(h, DropReason::protocol_share) == 0);
    // TCP's share is untouched by it.
    h.run({build_packet(client_packet6(6, SYN, 80, 4000))});
    CHECK(h.table6->size() == 33);
}

namespace {

// The seed's snapshot with the IPv6 web service (rs1 [::2]:80 weight 1, rs2 [::3]:8000 weight 2)
// scheduled by `kind`.
std::unique_ptr<Snapshot> web6_by(SchedulerKind kind) {
    auto snap = seed_snapshot();
    for (ServiceEntry& s : snap->services) {
        if (s.ipv6 && s.protocol == 6) {
            s.scheduler = kind;
        }
    }
    return snap;
}

// Opens `n` connections (SYNs from ports `first`...) through a group of two workers; returns
// how many reached each IPv6 real server, rs1 then rs2.
std::pair<int, int> open6(WorkerGroup& g, int n, uint16_t first) {
    const size_t before = g.sent.size();
    for (int i = 0; i < n; ++i) {
        g.run({build_packet(client_packet6(6, SYN, 80, static_cast<uint16_t>(first + i)))});
    }
    int rs1 = 0, rs2 = 0;
    for (size_t i = before; i < g.sent.size(); ++i) {
        const PacketFields f = read_fields(g.sent[i].bytes);
        rs1 += f.ipv6 && format_ip(f.dst_ip6) == kRs1Ip6;
        rs2 += f.ipv6 && format_ip(f.dst_ip6) == kRs2Ip6;
    }
    return {rs1, rs2};
}

}  // namespace

TEST_CASE("IPv6: every scheduler picks among the IPv6 servers, across two workers") {
    struct Want {
        SchedulerKind kind;
        const char* name;
        int rs1_min, rs1_max;  // of 60 connections from one client address
    };
    const Want wants[] = {
        {SchedulerKind::rr, "rr", 28, 32},
        {SchedulerKind::wrr, "wrr", 18, 22},
        {SchedulerKind::lc, "lc", 28, 32},
        {SchedulerKind::wlc, "wlc", 18, 22},
        // Half-open connections are not active ones: sed's (active + 1) / weight always
        // favours rs2, nq's first idle server is always rs1; fo takes the heaviest server.
        {SchedulerKind::sed, "sed", 0, 0},
        {SchedulerKind::nq, "nq", 60, 60},
        {SchedulerKind::fo, "fo", 0, 0},
        // Hashing the one client address (sh, mh) or the one VIP (dh): one server for all.
        {SchedulerKind::sh, "sh", 0, 60},
        {SchedulerKind::dh, "dh", 0, 60},
        {SchedulerKind::mh, "mh", 0, 60},
    };
    for (const Want& w : wants) {
        INFO(w.name);
        WorkerGroup g(web6_by(w.kind), 2);
        const auto [rs1, rs2] = open6(g, 60, 20000);
        CHECK(rs1 + rs2 == 60);
        CHECK(rs1 >= w.rs1_min);
        CHECK(rs1 <= w.rs1_max);
        if (w.kind == SchedulerKind::sh || w.kind == SchedulerKind::dh ||
            w.kind == SchedulerKind::mh) {
            CHECK((rs1 == 60 || rs2 == 60));
        }
        CHECK(g.counter(&WorkerCounters::connections_created) == 60);
    }
}

TEST_CASE("IPv6: thresholds: a server at max_connections gets no more") {
    auto limited = web6_by(SchedulerKind::wrr);
    for (ServiceEntry& s : limited->services) {
        if (s.ipv6 && s.protocol == 6) {
            s.servers[1].max_connections = 3;  // rs2, weight 2
            s.servers[1].min_connections = 1;
        }
    }
    WorkerGroup g(std::move(limited), 2);
    const auto [rs1, rs2] = open6(g, 12, 21000);
    CHECK(rs2 == 3);
    CHECK(rs1 == 9);
}

// ---- persistence across workers (WorkerGroup) ---------------------------------------------

namespace {

constexpr uint32_t kFiveMinutes = 300000;
constexpr size_t kWeb6 = 3;  // the seed snapshot's IPv6 web service

// The seed's snapshot with web6 ([::2]:80 weight 1, [::3]:8000 weight 2) scheduled round robin,
// with `persistence_ms` and the client prefix length `prefix`.
std::unique_ptr<Snapshot> web6(uint32_t persistence_ms, uint8_t prefix = 128) {
    auto snap = seed_snapshot();
    snap->services[kWeb6].scheduler = SchedulerKind::rr;
    snap->services[kWeb6].persistence_ms = persistence_ms;
    snap->services[kWeb6].persistence_mask6 = prefix6_netmask(prefix);
    return snap;
}

// A SYN from IPv6 client `address`:`port` to web6.
std::vector<uint8_t> syn_from(const std::string& address, uint16_t port) {
    PacketSpec s = client_packet6(6, SYN, 80, port);
    s.src_ip = address;
    return build_packet(s);
}

// The real server each packet the group sent to the inside went to, in order.
std::vector<std::string> servers_reached(const WorkerGroup& g, size_t from = 0) {
    std::vector<std::string> out;
    for (size_t i = from; i < g.sent.size(); ++i) {
        if (g.sent[i].port == kInsidePort) {
            out.push_back(format_ip(read_fields(g.sent[i].bytes).dst_ip6));
        }
    }
    return out;
}

size_t count_of(const std::vector<std::string>& v, const std::string& s) {
    return static_cast<size_t>(std::count(v.begin(), v.end(), s));
}

}  // namespace

TEST_CASE("IPv6 persistence: 100 connections from one address reach one server on both workers") {
    std::vector<std::vector<uint8_t>> syns;
    for (uint16_t port = 10000; port < 10100; ++port) {
        syns.push_back(syn_from(kClient6, port));
    }
    // rr alternates servers, so without persistence both are reached: the control.
    WorkerGroup plain(web6(0), 2);
    plain.run(syns, 1000);
    const auto spread = servers_reached(plain);
    CHECK(count_of(spread, kRs1Ip6) > 20);
    CHECK(count_of(spread, kRs2Ip6) > 20);

    WorkerGroup g(web6(kFiveMinutes), 2);
    g.run(syns, 1000);
    const auto reached = servers_reached(g);
    REQUIRE(reached.size() == 100);
    CHECK(count_of(reached, reached[0]) == 100);
    // Both workers own a good share of the client's connections.
    CHECK(std::count(g.handled_by.begin(), g.handled_by.end(), 0u) > 20);
    CHECK(std::count(g.handled_by.begin(), g.handled_by.end(), 1u) > 20);
    CHECK(g.persistence6->live(1000) == 1);
    CHECK(g.persistence->live(1000) == 0);  // IPv4's table is not involved
    CHECK(g.counter(&WorkerCounters::persistence_hits) == 99);
    CHECK(g.counter(&WorkerCounters::persistence_unrecorded) == 0);
}

TEST_CASE("IPv6 persistence: each address its own template; a /64 netmask groups them") {
    // 16 clients of one /64, 10 connections each.
    std::vector<std::vector<uint8_t>> syns;
    for (uint16_t round = 0; round < 10; ++round) {
        for (int host = 1; host <= 16; ++host) {
            syns.push_back(syn_from("2001:2:0:1::" + std::to_string(host),
                                    static_cast<uint16_t>(20000 + round)));
        }
    }
    WorkerGroup g(web6(kFiveMinutes), 2);  // /128, the default
    g.run(syns, 0);
    const auto reached = servers_reached(g);
    REQUIRE(reached.size() == 160);
    for (size_t host = 0; host < 16; ++host) {
        INFO("client 2001:2:0:1::" << host + 1);
        for (size_t round = 1; round < 10; ++round) {
            CHECK(reached[round * 16 + host] == reached[host]);
        }
    }
    CHECK(count_of(reached, kRs1Ip6) >= 30);
    CHECK(count_of(reached, kRs2Ip6) >= 30);
    CHECK(g.persistence6->live(0) == 16);

    // persistence_netmask /64: one template for the whole /64, another for the next one.
    WorkerGroup m(web6(kFiveMinutes, 64), 2);
    m.run(syns, 0);
    const auto one = servers_reached(m);
    REQUIRE(one.size() == 160);
    CHECK(count_of(one, one[0]) == 160);
    CHECK(m.persistence6->live(0) == 1);
    m.run({syn_from("2001:2:0:2::1", 30000), syn_from("2001:2:0:2:ffff::9", 30001)}, 0);
    const auto next = servers_reached(m, 160);
    REQUIRE(next.size() == 2);
    CHECK(next[0] == next[1]);
    CHECK(m.persistence6->live(0) == 2);
    CHECK(m.counter(&WorkerCounters::persistence_hits) == 159 + 1);
}

TEST_CASE(
    "IPv6 persistence: the template outlives the last connection by the timeout; a quiesced "
    "server keeps its persistent client") {
    WorkerGroup g(web6(kFiveMinutes), 2);
    auto connect = [&g](uint16_t port, uint32_t at) {
        const size_t before = g.sent.size();
        g.run({syn_from(kClient6, port)}, at);
        const auto r = servers_reached(g, before);
        REQUIRE(r.size() == 1);
        return r[0];
    };
    auto reset_by_server = [&g](const std::string& server, uint16_t port, uint32_t at) {
        g.run({build_packet(
                  server_packet6(6, server, server == kRs1Ip6 ? 80 : 8000, RST | ACK, port))},
              at);
    };
    // One connection, reset by the server: CLOSE for 10 s, then gone.
    const std::string first = connect(30000, 0);
    reset_by_server(first, 30000, 10);
    g.expire(10200);
    REQUIRE(g.workers[0]->table6->size() + g.workers[1]->table6->size() == 0);
    // The template lives 5 minutes from the connection's end.
    CHECK(g.persistence6->live(10200 + kFiveMinutes - 1) == 1);

    // The operator quiesces that server: the persistent client still goes there.
    auto quiesced = web6(kFiveMinutes);
    quiesced->services[kWeb6].servers[first == kRs1Ip6 ? 0 : 1].weight = 0;
    g.publish(std::move(quiesced));
    CHECK(connect(30001, 10200 + kFiveMinutes - 100) == first);
    reset_by_server(first, 30001, 10200 + kFiveMinutes - 90);
    const uint32_t ended = 10200 + kFiveMinutes + 10000;
    g.expire(ended);
    CHECK(g.persistence6->live(ended + kFiveMinutes - 1) == 1);
    CHECK(g.persistence6->live(ended + kFiveMinutes) == 0);

    // Once it has expired, the client is scheduled afresh, away from the quiesced server.
    g.expire(ended + kFiveMinutes);
    CHECK(connect(30002, ended + kFiveMinutes) != first);
    CHECK(g.counter(&WorkerCounters::persistence_hits) == 1);
}

TEST_CASE("IPv6 persistence: a removed server's client is moved to another, for good") {
    WorkerGroup g(web6(kFiveMinutes), 2);
    g.run({syn_from(kClient6, 31000)}, 0);
    const std::string first = servers_reached(g).at(0);
    const size_t first_index = first == kRs1Ip6 ? 0 : 1;

    auto removed = web6(kFiveMinutes);
    removed->services[kWeb6].servers.erase(removed->services[kWeb6].servers.begin() +
                                           static_cast<long>(first_index));
    g.publish(std::move(removed));
    const size_t before = g.sent.size();
    g.run({syn_from(kClient6, 31020)}, 200);
    g.publish(web6(kFiveMinutes));  // back again: the client stays moved
    for (uint16_t port = 31021; port < 31031; ++port) {
        g.run({syn_from(kClient6, port)}, 300);
    }
    const auto after = servers_reached(g, before);
    REQUIRE(after.size() == 11);
    CHECK(count_of(after, first) == 0);
    CHECK(g.persistence6->live(300) == 1);
}

TEST_CASE("IPv6 persistence: a server its health check took down loses its persistent client") {
    WorkerGroup g(web6(kFiveMinutes), 2);
    g.run({syn_from(kClient6, 32000)}, 0);
    const std::string first = servers_reached(g).at(0);
    const size_t first_index = first == kRs1Ip6 ? 0 : 1;

    // What the snapshot builder makes of a server whose check failed: weight 0 and down.
    auto down = web6(kFiveMinutes);
    down->services[kWeb6].servers[first_index].weight = 0;
    down->services[kWeb6].servers[first_index].down = true;
    g.publish(std::move(down));
    const size_t before = g.sent.size();
    for (uint16_t port = 32001; port < 32011; ++port) {
        g.run({syn_from(kClient6, port)}, 100);
    }
    g.publish(web6(kFiveMinutes));  // up again: the client stays moved
    for (uint16_t port = 32011; port < 32021; ++port) {
        g.run({syn_from(kClient6, port)}, 200);
    }
    const auto after = servers_reached(g, before);
    REQUIRE(after.size() == 20);
    CHECK(count_of(after, first) == 0);
    CHECK(g.persistence6->live(200) == 1);
}

TEST_CASE("IPv6 follow_kernel: a VIP or floating address is answered and served only while held") {
    PipelineHarness h;
    // What the builder makes under ha.addresses: follow_kernel with nothing on the mirrors: the
    // real servers' IPv6 gateway 2001:2:0:19::fe floats on the inside link.
    const std::string floating = "2001:2:0:19::fe";
    auto backup = seed_snapshot();
    backup->interfaces[kInsidePort].floating6 = {ip6_raw(floating)};
    backup->follow_kernel = true;
    backup->finalize(1);
    h.ctx.snapshot = backup.get();
    PacketSpec ping = client_packet6(kIcmp6);
    ping.payload = {1, 2, 3};
    PacketSpec ping_gateway = ping;
    ping_gateway.src_ip = kRs1Ip6;
    ping_gateway.dst_ip = floating;
    ping_gateway.src_mac = kRs1Mac;
    ping_gateway.dst_mac = kInsideMac;
    const auto ask_vip = solicitation(kGateway6, kGatewayMac, kVip6);
    // (Unicast, as a neighbor unreachability check is: the harness takes a frame to kInsideMac
    // for one of the inside link.)
    const auto ask_gateway =
        nd_message(135, kRs1Ip6, kRs1Mac, floating, kInsideMac, floating, 1, 0, 255);
    const auto ask_own =
        nd_message(135, kRs1Ip6, kRs1Mac, kInsideIp6, kInsideMac, kInsideIp6, 1, 0, 255);
    h.run({ask_vip, ask_gateway, ask_own, build_packet(ping), build_packet(ping_gateway),
           build_packet(client_packet6(6, SYN))});
    REQUIRE(h.sent.size() == 1);  // only the director's own address is answered
    CHECK(address_at(h.sent[0].bytes, 14 + 40 + 8) == ip6_raw(kInsideIp6));
    CHECK(dropped(h, DropReason::not_for_us) == 1);  // the SYN to the VIP
    CHECK(h.table6->size() == 0);
    // The master's advertisements of what it holds are no claim on this director's addresses.
    const auto master_vip = advertisement(kVip6, kGatewayMac);
    const auto master_gateway = advertisement(floating, kRs2Mac);
    h.run({master_vip, master_gateway});
    CHECK(dropped(h, DropReason::arp_claims_ours) == 0);
    CHECK(h.sent.size() == 1);

    // keepalived made this director master: both addresses on its mirrors.
    auto master = seed_snapshot();
    master->interfaces[kInsidePort].floating6 = {ip6_raw(floating)};
    master->follow_kernel = true;
    master->held6 = {ip6_raw(kVip6), ip6_raw(floating)};
    master->finalize(1);
    h.ctx.snapshot = master.get();
    h.sent.clear();
    h.run({ask_vip, ask_gateway, build_packet(ping), build_packet(ping_gateway),
           build_packet(client_packet6(6, SYN))});
    REQUIRE(h.sent.size() == 5);
    // Sent per port: the outside link's first.
    CHECK(h.sent[0].port == kOutsidePort);
    CHECK(icmp6_of(h.sent[0].bytes)[0] == 136);
    CHECK(address_at(h.sent[0].bytes, 14 + 40 + 8) == ip6_raw(kVip6));
    CHECK(icmp6_of(h.sent[1].bytes)[0] == 129);  // the echo reply from the VIP
    CHECK(format_ip(read_fields(h.sent[1].bytes).src_ip6) == kVip6);
    CHECK(h.sent[2].port == kInsidePort);
    CHECK(icmp6_of(h.sent[2].bytes)[0] == 136);
    CHECK(address_at(h.sent[2].bytes, 14 + 40 + 8) == ip6_raw(floating));
    CHECK(std::equal(kInsideMac.begin(), kInsideMac.end(), icmp6_of(h.sent[2].bytes) + 24 + 2));
    CHECK(icmp6_of(h.sent[3].bytes)[0] == 129);  // the echo reply from the gateway
    CHECK(format_ip(read_fields(h.sent[3].bytes).src_ip6) == floating);
    CHECK(format_ip(read_fields(h.sent[4].bytes).dst_ip6) == kRs2Ip6);  // the SYN
    CHECK(h.table6->size() == 1);
    // Now someone else announcing them is.
    h.run({master_vip, master_gateway});
    CHECK(dropped(h, DropReason::arp_claims_ours) == 2);
}
