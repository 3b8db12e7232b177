// The kernel side of the director: what the pipeline hands a port's kernel mirror, in which
// queue, and what it never does; and the mirrors' loop between rings and ring-backed ports.
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_ring.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <string>

#include "dp/bytes.hpp"
#include "dp/mirror.hpp"
#include "lab_fixture.hpp"

using namespace vsnat;
using namespace vsnat::dp;
using namespace vsnat::test;

namespace {

constexpr uint8_t RST = 0x04;

// A harness whose outside (and, with `inside`, inside) port has a kernel mirror.
void mirror_ports(PipelineHarness& h, bool inside = false) {
    h.snapshot->interfaces[0].kernel_mirror = true;
    h.snapshot->interfaces[1].kernel_mirror = inside;
}

// From the seed's client to the director's outside address.
PacketSpec to_director(uint8_t protocol, uint16_t port, uint8_t flags = SYN) {
    PacketSpec s = client_packet(protocol, flags, port, 40000);
    s.dst_ip = "202.103.106.1";
    return s;
}

size_t count_class(const PipelineHarness& h, PuntClass cls) {
    return static_cast<size_t>(std::count_if(h.punted.begin(), h.punted.end(),
                                             [cls](const auto& p) { return p.cls == cls; }));
}

}  // namespace

TEST_CASE("without a kernel mirror nothing is punted: TCP to the director's address is dropped") {
    PipelineHarness h;
    h.run({build_packet(to_director(6, 22)), build_packet(to_director(17, 5000, 0))});
    CHECK(h.punted.empty());
    CHECK(h.sent.empty());
    CHECK(dropped(h, DropReason::to_director) == 2);
}

TEST_CASE("with a mirror, TCP and UDP to the director's addresses go to the kernel, unchanged") {
    PipelineHarness h;
    mirror_ports(h);
    const auto ssh = build_packet(to_director(6, 22));
    const auto udp = build_packet(to_director(17, 5000, 0));
    PacketSpec established = to_director(6, 22, ACK);
    established.payload = {'S', 'S', 'H', '-'};
    PacketSpec to_inside_address = to_director(6, 22);
    to_inside_address.dst_ip = "172.16.0.1";  // the other link's address: Linux takes it too
    h.run({ssh, udp, build_packet(established), build_packet(to_inside_address)});
    REQUIRE(h.punted.size() == 4);
    CHECK(h.punted[0].bytes == ssh);  // not rewritten, TTL untouched
    CHECK(h.punted[1].bytes == udp);
    for (const auto& p : h.punted) {
        CHECK(p.port == kOutsidePort);
        CHECK(p.cls == PuntClass::bulk);
    }
    CHECK(h.sent.empty());
    CHECK(dropped(h, DropReason::to_director) == 0);
    CHECK(h.table->size() == 0);  // the kernel's connections are the kernel's to track
}

TEST_CASE("BGP is control traffic, and eBGP's TTL of 1 does not stop it") {
    PipelineHarness h;
    mirror_ports(h);
    PacketSpec open = to_director(6, 179);
    open.ttl = 1;
    PacketSpec from_peer_port = to_director(6, 50000, ACK);
    from_peer_port.src_port = 179;
    from_peer_port.ttl = 1;
    PacketSpec forwarded_ttl1 = client_packet(6, SYN, 80, 40001);
    forwarded_ttl1.ttl = 1;
    h.run({build_packet(open), build_packet(from_peer_port), build_packet(forwarded_ttl1)});
    CHECK(count_class(h, PuntClass::control) == 2);
    CHECK(count_class(h, PuntClass::bulk) == 0);
    CHECK(dropped(h, DropReason::ttl_expired) == 1);  // to the VIP it would be forwarded
}

TEST_CASE("the VIP's traffic never goes to the kernel") {
    PipelineHarness h;
    mirror_ports(h, true);
    h.run({build_packet(from_client(4000, SYN)), build_packet(from_client(4001, SYN, 8080))});
    CHECK(h.punted.empty());
    REQUIRE(h.sent.size() == 2);  // forwarded inside, and a RST out for the port without service
    CHECK(h.sent[0].port == kOutsidePort);
    CHECK((h.sent[0].bytes[34 + 13] & RST) != 0);
    h.run({build_packet(from_server("172.16.0.3", 8000, 4000, SYN | ACK))});
    CHECK(h.punted.empty());
    CHECK(h.sent.size() == 3);
}

