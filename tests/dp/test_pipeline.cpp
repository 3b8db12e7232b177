// Packet-in/packet-out fixtures through the real pipeline, on the seed's scenario.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>

#include "dp/bytes.hpp"
#include "dp/owner.hpp"
#include "lab_fixture.hpp"

using namespace vsnat;
using namespace vsnat::dp;
using namespace vsnat::test;

namespace {

constexpr uint8_t FIN = 0x01, RST = 0x04, PSH = 0x08;

}  // namespace

TEST_CASE("the seed's example, byte for byte: in to 172.16.0.3:8000, reply out from the VIP") {
    PipelineHarness h;
    PacketSpec syn = from_client(3456, SYN);
    syn.payload = {'h', 'i', '!'};  // odd length on purpose
    h.run({build_packet(syn)});
    REQUIRE(h.sent.size() == 1);
    CHECK(h.sent[0].port == kInsidePort);
    CHECK(h.sent[0].bytes ==
          expected(syn, "202.100.1.2", 3456, "172.16.0.3", 8000, kInsideMac, kRs2Mac));
    CHECK(checksums_valid(h.sent[0].bytes));

    PacketSpec reply = from_server("172.16.0.3", 8000, 3456, SYN | ACK);
    reply.payload = {1, 2, 3, 4, 5};
    h.run({build_packet(reply)});
    REQUIRE(h.sent.size() == 2);
    CHECK(h.sent[1].port == kOutsidePort);
    CHECK(h.sent[1].bytes ==
          expected(reply, "202.103.106.5", 80, "202.100.1.2", 3456, kOutsideMac, kGatewayMac));
    CHECK(checksums_valid(h.sent[1].bytes));
    CHECK(h.table->size() == 1);
    CHECK(h.ctx.counters.connections_created == 1);
}

TEST_CASE("wrr 1:2 over new connections; later packets follow their connection") {
    PipelineHarness h;
    std::vector<std::vector<uint8_t>> syns;
    for (uint16_t port = 1000; port < 1030; ++port) {
        syns.push_back(build_packet(from_client(port, SYN)));
    }
    h.run(syns);
    REQUIRE(h.sent.size() == 30);
    int to_rs1 = 0, to_rs2 = 0;
    for (const auto& s : h.sent) {
        PacketFields f = read_fields(s.bytes);
        if (format_ip(f.dst_ip) == "172.16.0.2") {
            CHECK(f.dst_port == 80);
            ++to_rs1;
        } else {
            CHECK(format_ip(f.dst_ip) == "172.16.0.3");
            CHECK(f.dst_port == 8000);
            ++to_rs2;
        }
    }
    CHECK(to_rs1 == 10);
    CHECK(to_rs2 == 20);
    // The ACKs of each connection go where its SYN went, with no scheduling.
    std::vector<std::vector<uint8_t>> acks;
    for (uint16_t port = 1000; port < 1030; ++port) {
        acks.push_back(build_packet(from_client(port, ACK)));
    }
    h.run(acks);
    REQUIRE(h.sent.size() == 60);
    for (size_t i = 0; i < 30; ++i) {
        CHECK(read_fields(h.sent[30 + i].bytes).dst_ip == read_fields(h.sent[i].bytes).dst_ip);
    }
    CHECK(h.ctx.counters.connections_created == 30);
    CHECK(h.dest_counters[0].connections == 10);
    CHECK(h.dest_counters[1].connections == 20);
    CHECK(h.dest_counters[1].in_packets == 40);
}

TEST_CASE("SYN and its retransmission in one burst make one connection") {
    PipelineHarness h;
    h.run({build_packet(from_client(5000, SYN)), build_packet(from_client(5000, SYN))});
    CHECK(h.sent.size() == 2);
    CHECK(h.table->size() == 1);
    CHECK(read_fields(h.sent[0].bytes).dst_ip == read_fields(h.sent[1].bytes).dst_ip);
}

TEST_CASE("a burst's new connections: lc sees each as it is made, they leave in their order") {
    // More than NewConnections' window in one burst: each is inserted a few later than made.
    PipelineHarness h;
    h.snapshot->services[0].scheduler = SchedulerKind::lc;
    REQUIRE(h.snapshot->finalize(1));
    std::vector<std::vector<uint8_t>> syns;
    for (uint16_t port = 2000; port < 2024; ++port) {
        syns.push_back(build_packet(from_client(port, SYN)));
    }
    h.run(syns);
    REQUIRE(h.sent.size() == 24);
    std::string servers;
    for (size_t i = 0; i < h.sent.size(); ++i) {
        const PacketFields f = read_fields(h.sent[i].bytes);
        CHECK(f.src_port == 2000 + i);
        servers += format_ip(f.dst_ip) == "172.16.0.2" ? 'A' : 'B';
    }
    // Least connections with ties to the first: each pick sees the one before it.
    CHECK(servers == "ABABABABABABABABABABABAB");
    CHECK(h.dest_counters[0].inactive == 12);
    CHECK(h.dest_counters[1].inactive == 12);
    CHECK(h.table->size() == 24);
}

TEST_CASE("a burst's later packets of a connection it made find it, after its first") {
    PipelineHarness h(1024, /*rs1_weight=*/0);  // web all to 172.16.0.3:8000
    PacketSpec datagram = client_packet(17, 0, 53, 4000);
    datagram.payload = {'q'};
    const auto udp = build_packet(datagram);
    h.run({build_packet(from_client(3000, SYN)), build_packet(from_client(3001, SYN)),
           build_packet(from_client(3002, SYN)), build_packet(from_client(3000, ACK)), udp, udp,
           build_packet(from_client(3003, SYN)),
           build_packet(from_server("172.16.0.3", 8000, 3003, SYN | ACK))});
    REQUIRE(h.sent.size() == 8);
    CHECK(h.table->size() == 5);
    CHECK(h.ctx.counters.connections_created == 5);
    // A packet that finds no connection while some are still to be inserted, one of them its
    // own (either way), has them inserted (and their first packets sent) and looks again: each
    // connection's packets leave in order.
    using Sent = std::vector<std::pair<uint16_t, uint8_t>>;  // client port, TCP flags (UDP: 0)
    Sent to_servers, to_client;
    for (const auto& sent : h.sent) {
        const PacketFields f = read_fields(sent.bytes);
        CHECK(checksums_valid(sent.bytes));
        const uint8_t flags = f.protocol == 6 ? sent.bytes[14 + 20 + 13] : 0;  // no IP options
        if (sent.port == kInsidePort) {
            to_servers.emplace_back(f.src_port, flags);
        } else {
            CHECK(format_ip(f.src_ip) == "202.103.106.5");
            to_client.emplace_back(f.dst_port, flags);
        }
    }
    CHECK(
        to_servers ==
        Sent{
            {3000, SYN}, {3001, SYN}, {3002, SYN}, {3000, ACK}, {4000, 0}, {4000, 0}, {3003, SYN}});
    CHECK(to_client == Sent{{3003, SYN | ACK}});
}

TEST_CASE("packets that must not pass are counted under their reason") {
    struct Case {
        const char* name;
        PacketSpec spec;
        DropReason reason;
        bool answered;  // the director replies itself (RST, port unreachable)
    };
    PacketSpec ttl1 = from_client(4000, SYN);
    ttl1.ttl = 1;
    PacketSpec stray_ack = from_client(4001, ACK);
    PacketSpec syn_rst = from_client(4002, SYN | RST);
    PacketSpec no_service = from_client(4003, SYN, 8080);
    PacketSpec not_ours = from_client(4004, SYN);
    not_ours.dst_ip = "202.103.106.77";
    PacketSpec stray_reply = from_server("172.16.0.2", 80, 4005, ACK);
    PacketSpec udp_no_service = from_client(4006, 0, 54);
    udp_no_service.protocol = 17;
    PacketSpec gre = from_client(4007, SYN);
    const Case cases[] = {
        {"TTL 1", ttl1, DropReason::ttl_expired, false},
        {"ACK with no connection", stray_ack, DropReason::no_connection, false},
        {"SYN+RST opens nothing", syn_rst, DropReason::no_connection, false},
        {"VIP port with no service is rejected", no_service, DropReason::no_service, true},
        {"UDP to a VIP port with no service", udp_no_service, DropReason::no_service, true},
        {"not a VIP", not_ours, DropReason::not_for_us, false},
        {"reply for no connection", stray_reply, DropReason::not_for_us, false},
    };
    for (const Case& c : cases) {
        PipelineHarness h;
        INFO(c.name);
        h.run({build_packet(c.spec)});
        CHECK(h.sent.size() == (c.answered ? 1u : 0u));
        CHECK(dropped(h, c.reason) == 1);
        CHECK(h.table->size() == 0);
    }
    SECTION("bad IPv4 header checksum") {
        PipelineHarness h;
        std::vector<uint8_t> f = build_packet(from_client(4010, SYN));
        f[14 + 10] ^= 0x55;
        h.run({f});
        CHECK(h.sent.empty());
        CHECK(dropped(h, DropReason::bad_ip_checksum) == 1);
    }
    SECTION("an IP protocol we do not balance") {
        PipelineHarness h;
        std::vector<uint8_t> f = build_packet(gre);
        f[14 + 9] = 47;
        recompute_checksums(f);
        h.run({f});
        CHECK(dropped(h, DropReason::unsupported_l4) == 1);
    }
    SECTION("fragments") {
        PipelineHarness h;
        std::vector<uint8_t> f = build_packet(from_client(4011, SYN));
        store_be16(&f[14 + 6], 0x2000);
        recompute_checksums(f);
        h.run({f});
        CHECK(dropped(h, DropReason::ip_fragment) == 1);
    }
}

