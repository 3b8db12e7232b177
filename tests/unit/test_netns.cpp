// Named network namespaces, the rtnetlink requests that set up a kernel mirror, and the address
// watch that follow_kernel reads. They need
// root (CAP_SYS_ADMIN, CAP_NET_ADMIN); without it every case says so and passes nothing.
// Namespaces are named vsnat-test-PID-*, removed by the objects under test or, if a check
// fails half way, by the cleanup at the end of each case.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "cp/address.hpp"
#include "cp/config.hpp"
#include "cp/held_addresses.hpp"
#include "io/address_watch.hpp"
#include "io/netns.hpp"
#include "io/rtnetlink.hpp"

using namespace vsnat;
using vsnat::cp::load_config_text;
using vsnat::cp::LoadResult;
using vsnat::io::NetworkNamespace;
using vsnat::io::RtNetlink;

namespace {

std::string test_name(const char* what) {
    return "vsnat-test-" + std::to_string(getpid()) + "-" + what;
}

bool netns_exists(const std::string& name) {
    struct stat st {};
    return stat((std::string(io::kNetnsDirectory) + "/" + name).c_str(), &st) == 0;
}

// Output of a shell command (iproute2, to check what the requests did from outside).
std::string run(const std::string& command) {
    std::string out;
    if (FILE* p = popen(command.c_str(), "r")) {
        char buf[512];
        while (fgets(buf, sizeof buf, p) != nullptr) {
            out += buf;
        }
        pclose(p);
    }
    return out;
}

// Removes a namespace a failed check may have left; the happy path leaves nothing to remove.
struct NetnsCleanup {
    std::string name;
    ~NetnsCleanup() {
        if (netns_exists(name)) {
            std::system(("ip netns del " + name + " 2>/dev/null").c_str());
        }
    }
};

bool can_run() {
    if (geteuid() != 0) {
        WARN("not root: network namespace tests skipped");
        return false;
    }
    return true;
}

bool wait_until_gone(const std::string& name) {
    for (int i = 0; i < 100 && netns_exists(name); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return !netns_exists(name);
}

}  // namespace

TEST_CASE("a namespace created is removed with its object, one that existed is kept", "[netns]") {
    if (!can_run()) {
        return;
    }
    const std::string name = test_name("own");
    NetnsCleanup cleanup{name};
    std::string error;
    {
        auto ns = NetworkNamespace::open_or_create(name, error);
        REQUIRE(ns);
        CHECK(error.empty());
        CHECK(ns->created());
        CHECK(ns->name() == name);
        CHECK(ns->fd() >= 0);
        CHECK(ns->describe() == "network namespace " + name);
        CHECK(netns_exists(name));
        // Loopback is up, as after `ip netns add` and `ip link set lo up`.
        CHECK(run("ip -n " + name + " -o link show lo").find("UP") != std::string::npos);
        {
            auto again = NetworkNamespace::open_or_create(name, error);
            REQUIRE(again);
            CHECK_FALSE(again->created());
        }
        CHECK(netns_exists(name));  // the second object did not make it: it keeps it
    }
    CHECK(wait_until_gone(name));
}

TEST_CASE("a namespace outlives no process that made it: its guard removes it", "[netns]") {
    if (!can_run()) {
        return;
    }
    const std::string name = test_name("guard");
    NetnsCleanup cleanup{name};
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        std::string error;
        auto ns = NetworkNamespace::open_or_create(name, error);
        _exit(ns ? 0 : 1);  // no destructor runs: as after kill -9
    }
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    REQUIRE(WEXITSTATUS(status) == 0);
    CHECK(wait_until_gone(name));
}

TEST_CASE("names that are not one path component, and non-namespaces, are refused", "[netns]") {
    if (!can_run()) {
        return;
    }
    std::string error;
    CHECK_FALSE(NetworkNamespace::open_or_create("../etc", error));
    CHECK_FALSE(error.empty());
    error.clear();
    CHECK_FALSE(NetworkNamespace::open_or_create("", error));
    CHECK_FALSE(error.empty());
    auto own = NetworkNamespace::current(error);
    REQUIRE(own);
    CHECK(own->name().empty());
    CHECK_FALSE(own->created());
    CHECK(own->describe() == "vsnatd's network namespace");
}