TEST_CASE("the answers to the kernel's own connections reach it, on the link they came in by") {
    PipelineHarness h;
    mirror_ports(h, true);
    // The kernel connected from 172.16.0.1:41000 to a real server, which answers.
    PacketSpec answer = from_server("172.16.0.2", 80, 41000, SYN | ACK);
    answer.dst_ip = "172.16.0.1";
    PacketSpec ping = answer;
    ping.protocol = 1;
    std::vector<uint8_t> pong = build_packet(ping);
    pong[34] = 0;  // echo reply
    recompute_checksums(pong);
    h.run({build_packet(answer), pong});
    REQUIRE(h.punted.size() == 2);
    CHECK(h.punted[0].port == kInsidePort);
    CHECK(h.punted[1].port == kInsidePort);
    CHECK(h.sent.empty());
}

TEST_CASE("ICMP echo to the director is still answered by the dataplane, not the kernel") {
    PipelineHarness h;
    mirror_ports(h);
    PacketSpec ping = to_director(1, 0, 0);  // an echo request
    ping.payload = {1, 2, 3, 4};
    h.run({build_packet(ping)});
    CHECK(h.punted.empty());
    REQUIRE(h.sent.size() == 1);
    CHECK(h.ctx.counters.echo_replies == 1);
}

TEST_CASE("ARP: the kernel gets a copy, the director still answers and learns") {
    PipelineHarness h;
    mirror_ports(h);
    const std::vector<uint8_t> request =
        arp_frame(1, "202.103.106.254", kGatewayMac, "202.103.106.1", kBroadcast);
    h.run({request});
    REQUIRE(h.sent.size() == 1);  // the dataplane's reply
    REQUIRE(h.punted.size() == 1);
    CHECK(h.punted[0].cls == PuntClass::control);
    CHECK(h.punted[0].bytes == request);
    // A sender claiming the director's address is refused, and the kernel does not see it.
    h.run({arp_frame(2, "202.103.106.1", kGatewayMac, "202.103.106.1", kOutsideMac)});
    CHECK(h.punted.size() == 1);
    CHECK(dropped(h, DropReason::arp_claims_ours) == 1);
}

TEST_CASE("multicast: link-local groups (VRRP, OSPF) as control, others bulk, with a mirror") {
    PipelineHarness h;
    PacketSpec vrrp = client_packet(112, 0, 0, 0);
    vrrp.src_ip = "202.103.106.2";
    vrrp.dst_ip = "224.0.0.18";
    vrrp.dst_mac = mac("01:00:5e:00:00:12");
    vrrp.ttl = 255;
    vrrp.payload = std::vector<uint8_t>(20, 0x21);
    PacketSpec group = to_director(17, 8848, 0);
    group.src_ip = "202.103.106.2";
    group.dst_ip = "239.1.2.3";
    group.dst_mac = mac("01:00:5e:01:02:03");
    h.run({build_packet(vrrp), build_packet(group)});
    CHECK(h.punted.empty());
    CHECK(dropped(h, DropReason::not_our_mac) == 2);

    mirror_ports(h);
    h.run({build_packet(vrrp), build_packet(group)});
    REQUIRE(h.punted.size() == 2);
    CHECK(h.punted[0].cls == PuntClass::control);
    CHECK(h.punted[1].cls == PuntClass::bulk);
}

TEST_CASE("fragments and other protocols to the director go to the kernel; to the VIP dropped") {
    PipelineHarness h;
    mirror_ports(h);
    PacketSpec gre = to_director(47, 0, 0);
    PacketSpec vrrp_unicast = to_director(112, 0, 0);
    std::vector<uint8_t> fragment = build_packet(to_director(17, 5000, 0));
    fragment[14 + 6] = 0x20;  // more fragments
    recompute_checksums(fragment);
    std::vector<uint8_t> vip_fragment = build_packet(client_packet(17, 0, 53));
    vip_fragment[14 + 6] = 0x20;
    recompute_checksums(vip_fragment);
    h.run({build_packet(gre), build_packet(vrrp_unicast), fragment, vip_fragment});
    REQUIRE(h.punted.size() == 3);
    CHECK(count_class(h, PuntClass::control) == 1);  // VRRP
    CHECK(count_class(h, PuntClass::bulk) == 2);
    CHECK(dropped(h, DropReason::ip_fragment) == 1);
}

