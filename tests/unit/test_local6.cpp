// The IPv6 packets the director answers and sends (dp/local6): neighbor discovery (RFC 4861),
// echo replies, resets, ICMPv6 errors (RFC 4443) and their translation, on hand-built frames
// whose offsets the tests fill in (offsets6), every checksum verified by a full computation.
#include <catch2/catch.hpp>

#include <cstring>
#include <functional>
#include <string>

#include "dp/local6.hpp"
#include "ipv6_frames.hpp"

using namespace vsnat;
using namespace vsnat::dp;
using namespace vsnat::test6;

namespace {

const MacAddress kOurMac = {0x02, 0, 0, 0, 0, 0xfe};
const MacAddress kPeerMac = {0x02, 0, 0, 0, 0, 0x01};  // Spec6's source MAC
const Ipv6 kUnspecified{};

MacAddress mac_at(const std::vector<uint8_t>& f, size_t off) {
    MacAddress m;
    std::copy_n(f.begin() + static_cast<std::ptrdiff_t>(off), 6, m.begin());
    return m;
}

std::vector<uint8_t> cat(std::vector<uint8_t> a, const std::vector<uint8_t>& b) {
    std::vector<uint8_t> out(a.size() + b.size());
    std::copy(a.begin(), a.end(), out.begin());
    std::copy(b.begin(), b.end(), out.begin() + static_cast<std::ptrdiff_t>(a.size()));
    return out;
}

std::vector<uint8_t> bytes_of(const Ipv6& a) {
    return std::vector<uint8_t>(a.begin(), a.end());
}

std::vector<uint8_t> mac_option(uint8_t type, const MacAddress& mac) {
    return {type, 1, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]};
}

// A neighbor solicitation (135) or advertisement (136), flags in the first byte of its data.
Spec6 nd_spec(uint8_t type, const Ipv6& src, const Ipv6& dst, const Ipv6& target,
              const std::vector<uint8_t>& options, uint8_t flags = 0) {
    Spec6 s;
    s.src = src;
    s.dst = dst;
    s.hop_limit = 255;
    s.next_header = 58;
    s.l4 =
        icmp6_message(type, 0, static_cast<uint32_t>(flags) << 24, cat(bytes_of(target), options));
    return s;
}

const Ipv6 kSolicitor = ip6("2001:db8:1::7");
const Ipv6 kOurIp = ip6("2001:db8:1::100");
const Ipv6 kOurIpGroup = ip6("ff02::1:ff00:100");  // its solicited-node multicast address

Spec6 valid_ns() {
    return nd_spec(135, kSolicitor, kOurIpGroup, kOurIp, mac_option(1, kPeerMac));
}

struct Built {
    std::vector<uint8_t> frame;
    ParsedFrame parsed;
};

Built built(const Spec6& s) {
    Built b{build6(s), {}};
    b.parsed = offsets6(b.frame, s.vlan >= 0 ? 18 : 14);
    return b;
}

}  // namespace

TEST_CASE("neighbor solicitations RFC 4861 7.1.1 accepts are read") {
    NeighborSolicitation ns;
    SECTION("address resolution, with the solicitor's link-layer address") {
        Built b = built(valid_ns());
        REQUIRE(parse_neighbor_solicitation(b.frame.data(), b.parsed, ns));
        CHECK(ns.source == kSolicitor);
        CHECK(ns.target == kOurIp);
        CHECK(ns.has_source_mac);
        CHECK(ns.source_mac == kPeerMac);
    }
    SECTION("duplicate address detection: unspecified source, to the solicited-node group") {
        Built b = built(nd_spec(135, kUnspecified, kOurIpGroup, kOurIp, {}));
        REQUIRE(parse_neighbor_solicitation(b.frame.data(), b.parsed, ns));
        CHECK(ns.source == kUnspecified);
        CHECK_FALSE(ns.has_source_mac);
    }
    SECTION("unicast, no option (a neighbor's reachability probe)") {
        Built b = built(nd_spec(135, kSolicitor, kOurIp, kOurIp, {}));
        REQUIRE(parse_neighbor_solicitation(b.frame.data(), b.parsed, ns));
        CHECK_FALSE(ns.has_source_mac);
    }
    SECTION("an unknown option (a nonce, RFC 3971) before the source link-layer address") {
        const std::vector<uint8_t> nonce = {14, 1, 1, 2, 3, 4, 5, 6};
        Built b = built(nd_spec(135, kSolicitor, kOurIpGroup, kOurIp,
                                cat(nonce, mac_option(1, {2, 3, 4, 5, 6, 7}))));
        REQUIRE(parse_neighbor_solicitation(b.frame.data(), b.parsed, ns));
        CHECK(ns.source_mac == MacAddress{2, 3, 4, 5, 6, 7});
    }
    SECTION("a source link-layer address option of 16 bytes is not Ethernet's: ignored") {
        std::vector<uint8_t> long_option = cat(mac_option(1, kPeerMac), std::vector<uint8_t>(8));
        long_option[1] = 2;
        Built b = built(nd_spec(135, kSolicitor, kOurIpGroup, kOurIp, long_option));
        REQUIRE(parse_neighbor_solicitation(b.frame.data(), b.parsed, ns));
        CHECK_FALSE(ns.has_source_mac);
    }
    SECTION("tagged, and behind a destination options header") {
        Spec6 s = valid_ns();
        s.vlan = 12;
        s.extension_type = 60;
        s.extension.assign(8, 0);
        Built b = built(s);
        REQUIRE(b.parsed.l4_offset == 18 + 48);
        REQUIRE(parse_neighbor_solicitation(b.frame.data(), b.parsed, ns));
        CHECK(ns.source_mac == kPeerMac);
    }
}

