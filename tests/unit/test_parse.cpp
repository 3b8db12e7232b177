// The parser on crafted frames: every malformed case is its own drop reason, and no frame, cut
// anywhere, is read past its end (run under ASan in CI).
#include <catch2/catch.hpp>

#include "dp/bytes.hpp"
#include "dp/parse.hpp"
#include "support/packet_builder.hpp"

using namespace vsnat;
using namespace vsnat::dp;
using vsnat::test::ipv6_fragment_header;
using vsnat::test::ipv6_options;
using vsnat::test::ipv6_routing;
using vsnat::test::Ipv6Extension;
using vsnat::test::PacketSpec;

namespace {

ParsedFrame parse(const std::vector<uint8_t>& f) {
    return parse_frame(f.data(), f.size());
}

std::vector<uint8_t> arp_request() {
    std::vector<uint8_t> f(eth::kHeaderLen + arp::kLen, 0);
    store_be16(&f[eth::kType], eth::kTypeArp);
    uint8_t* a = &f[eth::kHeaderLen];
    store_be16(a + arp::kHardwareType, 1);
    store_be16(a + arp::kProtocolType, eth::kTypeIpv4);
    a[arp::kHardwareLen] = 6;
    a[arp::kProtocolLen] = 4;
    store_be16(a + arp::kOperation, 1);
    return f;
}

std::vector<uint8_t> tcp_bytes(uint8_t flags, size_t payload = 0, size_t option_bytes = 0) {
    std::vector<uint8_t> b(20 + option_bytes + payload, 0x5a);
    store_be16(&b[l4::kSrcPort], 3456);
    store_be16(&b[l4::kDstPort], 80);
    b[l4::kTcpDataOffset] = static_cast<uint8_t>(((20 + option_bytes) / 4) << 4);
    b[l4::kTcpFlags] = flags;
    return b;
}

std::vector<uint8_t> udp_bytes(size_t payload) {
    std::vector<uint8_t> b(8 + payload, 0x5a);
    store_be16(&b[l4::kSrcPort], 3456);
    store_be16(&b[l4::kDstPort], 53);
    store_be16(&b[l4::kUdpLength], static_cast<uint16_t>(b.size()));
    return b;
}

std::vector<uint8_t> icmpv6_echo(size_t payload) {
    std::vector<uint8_t> b(8 + payload, 0x5a);
    b[0] = 128;  // echo request
    b[1] = 0;
    return b;
}

// Ethernet (with one 802.1Q tag if vlan >= 0), IPv6 from 2001:db8::1 to 2001:db8::100,
// `extensions` in order, then `upper` as it is as protocol `protocol`; payload length and every
// next header filled in.
std::vector<uint8_t> ipv6_frame(const std::vector<Ipv6Extension>& extensions, uint8_t protocol,
                                const std::vector<uint8_t>& upper, int vlan = -1) {
    PacketSpec s;
    s.src_ip = "2001:db8::1";
    s.dst_ip = "2001:db8::100";
    s.protocol = protocol;
    s.vlan = vlan;
    s.ipv6_extensions = extensions;
    return test::build_ipv6_frame(s, upper);
}

constexpr size_t kL3 = eth::kHeaderLen;         // where the IPv6 header starts, untagged
constexpr size_t kL4 = kL3 + ipv6::kHeaderLen;  // and what follows it

}  // namespace

TEST_CASE("well-formed TCP, UDP and ICMP frames parse with the right offsets") {
    struct Case {
        uint8_t protocol;
        size_t payload;
        size_t options;
        int vlan;
        uint16_t l4_offset, payload_offset;
    };
    const Case cases[] = {
        {6, 0, 0, -1, 34, 54},   {6, 100, 0, -1, 34, 54}, {17, 5, 0, -1, 34, 42},
        {1, 8, 0, -1, 34, 42},   {6, 0, 8, -1, 42, 62},   {6, 10, 40, 7, 78, 98},
        {17, 0, 0, 100, 38, 46},
    };
    for (const Case& c : cases) {
        PacketSpec s;
        s.protocol = c.protocol;
        s.payload.assign(c.payload, 0xaa);
        s.ip_options.assign(c.options, 1);
        s.vlan = c.vlan;
        s.tcp_flags = 0x12;
        ParsedFrame p = parse(test::build_packet(s));
        INFO("protocol " << int(c.protocol) << " options " << c.options << " vlan " << c.vlan);
        REQUIRE(p.kind == FrameKind::ipv4);
        CHECK(p.vlan == (c.vlan >= 0));
        CHECK(p.ip_protocol == c.protocol);
        CHECK(p.l4_offset == c.l4_offset);
        CHECK(p.payload_offset == c.payload_offset);
        CHECK(p.fragment == false);
        if (c.protocol == 6) {
            CHECK(p.tcp_flags == 0x12);
        }
    }
}