TEST_CASE("ARP: the director answers for its addresses and VIPs, and reports answers to it") {
    PipelineHarness h;
    h.run({arp_frame(1, "202.103.106.254", kGatewayMac, "202.103.106.5", kBroadcast),
           arp_frame(1, "202.103.106.254", kGatewayMac, "202.103.106.1", kBroadcast),
           arp_frame(1, "202.103.106.254", kGatewayMac, "202.103.106.77", kBroadcast),
           arp_frame(2, "172.16.0.2", kRs1Mac, "172.16.0.1", kInsideMac)});
    REQUIRE(h.sent.size() == 2);
    for (const auto& s : h.sent) {
        CHECK(s.port == kOutsidePort);
        CHECK(load_be16(&s.bytes[20]) == 2);  // reply
        CHECK(std::equal(kOutsideMac.begin(), kOutsideMac.end(), &s.bytes[22]));
        CHECK(std::equal(kGatewayMac.begin(), kGatewayMac.end(), &s.bytes[0]));
        CHECK(load_u32_raw(&s.bytes[38]) == ip_raw("202.103.106.254"));
    }
    CHECK(load_u32_raw(&h.sent[0].bytes[28]) == ip_raw("202.103.106.5"));
    CHECK(load_u32_raw(&h.sent[1].bytes[28]) == ip_raw("202.103.106.1"));
    CHECK(dropped(h, DropReason::not_for_us) == 0);  // asked for another host: seen, not answered
    CHECK(h.ctx.counters.arp_replies == 2);
    // The gateway asking, at the MAC the table has, tells nothing new; the real server's answer
    // to the director is reported, with its MAC.
    CHECK(h.ctx.counters.arp_ignored == 1);
    CHECK(h.ctx.counters.arp_received == 1);
    REQUIRE(h.sightings.size() == 1);
    CHECK(h.sightings[0].kind == dp::NeighborSighting::Kind::seen);
    CHECK(h.sightings[0].ip == ip_raw("172.16.0.2"));
    CHECK(h.sightings[0].port_id == kInsidePort);
    CHECK(h.sightings[0].mac == kRs1Mac);
}

TEST_CASE(
    "ARP: a host the director does not talk to is not reported; a known one at a new MAC "
    "is") {
    PipelineHarness h;
    const MacAddress stranger = {0x02, 0x66, 0x00, 0x00, 0x00, 0x01};
    const MacAddress moved = {0x02, 0x66, 0x00, 0x00, 0x00, 0x02};
    std::vector<std::vector<uint8_t>> frames;
    // Gratuitous ARPs (request and reply forms) from 20 on-link senders nobody asked for, an
    // answer sent to another host, and an ARP request for another host.
    for (int i = 0; i < 20; ++i) {
        const std::string sender = "202.103.106." + std::to_string(20 + i);
        frames.push_back(
            arp_frame(static_cast<uint16_t>(1 + i % 2), sender, stranger, sender, kBroadcast));
    }
    frames.push_back(arp_frame(2, "202.103.106.60", stranger, "202.103.106.61", kBroadcast));
    frames.push_back(arp_frame(1, "202.103.106.62", stranger, "202.103.106.63", kBroadcast));
    // The gateway, known, announces a new MAC.
    frames.push_back(arp_frame(1, "202.103.106.254", moved, "202.103.106.254", kBroadcast));
    h.run(frames);
    CHECK(h.sent.empty());
    CHECK(h.ctx.counters.arp_ignored == 22);
    CHECK(h.ctx.counters.arp_received == 1);
    REQUIRE(h.sightings.size() == 1);
    CHECK(h.sightings[0].ip == ip_raw("202.103.106.254"));
    CHECK(h.sightings[0].mac == moved);
}

TEST_CASE("ARP: a worker reports the address it asks for before the answer") {
    // A real server the table does not know: the SYN is held and 172.16.9.9 asked for; its
    // answer, in the next burst, is reported after the `asked`, so the control thread, which
    // learns only what it awaits, learns it.
    PipelineHarness h;
    auto snap = seed_snapshot();
    snap->services[0].servers[1].ip = ip_raw("172.16.9.9");
    snap->finalize(1);
    h.ctx.snapshot = snap.get();
    const MacAddress rs_mac = {0x02, 0x00, 0x00, 0x00, 0x0b, 0x09};
    h.run({build_packet(from_client(6100, SYN))}, 0);
    h.run({build_packet(from_client(6100, SYN))}, 10);  // throttled: no second request
    h.run({arp_frame(2, "172.16.9.9", rs_mac, "172.16.0.1", kInsideMac)}, 20);
    REQUIRE(h.sightings.size() == 2);
    CHECK(h.sightings[0].kind == dp::NeighborSighting::Kind::asked);
    CHECK(h.sightings[0].ip == ip_raw("172.16.9.9"));
    CHECK(h.sightings[0].port_id == kInsidePort);
    CHECK(h.sightings[1].kind == dp::NeighborSighting::Kind::seen);
    CHECK(h.sightings[1].ip == ip_raw("172.16.9.9"));
    CHECK(h.sightings[1].mac == rs_mac);
    CHECK(h.ctx.counters.arp_requests == 1);
}

TEST_CASE("ARP: a sender claiming a VIP or the director's address is refused, never stored") {
    PipelineHarness h;
    const MacAddress liar = {0x02, 0x66, 0x00, 0x00, 0x00, 0x99};
    h.run({// Gratuitous ARP for the VIP, an "answer" from the VIP to the director, a request
           // for the director from the VIP, and the director's own addresses claimed on each
           // link (the inside one also as an answer to the director).
           arp_frame(1, "202.103.106.5", liar, "202.103.106.5", kBroadcast),
           arp_frame(2, "202.103.106.5", liar, "202.103.106.1", kOutsideMac),
           arp_frame(1, "202.103.106.5", liar, "202.103.106.1", kBroadcast),
           arp_frame(1, "202.103.106.1", liar, "202.103.106.1", kBroadcast),
           arp_frame(2, "172.16.0.1", liar, "172.16.0.1", kInsideMac)});
    CHECK(h.sent.empty());  // not answered either
    CHECK(h.sightings.empty());
    CHECK(dropped(h, DropReason::arp_claims_ours) == 5);
    CHECK(h.ctx.counters.arp_received + h.ctx.counters.arp_ignored == 0);
    // Traffic to the VIP goes on as before: the client's SYN reaches a real server, and the
    // SYN-ACK leaves towards the gateway, not the liar.
    h.run({build_packet(from_client(6200, SYN))});
    REQUIRE(h.sent.size() == 1);
    const PacketFields to_server = read_fields(h.sent[0].bytes);
    const std::string rip = format_ip(to_server.dst_ip);
    CHECK(to_server.dst_mac == (rip == "172.16.0.2" ? kRs1Mac : kRs2Mac));
    h.run({build_packet(from_server(rip, to_server.dst_port, 6200, SYN | ACK))});
    REQUIRE(h.sent.size() == 2);
    CHECK(read_fields(h.sent[1].bytes).dst_mac == kGatewayMac);
    CHECK(format_ip(read_fields(h.sent[1].bytes).src_ip) == "202.103.106.5");
}

TEST_CASE("ICMP echo to the VIP and to the director's addresses is answered") {
    PipelineHarness h;
    PacketSpec ping = from_client(0, 0);
    ping.protocol = 1;
    ping.payload = {1, 2, 3, 4, 5, 6, 7};
    PacketSpec ping_inside = ping;
    ping_inside.src_ip = "172.16.0.2";
    ping_inside.dst_ip = "172.16.0.1";
    ping_inside.src_mac = kRs1Mac;
    ping_inside.dst_mac = kInsideMac;
    PacketSpec ping_elsewhere = ping;
    ping_elsewhere.dst_ip = "172.16.0.2";
    h.run({build_packet(ping), build_packet(ping_inside), build_packet(ping_elsewhere)});
    REQUIRE(h.sent.size() == 2);
    CHECK(h.sent[0].port == kOutsidePort);
    CHECK(h.sent[1].port == kInsidePort);
    PacketFields r = read_fields(h.sent[0].bytes);
    CHECK(format_ip(r.src_ip) == "202.103.106.5");
    CHECK(format_ip(r.dst_ip) == "202.100.1.2");
    CHECK(r.dst_mac == kGatewayMac);
    CHECK(h.sent[0].bytes[34] == 0);  // echo reply
    CHECK(checksums_valid(h.sent[0].bytes));
    CHECK(checksums_valid(h.sent[1].bytes));
    CHECK(dropped(h, DropReason::icmp_untracked) == 1);
}

