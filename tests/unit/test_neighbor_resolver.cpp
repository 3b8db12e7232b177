// The neighbor resolver (the control thread's side of the neighbor tables): what it learns from
// the workers' reports and what it ignores, how it ages the tables through probes and expiry,
// and how many lines it logs under a flood; IPv4 (ARP) and IPv6 (neighbor discovery). Time is a
// parameter; no EAL (the rings of the last case live in plain memory).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <algorithm>
#include <cstdlib>
#include <sstream>

#include "cp/neighbor_resolver.hpp"

using namespace vsnat;
using namespace vsnat::cp;
using dp::NeighborKind;
using dp::NeighborSighting;
using dp::NeighborTable;

namespace {

constexpr uint16_t kOut = 0, kIn = 1;

uint32_t ip(const char* text) {
    in_addr a{};
    inet_pton(AF_INET, text, &a);
    return a.s_addr;
}

uint32_t outside_host(uint32_t i) {
    return htonl(0xc6120000 + 0x100 + i);  // 198.18.1.0 onwards: in the /16, not in the lab
}

MacAddress mac(uint8_t a, uint8_t b = 0, uint8_t c = 0) {
    return {0x02, 0x00, 0x00, a, b, c};
}

NeighborSighting seen(uint16_t port, uint32_t address, MacAddress m) {
    return {address, port, m, NeighborSighting::Kind::seen};
}
NeighborSighting asked(uint16_t port, uint32_t address) {
    return {address, port, {}, NeighborSighting::Kind::asked};
}

Ipv6 ip6(const char* text) {
    Ipv6 a{};
    REQUIRE(inet_pton(AF_INET6, text, a.data()) == 1);
    return a;
}

Ipv6 outside_host6(uint32_t i) {
    Ipv6 a = ip6("2001:db8:0:1::");
    a[12] = static_cast<uint8_t>(i >> 24);
    a[13] = static_cast<uint8_t>(i >> 16);
    a[14] = static_cast<uint8_t>(i >> 8);
    a[15] = static_cast<uint8_t>(i);
    return a;
}

NeighborSighting seen6(uint16_t port, const Ipv6& address, MacAddress m) {
    return NeighborSighting::seen6(port, address, m);
}
NeighborSighting asked6(uint16_t port, const Ipv6& address) {
    return NeighborSighting::asked6(port, address);
}

// The lab with a /16 outside, a static neighbor and two real servers inside.
struct Resolver {
    Config config;
    std::unique_ptr<dp::Snapshot> snapshot;
    NeighborResolver r;
    std::vector<std::pair<uint16_t, uint32_t>> sent;  // ARP requests asked of worker 0
    bool ring_full = false;