TEST_CASE("a frame cut at every byte boundary is refused without reading past the end") {
    for (uint8_t protocol : {uint8_t{6}, uint8_t{17}, uint8_t{1}}) {
        PacketSpec s;
        s.protocol = protocol;
        s.ip_options.assign(4, 1);
        const std::vector<uint8_t> full = test::build_packet(s);
        for (size_t len = 0; len < full.size(); ++len) {
            // A copy of exactly `len` bytes: ASan flags any read beyond it.
            std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<long>(len));
            ParsedFrame p = parse(cut);
            INFO("protocol " << int(protocol) << " length " << len);
            REQUIRE(p.kind == FrameKind::drop);
            const bool header_cut = len < eth::kHeaderLen + 24;  // Ethernet + IPv4 with options
            CHECK(p.drop_reason == (header_cut ? (len < 14 + 20 ? DropReason::frame_truncated
                                                                : DropReason::bad_ip_header_length)
                                               : DropReason::bad_ip_total_length));
        }
        CHECK(parse(full).kind == FrameKind::ipv4);
    }
}

TEST_CASE("malformed IPv4 and L4 headers are dropped under their own reasons") {
    using Mutate = void (*)(std::vector<uint8_t>&);
    struct Case {
        const char* name;
        uint8_t protocol;
        Mutate mutate;
        DropReason reason;
    };
    const Case cases[] = {
        {"version 6", 6, [](auto& f) { f[14] = 0x65; }, DropReason::bad_ip_version},
        {"IHL 4", 6, [](auto& f) { f[14] = 0x44; }, DropReason::bad_ip_header_length},
        {"IHL 0", 6, [](auto& f) { f[14] = 0x40; }, DropReason::bad_ip_header_length},
        {"IHL past the frame", 6,
         [](auto& f) {
             f[14] = 0x4f;
             f.resize(50);
         },
         DropReason::bad_ip_header_length},
        {"total length below header", 6, [](auto& f) { store_be16(&f[16], 19); },
         DropReason::bad_ip_total_length},
        {"total length past frame", 6, [](auto& f) { store_be16(&f[16], 1000); },
         DropReason::bad_ip_total_length},
        {"TCP data offset 4", 6, [](auto& f) { f[34 + 12] = 4 << 4; }, DropReason::bad_l4_header},
        {"TCP data offset past datagram", 6, [](auto& f) { f[34 + 12] = 15 << 4; },
         DropReason::bad_l4_header},
        {"TCP header cut by total length", 6, [](auto& f) { store_be16(&f[16], 20 + 10); },
         DropReason::bad_l4_header},
        {"UDP length 7", 17, [](auto& f) { store_be16(&f[34 + 4], 7); }, DropReason::bad_l4_header},
        {"UDP length past datagram", 17, [](auto& f) { store_be16(&f[34 + 4], 200); },
         DropReason::bad_l4_header},
        {"ICMP shorter than 8", 1, [](auto& f) { store_be16(&f[16], 20 + 4); },
         DropReason::bad_l4_header},
        {"IPv4 under the IPv6 ethertype", 6, [](auto& f) { store_be16(&f[12], 0x86dd); },
         DropReason::bad_ip_version},
        {"QinQ", 6, [](auto& f) { store_be16(&f[12], 0x88a8); }, DropReason::unsupported_l2},
    };
    for (const Case& c : cases) {
        PacketSpec s;
        s.protocol = c.protocol;
        s.payload.assign(20, 0);
        std::vector<uint8_t> f = test::build_packet(s);
        c.mutate(f);
        ParsedFrame p = parse(f);
        INFO(c.name);
        CHECK(p.kind == FrameKind::drop);
        CHECK(p.drop_reason == c.reason);
    }
}

TEST_CASE("Ethernet padding after the datagram is accepted and excluded") {
    PacketSpec s;
    s.protocol = 17;
    std::vector<uint8_t> f = test::build_packet(s);  // 42 bytes
    f.resize(60, 0);
    ParsedFrame p = parse(f);
    REQUIRE(p.kind == FrameKind::ipv4);
    CHECK(p.ip_end == 42);
    CHECK(p.l4_length == 8);
}