TEST_CASE("a VIP port with no service: TCP gets a RST, UDP a port unreachable") {
    PipelineHarness h;
    PacketSpec syn = from_client(4100, SYN, 8080);
    syn.seq = 5000;
    syn.payload = {'x', 'y'};
    h.run({build_packet(syn)});
    REQUIRE(h.sent.size() == 1);
    const auto& rst = h.sent[0].bytes;
    CHECK(h.sent[0].port == kOutsidePort);
    PacketFields f = read_fields(rst);
    CHECK(format_ip(f.src_ip) == "202.103.106.5");
    CHECK(f.src_port == 8080);
    CHECK(format_ip(f.dst_ip) == "202.100.1.2");
    CHECK(f.dst_port == 4100);
    CHECK(f.dst_mac == kGatewayMac);
    CHECK(rst[34 + 13] == (RST | ACK));
    CHECK(load_be32(&rst[34 + 8]) == 5000 + 2 + 1);  // payload and SYN acknowledged
    CHECK(checksums_valid(rst));
    CHECK(h.ctx.counters.resets_sent == 1);

    PacketSpec udp = from_client(4101, 0, 54);
    udp.protocol = 17;
    const std::vector<uint8_t> original = build_packet(udp);
    h.run({original});
    REQUIRE(h.sent.size() == 2);
    const auto& icmp = h.sent[1].bytes;
    CHECK(icmp[14 + 9] == 1);
    CHECK(icmp[34] == 3);  // destination unreachable
    CHECK(icmp[35] == 3);  // port unreachable
    CHECK(format_ip(read_fields(icmp).src_ip) == "202.103.106.5");
    // It quotes the original IP header (TTL untouched) and the first 8 bytes of UDP.
    CHECK(std::equal(original.begin() + 14, original.begin() + 14 + 28, icmp.begin() + 42));
    CHECK(checksums_valid(icmp));
}

TEST_CASE("port unreachables are rate-limited per worker") {
    PipelineHarness h;
    std::vector<std::vector<uint8_t>> burst;
    for (uint16_t i = 0; i < 60; ++i) {
        PacketSpec udp = from_client(static_cast<uint16_t>(4200 + i), 0, 54);
        udp.protocol = 17;
        burst.push_back(build_packet(udp));
    }
    h.run(burst, 0);
    h.run(burst, 1);  // 1 ms later: one token back
    CHECK(h.ctx.counters.unreachables_sent == 101);
    CHECK(dropped(h, DropReason::rate_limited) == 19);
    CHECK(dropped(h, DropReason::no_service) == 101);  // each refused packet has one reason
}

TEST_CASE("an unresolved next hop: one ARP request a second, packets held, then sent") {
    PipelineHarness h;
    auto snap = seed_snapshot();
    snap->services[0].servers[1].ip = ip_raw("172.16.9.9");
    snap->finalize(1);
    h.ctx.snapshot = snap.get();
    h.run({build_packet(from_client(6100, SYN)), build_packet(from_client(6100, SYN))}, 0);
    h.run({build_packet(from_client(6100, SYN))}, 500);
    h.run({build_packet(from_client(6100, SYN))}, 1200);
    CHECK(h.ctx.counters.held_for_arp == 4);
    REQUIRE(h.sent.size() == 2);  // two ARP requests, a second apart; no data yet
    for (const auto& s : h.sent) {
        CHECK(s.port == kInsidePort);
        CHECK(load_be16(&s.bytes[12]) == 0x0806);
        CHECK(load_be16(&s.bytes[20]) == 1);
        CHECK(load_u32_raw(&s.bytes[28]) == ip_raw("172.16.0.1"));
        CHECK(load_u32_raw(&s.bytes[38]) == ip_raw("172.16.9.9"));
        CHECK(std::equal(kInsideMac.begin(), kInsideMac.end(), &s.bytes[6]));
    }
    // Waiting more than a second costs the first three; the answer releases the last one.
    release_held(h.ctx, 1600);
    CHECK(dropped(h, DropReason::no_neighbor) == 3);
    h.neighbors.set(kInsidePort, ip_raw("172.16.9.9"), kRs2Mac);
    release_held(h.ctx, 1700);
    REQUIRE(h.ctx.tx[kInsidePort].count == 1);
    const auto* frame = rte_pktmbuf_mtod(h.ctx.tx[kInsidePort].packets[0], const uint8_t*);
    CHECK(std::equal(kRs2Mac.begin(), kRs2Mac.end(), frame));
    CHECK(h.ctx.held.count == 0);
    h.run({});  // empties the TX batch
}

namespace {

// An ICMP error from `router` to `to`, quoting the first 28 bytes of `quoted`'s IP datagram.
std::vector<uint8_t> icmp_error(const std::string& router, const std::string& to,
                                const std::vector<uint8_t>& quoted, MacAddress src_mac,
                                MacAddress dst_mac, uint8_t type = 3, uint8_t code = 1) {
    PacketSpec s;
    s.protocol = 1;
    s.src_ip = router;
    s.dst_ip = to;
    s.src_mac = src_mac;
    s.dst_mac = dst_mac;
    s.payload.assign(quoted.begin() + 14, quoted.begin() + 14 + 28);
    std::vector<uint8_t> f = build_packet(s);
    f[34] = type;
    f[35] = code;
    recompute_checksums(f);
    return f;
}

}  // namespace

TEST_CASE("ICMP errors about a tracked connection are translated, both ways") {
    PipelineHarness h;
    h.run({build_packet(from_client(6200, SYN))});
    REQUIRE(h.sent.size() == 1);
    const std::vector<uint8_t> to_server = h.sent[0].bytes;  // client -> 172.16.0.3:8000

    // Towards the client: the real server's host is unreachable from 172.16.0.3 itself.
    h.run({icmp_error("172.16.0.3", "202.100.1.2", to_server, kRs2Mac, kInsideMac)});
    REQUIRE(h.sent.size() == 2);
    const auto& out = h.sent[1].bytes;
    CHECK(h.sent[1].port == kOutsidePort);
    CHECK(format_ip(read_fields(out).src_ip) == "202.103.106.5");  // outer source: the VIP
    CHECK(format_ip(read_fields(out).dst_ip) == "202.100.1.2");
    CHECK(load_u32_raw(&out[42 + 16]) == ip_raw("202.103.106.5"));  // quoted destination
    CHECK(load_be16(&out[62 + 2]) == 80);                           // quoted destination port
    CHECK(checksums_valid(out));

    // Towards the real server: the client's side says the client is unreachable.
    h.run({build_packet(from_server("172.16.0.3", 8000, 6200, SYN | ACK))});
    REQUIRE(h.sent.size() == 3);
    const std::vector<uint8_t> to_client = h.sent[2].bytes;  // VIP:80 -> client
    h.run({icmp_error("202.103.106.254", "202.103.106.5", to_client, kGatewayMac, kOutsideMac)});
    REQUIRE(h.sent.size() == 4);
    const auto& in = h.sent[3].bytes;
    CHECK(h.sent[3].port == kInsidePort);
    CHECK(format_ip(read_fields(in).dst_ip) == "172.16.0.3");
    CHECK(load_u32_raw(&in[42 + 12]) == ip_raw("172.16.0.3"));  // quoted source
    CHECK(load_be16(&in[62]) == 8000);                          // quoted source port
    CHECK(checksums_valid(in));
    CHECK(h.ctx.counters.icmp_errors_translated == 2);

    // About nothing we track: dropped.
    std::vector<uint8_t> stray = build_packet(from_client(6999, SYN));
    h.run({icmp_error("202.103.106.254", "202.103.106.5", stray, kGatewayMac, kOutsideMac)});
    CHECK(dropped(h, DropReason::icmp_untracked) == 1);
}

TEST_CASE("UDP: one state, balanced, replies from the VIP, checksum 0 kept") {
    PipelineHarness h;
    PacketSpec q = from_client(5353, 0, 53);
    q.protocol = 17;
    q.payload = {'q'};
    PacketSpec q2 = q;
    q2.src_port = 5354;
    q2.udp_checksum = false;
    h.run({build_packet(q), build_packet(q2)});
    REQUIRE(h.sent.size() == 2);
    CHECK(format_ip(read_fields(h.sent[0].bytes).dst_ip) == "172.16.0.2");
    CHECK(format_ip(read_fields(h.sent[1].bytes).dst_ip) == "172.16.0.3");
    CHECK(load_u16_raw(&h.sent[1].bytes[34 + 6]) == 0);
    PacketSpec answer = from_server("172.16.0.3", 53, 5354, 0);
    answer.protocol = 17;
    h.run({build_packet(answer)});
    REQUIRE(h.sent.size() == 3);
    PacketFields out = read_fields(h.sent[2].bytes);
    CHECK(format_ip(out.src_ip) == "202.103.106.5");
    CHECK(out.src_port == 53);
    CHECK(checksums_valid(h.sent[2].bytes));
    uint32_t id = h.table->lookup(FlowKey{
        ip_raw("202.100.1.2"), ip_raw("202.103.106.5"), port_raw(5354), port_raw(53), 17, {}});
    REQUIRE(id != ConnTable::kNoConn);
    CHECK(h.table->conn(id).state == ConnState::udp_replied);  // one exchange
    PacketSpec again = client_packet(17, 0, 53, 5354);
    h.run({build_packet(again)});
    CHECK(h.table->conn(id).state == ConnState::udp);  // it goes on: assured
}

