// Incremental checksum updates (RFC 1624) must equal a full recomputation, exactly, for every
// rewrite the dataplane does.
#include <catch2/catch.hpp>

#include <random>

#include "dp/bytes.hpp"
#include "dp/checksum.hpp"
#include "dp/nat.hpp"
#include "dp/parse.hpp"
#include "support/packet_builder.hpp"

using namespace vsnat;
using namespace vsnat::dp;
using vsnat::test::PacketSpec;

namespace {

std::string random_ip(std::mt19937_64& rng) {
    std::uniform_int_distribution<int> octet(0, 255);
    return std::to_string(octet(rng)) + "." + std::to_string(octet(rng)) + "." +
           std::to_string(octet(rng)) + "." + std::to_string(octet(rng));
}

PacketSpec random_spec(std::mt19937_64& rng) {
    std::uniform_int_distribution<uint32_t> u32;
    std::uniform_int_distribution<int> payload_len(0, 1473);
    PacketSpec s;
    s.src_ip = random_ip(rng);
    s.dst_ip = random_ip(rng);
    s.src_port = static_cast<uint16_t>(u32(rng));
    s.dst_port = static_cast<uint16_t>(u32(rng));
    s.protocol = u32(rng) % 2 ? 6 : 17;
    s.tcp_flags = static_cast<uint8_t>(u32(rng));
    s.seq = u32(rng);
    s.ack = u32(rng);
    s.ttl = static_cast<uint8_t>(2 + u32(rng) % 254);
    s.ip_id = static_cast<uint16_t>(u32(rng));
    s.payload.resize(static_cast<size_t>(payload_len(rng)));
    for (auto& b : s.payload) {
        b = static_cast<uint8_t>(u32(rng));
    }
    if (u32(rng) % 4 == 0) {
        s.ip_options.assign(4 * (1 + u32(rng) % 10), 0x01);  // NOPs
    }
    return s;
}

}  // namespace

TEST_CASE(
    "incremental rewrite equals full recomputation on 100,000 random packets, "
    "nat_forward_rewrite equals nat_rewrite and decrement_ttl") {
    std::mt19937_64 rng(20261125);
    std::uniform_int_distribution<uint32_t> u32;
    size_t tcp = 0, udp = 0, odd = 0, zero_or_ffff = 0;
    for (int n = 0; n < 100000; ++n) {
        PacketSpec spec = random_spec(rng);
        std::vector<uint8_t> frame = test::build_packet(spec);
        ParsedFrame p = parse_frame(frame.data(), frame.size());
        REQUIRE(p.kind == FrameKind::ipv4);
        uint8_t* ip = &frame[p.l3_offset];
        uint8_t* l4p = &frame[p.l4_offset];

        const uint32_t new_ip = static_cast<uint32_t>(u32(rng));
        const uint16_t new_port = static_cast<uint16_t>(u32(rng));
        const auto endpoint = u32(rng) % 2 ? Endpoint::source : Endpoint::destination;
        std::vector<uint8_t> forwarded = frame;
        nat_rewrite(ip, l4p, spec.protocol, endpoint, new_ip, new_port);
        REQUIRE(decrement_ttl(ip));
        nat_forward_rewrite(&forwarded[p.l3_offset], &forwarded[p.l4_offset], spec.protocol,
                            endpoint, new_ip, new_port);

        std::vector<uint8_t> expected = frame;
        test::recompute_checksums(expected);
        REQUIRE(frame == expected);
        REQUIRE(test::checksums_valid(frame));
        REQUIRE(forwarded == frame);  // the packet path's one-pass form: the same bytes

        (spec.protocol == 6 ? tcp : udp)++;
        odd += p.l4_length % 2;
        const size_t off = spec.protocol == 6 ? l4::kTcpChecksum : l4::kUdpChecksum;
        uint16_t c = load_u16_raw(l4p + off);
        zero_or_ffff += c == 0 || c == 0xffff;
    }
    CHECK(tcp > 45000);
    CHECK(udp > 45000);
    CHECK(odd > 45000);
}

TEST_CASE("UDP checksum 0 (none) stays 0 through a rewrite") {
    PacketSpec spec;
    spec.protocol = 17;
    spec.udp_checksum = false;
    spec.payload = {1, 2, 3};
    std::vector<uint8_t> frame = test::build_packet(spec);
    ParsedFrame p = parse_frame(frame.data(), frame.size());
    std::vector<uint8_t> forwarded = frame;
    nat_rewrite(&frame[p.l3_offset], &frame[p.l4_offset], 17, Endpoint::destination,
                test::ip_raw("198.19.0.3"), test::port_raw(53));
    CHECK(load_u16_raw(&frame[p.l4_offset + l4::kUdpChecksum]) == 0);
    CHECK(test::checksums_valid(frame));
    nat_forward_rewrite(&forwarded[p.l3_offset], &forwarded[p.l4_offset], 17, Endpoint::destination,
                        test::ip_raw("198.19.0.3"), test::port_raw(53));
    CHECK(load_u16_raw(&forwarded[p.l4_offset + l4::kUdpChecksum]) == 0);
    CHECK(test::checksums_valid(forwarded));
}

TEST_CASE("the 0x0000/0xFFFF corner: results match a full computation") {
    // Search for rewrites whose result lands on the corner, for TCP and UDP.
    std::mt19937_64 rng(7);
    std::uniform_int_distribution<uint32_t> u32;
    int tcp_zero = 0, udp_ffff = 0;
    for (int n = 0; n < 2000000 && (tcp_zero < 3 || udp_ffff < 3); ++n) {
        PacketSpec spec;
        spec.protocol = n % 2 ? 6 : 17;
        spec.payload = {static_cast<uint8_t>(u32(rng)), static_cast<uint8_t>(u32(rng))};
        std::vector<uint8_t> frame = test::build_packet(spec);
        ParsedFrame p = parse_frame(frame.data(), frame.size());
        uint8_t* l4p = &frame[p.l4_offset];
        const uint16_t port = static_cast<uint16_t>(u32(rng));
        std::vector<uint8_t> forwarded = frame;
        nat_rewrite(&frame[p.l3_offset], l4p, spec.protocol, Endpoint::destination,
                    test::ip_raw("198.19.0.2"), port);
        std::vector<uint8_t> expected = frame;
        test::recompute_checksums(expected);
        REQUIRE(frame == expected);
        nat_forward_rewrite(&forwarded[p.l3_offset], &forwarded[p.l4_offset], spec.protocol,
                            Endpoint::destination, test::ip_raw("198.19.0.2"), port);
        REQUIRE(decrement_ttl(&frame[p.l3_offset]));
        REQUIRE(forwarded == frame);
        const uint16_t c =
            load_u16_raw(l4p + (spec.protocol == 6 ? l4::kTcpChecksum : l4::kUdpChecksum));
        tcp_zero += spec.protocol == 6 && c == 0;
        udp_ffff += spec.protocol == 17 && c == 0xffff;
    }
    CHECK(tcp_zero >= 3);
    CHECK(udp_ffff >= 3);
}

TEST_CASE("TTL 1 and 0 are not forwarded and the header is left alone") {
    for (uint8_t ttl : {uint8_t{0}, uint8_t{1}}) {
        PacketSpec spec;
        spec.ttl = ttl;
        std::vector<uint8_t> frame = test::build_packet(spec);
        const std::vector<uint8_t> before = frame;
        CHECK_FALSE(decrement_ttl(&frame[eth::kHeaderLen]));
        CHECK(frame == before);
    }
}