TEST_CASE("fragments are recognised; the first has its L4 header, later ones none") {
    PacketSpec s;
    s.payload.assign(4, 0);
    std::vector<uint8_t> first = test::build_packet(s);
    store_be16(&first[14 + 6], 0x2000);  // MF, offset 0
    ParsedFrame p = parse(first);
    CHECK(p.kind == FrameKind::ipv4);
    CHECK(p.fragment);
    CHECK(p.first_fragment);
    CHECK(p.payload_offset == p.l4_offset + 20);  // the TCP header, parsed
    CHECK(p.tcp_flags == s.tcp_flags);

    // A first fragment too short for its TCP header (RFC 1858's tiny fragment) is refused.
    std::vector<uint8_t> tiny = first;
    store_be16(&tiny[14 + 2], 20 + 8);  // total length: the IP header and 8 bytes
    tiny.resize(14 + 20 + 8);
    CHECK(parse(tiny).drop_reason == DropReason::bad_l4_header);

    // A first UDP fragment: its UDP length is the datagram's, more than the fragment holds.
    PacketSpec u;
    u.protocol = 17;
    u.payload.assign(100, 1);
    std::vector<uint8_t> udp_first = test::build_packet(u);
    store_be16(&udp_first[14 + 6], 0x2000);
    store_be16(&udp_first[34 + 4], 3008);
    p = parse(udp_first);
    CHECK(p.kind == FrameKind::ipv4);
    CHECK(p.first_fragment);

    std::vector<uint8_t> later = test::build_packet(s);
    store_be16(&later[14 + 6], 0x0004);  // offset 32 bytes, and garbage where TCP would be
    later[34 + 12] = 0;
    p = parse(later);
    CHECK(p.kind == FrameKind::ipv4);
    CHECK(p.fragment);
    CHECK_FALSE(p.first_fragment);
    CHECK(p.payload_offset == p.l4_offset);
}

TEST_CASE("ARP: Ethernet/IPv4 accepted, anything else refused") {
    std::vector<uint8_t> f = arp_request();
    CHECK(parse(f).kind == FrameKind::arp);
    f[eth::kHeaderLen + arp::kHardwareLen] = 8;
    CHECK(parse(f).drop_reason == DropReason::bad_arp);
    std::vector<uint8_t> cut = arp_request();
    cut.resize(eth::kHeaderLen + arp::kLen - 1);
    CHECK(parse(cut).drop_reason == DropReason::frame_truncated);
}

TEST_CASE("an ICMP error's quoted datagram parses with only 8 bytes of L4") {
    PacketSpec s;
    s.payload.assign(100, 0);
    std::vector<uint8_t> f = test::build_packet(s);
    f.resize(14 + 20 + 8);  // as quoted: IP header and 8 bytes of TCP, total length unchanged
    ParsedFrame p = parse_ipv4(f.data(), f.size(), 14, true);
    REQUIRE(p.kind == FrameKind::ipv4);
    CHECK(p.l4_length == 8);
    f.resize(14 + 20 + 7);
    CHECK(parse_ipv4(f.data(), f.size(), 14, true).kind == FrameKind::drop);
}

TEST_CASE("well-formed IPv6 TCP, UDP and ICMPv6 frames parse with the right offsets") {
    struct Case {
        const char* name;
        uint8_t protocol;
        std::vector<uint8_t> upper;
        int vlan;
        uint16_t l4_offset, payload_offset, ip_end;
    };
    const Case cases[] = {
        {"TCP", 6, tcp_bytes(0x12), -1, 54, 74, 74},
        {"TCP with options and data", 6, tcp_bytes(0x12, 100, 12), -1, 54, 86, 186},
        {"UDP", 17, udp_bytes(5), -1, 54, 62, 67},
        {"ICMPv6", 58, icmpv6_echo(56), -1, 54, 62, 118},
        {"TCP behind a VLAN tag", 6, tcp_bytes(0x12, 10), 7, 58, 78, 88},
        {"UDP behind a VLAN tag", 17, udp_bytes(0), 100, 58, 66, 66},
        {"ICMPv6 behind a VLAN tag", 58, icmpv6_echo(0), 0, 58, 66, 66},
        // Protocol 1 is IPv4's ICMP: under IPv6 nothing of it is read, not even 8 bytes.
        {"protocol 1", 1, {8, 0}, -1, 54, 54, 56},
    };
    for (const Case& c : cases) {
        ParsedFrame p = parse(ipv6_frame({}, c.protocol, c.upper, c.vlan));
        INFO(c.name);
        REQUIRE(p.kind == FrameKind::ipv6);
        CHECK(p.vlan == (c.vlan >= 0));
        CHECK(p.l3_offset == (c.vlan >= 0 ? 18 : 14));
        CHECK(p.ip_protocol == c.protocol);
        CHECK(p.l4_offset == c.l4_offset);
        CHECK(p.payload_offset == c.payload_offset);
        CHECK(p.ip_end == c.ip_end);
        CHECK(p.l4_length == c.ip_end - c.l4_offset);
        CHECK_FALSE(p.fragment);
        CHECK(p.fragment_header_offset == 0);
        if (c.protocol == 6) {
            CHECK(p.tcp_flags == 0x12);
        }
    }
}