TEST_CASE("neighbor solicitations RFC 4861 7.1.1 (and RFC 6980) says to discard are refused") {
    struct Case {
        std::string what;
        std::function<void(Spec6&)> change;
        std::function<void(Built&)> after = [](Built&) {};
    };
    const std::vector<Case> cases = {
        {"hop limit 254: from off the link", [](Spec6& s) { s.hop_limit = 254; }},
        {"code 1", [](Spec6& s) { s.l4[1] = 1; }},
        {"16 bytes of ICMPv6", [](Spec6& s) { s.l4.resize(16); }},
        {"a wrong checksum", [](Spec6&) {},
         [](Built& b) { b.frame[b.parsed.l4_offset + 2] ^= 0x40; }},
        {"a multicast target",
         [](Spec6& s) { std::copy_n(ip6("ff02::1").begin(), 16, s.l4.begin() + 8); }},
        {"an option of length 0", [](Spec6& s) { s.l4[25] = 0; }},
        {"an option running past the message", [](Spec6& s) { s.l4[25] = 2; }},
        {"4 bytes after the last option",
         [](Spec6& s) { s.l4 = cat(s.l4, std::vector<uint8_t>(4)); }},
        {"from the unspecified address with a source link-layer address",
         [](Spec6& s) { s.src = kUnspecified; }},
        {"from the unspecified address to a unicast address",
         [](Spec6& s) {
             s.src = kUnspecified;
             s.dst = kOurIp;
             s.l4.resize(24);
         }},
        {"from the unspecified address to all nodes",
         [](Spec6& s) {
             s.src = kUnspecified;
             s.dst = ip6("ff02::1");
             s.l4.resize(24);
         }},
        {"in an atomic fragment (RFC 6980 5)",
         [](Spec6& s) {
             s.extension_type = 44;
             s.extension.assign(8, 0);
         }},
        {"an advertisement", [](Spec6& s) { s.l4[0] = 136; }},
    };
    for (const Case& c : cases) {
        CAPTURE(c.what);
        Spec6 s = valid_ns();
        c.change(s);
        Built b = built(s);
        c.after(b);
        NeighborSolicitation ns;
        CHECK_FALSE(parse_neighbor_solicitation(b.frame.data(), b.parsed, ns));
    }
    // The cases above start from a solicitation that is accepted.
    Built b = built(valid_ns());
    NeighborSolicitation ns;
    CHECK(parse_neighbor_solicitation(b.frame.data(), b.parsed, ns));
}

TEST_CASE("a solicitation becomes the solicited advertisement, to the solicitor") {
    Built b = built(valid_ns());
    NeighborSolicitation ns;
    REQUIRE(parse_neighbor_solicitation(b.frame.data(), b.parsed, ns));
    const size_t len =
        make_neighbor_advertisement(b.frame.data(), b.frame.size(), b.parsed, ns, kOurMac);
    REQUIRE(len == 14 + 40 + 32);
    const std::vector<uint8_t>& f = b.frame;
    CHECK(mac_at(f, 0) == kPeerMac);
    CHECK(mac_at(f, 6) == kOurMac);
    CHECK(be16_at(f, 12) == 0x86dd);
    CHECK(f[14] == 0x60);
    CHECK(be16_at(f, 18) == 32);
    CHECK(f[20] == 58);
    CHECK(f[21] == 255);
    CHECK(ip6_at(f, 22) == kOurIp);
    CHECK(ip6_at(f, 38) == kSolicitor);
    CHECK(f[54] == 136);
    CHECK(f[55] == 0);
    CHECK(be32_at(f, 58) == 0x60000000);  // solicited and override, not a router
    CHECK(ip6_at(f, 62) == kOurIp);
    CHECK(std::vector<uint8_t>(f.begin() + 78, f.end()) == mac_option(2, kOurMac));
    CHECK(checksum6_valid(f));

    NeighborAdvertisement na;
    REQUIRE(parse_neighbor_advertisement(f.data(), offsets6(f, 14), na));
    CHECK(na.target == kOurIp);
    CHECK(na.solicited);
    CHECK(na.override);
    CHECK_FALSE(na.router);
    CHECK(na.has_target_mac);
    CHECK(na.target_mac == kOurMac);
}