    explicit Resolver(uint64_t now_ms) {
        LoadResult loaded = load_config_text(
            "interfaces: [{name: out, device: d0, address: 198.18.0.254/16},\n"
            "             {name: in, device: d1, address: 198.19.0.1/24}]\n"
            "neighbors: [{address: 198.18.0.50, mac: '02:00:00:00:00:50', interface: out}]\n"
            "services:\n"
            "  - {name: web, protocol: tcp, vip: 198.18.0.100, port: 80,\n"
            "     real_servers: [{address: 198.19.0.2}, {address: 198.19.0.3}]}\n",
            "test.yaml");
        REQUIRE(loaded.errors.empty());
        config = *loaded.config;
        const std::vector<PortBinding> ports = {{kOut, {}}, {kIn, {}}};
        snapshot = build_snapshot(config, ports, 1);
        add_ipv6(*snapshot);
        r.configure(config, ports, *snapshot, now_ms, statics6);
    }
    // The same lab in IPv6, in the snapshot (as its builder makes it from the configuration's
    // IPv6 addresses and services) and a static neighbor (as the caller reads it): a gateway
    // outside, two real servers inside and one beyond the gateway.
    static void add_ipv6(dp::Snapshot& s) {
        s.interfaces[kOut].addresses6 = {{ip6("2001:db8::fe"), 64}};
        s.interfaces[kOut].has_gateway6 = true;
        s.interfaces[kOut].gateway6 = ip6("2001:db8::1");
        s.interfaces[kIn].addresses6 = {{ip6("2001:db8:1::1"), 64}};
        dp::ServiceEntry web6;
        web6.ipv6 = true;
        web6.vip6 = ip6("2001:db8::100");
        uint16_t dest_id = 100;  // past the IPv4 servers'
        for (const char* server : {"2001:db8:1::2", "2001:db8:1::3", "2001:db8:7::9"}) {
            dp::Destination d;
            d.ip6 = ip6(server);
            d.dest_id = dest_id++;
            web6.servers.push_back(d);
        }
        s.services.push_back(web6);
        s.finalize(1);  // again, for what it works out from the interfaces
    }
    std::vector<NeighborResolver::StaticNeighbor6> statics6 = {
        {kOut, ip6("2001:db8::50"), mac(0, 0, 0x50)}};
    std::vector<std::pair<uint16_t, Ipv6>> sent6;  // solicitations asked of worker 0
    void take(std::vector<NeighborSighting> reports, uint64_t now_ms) { r.take(reports, now_ms); }
    void request(uint64_t now_ms) {
        r.request(now_ms, [this](uint16_t port, uint32_t address) {
            if (ring_full) {
                return false;
            }
            sent.emplace_back(port, address);
            return true;
        });
    }
    void request6(uint64_t now_ms) {
        r.request6(now_ms, [this](uint16_t port, const Ipv6& address) {
            if (ring_full) {
                return false;
            }
            sent6.emplace_back(port, address);
            return true;
        });
    }
    size_t requests_for(const Ipv6& address) const {
        return static_cast<size_t>(std::count_if(
            sent6.begin(), sent6.end(), [&address](const auto& s) { return s.second == address; }));
    }
    size_t requests_for(uint32_t address) const {
        return static_cast<size_t>(std::count_if(
            sent.begin(), sent.end(), [address](const auto& s) { return s.second == address; }));
    }
    const NeighborTable& table() const { return r.table(); }
    const dp::NeighborTable6& table6() const { return r.table6(); }
};

// Catches what spdlog writes while it lives.
struct LogCapture {
    std::ostringstream text;
    std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();
    LogCapture() {
        auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(text);
        sink->set_pattern("%v");
        spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
    }
    ~LogCapture() { spdlog::set_default_logger(previous); }
    std::vector<std::string> lines() const {
        std::vector<std::string> out;
        std::istringstream in(text.str());
        for (std::string line; std::getline(in, line);) {
            out.push_back(line);
        }
        return out;
    }
};

}  // namespace

TEST_CASE("resolver: learns next hops and awaited answers only", "[resolver]") {
    Resolver t(1000);
    CHECK(t.table().find(kOut, ip("198.18.0.50")) == mac(0, 0, 0x50));  // static
    t.take({seen(kOut, outside_host(1), mac(1)),        // nobody asked: a gratuitous ARP
            seen(kIn, ip("198.19.0.2"), mac(2)),        // a next hop: always wanted
            asked(kOut, ip("198.18.0.7")),              // a worker asked for a client...
            seen(kOut, ip("198.18.0.7"), mac(7)),       // ...which answered
            seen(kOut, ip("198.18.0.50"), mac(0x66))},  // static: never changed by ARP
           1000);
    CHECK_FALSE(t.table().find(kOut, outside_host(1)).has_value());
    CHECK(t.table().find(kIn, ip("198.19.0.2")) == mac(2));
    CHECK(t.table().kind(kIn, ip("198.19.0.2")) == NeighborKind::next_hop);
    CHECK(t.table().find(kOut, ip("198.18.0.7")) == mac(7));
    CHECK(t.table().kind(kOut, ip("198.18.0.7")) == NeighborKind::learned);
    CHECK(t.table().find(kOut, ip("198.18.0.50")) == mac(0, 0, 0x50));
    CHECK(t.table().size() == 3);
    // A known neighbor at a new MAC is updated; an answer after kAwaitMs is not awaited.
    t.take({seen(kOut, ip("198.18.0.7"), mac(8)), asked(kOut, ip("198.18.0.8"))}, 2000);
    CHECK(t.table().find(kOut, ip("198.18.0.7")) == mac(8));
    t.take({seen(kOut, ip("198.18.0.8"), mac(9))}, 2000 + NeighborResolver::kAwaitMs);
    CHECK_FALSE(t.table().find(kOut, ip("198.18.0.8")).has_value());
    // The same address on the other port was not asked for.
    t.take({asked(kOut, ip("198.18.0.9")), seen(kIn, ip("198.18.0.9"), mac(9))}, 6000);
    CHECK_FALSE(t.table().find(kIn, ip("198.18.0.9")).has_value());
}

