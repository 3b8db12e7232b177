// One vsnatd per device: what each device string locks, and a lock held by another process
// refusing this one with that process named, until the holder dies (by SIGKILL: nothing stale).
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "io/device_lock.hpp"

using vsnat::io::device_lock_names;
using vsnat::io::DeviceLocks;
using Names = std::vector<std::string>;

TEST_CASE("a device locks its PCI address or the kernel interfaces it names", "[device_lock]") {
    CHECK(device_lock_names("0000:3b:00.0") == Names{"pci-0000:3b:00.0"});
    CHECK(device_lock_names("3B:00.1,rxq_pkt_len=2") == Names{"pci-0000:3b:00.1"});
    CHECK(device_lock_names("net_af_packet0,iface=vsn-out") == Names{"iface-vsn-out"});
    CHECK(device_lock_names("net_af_xdp1,iface=vsn-in,start_queue=0") == Names{"iface-vsn-in"});
    CHECK(device_lock_names("net_pcap0,rx_iface=a,tx_iface=b") == Names{"iface-a", "iface-b"});
    CHECK(device_lock_names("net_pcap0,rx_iface_in=a,tx_iface=a") == Names{"iface-a"});
    CHECK(device_lock_names("net_af_packet0,iface=x/../y z") == Names{"iface-x%2F..%2Fy%20z"});
    // Nothing another process could attach to.
    CHECK(device_lock_names("net_null0").empty());
    CHECK(device_lock_names("net_ring0").empty());
    CHECK(device_lock_names("net_pcap0,rx_pcap=/tmp/in.pcap,tx_pcap=/tmp/out.pcap").empty());
    CHECK(device_lock_names("net_af_packet0,iface=").empty());
}

TEST_CASE("a lock another process holds refuses this one and names it", "[device_lock]") {
    char tmpl[] = "/tmp/vsnat-device-lock-XXXXXX";
    REQUIRE(mkdtemp(tmpl) != nullptr);
    const std::string dir = std::string(tmpl) + "/locks";  // made by the first lock
    const std::string path = dir + "/iface-a.lock";

    int ready[2];
    REQUIRE(pipe(ready) == 0);
    const pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        DeviceLocks held(dir);
        std::string error;
        const char ok = held.lock("iface-a", error) ? 'y' : 'n';
        [[maybe_unused]] const ssize_t n = write(ready[1], &ok, 1);
        for (int i = 0; i < 300; ++i) {  // until killed; bounded all the same (30 s)
            usleep(100000);
        }
        _exit(0);
    }
    char ok = 0;
    REQUIRE(read(ready[0], &ok, 1) == 1);
    REQUIRE(ok == 'y');
    std::string pid_in_file;
    std::getline(std::ifstream(path), pid_in_file);
    CHECK(pid_in_file == std::to_string(child));

    DeviceLocks mine(dir);
    std::string error;
    CHECK_FALSE(mine.lock("iface-a", error));
    const std::string holder = "held by pid " + std::to_string(child) + " (";
    CHECK(error.rfind(holder, 0) == 0);
    CHECK(error.find("test_device_lock") != std::string::npos);  // its command line
    CHECK(error.ends_with(") (lock " + path + ")"));
    error.clear();
    CHECK(mine.lock("iface-b", error));  // another device is free
    CHECK(mine.lock("iface-b", error));  // and taking it again is a no-op

    kill(child, SIGKILL);
    REQUIRE(waitpid(child, nullptr, 0) == child);
    CHECK(mine.lock("iface-a", error));
    CHECK(error.empty());
    std::filesystem::remove_all(tmpl);
}
