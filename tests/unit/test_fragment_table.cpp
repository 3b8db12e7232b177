// The fragments' translation table of both families (src/dp/fragments.hpp): a datagram is found
// by all of its identity and nothing less, for kLifetimeMs after it was last used.
#include <catch2/catch.hpp>

#include "dp/fragments.hpp"
#include "support/packet_builder.hpp"

using namespace vsnat;
using namespace vsnat::dp;
using namespace vsnat::test;

namespace {

FragmentKey6 key6(uint32_t id, const std::string& src = "2001:2:0:1::2") {
    return {ip6_raw(src), ip6_raw("2001:2:0:18::5"), id, 17};
}

const FragmentRewrite6 kToServer{ip6_raw("2001:2:0:19::2"), true};

}  // namespace

TEST_CASE("fragment table, IPv6: found by source, destination, 32-bit id and protocol") {
    FragmentTable6 t;
    REQUIRE(t.record(key6(0x80000001), kToServer, 0));
    FragmentRewrite6 out;
    REQUIRE(t.find(key6(0x80000001), 10, out));
    CHECK(out.address == kToServer.address);
    CHECK(out.destination);

    // Any field that differs is another datagram: the id's high half included.
    CHECK_FALSE(t.find(key6(0x00000001), 10, out));
    CHECK_FALSE(t.find(key6(0x80000001, "2001:2:0:1::3"), 10, out));
    FragmentKey6 other_protocol = key6(0x80000001);
    other_protocol.protocol = 6;
    CHECK_FALSE(t.find(other_protocol, 10, out));
    FragmentKey6 reversed = key6(0x80000001);
    std::swap(reversed.src, reversed.dst);
    CHECK_FALSE(t.find(reversed, 10, out));
}

TEST_CASE("fragment table, IPv6: an entry lives kLifetimeMs from its last use") {
    FragmentTable6 t;
    REQUIRE(t.record(key6(7), kToServer, 1000));
    FragmentRewrite6 out;
    REQUIRE(t.find(key6(7), 1000 + FragmentTable6::kLifetimeMs - 1, out));  // refreshed here
    CHECK(t.find(key6(7), 1000 + 2 * FragmentTable6::kLifetimeMs - 2, out));
    CHECK_FALSE(t.find(key6(7), 1000 + 3 * FragmentTable6::kLifetimeMs, out));

    // Recorded again (a first fragment sent twice): the newer translation.
    const FragmentRewrite6 from_vip{ip6_raw("2001:2:0:18::5"), false};
    REQUIRE(t.record(key6(8), kToServer, 0));
    REQUIRE(t.record(key6(8), from_vip, 1));
    REQUIRE(t.find(key6(8), 2, out));
    CHECK(out.address == from_vip.address);
    CHECK_FALSE(out.destination);
}

TEST_CASE("fragment table, IPv6: a few hundred datagrams at once are all kept") {
    FragmentTable6 t;
    for (uint32_t id = 0; id < 500; ++id) {
        REQUIRE(t.record(key6(id * 0x01000193), {ip6_raw("2001:2:0:19::2"), id % 2 == 0}, 0));
    }
    uint32_t found = 0;
    for (uint32_t id = 0; id < 500; ++id) {
        FragmentRewrite6 out;
        found += t.find(key6(id * 0x01000193), 1, out) && out.destination == (id % 2 == 0);
    }
    CHECK(found == 500);
}

TEST_CASE("fragment table: the IPv4 one keys on 16-bit ids and IPv4 addresses") {
    FragmentTable t;
    const FragmentKey k{ip_raw("202.100.1.2"), ip_raw("202.103.106.5"), 0x4242, 17};
    REQUIRE(t.record(k, {ip_raw("172.16.0.2"), true}, 0));
    FragmentRewrite out;
    REQUIRE(t.find(k, 1, out));
    CHECK(out.address == ip_raw("172.16.0.2"));
    FragmentKey other = k;
    other.id = 0x4243;
    CHECK_FALSE(t.find(other, 1, out));
    // An IPv6 entry takes a cache line; an IPv4 bucket stays under two.
    CHECK(FragmentTable::memory_bytes() == 4096 * 4 * 28 + 4096);
}

TEST_CASE("fragment table: an entry untouched past the clock's wrap stays expired") {
    FragmentTable t;
    const FragmentKey key{ip_raw("198.18.0.7"), ip_raw("198.18.0.100"), 42, 17};
    const FragmentRewrite to_server{ip_raw("198.19.0.2"), true};
    REQUIRE(t.record(key, to_server, 0));
    FragmentRewrite out;
    // 2^31 ms and more later (24.8 days without fragments) the signed age reads negative: a
    // wrapping comparison alone would take the entry for live again.
    for (const uint32_t later : {0x80000000u, 0x80000000u + 5, 0xfffffff0u}) {
        INFO(later);
        CHECK_FALSE(t.find(key, later, out));
    }
    // Its place is free for a new datagram, whatever the other ways of its bucket hold.
    for (uint16_t id = 0; id < 4 * FragmentTable::kWays; ++id) {
        REQUIRE(t.record({key.src, key.dst, id, 17}, to_server, 0x80000000u));
    }
    REQUIRE(t.find({key.src, key.dst, 3, 17}, 0x80000000u + 1, out));
}