TEST_CASE("IPv6: Ethernet padding after the payload is accepted and excluded") {
    std::vector<uint8_t> f =
        ipv6_frame({ipv6_options(ipv6::kDestinationOptions)}, 17, udp_bytes(0));
    f.resize(f.size() + 10, 0xee);
    ParsedFrame p = parse(f);
    REQUIRE(p.kind == FrameKind::ipv6);
    CHECK(p.ip_end == kL4 + 16);
    CHECK(p.l4_length == 8);
}

TEST_CASE("IPv6 extension headers are walked to the upper-layer protocol") {
    const uint8_t dst = ipv6::kDestinationOptions;
    struct Case {
        const char* name;
        std::vector<Ipv6Extension> extensions;
        uint16_t l4_offset;
        uint16_t fragment_header_offset;
    };
    const Case cases[] = {
        {"hop-by-hop", {ipv6_options(ipv6::kHopByHop)}, kL4 + 8, 0},
        {"hop-by-hop of 24 bytes", {ipv6_options(ipv6::kHopByHop, 2)}, kL4 + 24, 0},
        {"destination options", {ipv6_options(dst)}, kL4 + 8, 0},
        {"routing, no segments left", {ipv6_routing("::", 0)}, kL4 + 24, 0},
        {"an atomic fragment's header", {ipv6_fragment_header(0, false)}, kL4 + 8, kL4},
        {"each kind, in RFC 8200's order",
         {ipv6_options(ipv6::kHopByHop), ipv6_options(dst, 1), ipv6_routing("::", 0),
          ipv6_fragment_header(0, false), ipv6_options(dst)},
         kL4 + 8 + 16 + 24 + 8 + 8,
         kL4 + 48},
        {"eight, the most walked",
         {ipv6_options(ipv6::kHopByHop), ipv6_options(dst), ipv6_options(dst), ipv6_options(dst),
          ipv6_options(dst), ipv6_options(dst), ipv6_options(dst), ipv6_options(dst)},
         kL4 + 64,
         0},
    };
    for (const Case& c : cases) {
        for (uint8_t protocol : {uint8_t{6}, uint8_t{17}, uint8_t{58}}) {
            const std::vector<uint8_t> upper = protocol == 6    ? tcp_bytes(0x02)
                                               : protocol == 17 ? udp_bytes(4)
                                                                : icmpv6_echo(4);
            ParsedFrame p = parse(ipv6_frame(c.extensions, protocol, upper));
            INFO(c.name << ", protocol " << int(protocol));
            REQUIRE(p.kind == FrameKind::ipv6);
            CHECK(p.ip_protocol == protocol);
            CHECK(p.l4_offset == c.l4_offset);
            CHECK(p.payload_offset == c.l4_offset + (protocol == 6 ? 20 : 8));
            CHECK(p.l4_length == upper.size());
            CHECK(p.fragment_header_offset == c.fragment_header_offset);
            CHECK_FALSE(p.fragment);
            CHECK_FALSE(p.first_fragment);
        }
    }

    // ESP, AH and no-next-header are upper-layer protocols here: what follows them is not walked
    // even when it looks like an extension header.
    for (uint8_t protocol : {ipv6::kEsp, ipv6::kAh, ipv6::kNoNextHeader, uint8_t{253}}) {
        std::vector<uint8_t> upper(16, 0);
        upper[0] = ipv6::kHopByHop;
        ParsedFrame p = parse(ipv6_frame({ipv6_options(dst)}, protocol, upper));
        INFO("protocol " << int(protocol));
        REQUIRE(p.kind == FrameKind::ipv6);
        CHECK(p.ip_protocol == protocol);
        CHECK(p.l4_offset == kL4 + 8);
        CHECK(p.payload_offset == p.l4_offset);
        CHECK(p.l4_length == 16);
    }
}

