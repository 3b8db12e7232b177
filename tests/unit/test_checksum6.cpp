// IPv6 checksums and NAT66 rewrites (RFC 1624, RFC 8200 8.1): every incremental update must
// equal a full recomputation, exactly, including the 0x0000/0xFFFF corner.
#include <catch2/catch.hpp>

#include <cstring>
#include <random>

#include "dp/bytes.hpp"
#include "dp/checksum.hpp"
#include "dp/nat.hpp"
#include "ipv6_frames.hpp"

using namespace vsnat;
using namespace vsnat::dp;
using namespace vsnat::test6;

namespace {

Ipv6 random_ip6(std::mt19937_64& rng) {
    Ipv6 a;
    for (auto& b : a) {
        b = static_cast<uint8_t>(rng());
    }
    return a;
}

std::vector<uint8_t> random_bytes(std::mt19937_64& rng, size_t n) {
    std::vector<uint8_t> v(n);
    for (auto& b : v) {
        b = static_cast<uint8_t>(rng());
    }
    return v;
}

// A random TCP, UDP or ICMPv6 packet; a quarter of them behind a hop-by-hop header, some tagged.
Spec6 random_spec(std::mt19937_64& rng) {
    Spec6 s;
    s.src = random_ip6(rng);
    s.dst = random_ip6(rng);
    s.hop_limit = static_cast<uint8_t>(2 + rng() % 254);
    const std::vector<uint8_t> payload = random_bytes(rng, rng() % 1461);
    switch (rng() % 3) {
        case 0: {
            s.next_header = 6;
            const size_t nops = 4 * (rng() % 4 == 0 ? 1 + rng() % 10 : 0);
            std::vector<uint8_t> options(nops + payload.size(), 0x01);  // NOPs, then the payload
            std::copy(payload.begin(), payload.end(), options.begin() + nops);
            s.l4 = tcp_segment(static_cast<uint16_t>(rng()), static_cast<uint16_t>(rng()),
                               static_cast<uint32_t>(rng()), static_cast<uint32_t>(rng()),
                               static_cast<uint8_t>(rng()), options);
            s.l4[12] = static_cast<uint8_t>((5 + nops / 4) << 4);
            break;
        }
        case 1:
            s.next_header = 17;
            s.l4 =
                udp_datagram(static_cast<uint16_t>(rng()), static_cast<uint16_t>(rng()), payload);
            break;
        default:
            s.next_header = 58;
            s.l4 = icmp6_message(static_cast<uint8_t>(rng()), static_cast<uint8_t>(rng()),
                                 static_cast<uint32_t>(rng()), payload);
            break;
    }
    if (rng() % 4 == 0) {
        s.extension_type = 0;                        // hop-by-hop
        s.extension.assign(8 * (1 + rng() % 4), 0);  // Pad1 options
    }
    if (rng() % 8 == 0) {
        s.vlan = static_cast<int>(rng() % 4095);
    }
    return s;
}

// The rewrite done by hand on a copy, every checksum then computed afresh.
std::vector<uint8_t> rewritten_by_hand(std::vector<uint8_t> f, const ParsedFrame& p,
                                       Endpoint endpoint, const Ipv6& address, uint16_t port) {
    put_ip6(f, p.l3_offset + (endpoint == Endpoint::source ? 8 : 24), address);
    if (p.ip_protocol != 58) {
        put16(f, p.l4_offset + (endpoint == Endpoint::source ? 0 : 2), port);
    }
    const size_t check = p.l4_offset + checksum_offset(p.ip_protocol);
    if (!(p.ip_protocol == 17 && be16_at(f, check) == 0)) {
        put16(f, check, full_checksum6(f, p.l3_offset, p.l4_offset, p.ip_protocol));
    }
    return f;
}

}  // namespace

TEST_CASE("the IPv6 pseudo-header's sum is the sum of its 40 bytes") {
    std::mt19937_64 rng(8200);
    for (int n = 0; n < 10000; ++n) {
        const Ipv6 src = random_ip6(rng), dst = random_ip6(rng);
        // Lengths past 65,535 too: jumbograms (RFC 2675) carry a 32-bit upper-layer length.
        const auto length = static_cast<uint32_t>(n % 2 ? rng() % 65536 : rng());
        const auto next_header = static_cast<uint8_t>(rng());
        std::vector<uint8_t> pseudo = with_pseudo_header(src, dst, next_header, {});
        put32(pseudo, 32, length);
        const uint16_t ours = csum_fold(csum_pseudo_header6(src, dst, length, next_header));
        REQUIRE(__builtin_bswap16(ours) == reference_sum(pseudo));
    }
}