TEST_CASE("duplicate address detection is answered to all nodes, not solicited") {
    Built b = built(nd_spec(135, kUnspecified, kOurIpGroup, kOurIp, {}));
    REQUIRE(b.frame.size() == 14 + 40 + 24);  // 8 bytes short of the advertisement
    NeighborSolicitation ns;
    REQUIRE(parse_neighbor_solicitation(b.frame.data(), b.parsed, ns));
    const std::vector<uint8_t> before = b.frame;
    CHECK(make_neighbor_advertisement(b.frame.data(), b.frame.size(), b.parsed, ns, kOurMac) == 0);
    CHECK(b.frame == before);

    b.frame.resize(14 + 40 + 32);
    REQUIRE(make_neighbor_advertisement(b.frame.data(), b.frame.size(), b.parsed, ns, kOurMac) ==
            b.frame.size());
    const std::vector<uint8_t>& f = b.frame;
    CHECK(mac_at(f, 0) == MacAddress{0x33, 0x33, 0, 0, 0, 1});
    CHECK(mac_at(f, 6) == kOurMac);
    CHECK(ip6_at(f, 22) == kOurIp);
    CHECK(ip6_at(f, 38) == ip6("ff02::1"));
    CHECK(be32_at(f, 58) == 0x20000000);  // override only
    CHECK(checksum6_valid(f));
    NeighborAdvertisement na;
    REQUIRE(parse_neighbor_advertisement(f.data(), offsets6(f, 14), na));
    CHECK_FALSE(na.solicited);
}

TEST_CASE("the advertisement of a tagged solicitation behind an extension header") {
    Spec6 s = valid_ns();
    s.vlan = 300;
    s.extension_type = 0;
    s.extension.assign(16, 0);
    Built b = built(s);
    NeighborSolicitation ns;
    REQUIRE(parse_neighbor_solicitation(b.frame.data(), b.parsed, ns));
    const size_t len =
        make_neighbor_advertisement(b.frame.data(), b.frame.size(), b.parsed, ns, kOurMac);
    REQUIRE(len == 18 + 40 + 32);
    b.frame.resize(len);
    CHECK(be16_at(b.frame, 12) == 0x8100);
    CHECK(be16_at(b.frame, 14) == 300);
    CHECK(b.frame[18 + 6] == 58);  // no extension header left
    CHECK(checksum6_valid(b.frame, 18));
}

TEST_CASE("neighbor advertisements RFC 4861 7.1.2 accepts are read, the others refused") {
    const Ipv6 neighbor = ip6("2001:db8:1::9");
    const MacAddress neighbor_mac = {0x02, 0xaa, 0, 0, 0, 9};
    const Spec6 solicited =
        nd_spec(136, neighbor, kOurIp, neighbor, mac_option(2, neighbor_mac), 0x40 | 0x20);
    NeighborAdvertisement na;
    SECTION("solicited, with the target's link-layer address") {
        Built b = built(solicited);
        REQUIRE(parse_neighbor_advertisement(b.frame.data(), b.parsed, na));
        CHECK(na.target == neighbor);
        CHECK(na.solicited);
        CHECK(na.override);
        CHECK_FALSE(na.router);
        CHECK(na.has_target_mac);
        CHECK(na.target_mac == neighbor_mac);
    }
    SECTION("unsolicited, from a router, to all nodes, no option") {
        Built b = built(nd_spec(136, neighbor, ip6("ff02::1"), neighbor, {}, 0x80));
        REQUIRE(parse_neighbor_advertisement(b.frame.data(), b.parsed, na));
        CHECK(na.router);
        CHECK_FALSE(na.solicited);
        CHECK_FALSE(na.override);
        CHECK_FALSE(na.has_target_mac);
    }
    SECTION("refused") {
        struct Case {
            std::string what;
            std::function<void(Spec6&)> change;
            std::function<void(Built&)> after = [](Built&) {};
        };
        const std::vector<Case> cases = {
            {"hop limit 64", [](Spec6& s) { s.hop_limit = 64; }},
            {"code 3", [](Spec6& s) { s.l4[1] = 3; }},
            {"20 bytes of ICMPv6", [](Spec6& s) { s.l4.resize(20); }},
            {"a wrong checksum", [](Spec6&) {},
             [](Built& b) { b.frame[b.parsed.l4_offset + 3] ^= 0x01; }},
            {"a multicast target",
             [](Spec6& s) { std::copy_n(ip6("ff02::2").begin(), 16, s.l4.begin() + 8); }},
            {"solicited, to a multicast address", [](Spec6& s) { s.dst = ip6("ff02::1"); }},
            {"an option of length 0", [](Spec6& s) { s.l4[25] = 0; }},
            {"an option running past the message", [](Spec6& s) { s.l4[25] = 3; }},
            {"one byte after the last option",
             [](Spec6& s) { s.l4 = cat(s.l4, std::vector<uint8_t>(1)); }},
            {"in an atomic fragment (RFC 6980 5)",
             [](Spec6& s) {
                 s.extension_type = 44;
                 s.extension.assign(8, 0);
             }},
            {"a solicitation", [](Spec6& s) { s.l4[0] = 135; }},
        };
        for (const Case& c : cases) {
            CAPTURE(c.what);
            Spec6 s = solicited;
            c.change(s);
            Built b = built(s);
            c.after(b);
            CHECK_FALSE(parse_neighbor_advertisement(b.frame.data(), b.parsed, na));
        }
    }
}