TEST_CASE("a connection's states and active/inactive counts follow LVS; timeouts expire it") {
    PipelineHarness h;
    auto state = [&h]() {
        uint32_t id = h.table->lookup(FlowKey{
            ip_raw("202.100.1.2"), ip_raw("202.103.106.5"), port_raw(7000), port_raw(80), 6, {}});
        return id == ConnTable::kNoConn ? ConnState::count_ : h.table->conn(id).state;
    };
    h.run({build_packet(from_client(7000, SYN))}, 1000);
    CHECK(state() == ConnState::syn_recv);
    CHECK(h.dest_counters[1].inactive == 1);
    h.run({build_packet(from_server("172.16.0.3", 8000, 7000, SYN | ACK))}, 1001);
    h.run({build_packet(from_client(7000, ACK))}, 1002);
    CHECK(state() == ConnState::established);
    CHECK(h.dest_counters[1].active == 1);
    CHECK(h.dest_counters[1].inactive == 0);
    h.run({build_packet(from_client(7000, ACK | PSH))}, 1003);
    CHECK(state() == ConnState::established);

    // Idle but established: still there after 14 minutes, gone after 15 and a bit.
    expire_connections(h.ctx, 1003 + 14 * 60 * 1000, UINT32_MAX);
    CHECK(h.table->size() == 1);
    h.run({build_packet(from_client(7000, FIN | ACK))}, 1003 + 14 * 60 * 1000);
    CHECK(state() == ConnState::close_wait);
    CHECK(h.dest_counters[1].active == 0);
    const uint32_t fin_at = 1003 + 14 * 60 * 1000;
    // CLOSE_WAIT's 60 s now applies, not what was left of ESTABLISHED's 15 min.
    expire_connections(h.ctx, fin_at + 59 * 1000, UINT32_MAX);
    CHECK(h.table->size() == 1);
    expire_connections(h.ctx, fin_at + 61 * 1000, UINT32_MAX);
    CHECK(h.table->size() == 0);
    CHECK(h.ctx.counters.connections_expired == 1);
    CHECK(h.dest_counters[1].inactive == 0);
    CHECK(h.dest_counters[1].active == 0);
}

TEST_CASE("RST from the server closes; the 10 s CLOSE timeout removes it") {
    PipelineHarness h;
    h.run({build_packet(from_client(7100, SYN))}, 0);
    h.run({build_packet(from_server("172.16.0.3", 8000, 7100, RST | ACK))}, 10);
    CHECK(h.sent.size() == 2);  // the RST is forwarded to the client
    expire_connections(h.ctx, 9000, UINT32_MAX);
    CHECK(h.table->size() == 1);
    expire_connections(h.ctx, 10200, UINT32_MAX);
    CHECK(h.table->size() == 0);
}

TEST_CASE("a packet pushes its connection's expiry on by a sixteenth of the timeout or more") {
    PipelineHarness h;
    h.snapshot->timeouts[static_cast<size_t>(ConnState::udp_unanswered)] = 1600;  // slack 100 ms
    h.snapshot->timeouts[static_cast<size_t>(ConnState::udp_replied)] = 1600;
    h.snapshot->timeouts[static_cast<size_t>(ConnState::udp)] = 1600;
    const std::vector<uint8_t> datagram = build_packet(client_packet(17, 0, 53, 5354));
    const FlowKey key{
        ip_raw("202.100.1.2"), ip_raw("202.103.106.5"), port_raw(5354), port_raw(53), 17, {}};
    h.run({datagram}, 1000);
    const uint32_t id = h.table->lookup(key);
    REQUIRE(id != ConnTable::kNoConn);
    CHECK(h.table->expiry(id) == 2600);
    h.run({datagram}, 1099);  // 99 ms on: the record is left alone
    CHECK(h.table->expiry(id) == 2600);
    h.run({datagram}, 1100);
    CHECK(h.table->expiry(id) == 2700);

    // A datagram every 50 ms for 5 s (three timeouts) keeps it, each at most 100 ms short.
    uint32_t now = 1100;
    for (int i = 0; i < 100; ++i) {
        now += 50;
        h.run({datagram}, now);
        expire_connections(h.ctx, now, UINT32_MAX);
        REQUIRE(h.table->lookup(key) == id);
        CHECK(h.table->expiry(id) + 100 > now + 1600);
    }
    expire_connections(h.ctx, now + 1500, UINT32_MAX);
    CHECK(h.table->size() == 1);
    expire_connections(h.ctx, now + 1600 + TimerWheel::kDefaultTickMs, UINT32_MAX);
    CHECK(h.table->size() == 0);

    // Pulled earlier (a FIN's shorter timeout): written at once, however little.
    h.run({build_packet(from_client(7000, SYN))}, 0);
    h.run({build_packet(from_server("172.16.0.3", 8000, 7000, SYN | ACK))}, 1);
    h.run({build_packet(from_client(7000, ACK))}, 2);
    const uint32_t tcp = h.table->lookup(FlowKey{
        ip_raw("202.100.1.2"), ip_raw("202.103.106.5"), port_raw(7000), port_raw(80), 6, {}});
    REQUIRE(tcp != ConnTable::kNoConn);
    const uint32_t established_ms =
        h.snapshot->timeouts[static_cast<size_t>(ConnState::established)];
    CHECK(h.table->expiry(tcp) == 2 + established_ms);
    h.run({build_packet(from_client(7000, ACK))}, 500);  // 15 min's slack is a second
    CHECK(h.table->expiry(tcp) == 2 + established_ms);
    h.run({build_packet(from_client(7000, FIN | ACK))}, 600);
    CHECK(h.table->expiry(tcp) ==
          600 + h.snapshot->timeouts[static_cast<size_t>(ConnState::close_wait)]);
}

// The table-full tests below fill a table from one client: shares would stop them first.
void without_shares(PipelineHarness& h) {
    h.snapshot->protocol_share_percent = 100;
    h.snapshot->prefix_share_percent = 100;
}

TEST_CASE("a full table drops new connections, counted, and existing ones keep flowing") {
    PipelineHarness h(4);
    without_shares(h);
    std::vector<std::vector<uint8_t>> opening;
    for (uint16_t port = 2000; port < 2004; ++port) {  // four complete handshakes
        opening.push_back(build_packet(from_client(port, SYN)));
        opening.push_back(build_packet(from_client(port, ACK)));
    }
    h.run(opening);
    CHECK(h.table->size() == 4);
    h.run({build_packet(from_client(2004, SYN)), build_packet(from_client(2005, SYN))});
    CHECK(h.table->size() == 4);
    CHECK(dropped(h, DropReason::table_full) == 2);
    CHECK(h.ctx.counters.connections_evicted == 0);  // none was half-open
    CHECK(h.sent.size() == 8);
    h.run({build_packet(from_client(2000, ACK)),
           build_packet(from_server("172.16.0.3", 8000, 2000, ACK))});
    CHECK(h.sent.size() == 10);
    CHECK(dropped(h, DropReason::table_full) == 2);
}

TEST_CASE("SYN flood: from 15/16 full on, half-open connections make room, so it never fills") {
    PipelineHarness h(64);
    without_shares(h);
    std::vector<std::vector<uint8_t>> flood;
    for (uint16_t port = 1000; port < 1200; ++port) {
        flood.push_back(build_packet(from_client(port, SYN)));
    }
    for (size_t i = 0; i < flood.size(); i += 32) {
        h.run({flood.begin() + static_cast<long>(i),
               flood.begin() + static_cast<long>(std::min(i + 32, flood.size()))});
    }
    CHECK(h.table->size() == 60);
    CHECK(h.ctx.counters.connections_evicted == 140);
    CHECK(dropped(h, DropReason::table_full) == 0);
    CHECK(h.sent.size() == 200);
    // The newest 60 are the ones left.
    h.run({build_packet(from_client(1140, ACK)), build_packet(from_client(1139, ACK))});
    CHECK(h.sent.size() == 201);
    CHECK(dropped(h, DropReason::no_connection) == 1);
}

TEST_CASE("SYN flood: in a full table a new connection replaces the oldest half-open one") {
    PipelineHarness h(4);
    without_shares(h);
    // Two established connections, then two half-open ones (a flood's SYNs).
    h.run({build_packet(from_client(2000, SYN)), build_packet(from_client(2000, ACK)),
           build_packet(from_client(2001, SYN)), build_packet(from_client(2001, ACK)),
           build_packet(from_client(2002, SYN)), build_packet(from_client(2003, SYN))});
    REQUIRE(h.table->size() == 4);
    h.run({build_packet(from_client(2004, SYN))});
    CHECK(h.sent.size() == 7);
    CHECK(h.ctx.counters.connections_evicted == 1);
    CHECK(dropped(h, DropReason::table_full) == 0);
    // 2002 was the oldest half-open: gone. The established ones and 2003 are still there.
    h.run({build_packet(from_client(2002, ACK))});
    CHECK(dropped(h, DropReason::no_connection) == 1);
    h.run({build_packet(from_client(2000, ACK)), build_packet(from_client(2001, ACK)),
           build_packet(from_client(2003, ACK)), build_packet(from_client(2004, ACK))});
    CHECK(h.sent.size() == 11);
    // Now every connection is established: the next SYN finds no room.
    h.run({build_packet(from_client(2005, SYN))});
    CHECK(dropped(h, DropReason::table_full) == 1);
    CHECK(h.ctx.counters.connections_evicted == 1);
    // The evicted connection's counts were given back.
    CHECK(h.dest_counters[0].active + h.dest_counters[1].active == 4);
    CHECK(h.dest_counters[0].inactive + h.dest_counters[1].inactive == 0);
}

