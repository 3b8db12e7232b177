// The parser on crafted frames: every malformed case is its own drop reason, and no frame, cut
// anywhere, is read past its end (run under ASan in CI).
#include <catch2/catch.hpp>

#include "dp/bytes.hpp"
#include "dp/parse.hpp"
#include "support/packet_builder.hpp"

using namespace vsnat;
using namespace vsnat::dp;
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