TEST_CASE("resolver: a flood of senders takes no room, and its log lines are bounded",
          "[resolver]") {
    LogCapture log;
    const uint64_t t0 = 100000;  // a log window starts at the first event
    Resolver t(t0);
    // 5000 gratuitous ARPs from distinct senders (what handle_arp would not even report), then
    // 5000 unasked "answers" from distinct senders, all within a second.
    std::vector<NeighborSighting> flood;
    for (uint32_t i = 0; i < 5000; ++i) {
        flood.push_back(seen(kOut, outside_host(i),
                             mac(1, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i))));
    }
    t.take(flood, t0);
    CHECK(t.table().size() == 1);  // the static neighbor only
    // A new client is still learned once a worker asks for it.
    t.take({asked(kOut, ip("198.18.0.9")), seen(kOut, ip("198.18.0.9"), mac(9))}, t0 + 500);
    CHECK(t.table().find(kOut, ip("198.18.0.9")) == mac(9));
    // 20,000 ARPs at random MACs for that known client, within the same second.
    std::vector<NeighborSighting> changes;
    for (uint32_t i = 0; i < 20000; ++i) {
        changes.push_back(seen(kOut, ip("198.18.0.9"),
                               mac(2, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i))));
    }
    t.take(changes, t0 + 600);
    const size_t during = log.lines().size();
    CHECK(during <= NeighborResolver::kLogLines);
    t.r.flush_log(t0 + NeighborResolver::kLogWindowMs - 1);
    CHECK(log.lines().size() == during);  // the window is not over
    t.r.flush_log(t0 + NeighborResolver::kLogWindowMs);
    const auto lines = log.lines();
    REQUIRE(lines.size() == during + 1);
    INFO(lines.back());
    // One line for the client learned, then three of its 20,000 moves; the rest summed up.
    CHECK(during == NeighborResolver::kLogLines);
    CHECK(lines.back().find("19997 moved to another MAC") != std::string::npos);
    CHECK(lines.back().find("5000 ARP senders ignored") != std::string::npos);
    CHECK(lines.back().find("2 of 4096 entries in use") != std::string::npos);
    // A quiet window writes nothing.
    t.r.flush_log(t0 + 3 * NeighborResolver::kLogWindowMs);
    CHECK(log.lines().size() == during + 1);
}

TEST_CASE(
    "resolver: a neighbor in use is probed and kept; unused, it expires and is learned "
    "again on demand",
    "[resolver]") {
    LogCapture log;
    const uint32_t client = ip("198.18.0.7");
    Resolver t(1000);
    t.take({asked(kOut, client), seen(kOut, client, mac(7))}, 1000);
    MacAddress m;
    uint64_t now = 1000;
    // In use: the packet path looks it up between the passes. At 30 s it is asked for.
    for (; now <= 1000 + NeighborTable::kReachableMs; now += 1000) {
        REQUIRE(t.table().lookup(kOut, client, m));
        t.request(now);
    }
    CHECK(t.requests_for(client) == 1);
    // It answers (to the director: the worker reports it) and stays.
    t.take({seen(kOut, client, mac(7))}, now);
    const uint64_t last_use = now - 1000;  // the last lookup, seen by the pass that followed it
    // No longer used: it goes kIdleMs after its last use, and says so.
    for (; now < last_use + NeighborTable::kIdleMs; now += 1000) {
        t.request(now);
    }
    CHECK(t.table().find(kOut, client).has_value());
    t.request(now);
    CHECK_FALSE(t.table().find(kOut, client).has_value());
    CHECK(t.requests_for(client) == 1);  // never probed while unused
    CHECK(log.text.str().find("neighbor 198.18.0.7 (02:00:00:07:00:00, port 0) removed: not "
                              "used for 60 s") != std::string::npos);
    // Unsolicited, it is not learned back; asked for by a worker, it is.
    t.take({seen(kOut, client, mac(7))}, now + 2000);
    CHECK_FALSE(t.table().find(kOut, client).has_value());
    t.take({asked(kOut, client), seen(kOut, client, mac(7))}, now + 2000);
    CHECK(t.table().find(kOut, client) == mac(7));
    // Next hops are asked for every second until they answer, and never expire.
    CHECK(t.requests_for(ip("198.19.0.2")) >= 60);
    t.take({seen(kIn, ip("198.19.0.2"), mac(2))}, now);
    for (uint64_t later = now; later < now + 3 * NeighborTable::kIdleMs; later += 1000) {
        t.request(later);
    }
    CHECK(t.table().find(kIn, ip("198.19.0.2")) == mac(2));
}

