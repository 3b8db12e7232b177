// The snapshot builder: every scheduler reaches the dataplane with its settings, and services
// and real servers keep their ids across a reload.
#include <catch2/catch.hpp>

#include <arpa/inet.h>

#include <map>
#include <set>

#include "cp/address.hpp"
#include "cp/snapshot_builder.hpp"

using namespace vsnat;
using namespace vsnat::cp;

namespace {

Config parse(const std::string& services) {
    LoadResult r = load_config_text(
        "interfaces: [{name: out, device: d0, address: 198.18.0.254/24},\n"
        "             {name: in, device: d1, address: 198.19.0.1/24}]\n"
        "services:\n" +
            services,
        "test.yaml");
    for (const ConfigError& e : r.errors) {
        INFO(e.to_string());
    }
    REQUIRE(r.errors.empty());
    return *r.config;
}

std::unique_ptr<dp::Snapshot> build(const Config& c, const dp::Snapshot* previous = nullptr) {
    return build_snapshot(c, {{0, {}}, {1, {}}}, 2, previous);
}

// dest id by (service port, real server last octet).
std::map<std::pair<uint16_t, uint32_t>, uint16_t> dest_ids(const dp::Snapshot& s) {
    std::map<std::pair<uint16_t, uint32_t>, uint16_t> out;
    for (const dp::ServiceEntry& e : s.services) {
        for (const dp::Destination& d : e.servers) {
            out[{ntohs(e.port), ntohl(d.ip) & 0xff}] = d.dest_id;
        }
    }
    return out;
}

}  // namespace

TEST_CASE("builder: every scheduler, with thresholds and persistence", "[builder]") {
    const std::vector<std::pair<std::string, dp::SchedulerKind>> kinds = {
        {"rr", dp::SchedulerKind::rr},   {"wrr", dp::SchedulerKind::wrr},
        {"lc", dp::SchedulerKind::lc},   {"wlc", dp::SchedulerKind::wlc},
        {"sed", dp::SchedulerKind::sed}, {"nq", dp::SchedulerKind::nq},
        {"sh", dp::SchedulerKind::sh},   {"dh", dp::SchedulerKind::dh},
        {"mh", dp::SchedulerKind::mh},   {"fo", dp::SchedulerKind::fo}};
    std::string services;
    uint16_t port = 1000;
    for (const auto& [name, kind] : kinds) {
        services += "  - {name: s" + name +
                    ", protocol: tcp, vip: 198.18.0.100, port: " + std::to_string(port++) +
                    ", scheduler: " + name +
                    ", persistence: 5m, persistence_netmask: 24,\n"
                    "     real_servers: [{address: 198.19.0.2, max_connections: 100, "
                    "min_connections: 50}, {address: 198.19.0.3, weight: 0}]}\n";
    }
    const Config c = parse(services);
    auto snap = build(c);
    REQUIRE(snap->services.size() == kinds.size());
    for (size_t i = 0; i < kinds.size(); ++i) {
        const dp::ServiceEntry& e = snap->services[i];
        INFO(kinds[i].first);
        CHECK(e.scheduler == kinds[i].second);
        CHECK(e.persistence_ms == 300000);
        CHECK(e.persistence_mask == htonl(0xffffff00));
        CHECK(e.servers[0].max_connections == 100);
        CHECK(e.servers[0].min_connections == 50);
        CHECK(e.servers[1].weight == 0);
        // Built for every worker, with the shared table where the kind has one.
        CHECK(snap->schedulers[1][i] != nullptr);
        const bool hashing =
            kinds[i].first == "sh" || kinds[i].first == "dh" || kinds[i].first == "mh";
        CHECK(snap->scheduler_states[i]->slots.empty() == !hashing);
    }
}

TEST_CASE("builder: a service's helper reaches the dataplane", "[builder]") {
    const Config c = parse(
        "  - {name: ftp, protocol: tcp, vip: 198.18.0.100, port: 21, scheduler: mh, helper: ftp,\n"
        "     real_servers: [{address: 198.19.0.2}]}\n"
        "  - {name: web, protocol: tcp, vip: 198.18.0.100, port: 80,\n"
        "     real_servers: [{address: 198.19.0.2}]}\n");
    auto snap = build(c);
    REQUIRE(snap->services.size() == 2);
    CHECK(snap->services[0].helper == dp::AppHelper::ftp);
    CHECK(snap->services[1].helper == dp::AppHelper::none);
}