TEST_CASE("neighbor solicitations the director sends: to the solicited-node group, or unicast") {
    const Ipv6 target = ip6("2001:db8:1::abcd:1234");
    std::vector<uint8_t> f(200, 0xaa);
    SECTION("multicast, to resolve") {
        REQUIRE(build_neighbor_solicitation(f.data(), kOurMac, kOurIp, target) ==
                kNeighborSolicitationFrameLen);
        CHECK(mac_at(f, 0) == MacAddress{0x33, 0x33, 0xff, 0xcd, 0x12, 0x34});
        CHECK(ip6_at(f, 38) == ip6("ff02::1:ffcd:1234"));
    }
    SECTION("unicast, to re-probe a known neighbor") {
        const MacAddress known = {0x02, 0xbb, 0, 0, 0, 1};
        REQUIRE(build_neighbor_solicitation(f.data(), kOurMac, kOurIp, target, &known) ==
                kNeighborSolicitationFrameLen);
        CHECK(mac_at(f, 0) == known);
        CHECK(ip6_at(f, 38) == target);
    }
    CHECK(std::all_of(f.begin() + kNeighborSolicitationFrameLen, f.end(),
                      [](uint8_t x) { return x == 0xaa; }));
    f.resize(kNeighborSolicitationFrameLen);
    CHECK(mac_at(f, 6) == kOurMac);
    CHECK(be16_at(f, 12) == 0x86dd);
    CHECK(be32_at(f, 14) == 0x60000000);
    CHECK(be16_at(f, 18) == 32);
    CHECK(f[20] == 58);
    CHECK(f[21] == 255);
    CHECK(ip6_at(f, 22) == kOurIp);
    CHECK(f[54] == 135);
    CHECK(f[55] == 0);
    CHECK(be32_at(f, 58) == 0);
    CHECK(ip6_at(f, 62) == target);
    CHECK(std::vector<uint8_t>(f.begin() + 78, f.end()) == mac_option(1, kOurMac));
    CHECK(checksum6_valid(f));
    NeighborSolicitation ns;
    REQUIRE(parse_neighbor_solicitation(f.data(), offsets6(f, 14), ns));
    CHECK(ns.target == target);
    CHECK(ns.source_mac == kOurMac);
}

TEST_CASE("ICMPv6 echo requests are answered: same data, addresses swapped") {
    const std::vector<uint8_t> data = {1, 2, 3, 4, 5};  // odd
    Spec6 s;
    s.src = kSolicitor;
    s.dst = kOurIp;
    s.hop_limit = 3;
    s.next_header = 58;
    s.l4 = icmp6_message(128, 0, 0x1234abcd, data);
    SECTION("plain") {
        Built b = built(s);
        const std::vector<uint8_t> request = b.frame;
        REQUIRE(make_echo6_reply(b.frame.data(), b.parsed, kOurMac) == request.size());
        const std::vector<uint8_t>& f = b.frame;
        CHECK(mac_at(f, 0) == kPeerMac);
        CHECK(mac_at(f, 6) == kOurMac);
        CHECK(f[21] == 64);
        CHECK(ip6_at(f, 22) == kOurIp);
        CHECK(ip6_at(f, 38) == kSolicitor);
        CHECK(f[54] == 129);
        CHECK(f[55] == 0);
        CHECK(std::equal(f.begin() + 58, f.end(), request.begin() + 58));  // id, seq, data
        CHECK(checksum6_valid(f));
    }
    SECTION("its extension headers are not sent back") {
        s.vlan = 7;
        s.extension_type = 60;
        s.extension.assign(16, 0);
        Built b = built(s);
        const std::vector<uint8_t> request = b.frame;
        const size_t len = make_echo6_reply(b.frame.data(), b.parsed, kOurMac);
        REQUIRE(len == request.size() - 16);
        b.frame.resize(len);
        CHECK(be16_at(b.frame, 18 + 4) == 8 + data.size());
        CHECK(b.frame[18 + 6] == 58);
        CHECK(b.frame[18 + 40] == 129);
        CHECK(std::equal(b.frame.begin() + 18 + 44, b.frame.end(), request.begin() + 18 + 60));
        CHECK(checksum6_valid(b.frame, 18));
    }
    SECTION("anything but an echo request is left alone") {
        for (auto [type, code] : {std::pair<uint8_t, uint8_t>{129, 0}, {128, 1}, {1, 4}}) {
            s.l4[0] = type;
            s.l4[1] = code;
            Built b = built(s);
            const std::vector<uint8_t> before = b.frame;
            CHECK(make_echo6_reply(b.frame.data(), b.parsed, kOurMac) == 0);
            CHECK(b.frame == before);
        }
    }
}

