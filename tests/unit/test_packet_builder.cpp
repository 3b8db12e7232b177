// The test packet builder itself (tests/support/packet_builder), IPv6 above all: the frames every
// unit, dp and fuzz test starts from must be what they claim. Checksums are checked against a
// plain 16-bit word sum written here, apart from dp/checksum.
#include <catch2/catch.hpp>

#include <stdexcept>

#include "dp/bytes.hpp"
#include "dp/parse.hpp"
#include "support/packet_builder.hpp"

using namespace vsnat;
using namespace vsnat::dp;
using namespace vsnat::test;

namespace {

ParsedFrame parse(const std::vector<uint8_t>& f) {
    return parse_frame(f.data(), f.size());
}

// RFC 1071 the slow way: big-endian 16-bit words, carries folded at the end.
uint16_t word_sum(const std::vector<uint8_t>& bytes) {
    uint32_t sum = 0;
    for (size_t i = 0; i < bytes.size(); i += 2) {
        sum += static_cast<uint32_t>(bytes[i] << 8) + (i + 1 < bytes.size() ? bytes[i + 1] : 0U);
    }
    while (sum >> 16) {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    return static_cast<uint16_t>(sum);
}

// The sum of an IPv6 packet's upper layer (from `l4` to the end of `f`) under its pseudo-header
// (RFC 8200 8.1), laid out byte by byte: 0xFFFF when its checksum is right.
uint16_t upper_layer_sum6(const std::vector<uint8_t>& f, size_t l3, size_t l4, uint8_t next) {
    std::vector<uint8_t> b(f.begin() + static_cast<long>(l3 + ipv6::kSrc),
                           f.begin() + static_cast<long>(l3 + ipv6::kDst + 16));
    const size_t len = f.size() - l4;
    b.insert(b.end(),
             {0, 0, static_cast<uint8_t>(len >> 8), static_cast<uint8_t>(len), 0, 0, 0, next});
    b.insert(b.end(), f.begin() + static_cast<long>(l4), f.end());
    return word_sum(b);
}

PacketSpec spec6(uint8_t protocol) {
    PacketSpec s;
    s.src_ip = "2001:2:0:18::1";
    s.dst_ip = "2001:2:0:18::100";
    s.protocol = protocol;
    s.src_port = 40000;
    s.dst_port = protocol == 17 ? 53 : 80;
    s.ttl = 33;
    s.tcp_flags = 0x18;
    s.payload.assign(101, 0);  // odd: the last byte is padded in the sum
    for (size_t i = 0; i < s.payload.size(); ++i) {
        s.payload[i] = static_cast<uint8_t>(i * 7 + 3);
    }
    s.src_mac = mac("02:00:00:00:0a:fe");
    s.dst_mac = mac("02:00:00:00:0a:01");
    return s;
}

size_t checksum_at(uint8_t protocol) {
    return protocol == 6 ? l4::kTcpChecksum : protocol == 17 ? l4::kUdpChecksum : l4::kIcmpChecksum;
}

}  // namespace

TEST_CASE("addresses: ip6_raw and format_ip both ways, bad text refused") {
    const Ipv6 a = ip6_raw("2001:2:0:18::100");
    const Ipv6 want = {0x20, 0x01, 0, 2, 0, 0, 0, 0x18, 0, 0, 0, 0, 0, 0, 0x01, 0x00};
    CHECK(a == want);
    CHECK(format_ip(a) == "2001:2:0:18::100");
    CHECK(format_ip(ip6_raw("fe80::0:1")) == "fe80::1");
    CHECK(format_ip(ip_raw("202.103.106.5")) == "202.103.106.5");
    CHECK_THROWS_AS(ip6_raw("2001:2::18::1"), std::invalid_argument);
    CHECK_THROWS_AS(ip6_raw("202.103.106.5"), std::invalid_argument);
    PacketSpec mixed;
    mixed.dst_ip = "2001:db8::1";
    CHECK_THROWS_AS(build_packet(mixed), std::invalid_argument);
    PacketSpec v4_with_chain;
    v4_with_chain.ipv6_extensions = {ipv6_options(ipv6::kHopByHop)};
    CHECK_THROWS_AS(build_packet(v4_with_chain), std::invalid_argument);
    PacketSpec v6_with_options = spec6(6);
    v6_with_options.ip_options = {1, 1, 1, 0};
    CHECK_THROWS_AS(build_packet(v6_with_options), std::invalid_argument);
}

TEST_CASE("IPv6 TCP, UDP and ICMPv6 frames: the headers as asked, checksums right, read back") {
    const std::vector<std::vector<Ipv6Extension>> chains = {
        {},
        {ipv6_options(ipv6::kHopByHop)},
        {ipv6_options(ipv6::kHopByHop, 2), ipv6_options(ipv6::kDestinationOptions),
         ipv6_routing("2001:2:0:18::100"), ipv6_fragment_header(0, false),
         ipv6_options(ipv6::kDestinationOptions, 1)},
    };
    for (uint8_t protocol : {uint8_t{6}, uint8_t{17}, uint8_t{58}}) {
        for (int vlan : {-1, 7}) {
            for (const auto& chain : chains) {
                PacketSpec s = spec6(protocol);
                s.vlan = vlan;
                s.ipv6_extensions = chain;
                const std::vector<uint8_t> f = build_packet(s);
                INFO("protocol " << int(protocol) << " vlan " << vlan << " headers "
                                 << chain.size());
                const size_t l3 = vlan >= 0 ? 18 : 14;
                size_t l4 = l3 + ipv6::kHeaderLen;
                for (const Ipv6Extension& e : chain) {
                    l4 += e.bytes.size();
                }
                const size_t header = protocol == 6 ? 20 : 8;
                REQUIRE(f.size() == l4 + header + s.payload.size());

                // Layer by layer, as RFC 8200 lays it out.
                CHECK(load_be16(&f[12]) == (vlan >= 0 ? 0x8100 : 0x86dd));
                if (vlan >= 0) {
                    CHECK(load_be16(&f[14]) == 7);
                    CHECK(load_be16(&f[16]) == 0x86dd);
                }
                CHECK(load_be32(&f[l3]) == 0x60000000);  // version 6, class and flow label 0
                CHECK(load_be16(&f[l3 + 4]) == f.size() - l3 - 40);
                CHECK(f[l3 + 6] == (chain.empty() ? protocol : chain[0].type));
                CHECK(f[l3 + 7] == 33);
                size_t at = l3 + ipv6::kHeaderLen;
                for (size_t i = 0; i < chain.size(); ++i) {
                    CHECK(f[at] == (i + 1 < chain.size() ? chain[i + 1].type : protocol));
                    CHECK(std::equal(chain[i].bytes.begin() + 1, chain[i].bytes.end(),
                                     f.begin() + static_cast<long>(at + 1)));
                    at += chain[i].bytes.size();
                }
                if (protocol == 58) {
                    CHECK(f[l4] == 128);  // echo request
                    CHECK(f[l4 + 1] == 0);
                } else {
                    CHECK(load_be16(&f[l4]) == 40000);
                    CHECK(load_be16(&f[l4 + 2]) == s.dst_port);
                }
                if (protocol == 17) {
                    CHECK(load_be16(&f[l4 + 4]) == 8 + s.payload.size());
                }
                if (protocol == 6) {
                    CHECK(load_be32(&f[l4 + 4]) == 1000);
                    CHECK(f[l4 + 12] == 5 << 4);
                    CHECK(f[l4 + 13] == 0x18);
                }
                CHECK(std::equal(s.payload.begin(), s.payload.end(),
                                 f.begin() + static_cast<long>(l4 + header)));
                CHECK(upper_layer_sum6(f, l3, l4, protocol) == 0xffff);
                CHECK(checksums_valid(f));

                const ParsedFrame p = parse(f);
                REQUIRE(p.kind == FrameKind::ipv6);
                CHECK(p.l4_offset == l4);
                CHECK(p.ip_protocol == protocol);
                const PacketFields r = read_fields(f);
                CHECK(r.ipv6);
                CHECK(format_ip(r.src_ip6) == "2001:2:0:18::1");
                CHECK(format_ip(r.dst_ip6) == "2001:2:0:18::100");
                CHECK(r.src_ip == 0);
                CHECK(r.dst_ip == 0);
                CHECK(r.ttl == 33);
                CHECK(r.protocol == protocol);
                CHECK(r.src_mac == s.src_mac);
                CHECK(r.dst_mac == s.dst_mac);
                if (protocol != 58) {
                    CHECK(r.src_port == 40000);
                    CHECK(r.dst_port == s.dst_port);
                }

                // Any byte the checksum covers, changed, is caught; recomputing mends it.
                for (size_t where : {l3 + ipv6::kSrc + 15, l3 + ipv6::kDst,
                                     l4 + checksum_at(protocol), f.size() - 1}) {
                    std::vector<uint8_t> bad = f;
                    bad[where] ^= 0x01;
                    CHECK_FALSE(checksums_valid(bad));
                    recompute_checksums(bad);
                    CHECK(checksums_valid(bad));
                    CHECK(upper_layer_sum6(bad, l3, l4, protocol) == 0xffff);
                }
            }
        }
    }
}

TEST_CASE(
    "IPv6 UDP: a checksum of 0 when asked, which IPv6 does not accept; a sum of 0 is 0xFFFF") {
    PacketSpec s = spec6(17);
    s.udp_checksum = false;
    std::vector<uint8_t> f = build_packet(s);
    CHECK(load_u16_raw(&f[54 + l4::kUdpChecksum]) == 0);
    CHECK_FALSE(checksums_valid(f));  // RFC 8200 8.1
    recompute_checksums(f);
    CHECK(checksums_valid(f));
    // IPv4 takes 0 for no checksum.
    PacketSpec v4;
    v4.protocol = 17;
    v4.udp_checksum = false;
    CHECK(checksums_valid(build_packet(v4)));

    // Two payload bytes that bring the sum to 0xFFFF: the checksum computed is 0, sent as 0xFFFF.
    // With a payload of 0 the sum is ~c, so a payload word of c does it.
    s.udp_checksum = true;
    s.payload = {0, 0};
    f = build_packet(s);
    const uint16_t c = load_be16(&f[54 + l4::kUdpChecksum]);
    s.payload = {static_cast<uint8_t>(c >> 8), static_cast<uint8_t>(c)};
    f = build_packet(s);
    CHECK(load_be16(&f[54 + l4::kUdpChecksum]) == 0xffff);
    CHECK(checksums_valid(f));
}

TEST_CASE("TCP options: the data offset counts them, in either family") {
    for (const char* dst : {"198.18.0.100", "2001:db8::100"}) {
        PacketSpec s = spec6(6);
        s.src_ip = std::string(dst).find(':') != std::string::npos ? "2001:db8::1" : "198.18.0.1";
        s.dst_ip = dst;
        s.tcp_options = {2, 4, 0x05, 0xb4, 1, 1, 4, 2};  // MSS 1460, NOP, NOP, SACK permitted
        const std::vector<uint8_t> f = build_packet(s);
        const ParsedFrame p = parse(f);
        INFO(dst);
        REQUIRE(p.kind != FrameKind::drop);
        CHECK(f[p.l4_offset + 12] == 7 << 4);
        CHECK(p.payload_offset == p.l4_offset + 28);
        CHECK(std::equal(s.tcp_options.begin(), s.tcp_options.end(), f.begin() + p.l4_offset + 20));
        CHECK(checksums_valid(f));
        s.tcp_options.pop_back();
        CHECK_THROWS_AS(build_packet(s), std::invalid_argument);
    }
}

TEST_CASE("build_ipv6_frame: the upper layer as given, any protocol, no checksum") {
    PacketSpec s = spec6(253);
    s.ipv6_extensions = {ipv6_options(ipv6::kDestinationOptions)};
    const std::vector<uint8_t> upper = {1, 2, 3, 4, 5};
    const std::vector<uint8_t> f = build_ipv6_frame(s, upper);
    REQUIRE(f.size() == 14 + 40 + 8 + 5);
    CHECK(std::equal(upper.begin(), upper.end(), f.begin() + 62));
    CHECK(f[14 + 40] == 253);
    const ParsedFrame p = parse(f);
    REQUIRE(p.kind == FrameKind::ipv6);
    CHECK(p.ip_protocol == 253);
    CHECK(p.l4_length == 5);
    CHECK(checksums_valid(f));  // nothing to check
    // build_packet: the payload is the whole upper layer of a protocol it makes no header for.
    s.payload = upper;
    CHECK(build_packet(s) == f);
    // Protocol 1 is IPv4's ICMP: under IPv6 it is one of those.
    s.protocol = 1;
    CHECK(build_packet(s).size() == f.size());
}

TEST_CASE("ipv6_fragments: per-fragment headers in each, the rest cut at the offsets") {
    PacketSpec s = spec6(17);
    s.payload.assign(3000, 0);
    for (size_t i = 0; i < s.payload.size(); ++i) {
        s.payload[i] = static_cast<uint8_t>(i);
    }
    // Hop-by-hop, destination options for the routers on the way, routing: per fragment.
    // Destination options after them: for the destination only, fragmented with the UDP.
    s.ipv6_extensions = {ipv6_options(ipv6::kHopByHop), ipv6_options(ipv6::kDestinationOptions),
                         ipv6_routing("2001:2:0:18::100"),
                         ipv6_options(ipv6::kDestinationOptions, 1)};
    s.vlan = 3;
    const std::vector<uint8_t> whole = build_packet(s);
    constexpr size_t l3 = 18, per_fragment = l3 + 40 + 8 + 8 + 24;
    const std::vector<size_t> offsets = {0, 1232, 2464};
    const auto frags = ipv6_fragments(whole, offsets, 0xfeedf00d);
    REQUIRE(frags.size() == 3);
    std::vector<uint8_t> rest;
    for (size_t i = 0; i < frags.size(); ++i) {
        const std::vector<uint8_t>& f = frags[i];
        INFO("fragment " << i);
        // The headers before it unchanged but the payload length and the routing header's next
        // header.
        CHECK(std::equal(whole.begin(), whole.begin() + l3 + 4, f.begin()));
        CHECK(load_be16(&f[l3 + 4]) == f.size() - l3 - 40);
        CHECK(std::equal(whole.begin() + l3 + 6, whole.begin() + per_fragment - 24,
                         f.begin() + l3 + 6));
        CHECK(f[per_fragment - 24] == ipv6::kFragmentHeader);
        CHECK(std::equal(whole.begin() + per_fragment - 23, whole.begin() + per_fragment,
                         f.begin() + per_fragment - 23));
        const uint8_t* h = &f[per_fragment];
        CHECK(h[0] == ipv6::kDestinationOptions);
        CHECK(load_be16(h + 2) == (offsets[i] | (i + 1 < frags.size() ? 1 : 0)));
        CHECK(load_be32(h + 4) == 0xfeedf00d);
        const ParsedFrame p = parse(f);
        REQUIRE(p.kind == FrameKind::ipv6);
        CHECK(p.fragment);
        CHECK(p.first_fragment == (i == 0));
        CHECK(p.fragment_header_offset == per_fragment);
        CHECK_FALSE(checksums_valid(f));
        std::vector<uint8_t> copy = f;
        CHECK_THROWS_AS(recompute_checksums(copy), std::invalid_argument);
        rest.insert(rest.end(), f.begin() + per_fragment + 8, f.end());
    }
    CHECK(frags[0].size() == per_fragment + 8 + 1232);
    // Put together again, the fragmentable part is the packet's.
    CHECK(std::equal(rest.begin(), rest.end(), whole.begin() + per_fragment, whole.end()));
    CHECK(rest.size() == whole.size() - per_fragment);

    // Without extension headers the fragment header follows the IPv6 header.
    s.ipv6_extensions.clear();
    s.vlan = -1;
    const auto plain = ipv6_fragments(build_packet(s), {0, 8, 1008});
    REQUIRE(plain.size() == 3);
    CHECK(plain[0][14 + 6] == ipv6::kFragmentHeader);
    CHECK(plain[0][54] == 17);
    CHECK(plain[1].size() == 14 + 40 + 8 + 1000);
    CHECK(parse(plain[0]).fragment_header_offset == 54);

    CHECK_THROWS_AS(ipv6_fragments(whole, {8}), std::invalid_argument);
    CHECK_THROWS_AS(ipv6_fragments(whole, {0, 12}), std::invalid_argument);
    CHECK_THROWS_AS(ipv6_fragments(whole, {0, 8, 8}), std::invalid_argument);
    CHECK_THROWS_AS(ipv6_fragments(frags[0], {0, 8}), std::invalid_argument);
    CHECK_THROWS_AS(ipv6_fragments(build_packet(PacketSpec{}), {0, 8}), std::invalid_argument);
}

TEST_CASE("ipv4_fragments: the header in each, the payload cut in pieces, offsets and MF set") {
    PacketSpec s;
    s.protocol = 17;
    s.payload.assign(3000, 0);
    for (size_t i = 0; i < s.payload.size(); ++i) {
        s.payload[i] = static_cast<uint8_t>(i * 7);
    }
    s.vlan = 5;
    s.ip_id = 0x4242;
    const std::vector<uint8_t> whole = build_packet(s);
    constexpr size_t l3 = 18, l4 = l3 + 20;
    const auto frags = ipv4_fragments(whole, 1480);  // an MTU-1500 link: 1480, 1480, 48 bytes
    REQUIRE(frags.size() == 3);
    std::vector<uint8_t> rest;
    for (size_t i = 0; i < frags.size(); ++i) {
        const std::vector<uint8_t>& f = frags[i];
        INFO("fragment " << i);
        // The header unchanged but the total length, the fragment field and the checksum.
        CHECK(std::equal(whole.begin(), whole.begin() + l3 + 2, f.begin()));
        CHECK(load_be16(&f[l3 + 2]) == f.size() - l3);
        CHECK(std::equal(whole.begin() + l3 + 4, whole.begin() + l3 + 6, f.begin() + l3 + 4));
        CHECK(load_be16(&f[l3 + 6]) == ((i * 1480 / 8) | (i + 1 < frags.size() ? 0x2000 : 0)));
        CHECK(std::equal(whole.begin() + l3 + 8, whole.begin() + l3 + 10, f.begin() + l3 + 8));
        CHECK(std::equal(whole.begin() + l3 + 12, whole.begin() + l4, f.begin() + l3 + 12));
        CHECK(word_sum({f.begin() + l3, f.begin() + l4}) == 0xffff);
        const ParsedFrame p = parse(f);
        REQUIRE(p.kind == FrameKind::ipv4);
        CHECK(p.fragment);
        CHECK(p.first_fragment == (i == 0));
        rest.insert(rest.end(), f.begin() + l4, f.end());
    }
    CHECK(frags[0].size() == l4 + 1480);
    CHECK(frags[2].size() == l4 + 3008 - 2 * 1480);
    // Put together again, the payload is the datagram's, UDP header and checksum included.
    CHECK(std::equal(rest.begin(), rest.end(), whole.begin() + l4, whole.end()));
    CHECK(rest.size() == whole.size() - l4);

    CHECK_THROWS_AS(ipv4_fragments(whole, 0), std::invalid_argument);
    CHECK_THROWS_AS(ipv4_fragments(whole, 1500), std::invalid_argument);
    CHECK_THROWS_AS(ipv4_fragments(frags[0], 8), std::invalid_argument);
    s.ip_options = {1, 1, 1, 0};  // NOP NOP NOP EOL
    CHECK_THROWS_AS(ipv4_fragments(build_packet(s), 8), std::invalid_argument);
    CHECK_THROWS_AS(ipv4_fragments(build_packet(spec6(17)), 8), std::invalid_argument);
}

TEST_CASE("read_fields and recompute_checksums refuse what does not parse") {
    std::vector<uint8_t> f = build_packet(spec6(6));
    f.resize(30);
    CHECK_THROWS_AS(read_fields(f), std::invalid_argument);
    CHECK_THROWS_AS(recompute_checksums(f), std::invalid_argument);
    CHECK_FALSE(checksums_valid(f));
}