TEST_CASE("builder: ids stay with their service and real server across a reload", "[builder]") {
    const Config before = parse(
        "  - {name: web, protocol: tcp, vip: 198.18.0.100, port: 80,\n"
        "     real_servers: [{address: 198.19.0.2}, {address: 198.19.0.3},\n"
        "                    {address: 198.19.0.4}]}\n"
        "  - {name: dns, protocol: udp, vip: 198.18.0.100, port: 53,\n"
        "     real_servers: [{address: 198.19.0.2}, {address: 198.19.0.3}]}\n");
    // The reload drops a service in front and web's middle server, adds a server and a
    // service, and changes a weight.
    const Config after = parse(
        "  - {name: mail, protocol: tcp, vip: 198.18.0.100, port: 25,\n"
        "     real_servers: [{address: 198.19.0.9}]}\n"
        "  - {name: web, protocol: tcp, vip: 198.18.0.100, port: 80,\n"
        "     real_servers: [{address: 198.19.0.2, weight: 5}, {address: 198.19.0.4},\n"
        "                    {address: 198.19.0.5}]}\n");
    auto first = build(before);
    auto second = build(after, first.get());
    const auto old_ids = dest_ids(*first);
    const auto new_ids = dest_ids(*second);
    CHECK(old_ids.size() == 5);
    std::set<uint16_t> distinct;
    for (const auto& [key, id] : old_ids) {
        distinct.insert(id);
    }
    CHECK(distinct.size() == 5);

    CHECK(new_ids.at({80, 2}) == old_ids.at({80, 2}));  // weight changed: same server
    CHECK(new_ids.at({80, 4}) == old_ids.at({80, 4}));
    // New ones take ids no server of the old snapshot had.
    for (const auto& key : {std::pair<uint16_t, uint32_t>{80, 5}, {25, 9}}) {
        for (const auto& [old_key, id] : old_ids) {
            CHECK(new_ids.at(key) != id);
        }
    }
    CHECK(new_ids.at({80, 5}) != new_ids.at({25, 9}));
    CHECK(second->services[1].service_id == first->services[0].service_id);  // web
    CHECK(second->services[0].service_id != first->services[1].service_id);  // not dns's

    // A third snapshot built from the second keeps going forward: dns's old ids stay unused.
    auto third = build(before, second.get());
    const auto third_ids = dest_ids(*third);
    CHECK(third_ids.at({80, 2}) == old_ids.at({80, 2}));
    CHECK(third_ids.at({53, 2}) != old_ids.at({53, 2}));
    CHECK(third->server_index(0, third_ids.at({80, 4})) == 2);
}

TEST_CASE("builder: a server overloaded before a reload is still overloaded after it",
          "[builder]") {
    const Config c = parse(
        "  - {name: web, protocol: tcp, vip: 198.18.0.100, port: 80, scheduler: lc,\n"
        "     real_servers: [{address: 198.19.0.2, max_connections: 10, min_connections: 5},\n"
        "                    {address: 198.19.0.3, max_connections: 10}]}\n");
    auto first = build(c);
    first->scheduler_states[0]->overloaded[0] = 1;
    auto second = build(c, first.get());
    CHECK(second->scheduler_states[0]->overloaded[0] == 1);
    CHECK(second->scheduler_states[0]->overloaded[1] == 0);
    // Reordered: the flag follows the server, not the position.
    const Config swapped = parse(
        "  - {name: web, protocol: tcp, vip: 198.18.0.100, port: 80, scheduler: lc,\n"
        "     real_servers: [{address: 198.19.0.3, max_connections: 10},\n"
        "                    {address: 198.19.0.2, max_connections: 10, min_connections: 5}]}\n");
    auto third = build(swapped, second.get());
    CHECK(third->scheduler_states[0]->overloaded[0] == 0);
    CHECK(third->scheduler_states[0]->overloaded[1] == 1);
}