// A UDP datagram to the dns service from `client`:`port` (a flood's forged source, or a real
// client).
std::vector<uint8_t> udp_from(const std::string& client, uint16_t port) {
    PacketSpec s = client_packet(17, 0, 53, port);
    s.src_ip = client;
    return build_packet(s);
}

TEST_CASE("UDP flood from forged sources: held to its protocol's share, others still get in") {
    PipelineHarness h(64);  // shares: 90% per protocol (57 of 64), 50% per /24 prefix
    std::vector<std::vector<uint8_t>> flood;
    for (uint32_t i = 0; i < 200; ++i) {  // 200 sources in 200 prefixes, never answered
        flood.push_back(
            udp_from("198.18." + std::to_string(i) + ".1", static_cast<uint16_t>(1024 + i)));
    }
    for (size_t i = 0; i < flood.size(); i += 32) {
        h.run({flood.begin() + static_cast<long>(i),
               flood.begin() + static_cast<long>(std::min(i + 32, flood.size()))});
    }
    // Each datagram past the share took the place of the oldest unanswered one.
    CHECK(h.table->size() == 57);
    CHECK(h.ctx.counters.connections_evicted == 200 - 57);
    CHECK(dropped(h, DropReason::protocol_share) == 0);
    CHECK(h.sent.size() == 200);
    // A real client's TCP connection and a real client's UDP exchanges all get in.
    h.run({build_packet(from_client(5000, SYN))});
    CHECK(h.sent.size() == 201);
    CHECK(h.table->size() == 58);
    h.run({udp_from("202.100.1.2", 5300)});
    REQUIRE(h.sent.size() == 202);
    const std::string rip = format_ip(read_fields(h.sent.back().bytes).dst_ip);
    PacketSpec answer = server_packet(17, rip, 53, 0, 5300);
    h.run({build_packet(answer)});
    h.run({udp_from("202.100.1.2", 5300)});
    CHECK(h.sent.size() == 204);
    const uint32_t id = h.table->lookup(FlowKey{
        ip_raw("202.100.1.2"), ip_raw("202.103.106.5"), port_raw(5300), port_raw(53), 17, {}});
    REQUIRE(id != ConnTable::kNoConn);
    // It went on after the answer (assured): 57 more forged datagrams leave it alone.
    std::vector<std::vector<uint8_t>> more;
    for (uint16_t i = 0; i < 57; ++i) {
        more.push_back(
            udp_from("198.18." + std::to_string(200 + i % 50) + "." + std::to_string(10 + i / 50),
                     static_cast<uint16_t>(20000 + i)));
    }
    h.run({more.begin(), more.begin() + 32});
    h.run({more.begin() + 32, more.end()});
    CHECK(h.sent.size() == 204 + 57);
    CHECK(h.table->live(id));
    CHECK(h.table->lookup(h.table->conn(id).inbound_key()) == id);
    CHECK(h.ctx.counters.connections_evicted == 200 - 57 + 1 + 57);
}

TEST_CASE("a flood the server answers churns past a real query still waiting for its answer") {
    PipelineHarness h(64);  // UDP: 57 of 64
    // One forged datagram and the real server's answer to it: a finished exchange.
    auto answered_flood = [&h](uint32_t i) {
        const std::string source =
            "198.18." + std::to_string(i % 250) + "." + std::to_string(1 + i / 250);
        h.run({udp_from(source, static_cast<uint16_t>(1024 + i))});
        const PacketFields out = read_fields(h.sent.back().bytes);
        PacketSpec answer =
            server_packet(17, format_ip(out.dst_ip), 53, 0, static_cast<uint16_t>(1024 + i));
        answer.dst_ip = source;
        h.run({build_packet(answer)});
    };
    for (uint32_t i = 0; i < 57; ++i) {
        answered_flood(i);
    }
    h.run({udp_from("202.100.1.2", 5300)});  // a real query; its answer takes a while
    const size_t query = h.sent.size() - 1;
    for (uint32_t i = 57; i < 157; ++i) {
        answered_flood(i);
    }
    CHECK(h.ctx.counters.connections_evicted == 101);
    const std::string rip = format_ip(read_fields(h.sent[query].bytes).dst_ip);
    const size_t before = h.sent.size();
    h.run({build_packet(server_packet(17, rip, 53, 0, 5300))});
    CHECK(h.sent.size() == before + 1);  // the answer still finds its connection
    CHECK(format_ip(read_fields(h.sent.back().bytes).dst_ip) == "202.100.1.2");
}

TEST_CASE("a protocol at its share with nothing unanswered: new connections dropped, counted") {
    PipelineHarness h(10);  // 9 TCP at most
    h.snapshot->prefix_share_percent = 100;
    std::vector<std::vector<uint8_t>> opening;
    for (uint16_t port = 2000; port < 2010; ++port) {  // ten complete handshakes
        opening.push_back(build_packet(from_client(port, SYN)));
        opening.push_back(build_packet(from_client(port, ACK)));
    }
    h.run(opening);
    CHECK(h.table->size() == 9);
    CHECK(dropped(h, DropReason::protocol_share) == 1);
    CHECK(dropped(h, DropReason::no_connection) == 1);  // the tenth's ACK
    h.run({udp_from("202.100.1.2", 5300)});             // the other protocol still has room
    CHECK(h.table->size() == 10);
}

TEST_CASE("one source prefix holds at most its share of the table") {
    PipelineHarness h(64);  // 50%: 32 of 64 per /24
    std::vector<std::vector<uint8_t>> syns;
    for (uint16_t i = 0; i < 40; ++i) {
        PacketSpec s = from_client(static_cast<uint16_t>(3000 + i), SYN);
        s.src_ip = "202.100.1." + std::to_string(2 + i);
        syns.push_back(build_packet(s));
    }
    h.run({syns.begin(), syns.begin() + 32});
    h.run({syns.begin() + 32, syns.end()});
    CHECK(h.table->size() == 32);
    CHECK(dropped(h, DropReason::prefix_share) == 8);
    PacketSpec other = from_client(3100, SYN);
    other.src_ip = "202.100.2.2";  // another /24
    h.run({build_packet(other)});
    CHECK(h.table->size() == 33);
    // A reload to /16 prefixes counts the table again: now all 33 share one prefix.
    h.snapshot->source_prefix_mask = ip_raw("255.255.0.0");
    other.src_ip = "202.100.3.2";
    h.run({build_packet(other)});
    CHECK(h.table->size() == 33);
    CHECK(dropped(h, DropReason::prefix_share) == 9);
}

TEST_CASE("reverse-path filter: a source not routed back out of the arrival link is dropped") {
    PipelineHarness h;
    PacketSpec spoofed = client_packet(17, 0, 53, 4000);
    spoofed.src_ip = "172.16.0.2";  // a real server's address, arriving from the outside
    h.run({build_packet(spoofed)});
    CHECK(h.sent.empty());
    CHECK(dropped(h, DropReason::reverse_path) == 1);
    CHECK(h.table->size() == 0);
    // A reply key arriving on the wrong link does not reach the client either.
    h.run({build_packet(from_client(4100, SYN))});
    PacketSpec injected = from_server("172.16.0.3", 8000, 4100, ACK);
    injected.src_mac = kGatewayMac;
    injected.dst_mac = kOutsideMac;
    h.run({build_packet(injected)});
    CHECK(dropped(h, DropReason::reverse_path) == 2);
    // loose: any routable source; off: anything.
    h.snapshot->reverse_path = ReversePathMode::loose;
    h.run({build_packet(spoofed)});
    CHECK(dropped(h, DropReason::reverse_path) == 2);
    h.snapshot->interfaces[0].gateway = 0;  // no default route: 202.100.1.2 is unroutable
    h.snapshot->finalize(1);
    PacketSpec unroutable = client_packet(17, 0, 53, 4001);
    h.run({build_packet(unroutable)});
    CHECK(dropped(h, DropReason::reverse_path) == 3);
    h.snapshot->reverse_path = ReversePathMode::off;
    h.run({build_packet(unroutable)});
    CHECK(dropped(h, DropReason::reverse_path) == 3);
}

TEST_CASE("TCP resets to VIP ports without a service are rate-limited like unreachables") {
    PipelineHarness h;
    h.snapshot->reject_per_second = 100;  // bursts of 10
    std::vector<std::vector<uint8_t>> syns;
    for (uint16_t i = 0; i < 30; ++i) {
        syns.push_back(build_packet(from_client(static_cast<uint16_t>(4300 + i), SYN, 8080)));
    }
    h.run(syns, 0);
    CHECK(h.ctx.counters.resets_sent == 10);
    CHECK(dropped(h, DropReason::rate_limited) == 20);
    h.run({syns.begin(), syns.begin() + 5}, 20);  // 20 ms later: two tokens back
    CHECK(h.ctx.counters.resets_sent == 12);
    h.snapshot->reject_per_second = 0;  // none at all
    h.run({syns.begin(), syns.begin() + 5}, 5000);
    CHECK(h.ctx.counters.resets_sent == 12);
}

// A frame of `spec` with a payload making its IP datagram `ip_len` bytes, DF set or not.
std::vector<uint8_t> sized(PacketSpec spec, size_t ip_len, bool dont_fragment) {
    spec.payload.assign(ip_len - 20 - 20, 0x5a);
    std::vector<uint8_t> frame = build_packet(spec);
    frame[14 + 6] = dont_fragment ? 0x40 : 0;
    recompute_checksums(frame);
    return frame;
}