TEST_CASE("TCP over IPv6 to no service is refused with a RST (RFC 793)") {
    const Ipv6 client = ip6("2001:db8:c::1"), vip = ip6("2001:db8:f::80");
    Spec6 s;
    s.src = client;
    s.dst = vip;
    s.next_header = 6;
    struct Case {
        std::string what;
        std::vector<uint8_t> segment;
        uint32_t seq, ack;
        uint8_t flags;
    };
    std::vector<uint8_t> with_options = tcp_segment(40000, 81, 5000, 0, 0x02, {2, 4, 5, 0xa0});
    with_options[12] = 6 << 4;  // the MSS option
    const std::vector<Case> cases = {
        {"a SYN: ack = seq + 1", tcp_segment(40000, 81, 5000, 0, 0x02), 0, 5001, 0x14},
        {"a SYN with options", with_options, 0, 5001, 0x14},
        {"data and FIN, no ACK: ack = seq + 10 + 1",
         tcp_segment(40000, 81, 5000, 0, 0x01, std::vector<uint8_t>(10, 7)), 0, 5011, 0x14},
        {"an ACK with data: seq = its ack",
         tcp_segment(40000, 81, 5000, 777, 0x18, std::vector<uint8_t>(100, 7)), 777, 0, 0x04},
    };
    for (const Case& c : cases) {
        CAPTURE(c.what);
        s.l4 = c.segment;
        for (bool extended : {false, true}) {
            s.extension_type = 60;
            s.extension.assign(extended ? 8 : 0, 0);
            Built b = built(s);
            const size_t len = make_tcp_reset6(b.frame.data(), b.parsed, kOurMac);
            REQUIRE(len == 14 + 40 + 20);
            b.frame.resize(len);
            const std::vector<uint8_t>& f = b.frame;
            CHECK(mac_at(f, 0) == kPeerMac);
            CHECK(mac_at(f, 6) == kOurMac);
            CHECK(be16_at(f, 18) == 20);
            CHECK(f[20] == 6);
            CHECK(f[21] == 64);
            CHECK(ip6_at(f, 22) == vip);
            CHECK(ip6_at(f, 38) == client);
            CHECK(be16_at(f, 54) == 81);
            CHECK(be16_at(f, 56) == 40000);
            CHECK(be32_at(f, 58) == c.seq);
            CHECK(be32_at(f, 62) == c.ack);
            CHECK(f[66] == 5 << 4);
            CHECK(f[67] == c.flags);
            CHECK(checksum6_valid(f));
        }
    }
    s.extension.clear();
    s.l4 = tcp_segment(40000, 81, 5000, 0, 0x04);
    Built b = built(s);
    const std::vector<uint8_t> before = b.frame;
    CHECK(make_tcp_reset6(b.frame.data(), b.parsed, kOurMac) == 0);  // a RST is never answered
    CHECK(b.frame == before);
}