TEST_CASE("resolver: a probe that does not answer removes the neighbor", "[resolver]") {
    const uint32_t client = ip("198.18.0.7");
    Resolver t(0);
    t.take({asked(kOut, client), seen(kOut, client, mac(7))}, 0);
    MacAddress m;
    for (uint64_t now = 1000; now <= NeighborTable::kReachableMs + 5000; now += 1000) {
        REQUIRE(t.table().lookup(kOut, client, m));  // still used: the old MAC meanwhile
        t.request(now);
        if (!t.table().find(kOut, client)) {
            CHECK(now == NeighborTable::kReachableMs + NeighborTable::kProbes * 1000);
            break;
        }
    }
    CHECK(t.requests_for(client) == NeighborTable::kProbes);
    CHECK_FALSE(t.table().find(kOut, client).has_value());
}

TEST_CASE("resolver: a full table learns new hosts once old ones expire", "[resolver]") {
    Resolver t(1000);
    const uint32_t room = t.table().capacity() - t.table().size();
    std::vector<NeighborSighting> reports;
    for (uint32_t i = 0; i < room; ++i) {
        reports.push_back(asked(kOut, outside_host(i)));
        reports.push_back(seen(kOut, outside_host(i), mac(1)));
    }
    t.take(reports, 1000);
    CHECK(t.table().size() == t.table().capacity());
    const uint32_t newcomer = outside_host(room);
    t.take({asked(kOut, newcomer), seen(kOut, newcomer, mac(3))}, 2000);
    CHECK_FALSE(t.table().find(kOut, newcomer).has_value());
    t.request(1000 + NeighborTable::kIdleMs);  // none of them was used
    CHECK(t.table().size() == 1);
    t.take({asked(kOut, newcomer), seen(kOut, newcomer, mac(3))}, 2000 + NeighborTable::kIdleMs);
    CHECK(t.table().find(kOut, newcomer) == mac(3));
}

TEST_CASE("resolver: IPv6 next hops come from the snapshot", "[resolver]") {
    Resolver t(1000);
    auto hops = NeighborResolver::next_hops6(*t.snapshot);
    std::vector<std::pair<uint16_t, Ipv6>> got;
    for (const auto& h : hops) {
        got.emplace_back(h.port_id, h.ip);
    }
    std::sort(got.begin(), got.end());
    // The server beyond the gateway is reached through it: the gateway twice.
    CHECK(got == std::vector<std::pair<uint16_t, Ipv6>>{{kOut, ip6("2001:db8::1")},
                                                        {kOut, ip6("2001:db8::1")},
                                                        {kIn, ip6("2001:db8:1::2")},
                                                        {kIn, ip6("2001:db8:1::3")}});
    // Each asked for once, each second, until it answers; IPv4's by ARP as before.
    t.request6(1000);
    t.request(1000);
    CHECK(t.sent6.size() == 3);
    CHECK(t.requests_for(ip6("2001:db8::1")) == 1);
    CHECK(t.sent.size() == 2);
    t.request6(1500);
    CHECK(t.sent6.size() == 3);
    t.request6(2000);
    CHECK(t.sent6.size() == 6);
}

