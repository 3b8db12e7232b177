// dp/local6 with the whole parser: parse_frame gives the offsets test_local6's offsets6 fills in
// by hand, for the frames test_local6 builds and for the packets ICMPv6 errors quote; and
// parse_icmp6_error and translate_icmp6_error on what parse_frame made of them.
#include <catch2/catch.hpp>

#include <cstring>

#include "dp/local6.hpp"
#include "ipv6_frames.hpp"

using namespace vsnat;
using namespace vsnat::dp;
using namespace vsnat::test6;

namespace {

void same_offsets(const ParsedFrame& a, const ParsedFrame& b) {
    CHECK(static_cast<int>(a.kind) == static_cast<int>(b.kind));
    CHECK(a.vlan == b.vlan);
    CHECK(a.fragment == b.fragment);
    CHECK(a.first_fragment == b.first_fragment);
    CHECK(a.ip_protocol == b.ip_protocol);
    CHECK(a.tcp_flags == b.tcp_flags);
    CHECK(a.l3_offset == b.l3_offset);
    CHECK(a.l4_offset == b.l4_offset);
    CHECK(a.l4_length == b.l4_length);
    CHECK(a.payload_offset == b.payload_offset);
    CHECK(a.ip_end == b.ip_end);
    CHECK(a.fragment_header_offset == b.fragment_header_offset);
}

std::vector<uint8_t> mac_option(uint8_t type, const MacAddress& mac) {
    return {type, 1, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]};
}

std::vector<uint8_t> cat(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
    std::vector<uint8_t> out(a.size() + b.size());
    std::copy(a.begin(), a.end(), out.begin());
    std::copy(b.begin(), b.end(), out.begin() + static_cast<std::ptrdiff_t>(a.size()));
    return out;
}

Conn6 make_conn(uint8_t protocol) {
    Conn6 c{};
    c.client_ip = ip6("2001:db8:c::1");
    c.vip = ip6("2001:db8:f::80");
    c.rip = ip6("2001:db8:5::3");
    c.client_port = __builtin_bswap16(40000);
    c.vport = __builtin_bswap16(80);
    c.rport = __builtin_bswap16(8080);
    c.protocol = protocol;
    return c;
}

std::vector<uint8_t> sent_packet(uint8_t protocol, const Ipv6& src, uint16_t sport, const Ipv6& dst,
                                 uint16_t dport, size_t payload) {
    Spec6 s;
    s.src = src;
    s.dst = dst;
    s.next_header = protocol;
    std::vector<uint8_t> data(payload);
    for (size_t i = 0; i < payload; ++i) {
        data[i] = static_cast<uint8_t>(i * 7);
    }
    s.l4 = protocol == 6 ? tcp_segment(sport, dport, 1000, 2000, 0x10, data)
                         : udp_datagram(sport, dport, data);
    return build6(s);
}

std::vector<uint8_t> icmp6_error(uint8_t type, uint32_t data, const Ipv6& from, const Ipv6& to,
                                 const std::vector<uint8_t>& packet, size_t quoted) {
    Spec6 s;
    s.src = from;
    s.dst = to;
    s.next_header = 58;
    s.hop_limit = 60;
    s.l4 =
        icmp6_message(type, 0, data,
                      std::vector<uint8_t>(packet.begin() + 14,
                                           packet.begin() + 14 + static_cast<ptrdiff_t>(quoted)));
    std::vector<uint8_t> f = build6(s);
    f.resize(f.size() + 6, 0xee);
    return f;
}

}  // namespace

TEST_CASE("parse_frame gives the offsets offsets6 fills in") {
    const Ipv6 a = ip6("2001:db8:1::7"), b = ip6("2001:db8:1::100");
    std::vector<Spec6> specs;
    Spec6 ns;
    ns.src = a;
    ns.dst = ip6("ff02::1:ff00:100");
    ns.hop_limit = 255;
    ns.next_header = 58;
    ns.l4 = icmp6_message(
        135, 0, 0,
        cat(std::vector<uint8_t>(b.begin(), b.end()), mac_option(1, {2, 0, 0, 0, 0, 1})));
    specs.push_back(ns);
    ns.vlan = 12;
    ns.extension_type = 60;
    ns.extension.assign(8, 0);
    specs.push_back(ns);
    Spec6 echo;
    echo.next_header = 58;
    echo.l4 = icmp6_message(128, 0, 0x12340001, {1, 2, 3, 4, 5});
    echo.extension_type = 0;
    echo.extension.assign(16, 0);
    specs.push_back(echo);
    Spec6 tcp;
    tcp.l4 = tcp_segment(40000, 81, 5000, 0, 0x02, {2, 4, 5, 0xa0});
    tcp.l4[12] = 6 << 4;
    specs.push_back(tcp);
    tcp.extension_type = 60;
    tcp.extension.assign(24, 0);
    tcp.l4 = tcp_segment(40000, 81, 5000, 0, 0x18, std::vector<uint8_t>(100, 1));
    specs.push_back(tcp);
    Spec6 udp;
    udp.next_header = 17;
    udp.vlan = 300;
    udp.l4 = udp_datagram(1, 2, std::vector<uint8_t>(33, 1));
    specs.push_back(udp);
    for (const Spec6& s : specs) {
        const std::vector<uint8_t> f = build6(s);
        const ParsedFrame p = parse_frame(f.data(), f.size());
        CAPTURE(static_cast<int>(p.drop_reason));
        same_offsets(p, offsets6(f, s.vlan >= 0 ? 18 : 14));
    }
}

