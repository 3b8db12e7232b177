// IP addresses as text: IPv6 read in every form RFC 4291 allows and written as RFC 5952 says,
// checked against fixed cases and against glibc's inet_pton and inet_ntop on random addresses.
#include <arpa/inet.h>
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <random>
#include <string>

#include "cp/address.hpp"

using namespace vsnat;
using namespace vsnat::cp;

namespace {

// Built by hand, so that the expectations do not depend on the parser under test.
constexpr Ipv6 ip6(std::array<uint16_t, 8> groups) {
    Ipv6 out{};
    for (size_t i = 0; i < groups.size(); ++i) {
        out[2 * i] = static_cast<uint8_t>(groups[i] >> 8);
        out[2 * i + 1] = static_cast<uint8_t>(groups[i]);
    }
    return out;
}

std::string ntop(const Ipv6& address) {
    char text[INET6_ADDRSTRLEN] = {};
    REQUIRE(::inet_ntop(AF_INET6, address.data(), text, sizeof text) != nullptr);
    return text;
}

}  // namespace

TEST_CASE("IPv6 text: RFC 5952's canonical form out", "[address]") {
    struct Case {
        const char* in;
        Ipv6 address;
        const char* out;
    };
    const Case cases[] = {
        // 4.1: no leading zeros; 4.3: lower case.
        {"2001:0db8:0000:0000:0000:0000:0000:0001", ip6({0x2001, 0xdb8, 0, 0, 0, 0, 0, 1}),
         "2001:db8::1"},
        {"2001:DB8::AbCd", ip6({0x2001, 0xdb8, 0, 0, 0, 0, 0, 0xabcd}), "2001:db8::abcd"},
        // 4.2.1: "::" as long as it can be; 4.2.2: not for one group alone.
        {"2001:db8:0:0:0:0:2:1", ip6({0x2001, 0xdb8, 0, 0, 0, 0, 2, 1}), "2001:db8::2:1"},
        {"2001:db8:0:1:1:1:1:1", ip6({0x2001, 0xdb8, 0, 1, 1, 1, 1, 1}), "2001:db8:0:1:1:1:1:1"},
        // 4.2.3: the longest run, the first of equals.
        {"2001:0:0:1:0:0:0:1", ip6({0x2001, 0, 0, 1, 0, 0, 0, 1}), "2001:0:0:1::1"},
        {"2001:db8:0:0:1:0:0:1", ip6({0x2001, 0xdb8, 0, 0, 1, 0, 0, 1}), "2001:db8::1:0:0:1"},
        // The lab's addresses.
        {"2001:2:0:18::100", ip6({0x2001, 2, 0, 0x18, 0, 0, 0, 0x100}), "2001:2:0:18::100"},
        {"2001:0002:0000:0019:0000:0000:0000:0001", ip6({0x2001, 2, 0, 0x19, 0, 0, 0, 1}),
         "2001:2:0:19::1"},
        // The ends.
        {"::", Ipv6{}, "::"},
        {"0:0:0:0:0:0:0:0", Ipv6{}, "::"},
        {"::1", ip6({0, 0, 0, 0, 0, 0, 0, 1}), "::1"},
        {"1::", ip6({1, 0, 0, 0, 0, 0, 0, 0}), "1::"},
        {"1:2:3:4:5:6:7::", ip6({1, 2, 3, 4, 5, 6, 7, 0}), "1:2:3:4:5:6:7:0"},
        {"::2:3:4:5:6:7:8", ip6({0, 2, 3, 4, 5, 6, 7, 8}), "0:2:3:4:5:6:7:8"},
        {"fe80::1", ip6({0xfe80, 0, 0, 0, 0, 0, 0, 1}), "fe80::1"},
        {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
         ip6({0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff}),
         "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"},
        // A dotted quad for the last 32 bits: written so only for IPv4-mapped addresses (5).
        {"::ffff:198.18.0.1", ip6({0, 0, 0, 0, 0, 0xffff, 0xc612, 0x0001}), "::ffff:198.18.0.1"},
        {"::ffff:c612:1", ip6({0, 0, 0, 0, 0, 0xffff, 0xc612, 0x0001}), "::ffff:198.18.0.1"},
        {"64:ff9b::198.18.0.33", ip6({0x64, 0xff9b, 0, 0, 0, 0, 0xc612, 0x21}), "64:ff9b::c612:21"},
        {"1:2:3:4:5:6:0.0.0.0", ip6({1, 2, 3, 4, 5, 6, 0, 0}), "1:2:3:4:5:6::"},
        {"::1:2", ip6({0, 0, 0, 0, 0, 0, 1, 2}), "::1:2"},  // not "::0.1.0.2" (glibc's)
    };
    for (const Case& c : cases) {
        INFO(c.in);
        const std::optional<Ipv6> parsed = parse_ipv6(c.in);
        REQUIRE(parsed.has_value());
        CHECK(*parsed == c.address);
        CHECK(format_ipv6(c.address) == c.out);
        CHECK(parse_ipv6(c.out) == c.address);  // the canonical text reads back
    }
}