TEST_CASE("resolver: IPv6 learns next hops and awaited answers only", "[resolver]") {
    Resolver t(1000);
    CHECK(t.table6().find(kOut, ip6("2001:db8::50")) == mac(0, 0, 0x50));  // static
    CHECK(t.table6().kind(kOut, ip6("2001:db8::50")) == NeighborKind::fixed);
    t.take({seen6(kOut, outside_host6(1), mac(1)),         // nobody asked: unsolicited
            seen6(kIn, ip6("2001:db8:1::2"), mac(2)),      // a next hop: always wanted
            asked6(kOut, ip6("2001:db8::7")),              // a worker solicited a client...
            seen6(kOut, ip6("2001:db8::7"), mac(7)),       // ...which answered
            seen6(kOut, ip6("2001:db8::50"), mac(0x66))},  // static: never changed by ND
           1000);
    CHECK_FALSE(t.table6().find(kOut, outside_host6(1)).has_value());
    CHECK(t.table6().find(kIn, ip6("2001:db8:1::2")) == mac(2));
    CHECK(t.table6().kind(kIn, ip6("2001:db8:1::2")) == NeighborKind::next_hop);
    CHECK(t.table6().find(kOut, ip6("2001:db8::7")) == mac(7));
    CHECK(t.table6().kind(kOut, ip6("2001:db8::7")) == NeighborKind::learned);
    CHECK(t.table6().find(kOut, ip6("2001:db8::50")) == mac(0, 0, 0x50));
    CHECK(t.table6().size() == 3);
    CHECK(t.table().size() == 1);  // IPv4's: its static neighbor only
    // A known neighbor at a new MAC is updated; an answer after kAwaitMs is not awaited.
    t.take({seen6(kOut, ip6("2001:db8::7"), mac(8)), asked6(kOut, ip6("2001:db8::8"))}, 2000);
    CHECK(t.table6().find(kOut, ip6("2001:db8::7")) == mac(8));
    t.take({seen6(kOut, ip6("2001:db8::8"), mac(9))}, 2000 + NeighborResolver::kAwaitMs);
    CHECK_FALSE(t.table6().find(kOut, ip6("2001:db8::8")).has_value());
    // The same address on the other port was not asked for.
    t.take({asked6(kOut, ip6("2001:db8::9")), seen6(kIn, ip6("2001:db8::9"), mac(9))}, 6000);
    CHECK_FALSE(t.table6().find(kIn, ip6("2001:db8::9")).has_value());
    // Nor is an address that shares all but one byte with one asked for, nor the IPv4 address
    // with the same first bytes.
    t.take({asked6(kOut, ip6("2001:db8::a")), seen6(kOut, ip6("2001:db9::a"), mac(10)),
            seen(kOut, ip("32.1.13.184"), mac(10))},
           7000);
    CHECK_FALSE(t.table6().find(kOut, ip6("2001:db9::a")).has_value());
    CHECK_FALSE(t.table().find(kOut, ip("32.1.13.184")).has_value());
}