TEST_CASE("ICMPv6 errors parsed by parse_frame: the quote's offsets, its key, the translation") {
    const Ipv6 router = ip6("2001:db8:5::fe"), client_router = ip6("2001:db8:c::fe");
    for (uint8_t protocol : {uint8_t{6}, uint8_t{17}}) {
        const Conn6 conn = make_conn(protocol);
        const size_t checksum_at = protocol == 6 ? 16 : 6;
        const std::vector<uint8_t> to_server =
            sent_packet(protocol, conn.client_ip, 40000, conn.rip, 8080, 1400);
        const std::vector<uint8_t> as_client_sent =
            sent_packet(protocol, conn.client_ip, 40000, conn.vip, 80, 1400);
        const std::vector<uint8_t> to_client =
            sent_packet(protocol, conn.vip, 80, conn.client_ip, 40000, 1400);
        const std::vector<uint8_t> as_server_sent =
            sent_packet(protocol, conn.rip, 8080, conn.client_ip, 40000, 1400);
        for (size_t quoted : {size_t{1232}, 40 + checksum_at + 2, size_t{48}}) {
            CAPTURE(protocol, quoted);
            const size_t compare = quoted >= 40 + checksum_at + 2 ? quoted : 40 + 4;
            for (bool towards_client : {true, false}) {
                std::vector<uint8_t> f =
                    towards_client ? icmp6_error(2, 1400, router, conn.client_ip, to_server, quoted)
                                   : icmp6_error(1, 0, client_router, conn.vip, to_client, quoted);
                const ParsedFrame outer = parse_frame(f.data(), f.size());
                REQUIRE(outer.kind == FrameKind::ipv6);
                same_offsets(outer, offsets6(f, 14, false, f.size() - 6));
                Icmp6Error error;
                REQUIRE(parse_icmp6_error(f.data(), outer, error));
                same_offsets(error.inner, offsets6(f, outer.l4_offset + 8u, true, outer.ip_end));
                const FlowKey6 key = towards_client ? conn.reply_key() : conn.inbound_key();
                CHECK(std::memcmp(&error.reply_key, &key, sizeof key) == 0);
                CHECK(translate_icmp6_error(f.data(), outer, error, conn, towards_client) ==
                      (towards_client ? conn.client_ip : conn.rip));
                const std::vector<uint8_t>& want = towards_client ? as_client_sent : as_server_sent;
                CHECK(std::equal(f.begin() + 62, f.begin() + 62 + static_cast<ptrdiff_t>(compare),
                                 want.begin() + 14));
                f.resize(f.size() - 6);
                CHECK(checksum6_valid(f));
            }
        }
    }
}

TEST_CASE("parse_icmp6_error: not about TCP or UDP, or about a fragment") {
    Spec6 echo;
    echo.next_header = 58;
    echo.l4 = icmp6_message(128, 0, 1, std::vector<uint8_t>(20));
    Spec6 fragment;
    fragment.l4 = tcp_segment(40000, 8080, 1, 2, 0x10, std::vector<uint8_t>(44));  // 8n bytes
    fragment.extension_type = 44;
    fragment.extension = {0, 0, 0, 0x01, 0, 0, 0, 9};
    for (const Spec6& quoted : {echo, fragment}) {
        const std::vector<uint8_t> q = build6(quoted);
        std::vector<uint8_t> f =
            icmp6_error(1, 0, ip6("2001:db8::fe"), ip6("2001:db8::1"), q, q.size() - 14);
        const ParsedFrame outer = parse_frame(f.data(), f.size());
        REQUIRE(outer.kind == FrameKind::ipv6);
        Icmp6Error error;
        CHECK_FALSE(parse_icmp6_error(f.data(), outer, error));
    }
}