TEST_CASE("ICMPv6 port unreachable and packet too big quote what fits in 1280 bytes") {
    const Ipv6 client = ip6("2001:db8:c::1"), vip = ip6("2001:db8:f::80");
    Spec6 s;
    s.src = client;
    s.dst = vip;
    SECTION("a small UDP datagram is quoted whole") {
        s.next_header = 17;
        s.l4 = udp_datagram(40000, 53, std::vector<uint8_t>(101, 3));
        Built b = built(s);
        const std::vector<uint8_t> packet(b.frame.begin() + 14, b.frame.end());
        b.frame.resize(2048);
        const size_t len = make_unreachable6(b.frame.data(), b.frame.size(), b.parsed, kOurMac, vip,
                                             Unreachable6::port, 1500);
        REQUIRE(len == 14 + 48 + packet.size());
        b.frame.resize(len);
        const std::vector<uint8_t>& f = b.frame;
        CHECK(mac_at(f, 0) == kPeerMac);
        CHECK(mac_at(f, 6) == kOurMac);
        CHECK(be16_at(f, 18) == 8 + packet.size());
        CHECK(f[20] == 58);
        CHECK(f[21] == 64);
        CHECK(ip6_at(f, 22) == vip);
        CHECK(ip6_at(f, 38) == client);
        CHECK(f[54] == 1);
        CHECK(f[55] == 4);
        CHECK(be32_at(f, 58) == 0);  // no MTU in a port unreachable
        CHECK(std::vector<uint8_t>(f.begin() + 62, f.end()) == packet);
        CHECK(checksum6_valid(f));
    }
    SECTION("a 1,500-byte TCP packet: packet too big, 1,280 bytes in all") {
        s.next_header = 6;
        s.l4 = tcp_segment(40000, 80, 1, 2, 0x18, std::vector<uint8_t>(1440, 9));
        Built b = built(s);
        REQUIRE(b.frame.size() == 14 + 1500);
        const std::vector<uint8_t> packet(b.frame.begin() + 14, b.frame.end());
        const Ipv6 router = ip6("2001:db8:f::1");
        const size_t len = make_unreachable6(b.frame.data(), b.frame.size(), b.parsed, kOurMac,
                                             router, Unreachable6::packet_too_big, 1400);
        REQUIRE(len == 14 + 1280);
        b.frame.resize(len);
        const std::vector<uint8_t>& f = b.frame;
        CHECK(be16_at(f, 18) == 1240);
        CHECK(ip6_at(f, 22) == router);
        CHECK(f[54] == 2);
        CHECK(f[55] == 0);
        CHECK(be32_at(f, 58) == 1400);
        CHECK(std::equal(f.begin() + 62, f.end(), packet.begin()));
        CHECK(checksum6_valid(f));
    }
    SECTION("what fits in the buffer, down to its headers and 8 bytes of TCP") {
        s.next_header = 6;
        s.extension_type = 60;
        s.extension.assign(24, 0);
        s.l4 = tcp_segment(40000, 80, 1, 2, 0x18, std::vector<uint8_t>(500, 9));
        Built b = built(s);
        const std::vector<uint8_t> original = b.frame;
        const size_t headers = 14 + 48;
        const size_t least = 40 + 24 + 8;
        for (size_t quoted : {size_t{300}, least}) {
            CAPTURE(quoted);
            b.frame = original;
            REQUIRE(make_unreachable6(b.frame.data(), headers + quoted, b.parsed, kOurMac, vip,
                                      Unreachable6::port) == headers + quoted);
            b.frame.resize(headers + quoted);
            CHECK(be16_at(b.frame, 18) == 8 + quoted);
            CHECK(std::equal(b.frame.begin() + 62, b.frame.end(), original.begin() + 14));
            CHECK(checksum6_valid(b.frame));
        }
        b.frame = original;
        CHECK(make_unreachable6(b.frame.data(), headers + least - 1, b.parsed, kOurMac, vip,
                                Unreachable6::port) == 0);
        CHECK(b.frame == original);
    }
}

TEST_CASE("no ICMPv6 error where RFC 4443 2.4(e) forbids one") {
    const Ipv6 vip = ip6("2001:db8:f::80");
    struct Case {
        std::string what;
        std::function<void(Spec6&)> change;
        bool packet_too_big_sent;  // RFC 4443 2.4(e.3): packet too big about multicast is sent
    };
    const auto icmp = [](uint8_t type) {
        return [type](Spec6& s) {
            s.next_header = 58;
            s.l4 = icmp6_message(type, 0, 0, std::vector<uint8_t>(64, 1));
        };
    };
    const std::vector<Case> cases = {
        {"from the unspecified address", [](Spec6& s) { s.src = Ipv6{}; }, false},
        {"from a multicast address", [](Spec6& s) { s.src = ip6("ff0e::1"); }, false},
        {"to a multicast address", [](Spec6& s) { s.dst = ip6("ff05::1:3"); }, true},
        {"to a link-layer multicast", [](Spec6& s) { s.dst_mac = {0x33, 0x33, 0, 0, 0, 1}; }, true},
        {"to the link-layer broadcast", [](Spec6& s) { s.dst_mac.fill(0xff); }, true},
        {"about a destination unreachable", icmp(1), false},
        {"about a packet too big", icmp(2), false},
        {"about a parameter problem", icmp(4), false},
        {"about a redirect", icmp(137), false},
        {"about a later fragment of ICMPv6",
         [](Spec6& s) {
             s.next_header = 58;
             s.l4 = std::vector<uint8_t>(64, 128);  // looks like an echo request: cannot tell
             s.extension_type = 44;
             s.extension = {0, 0, 0x05, 0x00, 0, 0, 0, 1};  // offset 160
         },
         false},
    };
    for (const Case& c : cases) {
        for (Unreachable6 kind : {Unreachable6::port, Unreachable6::packet_too_big}) {
            CAPTURE(c.what, kind == Unreachable6::port);
            Spec6 s;
            s.dst = vip;
            s.next_header = 17;
            s.l4 = udp_datagram(40000, 53, std::vector<uint8_t>(64, 2));
            c.change(s);
            Built b = built(s);
            b.frame.resize(2048);
            const std::vector<uint8_t> before = b.frame;
            const bool sent = kind == Unreachable6::packet_too_big && c.packet_too_big_sent;
            const size_t len = make_unreachable6(b.frame.data(), b.frame.size(), b.parsed, kOurMac,
                                                 vip, kind, 1280);
            CHECK((len != 0) == sent);
            if (!sent) {
                CHECK(b.frame == before);
            }
        }
    }
    // About an echo request (a large ping over a small link), both are sent.
    Spec6 s;
    s.dst = vip;
    icmp(128)(s);
    for (Unreachable6 kind : {Unreachable6::port, Unreachable6::packet_too_big}) {
        Built b = built(s);
        b.frame.resize(2048);
        CHECK(make_unreachable6(b.frame.data(), b.frame.size(), b.parsed, kOurMac, vip, kind,
                                1280) != 0);
    }
}