TEST_CASE(
    "resolver: an IPv6 neighbor in use is solicited and kept; unused, it expires and is "
    "learned again on demand",
    "[resolver]") {
    LogCapture log;
    const Ipv6 client = ip6("2001:db8::7");
    Resolver t(1000);
    t.take({asked6(kOut, client), seen6(kOut, client, mac(7))}, 1000);
    MacAddress m;
    uint64_t now = 1000;
    // In use: the packet path looks it up between the passes. At 30 s it is solicited.
    for (; now <= 1000 + NeighborTable::kReachableMs; now += 1000) {
        REQUIRE(t.table6().lookup(kOut, client, m));
        t.request6(now);
    }
    CHECK(t.requests_for(client) == 1);
    CHECK(t.sent.empty());  // nothing of IPv6's goes by ARP
    // It answers and stays.
    t.take({seen6(kOut, client, mac(7))}, now);
    const uint64_t last_use = now - 1000;
    // No longer used: it goes kIdleMs after its last use, and says so.
    for (; now < last_use + NeighborTable::kIdleMs; now += 1000) {
        t.request6(now);
    }
    CHECK(t.table6().find(kOut, client).has_value());
    t.request6(now);
    CHECK_FALSE(t.table6().find(kOut, client).has_value());
    CHECK(t.requests_for(client) == 1);  // never probed while unused
    CHECK(log.text.str().find("neighbor 2001:db8::7 (02:00:00:07:00:00, port 0) removed: not "
                              "used for 60 s") != std::string::npos);
    // Unsolicited, it is not learned back; asked for by a worker, it is.
    t.take({seen6(kOut, client, mac(7))}, now + 2000);
    CHECK_FALSE(t.table6().find(kOut, client).has_value());
    t.take({asked6(kOut, client), seen6(kOut, client, mac(7))}, now + 2000);
    CHECK(t.table6().find(kOut, client) == mac(7));
    // Next hops are solicited every second until they answer, then every 30 s, and never
    // expire.
    const Ipv6 server = ip6("2001:db8:1::2");
    CHECK(t.requests_for(server) >= 60);
    CHECK(t.requests_for(ip6("2001:db8::1")) == t.requests_for(server));  // the gateway
    t.take({seen6(kIn, server, mac(2))}, now);
    const size_t before = t.requests_for(server);
    for (uint64_t later = now; later < now + 3 * NeighborTable::kIdleMs; later += 1000) {
        t.request6(later);
    }
    CHECK(t.table6().find(kIn, server) == mac(2));
    CHECK(t.requests_for(server) - before == 5);      // after 30, 60, 90, 120 and 150 s
    CHECK(t.requests_for(ip6("2001:db8::50")) == 0);  // static: never asked for
}

TEST_CASE("resolver: an IPv6 probe that does not answer removes the neighbor", "[resolver]") {
    LogCapture log;
    const Ipv6 client = ip6("2001:db8::7");
    Resolver t(0);
    t.take({asked6(kOut, client), seen6(kOut, client, mac(7))}, 0);
    MacAddress m;
    for (uint64_t now = 1000; now <= NeighborTable::kReachableMs + 5000; now += 1000) {
        REQUIRE(t.table6().lookup(kOut, client, m));  // still used: the old MAC meanwhile
        t.request6(now);
        if (!t.table6().find(kOut, client)) {
            CHECK(now == NeighborTable::kReachableMs + NeighborTable::kProbes * 1000);
            break;
        }
    }
    CHECK(t.requests_for(client) == NeighborTable::kProbes);
    CHECK_FALSE(t.table6().find(kOut, client).has_value());
    CHECK(log.text.str().find("neighbor 2001:db8::7 (02:00:00:07:00:00, port 0) removed: did "
                              "not answer 3 neighbor solicitations") != std::string::npos);
}

TEST_CASE("resolver: a flood of IPv6 senders takes no room and is counted apart", "[resolver]") {
    LogCapture log;
    const uint64_t t0 = 100000;
    Resolver t(t0);
    std::vector<NeighborSighting> flood;
    for (uint32_t i = 0; i < 5000; ++i) {
        flood.push_back(seen6(kOut, outside_host6(i),
                              mac(1, static_cast<uint8_t>(i >> 8), static_cast<uint8_t>(i))));
    }
    flood.push_back(seen(kOut, outside_host(1), mac(1)));
    t.take(flood, t0);
    CHECK(t.table6().size() == 1);  // the static neighbor only
    CHECK(log.lines().empty());
    t.r.flush_log(t0 + NeighborResolver::kLogWindowMs);
    const auto lines = log.lines();
    REQUIRE(lines.size() == 1);
    INFO(lines.back());
    CHECK(lines.back().find("1 ARP senders and 5000 neighbor discovery senders ignored") !=
          std::string::npos);
    CHECK(lines.back().find("1 of 4096 entries in use, 1 of 4096 IPv6 entries") !=
          std::string::npos);
}