TEST_CASE("builder: removed real servers are marked for dropping under drain: drop only",
          "[builder]") {
    const Config before = parse(
        "  - {name: web, protocol: tcp, vip: 198.18.0.100, port: 80,\n"
        "     real_servers: [{address: 198.19.0.2}, {address: 198.19.0.3}]}\n"
        "  - {name: app, protocol: tcp, vip: 198.18.0.100, port: 81, drain: drop,\n"
        "     real_servers: [{address: 198.19.0.2}, {address: 198.19.0.3}]}\n");
    auto first = build(before);
    const uint16_t web_rs2 = first->services[0].servers[1].dest_id;
    const uint16_t app_rs2 = first->services[1].servers[1].dest_id;
    const Config after = parse(
        "  - {name: web, protocol: tcp, vip: 198.18.0.100, port: 80,\n"
        "     real_servers: [{address: 198.19.0.2}]}\n"
        "  - {name: app, protocol: tcp, vip: 198.18.0.100, port: 81, drain: drop,\n"
        "     real_servers: [{address: 198.19.0.2}]}\n");
    auto second = build(after, first.get());
    CHECK_FALSE(second->dest_dropped(web_rs2));  // drain: finish, the default
    CHECK(second->dest_dropped(app_rs2));
    CHECK_FALSE(second->dest_dropped(second->services[1].servers[0].dest_id));
    // A later reload keeps it marked; the global `drain: drop` covers removed services.
    auto third = build(after, second.get());
    CHECK(third->dest_dropped(app_rs2));
    LoadResult global = load_config_text(
        "drain: drop\n"
        "interfaces: [{name: out, device: d0, address: 198.18.0.254/24},\n"
        "             {name: in, device: d1, address: 198.19.0.1/24}]\n"
        "services: []\n",
        "g.yaml");
    REQUIRE(global.config);
    auto fourth = build(*global.config, third.get());
    CHECK(fourth->dest_dropped(second->services[0].servers[0].dest_id));
    CHECK(parse("  - {name: x, protocol: tcp, vip: 198.18.0.100, port: 80, drain: finish,\n"
                "     real_servers: [{address: 198.19.0.2}]}\n")
              .services[0]
              .drain == Drain::finish);
}

TEST_CASE("builder: a stop request ends the build between services", "[builder]") {
    std::string services;
    for (int port = 1; port <= 10; ++port) {
        services += "  - {name: s" + std::to_string(port) +
                    ", protocol: tcp, vip: 198.18.0.100, port: " + std::to_string(port) +
                    ", scheduler: mh, real_servers: [{address: 198.19.0.2}]}\n";
    }
    const Config c = parse(services);
    int asked = 0;
    auto stop_at = [&asked](int call) { return [&asked, call] { return ++asked >= call; }; };
    CHECK(build_snapshot(c, {{0, {}}, {1, {}}}, 2, nullptr, stop_at(100)) != nullptr);
    CHECK(asked == 10);  // once per service
    asked = 0;
    CHECK(build_snapshot(c, {{0, {}}, {1, {}}}, 2, nullptr, stop_at(5)) == nullptr);
    CHECK(asked == 5);
    asked = 0;
    const auto first = build(c);
    CHECK(build_snapshot(c, {{0, {}}, {1, {}}}, 2, first.get(), stop_at(1)) == nullptr);
}