TEST_CASE("csum_replace16 equals a full recomputation, the 0 result included") {
    std::mt19937_64 rng(1624);
    for (int n = 0; n < 20000; ++n) {
        std::vector<uint8_t> data = random_bytes(rng, 64);
        data[63] = 58;  // never all zero, as with a pseudo-header
        const Ipv6 to = random_ip6(rng);
        const Ipv6 from = ip6_at(data, 8);
        std::vector<uint8_t> after = data;
        put_ip6(after, 8, to);
        if (n % 2) {
            // Bend a word so that the full computation after the change gives 0.
            put16(after, 40, 0);
            put16(after, 40, static_cast<uint16_t>(~reference_sum(after)));
            put16(data, 40, be16_at(after, 40));
        }
        const auto check = static_cast<uint16_t>(~reference_sum(data));
        const auto expected = static_cast<uint16_t>(~reference_sum(after));
        if (n % 2) {
            REQUIRE(expected == 0);
        }
        REQUIRE(__builtin_bswap16(csum_replace16(__builtin_bswap16(check), from, to)) == expected);
    }
}

TEST_CASE("NAT66: incremental rewrite equals full recomputation on 100,000 random packets") {
    std::mt19937_64 rng(20261206);
    size_t tcp = 0, udp = 0, icmp = 0, odd = 0, extended = 0, sources = 0;
    for (int n = 0; n < 100000; ++n) {
        const Spec6 spec = random_spec(rng);
        std::vector<uint8_t> frame = build6(spec);
        const size_t l3 = spec.vlan >= 0 ? 18 : 14;
        const ParsedFrame p = offsets6(frame, l3);
        REQUIRE(checksum6_valid(frame, l3));
        const Ipv6 address = random_ip6(rng);
        const auto port = static_cast<uint16_t>(rng());
        const Endpoint endpoint = rng() % 2 ? Endpoint::source : Endpoint::destination;

        std::vector<uint8_t> expected = rewritten_by_hand(frame, p, endpoint, address, port);
        expected[l3 + 7] = static_cast<uint8_t>(spec.hop_limit - 1);
        uint16_t raw_port;
        std::memcpy(&raw_port, &expected[p.l4_offset + (endpoint == Endpoint::source ? 0 : 2)], 2);
        nat6_rewrite(&frame[l3], &frame[p.l4_offset], p.ip_protocol, endpoint, address,
                     p.ip_protocol == 58 ? uint16_t{0} : raw_port);
        REQUIRE(decrement_hop_limit(&frame[l3]));
        REQUIRE(frame == expected);
        REQUIRE(checksum6_valid(frame, l3));

        tcp += p.ip_protocol == 6;
        udp += p.ip_protocol == 17;
        icmp += p.ip_protocol == 58;
        odd += p.l4_length % 2;
        extended += p.l4_offset != l3 + 40;
        sources += endpoint == Endpoint::source;
    }
    CHECK(tcp > 30000);
    CHECK(udp > 30000);
    CHECK(icmp > 30000);
    CHECK(odd > 45000);
    CHECK(extended > 20000);
    CHECK(sources > 45000);
    CHECK(sources < 55000);
}