namespace {

// A TCP connection through the VIP, and the ICMPv6 errors about its packets.
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

// A whole packet of the connection, as the director sent it: Ethernet header included.
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

// An ICMPv6 error of `type` from `from` to `to`, quoting the first `quoted` bytes of the IPv6
// packet in `packet`; 6 bytes of Ethernet padding after it.
Built icmp6_error(uint8_t type, uint32_t data, const Ipv6& from, const Ipv6& to,
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
    Built b = built(s);
    b.frame.resize(b.frame.size() + 6, 0xee);
    return b;
}

}  // namespace

TEST_CASE("ICMPv6 errors: types 1 to 4 quoting TCP or UDP are read, with their reply key") {
    const Conn6 conn = make_conn(6);
    const Ipv6 router = ip6("2001:db8:5::fe");
    const std::vector<uint8_t> packet = sent_packet(6, conn.client_ip, 40000, conn.rip, 8080, 100);
    for (uint8_t type : {uint8_t{1}, uint8_t{2}, uint8_t{3}, uint8_t{4}}) {
        CAPTURE(type);
        Built b = icmp6_error(type, 0, router, conn.client_ip, packet, 40 + 60);
        Icmp6Error error;
        REQUIRE(parse_icmp6_error(b.frame.data(), b.parsed, error));
        const FlowKey6 expected = conn.reply_key();
        CHECK(std::memcmp(&error.reply_key, &expected, sizeof expected) == 0);
        CHECK(error.inner.l3_offset == b.parsed.l4_offset + 8);
    }
    for (int type : {0, 5, 127, 128, 129, 135}) {
        CAPTURE(type);
        Built b =
            icmp6_error(static_cast<uint8_t>(type), 0, router, conn.client_ip, packet, 40 + 60);
        Icmp6Error error;
        CHECK_FALSE(parse_icmp6_error(b.frame.data(), b.parsed, error));
    }
    SECTION("a fragment is no error we translate") {
        Built b = icmp6_error(1, 0, router, conn.client_ip, packet, 40 + 60);
        b.parsed.fragment = true;
        Icmp6Error error;
        CHECK_FALSE(parse_icmp6_error(b.frame.data(), b.parsed, error));
    }
    SECTION("quoting ICMPv6, or a fragment, first or later") {
        Spec6 echo;
        echo.next_header = 58;
        echo.l4 = icmp6_message(128, 0, 1, std::vector<uint8_t>(20));
        Spec6 first;
        first.l4 = tcp_segment(40000, 8080, 1, 2, 0x10, std::vector<uint8_t>(44));  // 8n bytes
        first.extension_type = 44;
        first.extension = {0, 0, 0, 0x01, 0, 0, 0, 9};  // offset 0, more to come
        Spec6 later = first;
        later.extension = {0, 0, 0, 0x08, 0, 0, 0, 9};  // offset 8 bytes, the last
        for (const Spec6& quoted : {echo, first, later}) {
            const std::vector<uint8_t> q = build6(quoted);
            Built b = icmp6_error(1, 0, router, conn.client_ip, q, q.size() - 14);
            Icmp6Error error;
            CHECK_FALSE(parse_icmp6_error(b.frame.data(), b.parsed, error));
            // Refused for what it quotes: the quote itself parsed.
            CHECK(error.inner.kind == FrameKind::ipv6);
            CHECK(error.inner.fragment == !quoted.extension.empty());
        }
    }
}