TEST_CASE("rtnetlink sets up an interface as a kernel mirror needs it", "[netns]") {
    if (!can_run()) {
        return;
    }
    const std::string from_name = test_name("from"), to_name = test_name("to");
    NetnsCleanup from_cleanup{from_name}, to_cleanup{to_name};
    std::string error;
    auto from = NetworkNamespace::open_or_create(from_name, error);
    auto to = NetworkNamespace::open_or_create(to_name, error);
    REQUIRE(from);
    REQUIRE(to);
    REQUIRE(run("ip -n " + from_name + " link add vsnt0 type veth peer name vsnt1 && echo ok") ==
            "ok\n");

    auto here = RtNetlink::open(*from, error);
    auto there = RtNetlink::open(*to, error);
    REQUIRE(here);
    REQUIRE(there);
    auto index = here->link_index("vsnt0", error);
    REQUIRE(index);
    CHECK_FALSE(there->link_index("vsnt0", error));
    CHECK(error.find("vsnt0") != std::string::npos);
    CHECK(error.find(to_name) != std::string::npos);

    REQUIRE(here->move_link(*index, *to, error));
    CHECK_FALSE(here->link_index("vsnt0", error));
    index = there->link_index("vsnt0", error);
    REQUIRE(index);

    const MacAddress mac{0x02, 0x00, 0x5e, 0x12, 0x34, 0x56};
    REQUIRE(there->set_link(*index, mac, 1400, error));
    const Ipv4 own = 0xC612'00FE;      // 198.18.0.254
    const Ipv4 gateway = 0xC612'0001;  // 198.18.0.1
    REQUIRE(there->add_address(*index, own, 24, error));
    CHECK_FALSE(there->add_address(*index, own, 24, error));
    CHECK(error.find("File exists") != std::string::npos);
    const Ipv6 own6{0x20, 0x01, 0x00, 0x02, 0, 0, 0, 0x18, 0, 0, 0, 0, 0, 0, 0x02, 0x54};
    const Ipv6 gateway6{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
    REQUIRE(there->add_address(*index, own6, 64, error));
    CHECK_FALSE(there->add_address(*index, own6, 129, error));
    CHECK(error.find("at most 128") != std::string::npos);
    REQUIRE(there->set_up(*index, true, error));
    REQUIRE(there->add_default_route(*index, gateway, 3, error));
    REQUIRE(there->add_default_route(*index, gateway6, 3, error));

    const std::string link = run("ip -n " + to_name + " -o link show vsnt0");
    CHECK(link.find("mtu 1400") != std::string::npos);
    CHECK(link.find("02:00:5e:12:34:56") != std::string::npos);
    CHECK(run("ip -n " + to_name + " -o -4 addr show vsnt0")
              .find("198.18.0.254/24 brd 198.18.0.255") != std::string::npos);
    // "linkdown" may follow: the veth's peer is down in the other namespace.
    CHECK(run("ip -n " + to_name + " route show default")
              .starts_with("default via 198.18.0.1 dev vsnt0 proto static metric 3 "));
    // Usable at once: no duplicate address detection ("tentative" until it is done).
    const std::string addresses6 = run("ip -n " + to_name + " -o -6 addr show vsnt0");
    CHECK(addresses6.find("2001:2:0:18::254/64 scope global nodad") != std::string::npos);
    CHECK(addresses6.find("tentative") == std::string::npos);
    CHECK(run("ip -n " + to_name + " -6 route show default")
              .starts_with("default via fe80::1 dev vsnt0 proto static metric 3 "));

    REQUIRE(there->delete_link(*index, error));
    CHECK_FALSE(there->link_index("vsnt0", error));
}

TEST_CASE("rtnetlink makes a link of a type, and adds and removes host addresses on it",
          "[netns]") {
    if (!can_run()) {
        return;
    }
    const std::string name = test_name("vips");
    NetnsCleanup cleanup{name};
    std::string error;
    auto ns = NetworkNamespace::open_or_create(name, error);
    REQUIRE(ns);
    auto nl = RtNetlink::open(*ns, error);
    REQUIRE(nl);
    // A kernel without the dummy module says so, and ifb does instead.
    if (!nl->add_link("vsnt-vips", "dummy", error)) {
        CHECK(
            error.starts_with("cannot add interface vsnt-vips of type dummy in network "
                              "namespace " +
                              name + ": Operation not supported"));
        REQUIRE(nl->add_link("vsnt-vips", "ifb", error));
    }
    CHECK_FALSE(nl->add_link("vsnt-vips", "ifb", error));
    CHECK(error.find("File exists") != std::string::npos);
    const auto index = nl->link_index("vsnt-vips", error);
    REQUIRE(index);
    const Ipv4 vip = 0xC612'0064, other = 0xC612'0065;  // 198.18.0.100, .101
    REQUIRE(nl->add_address(*index, vip, 32, error));
    REQUIRE(nl->add_address(*index, other, 32, error));
    REQUIRE(nl->delete_address(*index, vip, 32, error));
    CHECK_FALSE(nl->delete_address(*index, vip, 32, error));
    CHECK(error.find("cannot remove 198.18.0.100/32 from interface") == 0);
    const std::string addresses = run("ip -n " + name + " -o -4 addr show vsnt-vips");
    CHECK(addresses.find("198.18.0.100/32") == std::string::npos);
    CHECK(addresses.find("198.18.0.101/32") != std::string::npos);
    // IPv6 host addresses (IPv6 VIPs advertised) likewise.
    const Ipv6 vip6 = *cp::parse_ipv6("2001:2:0:18::100");
    REQUIRE(nl->add_address(*index, vip6, 128, error));
    CHECK(run("ip -n " + name + " -o -6 addr show vsnt-vips").find("2001:2:0:18::100/128") !=
          std::string::npos);
    REQUIRE(nl->delete_address(*index, vip6, 128, error));
    CHECK_FALSE(nl->delete_address(*index, vip6, 128, error));
    CHECK(error.find("cannot remove 2001:2:0:18::100/128 from interface") == 0);
    CHECK(run("ip -n " + name + " -o -6 addr show vsnt-vips").find("2001:2:0:18::100") ==
          std::string::npos);
    REQUIRE(nl->delete_link(*index, error));
}

TEST_CASE("an address watch sees the addresses there, then each one added or removed", "[netns]") {
    if (!can_run()) {
        return;
    }
    const std::string name = test_name("watch");
    NetnsCleanup cleanup{name};
    std::string error;
    auto ns = NetworkNamespace::open_or_create(name, error);
    REQUIRE(ns);
    const std::string ip = "ip -n " + name + " ";
    REQUIRE(run(ip + "link add vsnt0 type veth peer name vsnt1 && " + ip +
                "addr add 198.18.0.254/24 dev vsnt0 && " + ip +
                "addr add 2001:2:0:18::254/64 dev vsnt0 nodad && echo ok") == "ok\n");
    auto watch = io::AddressWatch::open(*ns, error);
    REQUIRE(watch);
    auto nl = RtNetlink::open(*ns, error);
    REQUIRE(nl);
    const auto index = nl->link_index("vsnt0", error);
    REQUIRE(index);
    const auto own = IpAddress::of(Ipv4{0xC612'00FE});  // 198.18.0.254
    const auto vip = IpAddress::of(Ipv4{0xC612'0064});  // 198.18.0.100
    const auto own6 = IpAddress::of(*cp::parse_ipv6("2001:2:0:18::254"));
    const auto vip6 = IpAddress::of(*cp::parse_ipv6("2001:2:0:18::100"));
    CHECK(watch->has(*index, own));
    CHECK(watch->has(*index, own6));                         // 2001:2:0:18::254, in the first dump
    CHECK(watch->has(1, IpAddress::of(Ipv4{0x7F00'0001})));  // the loopback's 127.0.0.1
    CHECK_FALSE(watch->has(*index, vip));
    CHECK_FALSE(watch->has(*index, vip6));

    // What keepalived does to a mirror when it becomes master, and when it steps down: one
    // IPv4 VIP, one IPv6 VIP (2001:2:0:18::100).
    REQUIRE(run(ip + "addr add 198.18.0.100/32 dev vsnt0 && " + ip +
                "addr add 2001:2:0:18::100/128 dev vsnt0 && echo ok") == "ok\n");
    bool changed = false;
    REQUIRE(watch->poll(changed, error));
    CHECK(changed);
    CHECK(watch->has(*index, vip));
    CHECK(watch->has(*index, vip6));
    REQUIRE(watch->poll(changed, error));
    CHECK_FALSE(changed);
    REQUIRE(run(ip + "addr del 2001:2:0:18::100/128 dev vsnt0 && echo ok") == "ok\n");
    REQUIRE(watch->poll(changed, error));
    CHECK(changed);
    CHECK(watch->has(*index, vip));
    CHECK_FALSE(watch->has(*index, vip6));
    REQUIRE(run(ip + "addr del 198.18.0.100/32 dev vsnt0 && echo ok") == "ok\n");
    REQUIRE(watch->poll(changed, error));
    CHECK(changed);
    CHECK_FALSE(watch->has(*index, vip));
    CHECK(watch->has(*index, own));
    CHECK(watch->has(*index, own6));
}

TEST_CASE("held addresses: the VIPs and floating addresses of both families a mirror holds",
          "[netns]") {
    if (!can_run()) {
        return;
    }
    const std::string name = test_name("held");
    NetnsCleanup cleanup{name};
    std::string error;
    auto ns = NetworkNamespace::open_or_create(name, error);
    REQUIRE(ns);
    const std::string ip = "ip -n " + name + " ";
    REQUIRE(run(ip + "link add vsnt0 type veth peer name vsnt1 && echo ok") == "ok\n");
    const LoadResult r = load_config_text(
        "ha: {addresses: follow_kernel}\n"
        "interfaces:\n"
        "  - {name: inside, device: d0, address: [198.19.0.11/24, 2001:2:0:19::11/64],\n"
        "     kernel: vsnt0, floating: [198.19.0.1/24, 2001:2:0:19::1/64]}\n"
        "services:\n"
        "  - {name: web6, protocol: tcp, vip: 2001:2:0:19::100, port: 80,\n"
        "     real_servers: [{address: 2001:2:0:19::2}]}\n",
        "held.yaml");
    REQUIRE(r.config);
    cp::HeldAddresses held;
    REQUIRE(held.start(*ns, {"vsnt0"}, error));
    const auto floating4 = IpAddress::of(Ipv4{0xC613'0001});
    const auto floating6 = IpAddress::of(*cp::parse_ipv6("2001:2:0:19::1"));
    const auto vip6 = IpAddress::of(*cp::parse_ipv6("2001:2:0:19::100"));
    CHECK_FALSE(held.poll(*r.config));  // nothing held, as at the last poll
    REQUIRE(run(ip + "addr add 2001:2:0:19::100/128 dev vsnt0 && " + ip +
                "addr add 2001:2:0:19::1/64 dev vsnt0 && echo ok") == "ok\n");
    CHECK(held.poll(*r.config));
    CHECK(held.held(vip6));
    CHECK(held.held(floating6));
    CHECK_FALSE(held.held(floating4));
    CHECK_FALSE(held.poll(*r.config));
    // An address that is neither a VIP nor floating changes nothing served.
    REQUIRE(run(ip + "addr add 2001:2:0:19::7/64 dev vsnt0 && echo ok") == "ok\n");
    CHECK_FALSE(held.poll(*r.config));
    REQUIRE(run(ip + "addr del 2001:2:0:19::100/128 dev vsnt0 && echo ok") == "ok\n");
    CHECK(held.poll(*r.config));
    CHECK_FALSE(held.held(vip6));
    CHECK(held.held(floating6));
}
