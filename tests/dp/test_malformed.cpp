// Malformed and odd packets through the real pipeline, table-driven: each one must be refused
// under exactly one drop reason, with nothing transmitted and no connection opened; the odd but
// valid ones (IP options, Ethernet padding, DF) must pass unchanged. The parser's own verdicts
// are in tests/unit/test_parse.cpp; the common refusals (TTL 1, no service, a stray ACK, a bad
// header checksum, a first fragment) in test_pipeline.cpp.
#include <catch2/catch.hpp>

#include <algorithm>
#include <numeric>

#include "dp/bytes.hpp"
#include "dp/checksum.hpp"
#include "dp/parse.hpp"
#include "lab_fixture.hpp"

using namespace vsnat;
using namespace vsnat::dp;
using namespace vsnat::test;

namespace {

constexpr uint8_t RST = 0x04;
constexpr size_t kL3 = 14, kL4 = 34;  // offsets without VLAN tag or IP options
const MacAddress kBroadcastMac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
const MacAddress kMulticastMac = {0x01, 0x00, 0x5e, 0x00, 0x00, 0x01};

// A packet of `protocol` from rs2 (172.16.0.3; port 53 for UDP, else 8000) to the client.
PacketSpec rs2_packet(uint8_t protocol, uint8_t flags = ACK) {
    return server_packet(protocol, "172.16.0.3", protocol == 17 ? 53 : 8000, flags);
}

// A real server's ICMP port unreachable quoting `quoted_len` bytes of what the director sent
// it for the client's `sent` (its IP header and L4 from the start).
std::vector<uint8_t> icmp_error_quoting(PacketSpec sent, size_t quoted_len) {
    sent.dst_ip = "172.16.0.3";
    sent.dst_port = 8000;
    const std::vector<uint8_t> inner = build_packet(sent);
    PacketSpec s = rs2_packet(1);
    s.payload.assign(inner.begin() + kL3, inner.begin() + static_cast<long>(kL3 + quoted_len));
    std::vector<uint8_t> f = build_packet(s);
    f[kL4] = 3;      // destination unreachable
    f[kL4 + 1] = 3;  // port unreachable
    recompute_checksums(f);
    return f;
}

// Recomputes the IPv4 header checksum only (the frame's L4 header may not parse), so that the
// packet is refused for what the case broke, not for its checksum.
void fix_ip_checksum(std::vector<uint8_t>& f) {
    uint8_t* ip = &f[kL3];
    store_u16_raw(ip + ipv4::kChecksum, 0);
    store_u16_raw(ip + ipv4::kChecksum, ipv4_header_checksum(ip, (ip[0] & 0x0fu) * 4u));
}

std::vector<uint8_t> with(std::vector<uint8_t> f, void (*mutate)(std::vector<uint8_t>&),
                          bool fix_checksum = true) {
    mutate(f);
    if (fix_checksum) {
        fix_ip_checksum(f);
    }
    return f;
}

uint64_t total_drops(const PipelineHarness& h) {
    const auto& d = h.ctx.counters.drops;
    return std::accumulate(d.begin(), d.end(), uint64_t{0});
}

struct Refused {
    std::string name;
    std::vector<uint8_t> frame;
    DropReason reason;
};

// Runs `frame` (after `before`, which must all be forwarded) through a fresh pipeline: one drop,
// under `reason`, nothing sent, no connection opened.
void check_refused(const Refused& c, const std::vector<std::vector<uint8_t>>& before = {}) {
    INFO(c.name);
    PipelineHarness h;
    h.run(before);
    REQUIRE(h.sent.size() == before.size());
    const uint32_t connections = h.table->size();
    h.sent.clear();
    h.run({c.frame});
    CHECK(h.sent.empty());
    CHECK(h.ctx.counters.dropped(c.reason) == 1);
    CHECK(total_drops(h) == 1);
    CHECK(h.table->size() == connections);
}

}  // namespace