TEST_CASE("malformed IPv6 packets are dropped under their own reasons") {
    using Build = std::vector<uint8_t> (*)();
    const uint8_t dst = ipv6::kDestinationOptions;
    struct Case {
        const char* name;
        Build build;
        DropReason reason;
    };
    const Case cases[] = {
        {"IPv6 header cut short",
         [] {
             std::vector<uint8_t> f = ipv6_frame({}, 17, udp_bytes(0));
             f.resize(kL3 + ipv6::kHeaderLen - 1);
             return f;
         },
         DropReason::frame_truncated},
        {"IPv6 header cut short behind a VLAN tag",
         [] {
             std::vector<uint8_t> f = ipv6_frame({}, 17, udp_bytes(0), 5);
             f.resize(kL3 + 4 + ipv6::kHeaderLen - 1);
             return f;
         },
         DropReason::frame_truncated},
        {"version 4",
         [] {
             std::vector<uint8_t> f = ipv6_frame({}, 17, udp_bytes(0));
             f[kL3] = 0x40;
             return f;
         },
         DropReason::bad_ip_version},
        {"payload length 0 (a jumbogram's)",
         [] {
             std::vector<uint8_t> f = ipv6_frame({ipv6_options(ipv6::kHopByHop)}, 17, udp_bytes(0));
             store_be16(&f[kL3 + ipv6::kPayloadLength], 0);
             return f;
         },
         DropReason::bad_ip_total_length},
        {"payload length past the frame",
         [] {
             std::vector<uint8_t> f = ipv6_frame({}, 17, udp_bytes(0));
             store_be16(&f[kL3 + ipv6::kPayloadLength], 9);
             return f;
         },
         DropReason::bad_ip_total_length},
        {"hop-by-hop after destination options",
         [] {
             return ipv6_frame({ipv6_options(dst), ipv6_options(ipv6::kHopByHop)}, 17,
                               udp_bytes(0));
         },
         DropReason::bad_extension_header},
        {"hop-by-hop after an atomic fragment's header",
         [] {
             return ipv6_frame({ipv6_fragment_header(0, false), ipv6_options(ipv6::kHopByHop)}, 17,
                               udp_bytes(0));
         },
         DropReason::bad_extension_header},
        {"destination options longer than the payload",
         [] {
             std::vector<uint8_t> f = ipv6_frame({ipv6_options(dst)}, 17, udp_bytes(8));
             f[kL4 + 1] = 3;  // 32 bytes, where 24 are left
             return f;
         },
         DropReason::bad_extension_header},
        {"an extension header cut by the payload length, the frame going on",
         [] {
             std::vector<uint8_t> f = ipv6_frame({ipv6_options(dst)}, 17, udp_bytes(8));
             store_be16(&f[kL3 + ipv6::kPayloadLength], 4);
             return f;
         },
         DropReason::bad_extension_header},
        {"an extension header past the payload, into Ethernet padding",
         [] {
             std::vector<uint8_t> f = ipv6_frame({ipv6_options(dst)}, ipv6::kNoNextHeader, {});
             f[kL4 + 1] = 1;  // 16 bytes, where the payload has 8
             f.resize(f.size() + 30, 0);
             return f;
         },
         DropReason::bad_extension_header},
        {"routing with a segment left",
         [] { return ipv6_frame({ipv6_routing("::", 1)}, 17, udp_bytes(0)); },
         DropReason::bad_extension_header},
        {"nine extension headers",
         [] {
             std::vector<Ipv6Extension> chain(8, ipv6_options(dst));
             chain.insert(chain.begin(), ipv6_options(ipv6::kHopByHop));
             return ipv6_frame(chain, 17, udp_bytes(0));
         },
         DropReason::extension_chain_too_long},
        {"two fragment headers",
         [] {
             return ipv6_frame({ipv6_fragment_header(0, false), ipv6_fragment_header(0, false)}, 17,
                               udp_bytes(0));
         },
         DropReason::bad_extension_header},
        {"a fragment header cut by the payload",
         [] {
             return ipv6_frame({ipv6_options(dst)}, ipv6::kFragmentHeader, {17, 0, 0, 8});
         },
         DropReason::bad_extension_header},
        {"a fragment of 12 bytes, more to come",
         [] {
             return ipv6_frame({ipv6_fragment_header(1480, true)}, 17, std::vector<uint8_t>(12, 0));
         },
         DropReason::bad_fragment},
        {"a first fragment of 12 bytes, more to come",
         [] { return ipv6_frame({ipv6_fragment_header(0, true)}, 17, udp_bytes(4)); },
         DropReason::bad_fragment},
        {"a fragment past 65,535 bytes",
         [] {
             return ipv6_frame({ipv6_fragment_header(65528, true)}, 17,
                               std::vector<uint8_t>(16, 0));
         },
         DropReason::bad_fragment},
        {"the last fragment past 65,535 bytes",
         [] {
             return ipv6_frame({ipv6_fragment_header(65528, false)}, 17,
                               std::vector<uint8_t>(8, 0));
         },
         DropReason::bad_fragment},
        // 8 + 65,520 + 15: the headers before the fragment header count (RFC 8200 4.5).
        {"the last fragment past 65,535 bytes with the header before it",
         [] {
             return ipv6_frame({ipv6_options(dst), ipv6_fragment_header(65520, false)}, 17,
                               std::vector<uint8_t>(15, 0));
         },
         DropReason::bad_fragment},
        {"a tiny first fragment: 8 bytes of its TCP header",
         [] {
             std::vector<uint8_t> tcp = tcp_bytes(0x02);
             tcp.resize(8);
             return ipv6_frame({ipv6_fragment_header(0, true)}, 6, tcp);
         },
         DropReason::bad_l4_header},
        {"a first fragment without the rest of its header chain",
         [] {
             std::vector<uint8_t> f =
                 ipv6_frame({ipv6_fragment_header(0, true), ipv6_options(dst)}, 6, {});
             f[kL4 + 8 + 1] = 1;  // 16 bytes of destination options: the rest in the next one
             return f;
         },
         DropReason::bad_l4_header},
        {"UDP length 0 (a jumbogram's)",
         [] {
             std::vector<uint8_t> f = ipv6_frame({}, 17, udp_bytes(8));
             store_be16(&f[kL4 + l4::kUdpLength], 0);
             return f;
         },
         DropReason::bad_l4_header},
        {"UDP length 7",
         [] {
             std::vector<uint8_t> f = ipv6_frame({}, 17, udp_bytes(8));
             store_be16(&f[kL4 + l4::kUdpLength], 7);
             return f;
         },
         DropReason::bad_l4_header},
        {"UDP length past the payload",
         [] {
             std::vector<uint8_t> f = ipv6_frame({}, 17, udp_bytes(8));
             store_be16(&f[kL4 + l4::kUdpLength], 17);
             return f;
         },
         DropReason::bad_l4_header},
        {"TCP data offset 4",
         [] {
             std::vector<uint8_t> f = ipv6_frame({}, 6, tcp_bytes(0x02, 20));
             f[kL4 + l4::kTcpDataOffset] = 4 << 4;
             return f;
         },
         DropReason::bad_l4_header},
        {"TCP data offset past the payload, behind extension headers",
         [] {
             std::vector<uint8_t> f = ipv6_frame(
                 {ipv6_options(ipv6::kHopByHop), ipv6_routing("::", 0)}, 6, tcp_bytes(0x02, 20));
             f[kL4 + 32 + l4::kTcpDataOffset] = 15 << 4;
             return f;
         },
         DropReason::bad_l4_header},
        {"TCP header cut by the payload length",
         [] {
             std::vector<uint8_t> f = ipv6_frame({}, 6, tcp_bytes(0x02, 20));
             store_be16(&f[kL3 + ipv6::kPayloadLength], 10);
             return f;
         },
         DropReason::bad_l4_header},
        {"ICMPv6 shorter than 8",
         [] {
             return ipv6_frame({}, 58, {128, 0, 0, 0});
         },
         DropReason::bad_l4_header},
    };
    for (const Case& c : cases) {
        ParsedFrame p = parse(c.build());
        INFO(c.name);
        CHECK(p.kind == FrameKind::drop);
        CHECK(p.drop_reason == c.reason);
    }
}