TEST_CASE("IPv6 text: what is not an address is refused", "[address]") {
    for (const char* bad : {"",
                            ":",
                            ":::",
                            "::::",
                            "1",
                            "1:2:3:4:5:6:7",
                            "1:2:3:4:5:6:7:8:9",
                            "1::2::3",
                            "12345::",
                            "g::",
                            "::g",
                            "1:2:3:4:5:6:7:8::",
                            "::1:2:3:4:5:6:7:8",
                            "1:2:3:4::5:6:7:8",
                            "1:",
                            ":1",
                            "1::2:",
                            ":1::2",
                            "1:::2",
                            "fe80::1%eth0",
                            "[::1]",
                            "::1/64",
                            " ::1",
                            "::1 ",
                            "::+1",
                            "::-1",
                            "0x1::",
                            "::198.18.0.300",
                            "::198.18.0",
                            "::1.2.3.4:5",
                            "1.2.3.4::",
                            "1:2:3:4:5:6:7:1.2.3.4",
                            "::198.18.0.010",
                            "::ffff:1.2.3.4.5",
                            "198.18.0.1"}) {
        INFO(bad);
        CHECK_FALSE(parse_ipv6(bad).has_value());
    }
}

TEST_CASE("IPv6 text: the same as glibc's inet_pton and inet_ntop on random addresses",
          "[address]") {
    std::mt19937 random(5952);
    std::uniform_int_distribution<uint32_t> group(0, 0xffff);
    std::bernoulli_distribution zero(0.5);  // runs of zeros of every length and place
    for (int n = 0; n < 20000; ++n) {
        std::array<uint16_t, 8> groups{};
        for (uint16_t& g : groups) {
            g = zero(random) ? 0 : static_cast<uint16_t>(group(random));
        }
        const Ipv6 address = ip6(groups);
        const std::string text = format_ipv6(address);
        INFO(text);
        CHECK(parse_ipv6(text) == address);
        Ipv6 pton{};
        REQUIRE(::inet_pton(AF_INET6, text.c_str(), pton.data()) == 1);
        CHECK(pton == address);
        // glibc writes ::a.b.c.d for the deprecated IPv4-compatible addresses, RFC 5952 does not.
        const bool compatible =
            std::all_of(groups.begin(), groups.begin() + 6, [](uint16_t g) { return g == 0; }) &&
            groups[6] != 0;
        if (!compatible) {
            CHECK(text == ntop(address));
        }
        CHECK(parse_ipv6(ntop(address)) == address);
    }
}

TEST_CASE("addresses of either family, and endpoints as ipvsadm prints them", "[address]") {
    const Ipv4 vip4 = 198u << 24 | 18u << 16 | 100;  // 198.18.0.100
    const Ipv6 vip6 = ip6({0x2001, 2, 0, 0x18, 0, 0, 0, 0x100});
    CHECK(parse_ip_address("198.18.0.100") == IpAddress::of(vip4));
    CHECK(parse_ip_address("2001:2:0:18::100") == IpAddress::of(vip6));
    for (const char* bad : {"", "x", "198.18.0.100:80", "[2001:2:0:18::100]", "198.18.0.1/24"}) {
        INFO(bad);
        CHECK_FALSE(parse_ip_address(bad).has_value());
    }
    CHECK(format_ip_address(IpAddress::of(vip4)) == "198.18.0.100");
    CHECK(format_ip_address(IpAddress::of(vip6)) == "2001:2:0:18::100");
    CHECK(format_endpoint(IpAddress::of(vip4), 80) == "198.18.0.100:80");
    CHECK(format_endpoint(IpAddress::of(vip6), 80) == "[2001:2:0:18::100]:80");
    CHECK(format_endpoint(IpAddress::of(Ipv6{}), 65535) == "[::]:65535");

    // One family's address is never the other's, whatever the bits; IPv4 sorts first.
    CHECK(IpAddress::of(Ipv4{0}) != IpAddress::of(Ipv6{}));
    CHECK(IpAddress::of(Ipv4{0xffffffff}) < IpAddress::of(Ipv6{}));
    CHECK(IpAddress::of(vip4) < IpAddress::of(vip4 + 1));
    CHECK(IpAddress::of(vip6) < IpAddress::of(ip6({0x2001, 2, 0, 0x18, 0, 0, 0, 0x101})));
    CHECK(IpAddress{} == IpAddress::of(Ipv4{0}));
}

TEST_CASE("IPv6 prefixes hold the addresses that share their first bits", "[address]") {
    const Ipv6 own = ip6({0x2001, 2, 0, 0x19, 0, 0, 0, 1});
    CHECK(Prefix6{own, 64}.holds(ip6({0x2001, 2, 0, 0x19, 0xffff, 0, 0, 2})));
    CHECK_FALSE(Prefix6{own, 64}.holds(ip6({0x2001, 2, 0, 0x18, 0, 0, 0, 1})));
    CHECK(Prefix6{own, 0}.holds(Ipv6{}));  // the default route's
    CHECK(Prefix6{own, 128}.holds(own));
    CHECK_FALSE(Prefix6{own, 128}.holds(ip6({0x2001, 2, 0, 0x19, 0, 0, 0, 2})));
    // A length inside a byte: /60 holds ::19 and ::1f in its fourth group, not ::29.
    CHECK(Prefix6{own, 60}.holds(ip6({0x2001, 2, 0, 0x1f, 0, 0, 0, 0})));
    CHECK_FALSE(Prefix6{own, 60}.holds(ip6({0x2001, 2, 0, 0x29, 0, 0, 0, 0})));
    CHECK(Prefix6{own, 127}.holds(ip6({0x2001, 2, 0, 0x19, 0, 0, 0, 0})));
    CHECK_FALSE(Prefix6{own, 127}.holds(ip6({0x2001, 2, 0, 0x19, 0, 0, 0, 2})));
    static_assert(Prefix6{{}, 64}.holds(Ipv6{}));  // usable at compile time
}