TEST_CASE("a frame cut at any byte is refused as truncated or by the length it announces") {
    PacketSpec options = client_packet();
    options.ip_options = {1, 1, 1, 0};
    PacketSpec tagged = client_packet(17, 0, 53);
    tagged.vlan = 7;
    struct Full {
        const char* name;
        std::vector<uint8_t> frame;
        size_t l3;       // where the IPv4 header starts
        size_t ip_hlen;  // its length
    };
    const Full frames[] = {
        {"TCP with IP options", build_packet(options), kL3, 24},
        {"UDP in a VLAN", build_packet(tagged), kL3 + 4, 20},
        {"ICMP echo", build_packet(client_packet(1)), kL3, 20},
    };
    for (const Full& f : frames) {
        for (size_t len = 0; len < f.frame.size(); ++len) {
            const DropReason reason = len < f.l3 + 20          ? DropReason::frame_truncated
                                      : len < f.l3 + f.ip_hlen ? DropReason::bad_ip_header_length
                                                               : DropReason::bad_ip_total_length;
            check_refused({std::string(f.name) + ", cut to " + std::to_string(len),
                           {f.frame.begin(), f.frame.begin() + static_cast<long>(len)},
                           reason});
        }
    }
    std::vector<uint8_t> arp(60, 0);
    store_be16(&arp[12], 0x0806);
    for (size_t len = 0; len < kL3 + 28; ++len) {
        check_refused({"ARP cut to " + std::to_string(len),
                       {arp.begin(), arp.begin() + static_cast<long>(len)},
                       DropReason::frame_truncated});
    }
}

TEST_CASE("malformed IPv4, TCP and UDP headers are refused under their own reasons") {
    const std::vector<uint8_t> syn = build_packet(client_packet());
    const std::vector<uint8_t> udp = build_packet(client_packet(17, 0, 53));
    std::vector<Refused> cases;
    for (uint8_t ihl = 0; ihl < 5; ++ihl) {
        std::vector<uint8_t> f = syn;
        f[kL3] = static_cast<uint8_t>(0x40 | ihl);
        cases.push_back({"IHL " + std::to_string(ihl), f, DropReason::bad_ip_header_length});
    }
    for (uint8_t offset = 0; offset < 5; ++offset) {
        std::vector<uint8_t> f = syn;
        f[kL4 + 12] = static_cast<uint8_t>(offset << 4);
        cases.push_back(
            {"TCP data offset " + std::to_string(offset), f, DropReason::bad_l4_header});
    }
    const auto set_total_length = [](std::vector<uint8_t> f, uint16_t total) {
        store_be16(&f[kL3 + 2], total);
        fix_ip_checksum(f);
        return f;
    };
    cases.push_back({"TCP data offset 6: options past the datagram",
                     with(syn, [](auto& f) { f[kL4 + 12] = 6 << 4; }), DropReason::bad_l4_header});
    cases.push_back({"total length one past the frame", set_total_length(syn, 20 + 20 + 1),
                     DropReason::bad_ip_total_length});
    cases.push_back(
        {"total length 65535", set_total_length(syn, 65535), DropReason::bad_ip_total_length});
    cases.push_back({"total length 19, below the header",
                     with(
                         syn, [](auto& f) { store_be16(&f[kL3 + 2], 19); }, false),
                     DropReason::bad_ip_total_length});
    cases.push_back({"total length cuts the TCP header",
                     with(
                         syn, [](auto& f) { store_be16(&f[kL3 + 2], 20 + 19); }, false),
                     DropReason::bad_l4_header});
    cases.push_back({"UDP length past the datagram",
                     with(udp, [](auto& f) { store_be16(&f[kL4 + 4], 9); }),
                     DropReason::bad_l4_header});
    cases.push_back({"IP version 6 in an IPv4 ethertype",
                     with(
                         syn, [](auto& f) { f[kL3] = 0x65; }, false),
                     DropReason::bad_ip_version});
    for (const Refused& c : cases) {
        check_refused(c);
    }
}