TEST_CASE("builder: health decides weight and down; on_down: drop; the sorry server follows",
          "[builder]") {
    Config c = parse(
        "  - {name: web, protocol: tcp, vip: 198.18.0.100, port: 80,\n"
        "     real_servers: [{address: 198.19.0.2, weight: 3}, {address: 198.19.0.3}]}\n"
        "  - {name: dns, protocol: udp, vip: 198.18.0.100, port: 53,\n"
        "     real_servers: [{address: 198.19.0.2}, {address: 198.19.0.3}]}\n");
    // 198.19.0.9, the service's port
    c.services[0].sorry_server = SorryServer{IpAddress::of(0xc6130009), 0};
    c.services[1].on_down = OnDown::drop;
    std::set<IpAddress> down;
    const ServerHealth health = [&down](const Service&, const RealServer& rs) {
        return down.count(rs.address) == 0;
    };
    auto all_up = build_snapshot(c, {{0, {}}, {1, {}}}, 2, nullptr, {}, {health});
    const auto& web = all_up->services[0].servers;
    REQUIRE(web.size() == 3);
    CHECK((web[0].weight == 3 && !web[0].down));
    CHECK(ntohl(web[2].ip) == 0xc6130009);
    CHECK(ntohs(web[2].port) == 80);
    CHECK((web[2].weight == 0 && web[2].down));  // not while a real server is up

    down = {IpAddress::of(0xc6130002)};
    auto one_down = build_snapshot(c, {{0, {}}, {1, {}}}, 2, all_up.get(), {}, {health});
    CHECK((one_down->services[0].servers[0].weight == 0 && one_down->services[0].servers[0].down));
    CHECK(one_down->services[0].servers[1].weight == 1);
    CHECK(one_down->services[0].servers[2].weight == 0);
    // web quiesces (its connections go on); dns says drop.
    CHECK_FALSE(one_down->dest_dropped(one_down->services[0].servers[0].dest_id));
    CHECK(one_down->dest_dropped(one_down->services[1].servers[0].dest_id));
    CHECK_FALSE(one_down->dest_dropped(one_down->services[1].servers[1].dest_id));

    down = {IpAddress::of(0xc6130002), IpAddress::of(0xc6130003)};
    auto none_up = build_snapshot(c, {{0, {}}, {1, {}}}, 2, one_down.get(), {}, {health});
    CHECK((none_up->services[0].servers[2].weight == 1 && !none_up->services[0].servers[2].down));
    CHECK(none_up->services[0].servers[2].dest_id == all_up->services[0].servers[2].dest_id);

    down.clear();  // back up: nothing dropped any more
    auto back = build_snapshot(c, {{0, {}}, {1, {}}}, 2, none_up.get(), {}, {health});
    CHECK_FALSE(back->dest_dropped(back->services[1].servers[0].dest_id));
    CHECK(back->services[0].servers[0].weight == 3);
}

TEST_CASE("builder: floating addresses, and under follow_kernel the held ones served",
          "[builder]") {
    Config c = parse(
        "  - {name: web, protocol: tcp, vip: 198.18.0.100, port: 80,\n"
        "     real_servers: [{address: 198.19.0.2}]}\n"
        "  - {name: web2, protocol: tcp, vip: 198.18.0.101, port: 80,\n"
        "     real_servers: [{address: 198.19.0.2}]}\n");
    c.interfaces[1].floating = {Prefix{0xc61300fe, 24}};  // 198.19.0.254
    auto always = build(c);
    CHECK(always->interfaces[1].floating == std::vector<uint32_t>{htonl(0xc61300fe)});
    CHECK_FALSE(always->follow_kernel);
    CHECK(always->serves(htonl(0xc6120064)));
    CHECK(always->own_address(htonl(0xc61300fe)) == &always->interfaces[1]);

    c.ha.addresses = AddressOwnership::follow_kernel;
    LiveState live;
    live.held = [](const IpAddress& a) {  // .100, the gateway
        return a == IpAddress::of(0xc6120064) || a == IpAddress::of(0xc61300fe);
    };
    auto master = build_snapshot(c, {{0, {}}, {1, {}}}, 2, always.get(), {}, live);
    CHECK(master->follow_kernel);
    CHECK(master->serves(htonl(0xc6120064)));
    CHECK_FALSE(master->serves(htonl(0xc6120065)));  // .101: the other director's
    CHECK(master->own_address(htonl(0xc61300fe)) == &master->interfaces[1]);

    auto backup = build_snapshot(c, {{0, {}}, {1, {}}}, 2, master.get());  // nothing held
    CHECK_FALSE(backup->serves(htonl(0xc6120064)));
    CHECK(backup->own_address(htonl(0xc61300fe)) == nullptr);
    CHECK(backup->own_address(htonl(0xc6130001)) == &backup->interfaces[1]);  // its own: always
    CHECK(backup->answers_for(htonl(0xc6130001)));
    CHECK_FALSE(backup->answers_for(htonl(0xc6120064)));
}