TEST_CASE("resolver: an IPv6 reconfiguration unpins what it no longer names", "[resolver]") {
    Resolver t(1000);
    const Ipv6 gateway = ip6("2001:db8::1"), server = ip6("2001:db8:1::2");
    t.take({seen6(kOut, gateway, mac(1)), seen6(kIn, server, mac(2))}, 1000);
    CHECK(t.table6().kind(kOut, gateway) == NeighborKind::next_hop);
    // The gateway and the static neighbor go from the configuration; the server stays, and
    // another static neighbor comes.
    const std::vector<NeighborResolver::StaticNeighbor6> statics = {
        {kIn, ip6("2001:db8:1::60"), mac(0, 0, 0x60)}};
    const std::vector<NeighborResolver::NextHop6> hops = {{kIn, server}};
    t.r.configure6(statics, hops, 5000);
    CHECK(t.table6().kind(kOut, gateway) == NeighborKind::learned);
    CHECK(t.table6().kind(kOut, ip6("2001:db8::50")) == NeighborKind::learned);
    CHECK(t.table6().kind(kIn, server) == NeighborKind::next_hop);
    CHECK(t.table6().find(kIn, ip6("2001:db8:1::60")) == mac(0, 0, 0x60));
    // The old static neighbor may now be changed by what it says; the new one may not.
    t.take({seen6(kOut, ip6("2001:db8::50"), mac(0x51)), seen6(kIn, ip6("2001:db8:1::60"), mac(9))},
           5000);
    CHECK(t.table6().find(kOut, ip6("2001:db8::50")) == mac(0x51));
    CHECK(t.table6().find(kIn, ip6("2001:db8:1::60")) == mac(0, 0, 0x60));
    // Unused, the unpinned ones age out from the reconfiguration; the others stay.
    t.request6(5000 + NeighborTable::kIdleMs);
    CHECK_FALSE(t.table6().find(kOut, gateway).has_value());
    CHECK_FALSE(t.table6().find(kOut, ip6("2001:db8::50")).has_value());
    CHECK(t.table6().find(kIn, server) == mac(2));
    CHECK(t.table6().size() == 2);
    // IPv4's configuration is its own.
    CHECK(t.table().kind(kOut, ip("198.18.0.50")) == NeighborKind::fixed);
}

TEST_CASE("resolver: the configuration's IPv6 static neighbors, on their interfaces' ports",
          "[resolver]") {
    LoadResult loaded = load_config_text(
        "interfaces: [{name: out, device: d0, address: [198.18.0.254/24, 2001:2:0:18::fe/64]},\n"
        "             {name: in, device: d1, address: [198.19.0.1/24, 2001:2:0:19::1/64]}]\n"
        "neighbors:\n"
        "  - {address: 198.19.0.50, mac: '02:00:00:00:00:50', interface: in}\n"
        "  - {address: 2001:2:0:19::50, mac: '02:00:00:00:00:51', interface: in}\n"
        "  - {address: 'fe80::1', mac: '02:00:00:00:00:52', interface: out}\n",
        "test.yaml");
    REQUIRE(loaded.errors.empty());
    const std::vector<PortBinding> ports = {{kOut, {}}, {kIn, {}}};
    const auto snapshot = build_snapshot(*loaded.config, ports, 1);
    NeighborResolver r;
    // Given ones (the argument) are set too.
    const std::vector<NeighborResolver::StaticNeighbor6> given = {
        {kOut, ip6("2001:2:0:18::60"), mac(0, 0, 0x60)}};
    r.configure(*loaded.config, ports, *snapshot, 1000, given);
    CHECK(r.table6().kind(kIn, ip6("2001:2:0:19::50")) == NeighborKind::fixed);
    CHECK(r.table6().find(kIn, ip6("2001:2:0:19::50")) == mac(0, 0, 0x51));
    CHECK(r.table6().kind(kOut, ip6("fe80::1")) == NeighborKind::fixed);
    CHECK(r.table6().kind(kOut, ip6("2001:2:0:18::60")) == NeighborKind::fixed);
    CHECK_FALSE(r.table6().find(kOut, ip6("2001:2:0:19::50")).has_value());  // another port
    CHECK(r.table6().size() == 3);
    CHECK(r.table().kind(kIn, ip("198.19.0.50")) == NeighborKind::fixed);
    CHECK(r.table().size() == 1);
}