TEST_CASE("over the egress MTU: fragmentation needed back to the sender with DF, else dropped") {
    PipelineHarness h;
    h.snapshot->interfaces[1].mtu = 1400;  // the inside link
    h.snapshot->finalize(1);
    h.run({build_packet(from_client(4400, SYN))});
    REQUIRE(h.sent.size() == 1);
    const std::vector<uint8_t> big = sized(from_client(4400, ACK), 1450, true);
    h.run({big});
    REQUIRE(h.sent.size() == 2);
    const std::vector<uint8_t>& icmp = h.sent[1].bytes;
    CHECK(h.sent[1].port == kOutsidePort);
    CHECK(format_ip(read_fields(icmp).src_ip) == "202.103.106.1");  // the link it came in on
    CHECK(format_ip(read_fields(icmp).dst_ip) == "202.100.1.2");
    CHECK(icmp[34] == 3);                     // destination unreachable
    CHECK(icmp[35] == 4);                     // fragmentation needed
    CHECK(load_be16(&icmp[34 + 6]) == 1400);  // the next hop's MTU (RFC 1191)
    CHECK(std::equal(big.begin() + 14, big.begin() + 14 + 28, icmp.begin() + 42));  // as sent
    CHECK(checksums_valid(icmp));
    CHECK(h.ctx.counters.frag_needed_sent == 1);
    CHECK(dropped(h, DropReason::over_mtu) == 1);
    // Without DF: dropped, counted, nothing sent. At the MTU: forwarded.
    h.run({sized(from_client(4400, ACK), 1450, false)});
    CHECK(h.sent.size() == 2);
    CHECK(dropped(h, DropReason::over_mtu) == 2);
    h.run({sized(from_client(4400, ACK), 1400, true)});
    CHECK(h.sent.size() == 3);
    // A real server's reply too big for the outside link: told from the inside address.
    h.snapshot->interfaces[0].mtu = 1300;
    h.snapshot->finalize(1);
    const std::string rip = format_ip(read_fields(h.sent[0].bytes).dst_ip);
    const uint16_t rport = read_fields(h.sent[0].bytes).dst_port;
    h.run({sized(from_server(rip, rport, 4400, ACK), 1350, true)});
    REQUIRE(h.sent.size() == 4);
    CHECK(format_ip(read_fields(h.sent[3].bytes).src_ip) == "172.16.0.1");
    CHECK(format_ip(read_fields(h.sent[3].bytes).dst_ip) == rip);
    CHECK(load_be16(&h.sent[3].bytes[34 + 6]) == 1300);
}

TEST_CASE("weight 0 quiesces a server: no new connections, existing ones go on") {
    PipelineHarness h(1024, 0);
    std::vector<std::vector<uint8_t>> syns;
    for (uint16_t port = 3000; port < 3010; ++port) {
        syns.push_back(build_packet(from_client(port, SYN)));
    }
    h.run(syns);
    for (const auto& s : h.sent) {
        CHECK(format_ip(read_fields(s.bytes).dst_ip) == "172.16.0.3");
    }
    CHECK(h.sent.size() == 10);
}

TEST_CASE("a next hop with no MAC yet, and a destination with no route, are counted") {
    PipelineHarness h;
    h.neighbors.set(kInsidePort, ip_raw("172.16.0.9"), kRs1Mac);  // unrelated
    auto snap = seed_snapshot();
    snap->services[0].servers[1].ip = ip_raw("172.16.9.9");  // on-link, never resolved
    snap->services[0].servers[0].ip = ip_raw("10.1.1.1");    // via the outside gateway
    snap->interfaces[0].gateway = 0;                         // ... which is gone
    snap->reverse_path = ReversePathMode::off;               // the client is unroutable now too
    snap->finalize(1);
    h.ctx.snapshot = snap.get();
    h.run({build_packet(from_client(6000, SYN)), build_packet(from_client(6001, SYN))});
    REQUIRE(h.sent.size() == 1);  // only the ARP request for 172.16.9.9
    CHECK(load_be16(&h.sent[0].bytes[12]) == 0x0806);
    CHECK(h.ctx.counters.held_for_arp == 1);
    CHECK(dropped(h, DropReason::no_route) == 1);
}

// ---- schedulers, thresholds and persistence across workers (WorkerGroup) ------------------

namespace {

// Client `address`'s packet as it arrives from the gateway.
PacketSpec from_address(const std::string& address, uint16_t client_port, uint8_t flags) {
    PacketSpec s = from_client(client_port, flags);
    s.src_ip = address;
    return s;
}

// The real server each packet the group sent to the inside went to, in order.
std::vector<std::string> servers_reached(const WorkerGroup& g, size_t from = 0) {
    std::vector<std::string> out;
    for (size_t i = from; i < g.sent.size(); ++i) {
        if (g.sent[i].port == kInsidePort) {
            out.push_back(format_ip(read_fields(g.sent[i].bytes).dst_ip));
        }
    }
    return out;
}

// Client ports of 202.100.1.2 that worker `w` of `workers` owns.
std::vector<uint16_t> ports_owned_by(uint32_t w, uint32_t workers, uint16_t first, size_t n) {
    std::vector<uint16_t> out;
    for (uint32_t p = first; out.size() < n; ++p) {
        const auto port = static_cast<uint16_t>(p);
        if (owner_of_client(ip_raw("202.100.1.2"), port_raw(port), workers) == w) {
            out.push_back(port);
        }
    }
    return out;
}

// The seed's snapshot with web (A = 172.16.0.2:80 weight 1, B = 172.16.0.3:8000 weight 2)
// scheduled by `kind`, with `persistence_ms`.
std::unique_ptr<Snapshot> web(SchedulerKind kind, uint32_t persistence_ms = 0) {
    auto snap = seed_snapshot();
    snap->services[0].scheduler = kind;
    snap->services[0].persistence_ms = persistence_ms;
    return snap;
}

size_t count_of(const std::vector<std::string>& v, const std::string& s) {
    return static_cast<size_t>(std::count(v.begin(), v.end(), s));
}

constexpr uint32_t kFiveMinutes = 300000;

}  // namespace

TEST_CASE("persistence: 100 connections from one address reach one server on both workers") {
    std::vector<std::vector<uint8_t>> syns;
    for (uint16_t port = 10000; port < 10100; ++port) {
        syns.push_back(build_packet(from_client(port, SYN)));
    }
    // rr alternates servers, so without persistence both are reached: the control.
    WorkerGroup plain(web(SchedulerKind::rr), 2);
    plain.run(syns, 1000);
    const auto spread = servers_reached(plain);
    CHECK(count_of(spread, "172.16.0.2") > 20);
    CHECK(count_of(spread, "172.16.0.3") > 20);

    WorkerGroup g(web(SchedulerKind::rr, kFiveMinutes), 2);
    g.run(syns, 1000);
    const auto reached = servers_reached(g);
    REQUIRE(reached.size() == 100);
    CHECK(count_of(reached, reached[0]) == 100);
    // Both workers took a good share of the connections.
    CHECK(std::count(g.handled_by.begin(), g.handled_by.end(), 0u) > 20);
    CHECK(std::count(g.handled_by.begin(), g.handled_by.end(), 1u) > 20);
    CHECK(g.persistence->live(1000) == 1);
    CHECK(g.counter(&WorkerCounters::persistence_hits) == 99);
    CHECK(g.counter(&WorkerCounters::persistence_unrecorded) == 0);
}

TEST_CASE("persistence: several client addresses spread; a netmask groups them") {
    std::vector<std::vector<uint8_t>> syns;
    for (uint16_t round = 0; round < 10; ++round) {
        for (int host = 1; host <= 16; ++host) {
            syns.push_back(build_packet(from_address("202.100.1." + std::to_string(host),
                                                     static_cast<uint16_t>(20000 + round), SYN)));
        }
    }
    WorkerGroup g(web(SchedulerKind::rr, kFiveMinutes), 2);
    g.run(syns, 0);
    const auto reached = servers_reached(g);
    REQUIRE(reached.size() == 160);
    for (size_t host = 0; host < 16; ++host) {
        INFO("client 202.100.1." << host + 1);
        for (size_t round = 1; round < 10; ++round) {
            CHECK(reached[round * 16 + host] == reached[host]);
        }
    }
    CHECK(count_of(reached, "172.16.0.2") >= 30);
    CHECK(count_of(reached, "172.16.0.3") >= 30);
    CHECK(g.persistence->live(0) == 16);

    // persistence_netmask /24: one template for the whole network.
    auto masked = web(SchedulerKind::rr, kFiveMinutes);
    masked->services[0].persistence_mask = ip_raw("255.255.255.0");
    WorkerGroup m(std::move(masked), 2);
    m.run(syns, 0);
    const auto one = servers_reached(m);
    REQUIRE(one.size() == 160);
    CHECK(count_of(one, one[0]) == 160);
    CHECK(m.persistence->live(0) == 1);
}