TEST_CASE("builder: IPv6 floating addresses and VIPs, under follow_kernel the held ones served",
          "[builder]") {
    LoadResult r = load_config_text(
        "interfaces: [{name: out, device: d0, address: [198.18.0.254/24, 2001:2:0:18::254/64],\n"
        "              kernel: vsk-out},\n"
        "             {name: in, device: d1, address: [198.19.0.11/24, 2001:2:0:19::11/64],\n"
        "              kernel: vsk-in, floating: [198.19.0.1/24, 2001:2:0:19::1/64]}]\n"
        "services:\n"
        "  - {name: web6, protocol: tcp, vip: 2001:2:0:18::100, port: 80,\n"
        "     real_servers: [{address: 2001:2:0:19::2}]}\n"
        "  - {name: dns6, protocol: udp, vip: 2001:2:0:18::101, port: 53,\n"
        "     real_servers: [{address: 2001:2:0:19::2}]}\n",
        "dual.yaml");
    REQUIRE(r.errors.empty());
    Config c = *r.config;
    const Ipv6 gateway = *parse_ipv6("2001:2:0:19::1");
    const Ipv6 vip = *parse_ipv6("2001:2:0:18::100"), other = *parse_ipv6("2001:2:0:18::101");
    auto always = build(c);
    CHECK(always->interfaces[1].floating6 == std::vector<Ipv6>{gateway});
    CHECK(always->serves6(vip));
    CHECK(always->own_address6(gateway) == &always->interfaces[1]);
    CHECK(always->answers_for6(gateway));
    CHECK(always->is_ours6(gateway));

    c.ha.addresses = AddressOwnership::follow_kernel;
    LiveState live;
    live.held = [&](const IpAddress& a) {
        return a == IpAddress::of(vip) || a == IpAddress::of(gateway);
    };
    auto master = build_snapshot(c, {{0, {}}, {1, {}}}, 2, always.get(), {}, live);
    CHECK(master->held6.size() == 2);
    CHECK(master->serves6(vip));
    CHECK(master->answers_for6(vip));
    CHECK_FALSE(master->serves6(other));  // the other director's
    CHECK_FALSE(master->answers_for6(other));
    CHECK(master->own_address6(gateway) == &master->interfaces[1]);
    CHECK(master->answers_for6(gateway));

    auto backup = build_snapshot(c, {{0, {}}, {1, {}}}, 2, master.get());  // nothing held
    CHECK_FALSE(backup->serves6(vip));
    CHECK_FALSE(backup->answers_for6(vip));
    CHECK(backup->own_address6(gateway) == nullptr);
    CHECK_FALSE(backup->answers_for6(gateway));
    CHECK(backup->answers_for6(*parse_ipv6("2001:2:0:19::11")));  // its own: always
    CHECK(backup->is_ours6(gateway));                             // still no client's source
}