TEST_CASE(
    "NAT66: the 0x0000/0xFFFF corner, before and after the rewrite, matches a full "
    "computation") {
    std::mt19937_64 rng(4443);
    for (uint8_t proto : {uint8_t{6}, uint8_t{17}, uint8_t{58}}) {
        for (bool corner_after : {true, false}) {
            for (int n = 0; n < 200; ++n) {
                CAPTURE(proto, corner_after, n);
                Spec6 spec;
                spec.src = random_ip6(rng);
                spec.dst = random_ip6(rng);
                std::vector<uint8_t> payload = random_bytes(rng, 2 * (rng() % 20) + 2);
                spec.next_header = proto;
                spec.l4 = proto == 6    ? tcp_segment(1234, 80, 1, 2, 0x10, payload)
                          : proto == 17 ? udp_datagram(1234, 53, payload)
                                        : icmp6_message(129, 0, 0x12345678, payload);
                std::vector<uint8_t> frame = build6(spec);
                const ParsedFrame p = offsets6(frame, 14);
                const Ipv6 address = random_ip6(rng);
                const auto port = static_cast<uint16_t>(rng());
                const Endpoint endpoint = n % 2 ? Endpoint::source : Endpoint::destination;
                // The packet's last word is bent so that the full computation of the one side
                // gives 0 (UDP sends that as 0xFFFF).
                const size_t last = p.ip_end - 2u;
                std::vector<uint8_t> side =
                    corner_after ? rewritten_by_hand(frame, p, endpoint, address, port) : frame;
                const size_t check = p.l4_offset + checksum_offset(proto);
                put16(side, last, 0);
                put16(side, check, 0);
                const std::vector<uint8_t> upper(side.begin() + p.l4_offset, side.end());
                put16(frame, last,
                      static_cast<uint16_t>(~reference_sum(
                          with_pseudo_header(ip6_at(side, 22), ip6_at(side, 38), proto, upper))));
                put16(frame, check, full_checksum6(frame, 14, p.l4_offset, proto));

                std::vector<uint8_t> expected =
                    rewritten_by_hand(frame, p, endpoint, address, port);
                const uint16_t corner = proto == 17 ? 0xffff : 0;
                REQUIRE(be16_at(corner_after ? expected : frame, check) == corner);
                uint16_t raw_port;
                std::memcpy(&raw_port,
                            &expected[p.l4_offset + (endpoint == Endpoint::source ? 0 : 2)], 2);
                nat6_rewrite(&frame[14], &frame[p.l4_offset], proto, endpoint, address, raw_port);
                REQUIRE(frame == expected);
                REQUIRE(checksum6_valid(frame));
            }
        }
    }
}

TEST_CASE("NAT66: a UDP checksum of 0, invalid in IPv6, is left 0; address and port change") {
    Spec6 spec;
    spec.next_header = 17;
    spec.l4 = udp_datagram(5353, 53, {1, 2, 3});
    spec.fill_checksum = false;
    std::vector<uint8_t> frame = build6(spec);
    const ParsedFrame p = offsets6(frame, 14);
    const Ipv6 rip = ip6("2001:db8:2::3");
    nat6_rewrite(&frame[14], &frame[p.l4_offset], 17, Endpoint::destination, rip,
                 __builtin_bswap16(5300));
    CHECK(be16_at(frame, p.l4_offset + 6) == 0);
    CHECK(ip6_at(frame, 14 + 24) == rip);
    CHECK(be16_at(frame, p.l4_offset + 2) == 5300);
    CHECK_FALSE(checksum6_valid(frame));
}

TEST_CASE("NAT66: ICMPv6 has no port: only the address changes, and its checksum follows") {
    Spec6 spec;
    spec.next_header = 58;
    spec.l4 = icmp6_message(128, 0, 0xabcd0001, {9, 8, 7});
    std::vector<uint8_t> frame = build6(spec);
    const std::vector<uint8_t> before = frame;
    const ParsedFrame p = offsets6(frame, 14);
    const Ipv6 vip = ip6("2001:db8:ffff::80");
    nat6_rewrite(&frame[14], &frame[p.l4_offset], 58, Endpoint::source, vip, 0xffff);
    CHECK(ip6_at(frame, 14 + 8) == vip);
    CHECK(be32_at(frame, p.l4_offset + 4) == 0xabcd0001);  // identifier and sequence intact
    CHECK(
        std::equal(frame.begin() + p.l4_offset + 4, frame.end(), before.begin() + p.l4_offset + 4));
    CHECK(checksum6_valid(frame));
}

TEST_CASE("hop limit 1 and 0 are not forwarded and the header is left alone; 2 becomes 1") {
    for (uint8_t hops : {uint8_t{0}, uint8_t{1}}) {
        Spec6 spec;
        spec.l4 = tcp_segment(1, 2, 3, 4, 0x02);
        spec.hop_limit = hops;
        std::vector<uint8_t> frame = build6(spec);
        const std::vector<uint8_t> before = frame;
        CHECK_FALSE(decrement_hop_limit(&frame[eth::kHeaderLen]));
        CHECK(frame == before);
    }
    Spec6 spec;
    spec.l4 = tcp_segment(1, 2, 3, 4, 0x02);
    spec.hop_limit = 2;
    std::vector<uint8_t> frame = build6(spec);
    std::vector<uint8_t> expected = frame;
    expected[14 + 7] = 1;
    CHECK(decrement_hop_limit(&frame[eth::kHeaderLen]));
    CHECK(frame == expected);
}