TEST_CASE("an IPv6 frame cut at every byte boundary is refused without reading past the end") {
    const std::vector<uint8_t> full =
        ipv6_frame({ipv6_options(ipv6::kHopByHop), ipv6_fragment_header(0, false),
                    ipv6_routing("::", 0), ipv6_options(ipv6::kDestinationOptions)},
                   6, tcp_bytes(0x10, 10, 4), 3);
    constexpr size_t l3 = kL3 + 4;
    constexpr size_t l4 = l3 + ipv6::kHeaderLen + 8 + 8 + 24 + 8;
    for (size_t len = 0; len < full.size(); ++len) {
        // A copy of exactly `len` bytes: ASan flags any read beyond it.
        const std::vector<uint8_t> cut(full.begin(), full.begin() + static_cast<long>(len));
        INFO("length " << len);
        ParsedFrame p = parse(cut);
        REQUIRE(p.kind == FrameKind::drop);
        CHECK(p.drop_reason == (len < l3 + ipv6::kHeaderLen ? DropReason::frame_truncated
                                                            : DropReason::bad_ip_total_length));

        // As an ICMPv6 error quotes it: as far as the cut allows.
        ParsedFrame q = parse_ipv6(cut.data(), cut.size(), l3, true);
        if (len < l3 + ipv6::kHeaderLen) {
            CHECK(q.drop_reason == DropReason::frame_truncated);
        } else if (len < l4) {
            CHECK(q.drop_reason == DropReason::bad_extension_header);
        } else if (len < l4 + 8) {
            CHECK(q.drop_reason == DropReason::bad_l4_header);
        } else {
            REQUIRE(q.kind == FrameKind::ipv6);
            CHECK(q.l4_offset == l4);
            CHECK(q.ip_end == len);
            CHECK(q.l4_length == len - l4);
            CHECK(q.fragment_header_offset == l3 + ipv6::kHeaderLen + 8);
        }
    }
    CHECK(parse(full).kind == FrameKind::ipv6);
}

