// VIP advertisement: the VIPs given, and only those, as /32s and /128s on vsnat-vips in a
// namespace; the interface gone when the advertiser stops. Needs root; the namespace is the test's
// own.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "cp/address.hpp"
#include "cp/vip_advertiser.hpp"

using namespace vsnat;
using vsnat::cp::VipAdvertiser;

namespace {

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

}  // namespace

TEST_CASE("VIP advertisement: exactly the VIPs given, the interface gone at stop", "[vips]") {
    if (geteuid() != 0) {
        WARN("not root: VIP advertisement tests skipped");
        return;
    }
    const std::string name = "vsnat-test-" + std::to_string(getpid()) + "-vips";
    std::string error;
    auto ns = io::NetworkNamespace::open_or_create(name, error);
    REQUIRE(ns);
    // A leftover of the name (a veth here) is replaced.
    REQUIRE(run("ip -n " + name +
                " link add vsnat-vips type veth peer name vsnt-peer && echo ok") == "ok\n");
    {
        VipAdvertiser vips;
        REQUIRE(vips.start(*ns, error));
        const std::string addresses = "ip -n " + name + " -o addr show vsnat-vips";
        const auto v100 = IpAddress::of(Ipv4{0xC612'0064});  // 198.18.0.100
        const auto v101 = IpAddress::of(Ipv4{0xC612'0065});
        const auto v6 = IpAddress::of(*cp::parse_ipv6("2001:2:0:18::100"));
        vips.advertise({v100, v101, v6});
        CHECK(run(addresses).find("198.18.0.100/32") != std::string::npos);
        CHECK(run(addresses).find("198.18.0.101/32") != std::string::npos);
        CHECK(run(addresses).find("2001:2:0:18::100/128") != std::string::npos);
        vips.advertise({v101});
        CHECK(run(addresses).find("198.18.0.100/32") == std::string::npos);
        CHECK(run(addresses).find("198.18.0.101/32") != std::string::npos);
        CHECK(run(addresses).find("2001:2:0:18::100") == std::string::npos);
        CHECK(vips.advertised() == std::set<IpAddress>{v101});
        vips.advertise({v101, v6});
        CHECK(run(addresses).find("2001:2:0:18::100/128") != std::string::npos);
        CHECK(run("ip -n " + name + " -o link show vsnat-vips").find("state UNKNOWN") !=
              std::string::npos);
        CHECK(run("ip -n " + name + " -o link show vsnt-peer 2>/dev/null").empty());
    }
    CHECK(run("ip -n " + name + " -o link show vsnat-vips 2>&1").find("does not exist") !=
          std::string::npos);
}