// The mirrors' loop, with a ring-backed ethdev as the kernel's end of the outside mirror.
TEST_CASE("the mirrors' loop: control first, bulk a burst per worker per round, back by port") {
    static int instance = 0;
    const std::string name = "mirror" + std::to_string(instance++);
    rte_ring* kernel_rx = rte_ring_create((name + "rx").c_str(), 4096, 0, 0);
    rte_ring* kernel_tx = rte_ring_create((name + "tx").c_str(), 4096, 0, 0);
    rte_ring* control =
        rte_ring_create((name + "c").c_str(), 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    rte_ring* bulk = rte_ring_create((name + "b").c_str(), 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    rte_ring* to_ports =
        rte_ring_create((name + "p").c_str(), 1024, 0, RING_F_SP_ENQ | RING_F_SC_DEQ);
    REQUIRE((kernel_rx && kernel_tx && control && bulk && to_ports));
    const int port = rte_eth_from_rings(name.c_str(), &kernel_rx, 1, &kernel_tx, 1, 0);
    REQUIRE(port >= 0);
    PipelineHarness h;  // for its packet pool
    const auto id = static_cast<uint16_t>(port);
    rte_eth_conf conf{};
    REQUIRE(rte_eth_dev_configure(id, 1, 1, &conf) == 0);
    REQUIRE(rte_eth_rx_queue_setup(id, 0, 64, 0, nullptr, h.pool) == 0);
    REQUIRE(rte_eth_tx_queue_setup(id, 0, 64, 0, nullptr) == 0);
    REQUIRE(rte_eth_dev_start(id) == 0);

    auto packet = [&h](uint16_t in_port) {
        rte_mbuf* m = rte_pktmbuf_alloc(h.pool);
        const auto bytes = build_packet(to_director(6, 22));
        std::copy(bytes.begin(), bytes.end(),
                  rte_pktmbuf_append(m, static_cast<uint16_t>(bytes.size())));
        m->port = in_port;
        return m;
    };
    for (int i = 0; i < 500; ++i) {
        REQUIRE(rte_ring_enqueue(bulk, packet(kOutsidePort)) == 0);
    }
    for (int i = 0; i < 10; ++i) {
        REQUIRE(rte_ring_enqueue(control, packet(kOutsidePort)) == 0);
    }
    REQUIRE(rte_ring_enqueue(bulk, packet(kInsidePort)) == 0);  // no mirror there

    std::array<MirrorCounters, kMaxPorts> counters{};
    std::atomic<bool> stop{false};
    MirrorSetup s;
    s.mirror_of.fill(MirrorSetup::kNoMirror);
    s.mirror_of[kOutsidePort] = static_cast<uint16_t>(port);
    s.punted = {{control, bulk}};
    s.to_ports = to_ports;
    s.counters = &counters;
    s.stop = &stop;

    CHECK(mirror_round(s) == 10 + 32);
    CHECK(counters[kOutsidePort].punted == 42);
    CHECK(counters[kOutsidePort].punted_control == 10);
    CHECK(rte_ring_count(kernel_tx) == 42);
    while (mirror_round(s) > 0) {
    }
    CHECK(counters[kOutsidePort].punted == 510);
    CHECK(counters[kInsidePort].refused == 1);

    // What the kernel sends comes back marked with the port it leaves by.
    for (int i = 0; i < 3; ++i) {
        REQUIRE(rte_ring_enqueue(kernel_rx, packet(99)) == 0);
    }
    CHECK(mirror_round(s) == 3);
    CHECK(counters[kOutsidePort].from_kernel == 3);
    rte_mbuf* out[8];
    REQUIRE(rte_ring_dequeue_burst(to_ports, reinterpret_cast<void**>(out), 8, nullptr) == 3);
    for (rte_mbuf* m : std::span(out, 3)) {
        CHECK(m->port == kOutsidePort);
        rte_pktmbuf_free(m);
    }
    rte_mbuf* m;
    while (rte_ring_dequeue(kernel_tx, reinterpret_cast<void**>(&m)) == 0) {
        rte_pktmbuf_free(m);
    }
    rte_eth_dev_stop(static_cast<uint16_t>(port));
    rte_eth_dev_close(static_cast<uint16_t>(port));
    for (rte_ring* r : {kernel_rx, kernel_tx, control, bulk, to_ports}) {
        rte_ring_free(r);
    }
}