TEST_CASE("IPv6 fragments: the first has its L4 header, later ones none, an atomic one is whole") {
    const uint8_t dst = ipv6::kDestinationOptions;
    // Destination options before the fragment header (for the destination and the routers on
    // the way) and after it (in the first fragment, for the destination only): 32 bytes follow it.
    ParsedFrame p =
        parse(ipv6_frame({ipv6_options(dst), ipv6_fragment_header(0, true), ipv6_options(dst)}, 6,
                         tcp_bytes(0x02, 4)));
    REQUIRE(p.kind == FrameKind::ipv6);
    CHECK(p.fragment);
    CHECK(p.first_fragment);
    CHECK(p.fragment_header_offset == kL4 + 8);
    CHECK(p.ip_protocol == 6);
    CHECK(p.l4_offset == kL4 + 24);
    CHECK(p.payload_offset == kL4 + 44);  // the TCP header, parsed
    CHECK(p.tcp_flags == 0x02);

    // A first UDP fragment: its UDP length is the datagram's, more than the fragment holds.
    std::vector<uint8_t> udp_first =
        ipv6_frame({ipv6_fragment_header(0, true)}, 17, udp_bytes(1224));
    store_be16(&udp_first[kL4 + 8 + l4::kUdpLength], 3008);
    p = parse(udp_first);
    REQUIRE(p.kind == FrameKind::ipv6);
    CHECK(p.first_fragment);
    CHECK(p.payload_offset == kL4 + 16);

    // A later one: what its fragment header names, and zeros that would be a bad UDP header.
    p = parse(ipv6_frame({ipv6_fragment_header(1232, true)}, 17, std::vector<uint8_t>(16, 0)));
    REQUIRE(p.kind == FrameKind::ipv6);
    CHECK(p.fragment);
    CHECK_FALSE(p.first_fragment);
    CHECK(p.ip_protocol == 17);
    CHECK(p.fragment_header_offset == kL4);
    CHECK(p.l4_offset == kL4 + 8);
    CHECK(p.payload_offset == p.l4_offset);
    CHECK(p.l4_length == 16);

    // The last, behind a routing header, of any length; its next header, that of the chain the
    // first fragment went on with, is not walked.
    std::vector<uint8_t> last(5, 0);
    last[0] = 17;
    p = parse(ipv6_frame({ipv6_routing("::", 0), ipv6_fragment_header(8, false)}, dst, last));
    REQUIRE(p.kind == FrameKind::ipv6);
    CHECK(p.fragment);
    CHECK_FALSE(p.first_fragment);
    CHECK(p.ip_protocol == dst);
    CHECK(p.fragment_header_offset == kL4 + 24);
    CHECK(p.l4_offset == kL4 + 32);
    CHECK(p.l4_length == 5);

    // Up to 65,535 bytes reassembled, and not one more (the case list above has that one).
    CHECK(parse(ipv6_frame({ipv6_fragment_header(65520, false)}, 17, std::vector<uint8_t>(15, 0)))
              .kind == FrameKind::ipv6);
    CHECK(parse(ipv6_frame({ipv6_fragment_header(65520, true)}, 17, std::vector<uint8_t>(8, 0)))
              .kind == FrameKind::ipv6);

    // An atomic fragment (offset 0, M clear: RFC 6946) is a whole packet.
    p = parse(ipv6_frame({ipv6_fragment_header(0, false)}, 6, tcp_bytes(0x12, 3)));
    REQUIRE(p.kind == FrameKind::ipv6);
    CHECK_FALSE(p.fragment);
    CHECK_FALSE(p.first_fragment);
    CHECK(p.fragment_header_offset == kL4);
    CHECK(p.l4_offset == kL4 + 8);
    CHECK(p.payload_offset == kL4 + 28);
    CHECK(p.tcp_flags == 0x12);
}