namespace {

// A ring in plain memory (rte_ring_init needs no EAL), freed with the test.
struct PlainRing {
    rte_ring* ring = nullptr;
    PlainRing(const char* name, unsigned element_size, unsigned count) {
        const ssize_t bytes = rte_ring_get_memsize_elem(element_size, count);
        REQUIRE(bytes > 0);
        ring = static_cast<rte_ring*>(std::aligned_alloc(
            RTE_CACHE_LINE_SIZE, (static_cast<size_t>(bytes) + RTE_CACHE_LINE_SIZE - 1) /
                                     RTE_CACHE_LINE_SIZE * RTE_CACHE_LINE_SIZE));
        REQUIRE(rte_ring_init(ring, name, count, RING_F_SP_ENQ | RING_F_SC_DEQ) == 0);
    }
    ~PlainRing() { std::free(ring); }
};

}  // namespace

TEST_CASE("resolver: poll takes both families' sightings and orders each family on its ring",
          "[resolver]") {
    Resolver t(1000);
    PlainRing sightings("test_sightings", sizeof(NeighborSighting), 64);
    PlainRing arp("test_arp", sizeof(uint64_t), 64);
    PlainRing nd("test_nd", sizeof(dp::NeighborSolicitOrder), 64);
    const NeighborSighting reports[] = {
        asked6(kOut, ip6("2001:db8::7")), seen6(kOut, ip6("2001:db8::7"), mac(7)),
        asked(kOut, ip("198.18.0.7")), seen(kOut, ip("198.18.0.7"), mac(8))};
    REQUIRE(rte_ring_sp_enqueue_bulk_elem(sightings.ring, reports, sizeof(NeighborSighting), 4,
                                          nullptr) == 4);
    t.r.poll(sightings.ring, arp.ring, 1000, nd.ring);
    CHECK(t.table6().find(kOut, ip6("2001:db8::7")) == mac(7));
    CHECK(t.table().find(kOut, ip("198.18.0.7")) == mac(8));
    // The unresolved next hops, each on its family's ring: two real servers each, and IPv6's
    // gateway.
    uint64_t words[8];
    const unsigned arp_orders =
        rte_ring_sc_dequeue_burst_elem(arp.ring, words, sizeof(uint64_t), 8, nullptr);
    CHECK(arp_orders == 2);
    for (unsigned i = 0; i < arp_orders; ++i) {
        CHECK(words[i] >> 32 == kIn);
    }
    dp::NeighborSolicitOrder orders[8];
    const unsigned nd_orders = rte_ring_sc_dequeue_burst_elem(
        nd.ring, orders, sizeof(dp::NeighborSolicitOrder), 8, nullptr);
    REQUIRE(nd_orders == 3);
    std::vector<std::pair<uint16_t, Ipv6>> got;
    for (unsigned i = 0; i < nd_orders; ++i) {
        got.emplace_back(orders[i].port_id, orders[i].target);
    }
    std::sort(got.begin(), got.end());
    CHECK(got == std::vector<std::pair<uint16_t, Ipv6>>{{kOut, ip6("2001:db8::1")},
                                                        {kIn, ip6("2001:db8:1::2")},
                                                        {kIn, ip6("2001:db8:1::3")}});
    // Without an IPv6 order ring no IPv6 neighbor is solicited, but the IPv6 table still ages.
    Resolver quiet(1000);
    REQUIRE(rte_ring_sp_enqueue_bulk_elem(sightings.ring, reports, sizeof(NeighborSighting), 2,
                                          nullptr) == 2);
    quiet.r.poll(sightings.ring, arp.ring, 1000, nullptr);
    CHECK(rte_ring_count(nd.ring) == 0);
    CHECK(rte_ring_count(arp.ring) == 2);
    CHECK(quiet.table6().find(kOut, ip6("2001:db8::7")) == mac(7));
    quiet.r.poll(sightings.ring, arp.ring, 1000 + NeighborTable::kIdleMs, nullptr);
    CHECK_FALSE(quiet.table6().find(kOut, ip6("2001:db8::7")).has_value());
}