TEST_CASE(
    "persistence: the template outlives the last connection by the timeout; a quiesced "
    "server keeps its persistent client") {
    WorkerGroup g(web(SchedulerKind::rr, kFiveMinutes), 2);
    auto connect = [&g](uint16_t port, uint32_t at) {
        const size_t before = g.sent.size();
        g.run({build_packet(from_client(port, SYN))}, at);
        const auto r = servers_reached(g, before);
        REQUIRE(r.size() == 1);
        return r[0];
    };
    // One connection, reset by the server: CLOSE for 10 s, then gone.
    const std::string first = connect(30000, 0);
    const uint16_t first_port = first == "172.16.0.2" ? 80 : 8000;
    g.run({build_packet(from_server(first, first_port, 30000, RST | ACK))}, 10);
    g.expire(10200);
    REQUIRE(g.workers[0]->table->size() + g.workers[1]->table->size() == 0);
    // The template lives 5 minutes from the connection's end.
    CHECK(g.persistence->live(10200 + kFiveMinutes - 1) == 1);

    // The operator quiesces that server: the persistent client still goes there.
    auto quiesced = web(SchedulerKind::rr, kFiveMinutes);
    quiesced->services[0].servers[first == "172.16.0.2" ? 0 : 1].weight = 0;
    g.publish(std::move(quiesced));
    CHECK(connect(30001, 10200 + kFiveMinutes - 100) == first);
    g.run({build_packet(from_server(first, first_port, 30001, RST | ACK))},
          10200 + kFiveMinutes - 90);
    const uint32_t ended = 10200 + kFiveMinutes + 10000;
    g.expire(ended);
    CHECK(g.persistence->live(ended + kFiveMinutes - 1) == 1);
    CHECK(g.persistence->live(ended + kFiveMinutes) == 0);

    // Once it has expired, the client is scheduled afresh, away from the quiesced server.
    g.expire(ended + kFiveMinutes);
    CHECK(connect(30002, ended + kFiveMinutes) != first);
    CHECK(g.counter(&WorkerCounters::persistence_hits) == 1);
}

TEST_CASE("persistence: survives a weight change; a removed server's client is rescheduled") {
    WorkerGroup g(web(SchedulerKind::rr, kFiveMinutes), 2);
    g.run({build_packet(from_client(31000, SYN))}, 0);
    const std::string first = servers_reached(g).at(0);
    const size_t first_index = first == "172.16.0.2" ? 0 : 1;

    auto reweighted = web(SchedulerKind::rr, kFiveMinutes);
    reweighted->services[0].servers[first_index].weight = 1;
    reweighted->services[0].servers[1 - first_index].weight = 100;
    g.publish(std::move(reweighted));
    for (uint16_t port = 31001; port < 31011; ++port) {
        g.run({build_packet(from_client(port, SYN))}, 100);
    }
    CHECK(count_of(servers_reached(g), first) == 11);

    // The server is removed by a reload: the template is pointed at the other one, for good.
    auto removed = web(SchedulerKind::rr, kFiveMinutes);
    removed->services[0].servers.erase(removed->services[0].servers.begin() +
                                       static_cast<long>(first_index));
    g.publish(std::move(removed));
    const size_t before = g.sent.size();
    g.run({build_packet(from_client(31020, SYN))}, 200);
    g.publish(web(SchedulerKind::rr, kFiveMinutes));  // back again: the client stays moved
    for (uint16_t port = 31021; port < 31031; ++port) {
        g.run({build_packet(from_client(port, SYN))}, 300);
    }
    const auto after = servers_reached(g, before);
    REQUIRE(after.size() == 11);
    CHECK(count_of(after, first) == 0);
    CHECK(g.persistence->live(300) == 1);
}

TEST_CASE(
    "wlc: new connections avoid a server holding long-lived ones, counted on another "
    "worker") {
    auto quiet_b = web(SchedulerKind::wlc);
    quiet_b->services[0].servers[1].weight = 0;
    WorkerGroup g(std::move(quiet_b), 2);
    // 20 long-lived connections, all owned by worker 0, all to A (B quiesced for now).
    for (uint16_t port : ports_owned_by(0, 2, 40000, 20)) {
        g.run({build_packet(from_client(port, SYN))}, 0);
        g.run({build_packet(from_server("172.16.0.2", 80, port, SYN | ACK))}, 1);
        g.run({build_packet(from_client(port, ACK))}, 2);
    }
    REQUIRE(g.dest(0).active == 20);

    auto both = web(SchedulerKind::wlc);
    both->services[0].servers[1].weight = 1;
    g.publish(std::move(both));
    // Worker 1 holds none of A's connections itself, yet sends every new one to B: it sees
    // A's 20 * 256 against B's few inactive ones. (Seeing only its own counts, it would call
    // them equal and pick A, the first.)
    const size_t before = g.sent.size();
    for (uint16_t port : ports_owned_by(1, 2, 50000, 30)) {
        g.run({build_packet(from_client(port, SYN))}, 100);
    }
    const auto reached = servers_reached(g, before);
    REQUIRE(reached.size() == 30);
    CHECK(count_of(reached, "172.16.0.3") == 30);
    CHECK(g.workers[1]->dest_counters[0].connections == 0);
    CHECK(g.dest(1).inactive == 30);
}

TEST_CASE("thresholds: a server at max_connections gets none until below min_connections") {
    auto limited = web(SchedulerKind::wrr);
    limited->services[0].servers[1].max_connections = 3;  // B, weight 2
    limited->services[0].servers[1].min_connections = 1;
    WorkerGroup g(std::move(limited), 2);
    std::vector<uint16_t> to_b;
    uint16_t next_port = 60000;
    auto open = [&](int n, uint32_t at) {
        std::string where;
        for (int i = 0; i < n; ++i) {
            const size_t before = g.sent.size();
            g.run({build_packet(from_client(next_port, SYN))}, at);
            const std::string s = servers_reached(g, before).at(0);
            where += s == "172.16.0.3" ? 'B' : 'A';
            if (s == "172.16.0.3") {
                to_b.push_back(next_port);
            }
            ++next_port;
            CHECK(g.dest(1).inactive <= 3);
        }
        return where;
    };
    auto close_b = [&](size_t n, uint32_t at) {
        for (size_t i = 0; i < n; ++i) {
            g.run({build_packet(from_server("172.16.0.3", 8000, to_b.front(), RST | ACK))}, at);
            to_b.erase(to_b.begin());
        }
        g.expire(at + 10200);
    };
    // Both workers open connections; B stops at 3 in all, then A takes everything.
    const std::string first = open(12, 0);
    CHECK(std::count(first.begin(), first.end(), 'B') == 3);
    INFO(first);
    CHECK(first.substr(first.size() - 5) == "AAAAA");
    CHECK(g.dest(1).inactive == 3);
    // Down to 1: not below min_connections (1) yet.
    close_b(2, 100);
    CHECK(g.dest(1).inactive == 1);
    CHECK(open(4, 20000) == "AAAA");
    // Down to 0: B takes connections again.
    close_b(1, 30000);
    const std::string last = open(6, 50000);
    INFO(last);
    CHECK(std::count(last.begin(), last.end(), 'B') >= 2);
}

TEST_CASE("a new SYN on a TIME_WAIT connection is scheduled afresh (LVS conn_reuse_mode)") {
    PipelineHarness h;
    // wrr 1:2 picks rs2, then rs1: the port's second life must go to rs1.
    h.run({build_packet(from_client(7300, SYN))});
    h.run({build_packet(from_server("172.16.0.3", 8000, 7300, SYN | ACK))});
    h.run({build_packet(from_client(7300, ACK))});
    h.run({build_packet(from_client(7300, FIN | ACK))});
    h.run({build_packet(from_server("172.16.0.3", 8000, 7300, FIN | ACK))});
    const FlowKey inbound{
        ip_raw("202.100.1.2"), ip_raw("202.103.106.5"), port_raw(7300), port_raw(80), 6, {}};
    REQUIRE(h.table->conn(h.table->lookup(inbound)).state == ConnState::time_wait);
    h.run({build_packet(from_client(7300, ACK))});  // the last ACK keeps it, as LVS does
    CHECK(h.ctx.counters.connections_reused == 0);
    h.run({build_packet(from_client(7300, SYN))});
    CHECK(h.ctx.counters.connections_reused == 1);
    CHECK(format_ip(read_fields(h.sent.back().bytes).dst_ip) == "172.16.0.2");
    CHECK(h.table->conn(h.table->lookup(inbound)).state == ConnState::syn_recv);
    CHECK(h.table->size() == 1);
    CHECK(h.dest_counters[1].inactive == 0);  // the old connection's count went with it
    CHECK(h.dest_counters[0].inactive == 1);
}

TEST_CASE("drain: drop ends the connections of a removed real server, drain: finish keeps them") {
    PipelineHarness h;
    h.run({build_packet(from_client(7400, SYN)), build_packet(from_client(7401, SYN)),
           build_packet(from_client(7402, SYN))});  // wrr 1:2: rs2, rs1, rs2
    REQUIRE(h.table->size() == 3);
    auto finish = seed_snapshot();  // rs2 gone, nothing marked: its connections go on
    finish->services[0].servers.pop_back();
    finish->finalize(1);
    h.ctx.snapshot = finish.get();
    CHECK(end_drained_connections(h.ctx, 10) == 0);
    h.run({build_packet(from_client(7400, ACK))}, 10);
    CHECK(h.sent.size() == 4);

    auto drop = seed_snapshot();
    drop->services[0].servers.pop_back();
    drop->mark_dropped(1);  // what the builder does for `drain: drop`
    drop->finalize(1);
    h.ctx.snapshot = drop.get();
    CHECK(end_drained_connections(h.ctx, 20) == 2);
    CHECK(h.table->size() == 1);
    CHECK(h.dest_counters[1].inactive == 0);
    h.run({build_packet(from_client(7401, ACK))}, 30);  // rs1's connection goes on
    CHECK(h.sent.size() == 5);
    CHECK(h.ctx.counters.connections_drained == 2);
}