TEST_CASE("ICMPv6 errors about a tracked connection are translated, both ways") {
    const Ipv6 router = ip6("2001:db8:5::fe"), client_router = ip6("2001:db8:c::fe");
    for (uint8_t protocol : {uint8_t{6}, uint8_t{17}}) {
        const Conn6 conn = make_conn(protocol);
        const size_t checksum_at = protocol == 6 ? 16 : 6;
        // Whole packets as the director sent them, and as the other end must see them.
        const size_t payload = 1400;
        const std::vector<uint8_t> to_server =
            sent_packet(protocol, conn.client_ip, 40000, conn.rip, 8080, payload);
        const std::vector<uint8_t> as_client_sent =
            sent_packet(protocol, conn.client_ip, 40000, conn.vip, 80, payload);
        const std::vector<uint8_t> to_client =
            sent_packet(protocol, conn.vip, 80, conn.client_ip, 40000, payload);
        const std::vector<uint8_t> as_server_sent =
            sent_packet(protocol, conn.rip, 8080, conn.client_ip, 40000, payload);

        // Quotes: as much as fits in 1280 bytes; to the checksum; short of it (8 bytes of L4).
        for (size_t quoted : {size_t{1232}, 40 + checksum_at + 2, size_t{48}}) {
            const bool has_checksum = quoted >= 40 + checksum_at + 2;
            CAPTURE(protocol, quoted);
            {  // towards the client: packet too big from a router by the real server
                Built b = icmp6_error(2, 1400, router, conn.client_ip, to_server, quoted);
                const std::vector<uint8_t> before = b.frame;
                Icmp6Error error;
                REQUIRE(parse_icmp6_error(b.frame.data(), b.parsed, error));
                CHECK(translate_icmp6_error(b.frame.data(), b.parsed, error, conn, true) ==
                      conn.client_ip);
                const std::vector<uint8_t>& f = b.frame;
                CHECK(ip6_at(f, 22) == conn.vip);
                CHECK(ip6_at(f, 38) == conn.client_ip);
                CHECK(be32_at(f, 58) == 1400);  // the MTU
                // The quote reads as what the client sent, to the checksum if quoted.
                const size_t q = 62;
                const size_t compare = has_checksum ? quoted : 40 + 4;
                CHECK(std::equal(f.begin() + q, f.begin() + q + compare,
                                 as_client_sent.begin() + 14));
                if (!has_checksum) {
                    CHECK(std::equal(f.begin() + q + compare, f.begin() + q + quoted,
                                     before.begin() + q + compare));
                }
                CHECK(std::all_of(f.end() - 6, f.end(), [](uint8_t x) { return x == 0xee; }));
                CHECK(checksum6_valid(f));
            }
            {  // towards the real server: unreachable from a router by the client
                Built b = icmp6_error(1, 0, client_router, conn.vip, to_client, quoted);
                const std::vector<uint8_t> before = b.frame;
                Icmp6Error error;
                REQUIRE(parse_icmp6_error(b.frame.data(), b.parsed, error));
                const FlowKey6 inbound = conn.inbound_key();
                CHECK(std::memcmp(&error.reply_key, &inbound, sizeof inbound) == 0);
                CHECK(translate_icmp6_error(b.frame.data(), b.parsed, error, conn, false) ==
                      conn.rip);
                const std::vector<uint8_t>& f = b.frame;
                CHECK(ip6_at(f, 22) == client_router);
                CHECK(ip6_at(f, 38) == conn.rip);
                const size_t q = 62;
                const size_t compare = has_checksum ? quoted : 40 + 4;
                CHECK(std::equal(f.begin() + q, f.begin() + q + compare,
                                 as_server_sent.begin() + 14));
                if (!has_checksum) {
                    CHECK(std::equal(f.begin() + q + compare, f.begin() + q + quoted,
                                     before.begin() + q + compare));
                }
                CHECK(std::all_of(f.end() - 6, f.end(), [](uint8_t x) { return x == 0xee; }));
                CHECK(checksum6_valid(f));
            }
        }
    }
}

TEST_CASE("a quoted UDP checksum of 0 stays 0 through the translation") {
    const Conn6 conn = make_conn(17);
    Spec6 s;
    s.src = conn.client_ip;
    s.dst = conn.rip;
    s.next_header = 17;
    s.l4 = udp_datagram(40000, 8080, std::vector<uint8_t>(30, 1));
    s.fill_checksum = false;
    const std::vector<uint8_t> packet = build6(s);
    Built b = icmp6_error(3, 0, ip6("2001:db8:5::fe"), conn.client_ip, packet, 40 + 38);
    Icmp6Error error;
    REQUIRE(parse_icmp6_error(b.frame.data(), b.parsed, error));
    translate_icmp6_error(b.frame.data(), b.parsed, error, conn, true);
    CHECK(be16_at(b.frame, 62 + 40 + 2) == 80);
    CHECK(be16_at(b.frame, 62 + 40 + 6) == 0);
    CHECK(checksum6_valid(b.frame));
}