TEST_CASE("odd but valid headers pass unchanged: IP options, Ethernet padding, DF") {
    PacketSpec options = client_packet();
    options.ip_options.assign(40, 1);  // the most there can be: IHL 15, all NOPs
    std::vector<uint8_t> padded = build_packet(client_packet());
    padded.resize(padded.size() + 6, 0xee);  // a trailer past the IP total length
    const std::vector<uint8_t> dont_fragment =
        with(build_packet(client_packet()), [](auto& f) { store_be16(&f[kL3 + 6], 0x4000); });
    for (const auto& frame : {build_packet(options), padded, dont_fragment}) {
        PipelineHarness h;
        h.run({frame});
        REQUIRE(h.sent.size() == 1);
        const std::vector<uint8_t>& out = h.sent[0].bytes;
        CHECK(h.sent[0].port == kInsidePort);
        CHECK(checksums_valid(out));
        CHECK(out.size() == frame.size());
        CHECK(format_ip(read_fields(out).dst_ip) == "172.16.0.3");
        // Everything but the MACs, TTL, destination, checksums is as it came: options, trailer.
        const ParsedFrame p = parse_frame(out.data(), out.size());
        CHECK(std::equal(frame.begin() + kL3 + 20, frame.begin() + p.l4_offset,
                         out.begin() + kL3 + 20));
        CHECK(std::equal(frame.begin() + p.ip_end, frame.end(), out.begin() + p.ip_end));
    }
}

TEST_CASE("fragments are never forwarded: first, middle and last, tracked or not") {
    // vsnat does not reassemble: a fragment after the first carries no ports to find its
    // connection by, so every fragment is dropped and counted (ip_fragment).
    const PacketSpec syn = client_packet();
    const PacketSpec data = client_packet(6, ACK);
    const PacketSpec server_ack = rs2_packet(6, SYN | ACK);
    struct Fragment {
        const char* name;
        uint16_t field;  // flags and offset
    };
    const Fragment kinds[] = {{"first", 0x2000}, {"middle", 0x2000 | 185}, {"last", 185}};
    for (const Fragment& k : kinds) {
        std::vector<uint8_t> untracked = build_packet(syn);
        store_be16(&untracked[kL3 + 6], k.field);
        recompute_checksums(untracked);
        check_refused(
            {std::string(k.name) + " fragment, no connection", untracked, DropReason::ip_fragment});
        std::vector<uint8_t> tracked = build_packet(data);
        store_be16(&tracked[kL3 + 6], k.field);
        recompute_checksums(tracked);
        check_refused({std::string(k.name) + " fragment of a tracked connection", tracked,
                       DropReason::ip_fragment},
                      {build_packet(syn), build_packet(server_ack)});
    }
}

TEST_CASE("broadcast and multicast destinations are not forwarded, at L2 or L3") {
    const auto to = [](const std::string& dst_ip, MacAddress dst_mac, uint8_t protocol = 17) {
        PacketSpec s = client_packet(protocol, protocol == 6 ? SYN : 0, protocol == 6 ? 80 : 53);
        s.dst_ip = dst_ip;
        s.dst_mac = dst_mac;
        return build_packet(s);
    };
    const std::string vip = "202.103.106.5";
    const Refused cases[] = {
        {"limited broadcast", to("255.255.255.255", kOutsideMac), DropReason::not_for_us},
        {"directed broadcast of the outside link", to("202.103.106.255", kOutsideMac),
         DropReason::not_for_us},
        {"multicast", to("224.0.0.1", kOutsideMac), DropReason::not_for_us},
        {"TCP SYN to a multicast group", to("239.1.2.3", kOutsideMac, 6), DropReason::not_for_us},
        {"ping to the limited broadcast", to("255.255.255.255", kOutsideMac, 1),
         DropReason::icmp_untracked},
        {"SYN to the VIP as an Ethernet broadcast", to(vip, kBroadcastMac, 6),
         DropReason::not_our_mac},
        {"UDP to the VIP as an Ethernet multicast", to(vip, kMulticastMac),
         DropReason::not_our_mac},
        {"SYN to the VIP, to another host's MAC", to(vip, kGatewayMac, 6), DropReason::not_our_mac},
        {"limited broadcast, as an Ethernet broadcast", to("255.255.255.255", kBroadcastMac),
         DropReason::not_our_mac},
    };
    for (const Refused& c : cases) {
        check_refused(c);
    }
}