TEST_CASE("two services on one real server port: a finished connection gives way, a live one not") {
    auto snap = seed_snapshot();
    snap->services[0].servers.resize(1);  // web :80 -> 172.16.0.2:80 only
    dp::ServiceEntry other = snap->services[0];
    other.service_id = 9;
    other.port = port_raw(81);
    other.servers[0].dest_id = 5;  // :81 -> 172.16.0.2:80 as well
    snap->services.push_back(other);
    WorkerGroup g(std::move(snap), 1);

    // Client port 5000 to :80, closed (TIME_WAIT), then the same port to :81: the same reply
    // key (172.16.0.2:80 -> client:5000).
    g.run({build_packet(from_client(5000, SYN)),
           build_packet(from_server("172.16.0.2", 80, 5000, SYN | ACK)),
           build_packet(from_client(5000, ACK)), build_packet(from_client(5000, FIN | ACK)),
           build_packet(from_server("172.16.0.2", 80, 5000, FIN | ACK))});
    const PacketSpec syn81 = from_client(5000, SYN, 81);
    g.run({build_packet(syn81)});
    REQUIRE(g.sent.size() == 6);
    CHECK(g.sent[5].bytes ==
          expected(syn81, "202.100.1.2", 5000, "172.16.0.2", 80, kInsideMac, kRs1Mac));
    CHECK(g.counter(&WorkerCounters::connections_reused) == 1);
    // Its replies belong to the new connection: they leave from VIP:81.
    const PacketSpec reply = from_server("172.16.0.2", 80, 5000, SYN | ACK);
    g.run({build_packet(reply)});
    CHECK(g.sent.back().bytes ==
          expected(reply, "202.103.106.5", 81, "202.100.1.2", 5000, kOutsideMac, kGatewayMac));

    // An established connection keeps its reply key: the other service's SYN is refused.
    g.run({build_packet(from_client(6000, SYN)), build_packet(from_client(6000, ACK))});
    const size_t sent = g.sent.size();
    g.run({build_packet(from_client(6000, SYN, 81))});
    CHECK(g.sent.size() == sent);
    CHECK(g.counter(&WorkerCounters::connections_reused) == 1);
    CHECK(g.workers[0]->ctx.counters.dropped(DropReason::flow_conflict) == 1);
}

TEST_CASE("a server its health check took down: no new connections, its persistent client moved") {
    WorkerGroup g(web(SchedulerKind::rr, kFiveMinutes), 2);
    g.run({build_packet(from_client(32000, SYN))}, 0);
    const std::string first = servers_reached(g).at(0);
    const size_t first_index = first == "172.16.0.2" ? 0 : 1;

    // What the snapshot builder makes of a server whose check failed: weight 0 and down.
    auto down = web(SchedulerKind::rr, kFiveMinutes);
    down->services[0].servers[first_index].weight = 0;
    down->services[0].servers[first_index].down = true;
    g.publish(std::move(down));
    const size_t before = g.sent.size();
    for (uint16_t port = 32001; port < 32011; ++port) {
        g.run({build_packet(from_client(port, SYN))}, 100);
    }
    g.publish(web(SchedulerKind::rr, kFiveMinutes));  // up again: the client stays moved
    for (uint16_t port = 32011; port < 32021; ++port) {
        g.run({build_packet(from_client(port, SYN))}, 200);
    }
    const auto after = servers_reached(g, before);
    REQUIRE(after.size() == 20);
    CHECK(count_of(after, first) == 0);
}

TEST_CASE("no real server available: TCP gets a RST, UDP a port unreachable, as no_real_server") {
    PipelineHarness h;
    auto none_up = seed_snapshot();
    for (ServiceEntry& s : none_up->services) {
        for (Destination& d : s.servers) {
            d.weight = 0;
            d.down = true;
        }
    }
    none_up->finalize(1);
    h.ctx.snapshot = none_up.get();
    h.run({build_packet(from_client(4200, SYN))});
    REQUIRE(h.sent.size() == 1);
    CHECK(h.sent[0].bytes[34 + 13] == (RST | ACK));
    CHECK(format_ip(read_fields(h.sent[0].bytes).src_ip) == "202.103.106.5");
    CHECK(read_fields(h.sent[0].bytes).src_port == 80);
    CHECK(h.ctx.counters.resets_sent == 1);

    PacketSpec udp = from_client(4201, 0, 53);
    udp.protocol = 17;
    h.run({build_packet(udp)});
    REQUIRE(h.sent.size() == 2);
    CHECK(h.sent[1].bytes[34] == 3);  // destination unreachable
    CHECK(h.sent[1].bytes[35] == 3);  // port unreachable
    CHECK(h.ctx.counters.drops[static_cast<size_t>(DropReason::no_real_server)] == 2);
    CHECK(h.ctx.counters.drops[static_cast<size_t>(DropReason::no_service)] == 0);
    CHECK(h.table->size() == 0);
}

TEST_CASE("a server's answers to new connections are counted: SYN-ACK, or a reset") {
    PipelineHarness h;
    h.run({build_packet(from_client(7500, SYN)), build_packet(from_client(7501, SYN))});
    REQUIRE(h.sent.size() == 2);
    const PacketFields to_first = read_fields(h.sent[0].bytes);
    const PacketFields to_second = read_fields(h.sent[1].bytes);
    h.run(
        {build_packet(from_server(format_ip(to_first.dst_ip), to_first.dst_port, 7500, SYN | ACK)),
         build_packet(
             from_server(format_ip(to_second.dst_ip), to_second.dst_port, 7501, RST | ACK))},
        10);
    // Later packets of an answered connection are not answers to a SYN.
    h.run({build_packet(from_client(7500, ACK)),
           build_packet(from_server(format_ip(to_first.dst_ip), to_first.dst_port, 7500, ACK))},
          20);
    DestCounters total;
    for (const ServiceEntry& s : h.snapshot->services) {
        for (const Destination& d : s.servers) {
            total += h.dest_counters[d.dest_id];
        }
    }
    CHECK(total.syn_answered == 1);
    CHECK(total.syn_refused == 1);
}

TEST_CASE("follow_kernel: a VIP or floating address is answered and served only while held") {
    PipelineHarness h;
    // What the builder makes under ha.addresses: follow_kernel with nothing on the mirrors:
    // the real servers' gateway 172.16.0.254 floats on the inside link.
    auto backup = seed_snapshot();
    backup->interfaces[kInsidePort].floating = {ip_raw("172.16.0.254")};
    backup->follow_kernel = true;
    backup->finalize(1);
    h.ctx.snapshot = backup.get();
    const auto ask_vip = arp_frame(1, "202.103.106.254", kGatewayMac, "202.103.106.5", kBroadcast);
    // (The harness takes a frame to kInsideMac for one of the inside link.)
    const auto ask_gateway = arp_frame(1, "172.16.0.2", kRs1Mac, "172.16.0.254", kInsideMac);
    const auto ask_own = arp_frame(1, "172.16.0.2", kRs1Mac, "172.16.0.1", kInsideMac);
    h.run({ask_vip, ask_gateway, ask_own, build_packet(from_client(7600, SYN))});
    REQUIRE(h.sent.size() == 1);  // only the director's own address is answered
    CHECK(load_u32_raw(&h.sent[0].bytes[28]) == ip_raw("172.16.0.1"));
    CHECK(dropped(h, DropReason::not_for_us) == 1);  // the SYN to the VIP
    CHECK(h.table->size() == 0);
    // The master's gratuitous ARPs for what it holds are no claim on this director's addresses.
    const auto master_vip = arp_frame(1, "202.103.106.5", kGatewayMac, "202.103.106.5", kBroadcast);
    const auto master_gateway = arp_frame(1, "172.16.0.254", kRs2Mac, "172.16.0.254", kInsideMac);
    h.run({master_vip, master_gateway});
    CHECK(dropped(h, DropReason::arp_claims_ours) == 0);
    CHECK(h.sent.size() == 1);

    // keepalived made this director master: both addresses on its mirrors.
    auto master = seed_snapshot();
    master->interfaces[kInsidePort].floating = {ip_raw("172.16.0.254")};
    master->follow_kernel = true;
    master->held = {ip_raw("202.103.106.5"), ip_raw("172.16.0.254")};
    master->finalize(1);
    h.ctx.snapshot = master.get();
    h.run({ask_vip, ask_gateway, build_packet(from_client(7601, SYN))});
    REQUIRE(h.sent.size() == 4);
    CHECK(load_u32_raw(&h.sent[1].bytes[28]) == ip_raw("202.103.106.5"));
    CHECK(load_u32_raw(&h.sent[2].bytes[28]) == ip_raw("172.16.0.254"));
    CHECK(std::equal(kInsideMac.begin(), kInsideMac.end(), &h.sent[2].bytes[22]));
    CHECK(h.sent[3].port == kInsidePort);  // the SYN, to a real server
    CHECK(h.table->size() == 1);
    // Now someone else announcing them is.
    h.run({master_vip, master_gateway});
    CHECK(dropped(h, DropReason::arp_claims_ours) == 2);
}