TEST_CASE("an ICMPv6 error's quoted packet parses with only 8 bytes of L4") {
    // What the client sent: TCP behind destination options. The error (packet too big) quotes
    // its IPv6 header, the options and 8 bytes of TCP.
    const std::vector<uint8_t> sent =
        ipv6_frame({ipv6_options(ipv6::kDestinationOptions)}, 6, tcp_bytes(0x18, 1000));
    std::vector<uint8_t> error = {2, 0, 0, 0, 0, 0, 0x05, 0xdc};
    error.reserve(8 + kL4 + 8 + 8 - kL3);  // GCC 12 takes the insert for an overflow without it
    error.insert(error.end(), sent.begin() + kL3, sent.begin() + kL4 + 8 + 8);
    const std::vector<uint8_t> f = ipv6_frame({}, ipv6::kProtoIcmpv6, error);
    const ParsedFrame outer = parse(f);
    REQUIRE(outer.kind == FrameKind::ipv6);
    REQUIRE(outer.ip_protocol == ipv6::kProtoIcmpv6);
    const size_t inner = outer.l4_offset + l4::kIcmpHeaderLen;

    ParsedFrame q = parse_ipv6(f.data(), outer.ip_end, inner, true);
    REQUIRE(q.kind == FrameKind::ipv6);
    CHECK(q.l3_offset == inner);
    CHECK(q.ip_protocol == 6);
    CHECK(q.l4_offset == inner + 48);
    CHECK(q.l4_length == 8);
    CHECK(q.ip_end == f.size());
    // Not as a quote, the same payload length runs past the frame.
    CHECK(parse_ipv6(f.data(), outer.ip_end, inner, false).drop_reason ==
          DropReason::bad_ip_total_length);
    // 7 bytes of TCP are not enough; the options must be there whole.
    CHECK(parse_ipv6(f.data(), outer.ip_end - 1, inner, true).drop_reason ==
          DropReason::bad_l4_header);
    CHECK(parse_ipv6(f.data(), inner + 44, inner, true).drop_reason ==
          DropReason::bad_extension_header);

    // Quoted fragments: their fragment checks use the payload length as sent, not what is
    // quoted, and neither has its L4 read.
    std::vector<uint8_t> first = ipv6_frame({ipv6_fragment_header(0, true)}, 17, udp_bytes(1000));
    first.resize(kL4 + 8 + 4);
    q = parse_ipv6(first.data(), first.size(), kL3, true);
    REQUIRE(q.kind == FrameKind::ipv6);
    CHECK(q.first_fragment);
    CHECK(q.payload_offset == q.l4_offset);
    std::vector<uint8_t> later =
        ipv6_frame({ipv6_fragment_header(1008, true)}, 17, std::vector<uint8_t>(1008, 0));
    later.resize(kL4 + 8 + 4);
    q = parse_ipv6(later.data(), later.size(), kL3, true);
    REQUIRE(q.kind == FrameKind::ipv6);
    CHECK(q.fragment);
    CHECK_FALSE(q.first_fragment);
    CHECK(q.l4_offset == kL4 + 8);
    CHECK(q.payload_offset == q.l4_offset);
    CHECK(q.l4_length == 4);
    // Payload length 0 is refused in a quote too.
    store_be16(&later[kL3 + ipv6::kPayloadLength], 0);
    CHECK(parse_ipv6(later.data(), later.size(), kL3, true).drop_reason ==
          DropReason::bad_ip_total_length);
}