TEST_CASE("sources no client has are refused: 0/8, loopback, class D and E, the director's own") {
    const auto from = [](const std::string& src_ip, uint8_t protocol = 6) {
        PacketSpec s = client_packet(protocol);
        s.src_ip = src_ip;
        return build_packet(s);
    };
    std::vector<Refused> cases;
    for (const std::string src :
         {"0.0.0.0", "0.1.2.3", "127.0.0.1", "224.0.0.5", "239.255.0.1", "240.0.0.1",
          "255.255.255.255", "202.103.106.5", "202.103.106.1", "172.16.0.1"}) {
        cases.push_back({"SYN from " + src, from(src), DropReason::bad_source});
    }
    cases.push_back({"echo request from the limited broadcast (no reply to amplify)",
                     from("255.255.255.255", 1), DropReason::bad_source});
    for (const Refused& c : cases) {
        check_refused(c);
    }
}

TEST_CASE("TTL 0 is refused like TTL 1; ICMP errors are refused by TTL too") {
    PacketSpec ttl0 = client_packet();
    ttl0.ttl = 0;
    PacketSpec udp_ttl0 = client_packet(17, 0, 53);
    udp_ttl0.ttl = 0;
    check_refused({"TCP SYN, TTL 0", build_packet(ttl0), DropReason::ttl_expired});
    check_refused({"UDP, TTL 0", build_packet(udp_ttl0), DropReason::ttl_expired});
    const PacketSpec syn = client_packet();
    for (const uint8_t ttl : {uint8_t{0}, uint8_t{1}}) {
        std::vector<uint8_t> error = icmp_error_quoting(syn, 28);
        error[kL3 + 8] = ttl;
        recompute_checksums(error);
        check_refused({"ICMP error for a tracked connection, TTL " + std::to_string(ttl), error,
                       DropReason::ttl_expired},
                      {build_packet(syn)});
    }
}

TEST_CASE("ICMP errors quoting too little, or no connection, are not translated") {
    const PacketSpec syn = client_packet();
    const std::vector<std::vector<uint8_t>> opened = {build_packet(syn)};
    // The quote must hold the whole IP header and 8 bytes of L4 (RFC 792): ports at least.
    for (size_t quoted : {0, 8, 19, 20, 24, 27}) {
        check_refused({"quoting " + std::to_string(quoted) + " bytes of a tracked connection",
                       icmp_error_quoting(syn, quoted), DropReason::icmp_untracked},
                      opened);
    }
    check_refused({"quoting a connection that does not exist", icmp_error_quoting(syn, 28),
                   DropReason::icmp_untracked});
    PacketSpec other_client = syn;
    other_client.src_port = 9999;
    check_refused({"quoting another client's port", icmp_error_quoting(other_client, 28),
                   DropReason::icmp_untracked},
                  opened);
    std::vector<uint8_t> quoting_fragment = icmp_error_quoting(syn, 28);
    store_be16(&quoting_fragment[kL4 + 8 + 6], 185);  // the quoted datagram: a later fragment
    recompute_checksums(quoting_fragment);
    check_refused({"quoting a fragment", quoting_fragment, DropReason::icmp_untracked}, opened);
}

TEST_CASE("a real server's packets for no connection are not forwarded") {
    const Refused cases[] = {
        {"TCP SYN+ACK", build_packet(rs2_packet(6, SYN | ACK)), DropReason::not_for_us},
        {"TCP RST", build_packet(rs2_packet(6, RST)), DropReason::not_for_us},
        {"UDP reply", build_packet(rs2_packet(17)), DropReason::not_for_us},
    };
    for (const Refused& c : cases) {
        check_refused(c);
    }
}

TEST_CASE("an all-zero echo reply gets checksum 0xFFFF, not 0 (found by fuzz_pipeline)") {
    // Identifier, sequence and payload 0: the reply sums to zero, and only 0xFFFF checks.
    PipelineHarness h;
    h.run({build_packet(client_packet(1))});
    REQUIRE(h.sent.size() == 1);
    const std::vector<uint8_t>& reply = h.sent[0].bytes;
    CHECK(load_be16(&reply[kL4 + 2]) == 0xffff);
    CHECK(checksums_valid(reply));
}