TEST_CASE("builder: IPv6 services beside IPv4 ones, each found in its family, ids kept",
          "[builder]") {
    LoadResult r = load_config_text(
        "interfaces: [{name: out, device: d0, address: [198.18.0.254/24, 2001:2:0:18::254/64],\n"
        "              gateway: [198.18.0.1, 2001:2:0:18::1]},\n"
        "             {name: in, device: d1, address: [198.19.0.1/24, 2001:2:0:19::1/64]}]\n"
        "services:\n"
        "  - {name: web6, protocol: tcp, vip: 2001:2:0:18::100, port: 80,\n"
        "     real_servers: [{address: 2001:2:0:19::2}]}\n"
        "  - {name: web, protocol: tcp, vip: 198.18.0.100, port: 80,\n"
        "     real_servers: [{address: 198.19.0.2}, {address: 198.19.0.3}]}\n"
        "  - {name: dns6, protocol: udp, vip: 2001:2:0:18::100, port: 53, persistence: 5m,\n"
        "     persistence_netmask: 56,\n"
        "     real_servers: [{address: 2001:2:0:19::2}, {address: 2001:2:0:19::3}]}\n"
        "  - {name: dns, protocol: udp, vip: 198.18.0.100, port: 53,\n"
        "     real_servers: [{address: 198.19.0.2}, {address: 198.19.0.3}]}\n",
        "dual.yaml");
    REQUIRE(r.errors.empty());
    Config c = *r.config;
    c.services[3].on_down = OnDown::drop;

    const ServerHealth health = [](const Service&, const RealServer& rs) {
        return rs.address != IpAddress::of(0xc6130002);  // 198.19.0.2 is down
    };
    const MacAddress out_mac = {0x02, 0, 0xc6, 0x12, 0, 0xfe};
    auto first = build_snapshot(c, {{0, out_mac}, {1, {}}}, 2, nullptr, {}, {health});
    REQUIRE(first->services.size() == 4);
    const Ipv6 vip6 = *parse_ipv6("2001:2:0:18::100");
    CHECK(first->find_service6(6, vip6, htons(80)) == &first->services[0]);
    CHECK(first->find_service6(17, vip6, htons(53)) == &first->services[2]);
    CHECK(first->find_service(6, htonl(0xc6120064), htons(80)) == &first->services[1]);
    CHECK(first->services[0].ipv6);
    CHECK(first->services[0].servers[0].ip6 == *parse_ipv6("2001:2:0:19::2"));
    CHECK_FALSE(first->services[1].ipv6);
    CHECK(first->is_vip6(vip6));
    // An IPv6 service's persistence: its netmask from the prefix length (default /128).
    CHECK(first->services[2].persistence_ms == 300000);
    CHECK(first->services[2].persistence_mask6 == *parse_ipv6("ffff:ffff:ffff:ff00::"));
    CHECK(first->services[0].persistence_mask6 ==
          *parse_ipv6("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
    // The interfaces' IPv6 addresses, link-local one (from the MAC) and gateway.
    const dp::InterfaceEntry& out = first->interfaces[0];
    REQUIRE(out.addresses6.size() == 1);
    CHECK(out.addresses6[0].address == *parse_ipv6("2001:2:0:18::254"));
    CHECK(out.link_local == *parse_ipv6("fe80::c6ff:fe12:fe"));
    CHECK(out.has_gateway6);
    CHECK(first->own_address6(*parse_ipv6("2001:2:0:19::1")) == &first->interfaces[1]);
    Ipv6 next_hop;
    CHECK(first->route6(*parse_ipv6("2001:2:0:19::3"), next_hop) == &first->interfaces[1]);
    CHECK(first->route6(*parse_ipv6("2001:2:0:1::9"), next_hop) == &first->interfaces[0]);
    CHECK(next_hop == *parse_ipv6("2001:2:0:18::1"));
    // dns drops the connections of its server that went down, web (quiesce) keeps them.
    CHECK(first->services[3].servers[0].down);
    CHECK(first->dest_dropped(first->services[3].servers[0].dest_id));
    CHECK(first->services[1].servers[0].down);
    CHECK_FALSE(first->dest_dropped(first->services[1].servers[0].dest_id));

    // A reload that removes a server of dns, whose drain is drop: its connections end; every
    // other service and server, IPv6 ones included, keeps its id.
    Config next = c;
    next.services[3].drain = Drain::drop;
    next.services[3].real_servers.pop_back();  // 198.19.0.3
    const uint16_t removed = first->services[3].servers[1].dest_id;
    auto second = build_snapshot(next, {{0, out_mac}, {1, {}}}, 2, first.get(), {}, {health});
    REQUIRE(second->services.size() == 4);
    CHECK(second->dest_dropped(removed));
    CHECK_FALSE(second->dest_dropped(second->services[1].servers[1].dest_id));
    for (size_t i = 0; i < 3; ++i) {
        CHECK(second->services[i].service_id == first->services[i].service_id);
        CHECK(second->services[i].servers.back().dest_id ==
              first->services[i].servers.back().dest_id);
    }

    // Where each server of a service is, real servers first, then the sorry server.
    c.services[1].sorry_server = SorryServer{IpAddress::of(0xc6130009), 0};
    CHECK(server_endpoint(c.services[1], 1) == std::pair{IpAddress::of(0xc6130003), uint16_t{80}});
    CHECK(server_endpoint(c.services[1], 2) == std::pair{IpAddress::of(0xc6130009), uint16_t{80}});
    CHECK(server_endpoint(c.services[2], 1) ==
          std::pair{c.services[2].real_servers[1].address, uint16_t{53}});
}

TEST_CASE(
    "builder: a route is the first interface whose prefix holds the address, else the "
    "first with a gateway",
    "[builder]") {
    const auto ip = [](const char* text) { return htonl(*parse_ipv4(text)); };
    auto load = [](const std::string& interfaces) {
        LoadResult r = load_config_text("interfaces:\n" + interfaces + "services: []\n", "t.yaml");
        for (const ConfigError& e : r.errors) {
            INFO(e.to_string());
        }
        REQUIRE(r.errors.empty());
        return build_snapshot(*r.config, {{0, {}}, {1, {}}, {2, {}}}, 1);
    };
    const auto snap = load(
        "  - {name: a, device: d0, address: 198.18.0.254/24}\n"
        "  - {name: b, device: d1, address: 198.19.0.1/24, gateway: 198.19.0.254}\n"
        "  - {name: c, device: d2, address: 198.19.16.1/16, gateway: 198.19.16.254}\n");
    uint32_t next_hop = 0;
    CHECK(snap->route(ip("198.18.0.7"), next_hop) == &snap->interfaces[0]);
    CHECK(next_hop == ip("198.18.0.7"));
    CHECK(snap->route(ip("198.19.0.9"), next_hop) == &snap->interfaces[1]);
    CHECK(next_hop == ip("198.19.0.9"));
    CHECK(snap->route(ip("198.19.31.200"), next_hop) == &snap->interfaces[2]);
    CHECK(next_hop == ip("198.19.31.200"));
    // In two prefixes (b's /24 inside c's /16): the first interface's.
    CHECK(snap->route(ip("198.19.0.200"), next_hop) == &snap->interfaces[1]);
    // Off every link: the first interface with a gateway (b), not the last (c).
    CHECK(snap->route(ip("198.18.1.1"), next_hop) == &snap->interfaces[1]);
    CHECK(next_hop == ip("198.19.0.254"));
    const auto no_gateway = load("  - {name: a, device: d0, address: 198.18.0.254/24}\n");
    CHECK(no_gateway->route(ip("198.18.1.1"), next_hop) == nullptr);
    CHECK(no_gateway->route(ip("198.18.0.1"), next_hop) == &no_gateway->interfaces[0]);

    // IPv6 by the same rules, prefix lengths not on a byte boundary too.
    const auto ip6 = [](const char* text) { return *parse_ipv6(text); };
    const auto snap6 = load(
        "  - {name: a, device: d0, address: [198.18.0.254/24, 2001:2:0:18::254/64]}\n"
        "  - {name: b, device: d1, address: [198.19.0.1/24, 2001:2:0:19::1/64],\n"
        "     gateway: [198.19.0.254, 2001:2:0:19::fe]}\n"
        "  - {name: c, device: d2, address: [198.19.16.1/20, 2001:2:0:10::1/60],\n"
        "     gateway: [198.19.16.254, 2001:2:0:10::fe]}\n");
    Ipv6 hop6{};
    // a's and b's prefixes lie inside c's 2001:2:0:10::/60 as well: theirs, the first.
    CHECK(snap6->route6(ip6("2001:2:0:18::7"), hop6) == &snap6->interfaces[0]);
    CHECK(hop6 == ip6("2001:2:0:18::7"));
    CHECK(snap6->route6(ip6("2001:2:0:19::9"), hop6) == &snap6->interfaces[1]);
    CHECK(snap6->route6(ip6("2001:2:0:17:1::9"), hop6) == &snap6->interfaces[2]);
    CHECK(hop6 == ip6("2001:2:0:17:1::9"));
    CHECK(snap6->route6(ip6("2001:2:0:8::9"), hop6) == &snap6->interfaces[1]);  // off-link
    CHECK(hop6 == ip6("2001:2:0:19::fe"));
    CHECK(no_gateway->route6(ip6("2001:2:0:18::7"), hop6) == nullptr);
}

TEST_CASE("builder: is_ours is true for every VIP, own and floating address, and no other",
          "[builder]") {
    Config c = parse(
        "  - {name: web, protocol: tcp, vip: 198.18.0.100, port: 80,\n"
        "     real_servers: [{address: 198.19.0.2}]}\n"
        "  - {name: dns, protocol: udp, vip: 198.19.1.53, port: 53,\n"
        "     real_servers: [{address: 198.19.0.3}]}\n");
    c.interfaces[1].floating = {Prefix{0xc61300fe, 24}};  // 198.19.0.254
    auto snap = build(c);
    const std::set<uint32_t> ours = {0xc6120064, 0xc6130135, 0xc61200fe, 0xc6130001, 0xc61300fe};
    // The whole of 198.18.0.0/15: about one address in 800 shares is_ours()'s first look (a
    // filter bit) with one of the five, and for those the index decides.
    uint32_t wrong = 0;
    for (uint32_t host = 0xc6120000; host <= 0xc613ffff; ++host) {
        wrong += snap->is_ours(htonl(host)) != ours.contains(host);
    }
    CHECK(wrong == 0);
}
