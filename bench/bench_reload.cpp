// Reload cost: how long the control thread takes to read, validate and build the snapshot of a
// large configuration (10,000 services x 4 real servers by default), first and as a reload
// (ids carried over from the previous snapshot). Prints figures; not a test. No EAL needed:
// publishing is one pointer swap plus an RCU grace period of one worker loop.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cp/config.hpp"
#include "cp/snapshot_builder.hpp"

namespace {

using Clock = std::chrono::steady_clock;

std::string big_config(int services, int servers_each, int weight) {
    std::string y =
        "interfaces:\n"
        "  - {name: outside, device: d0, address: 198.18.0.254/16}\n"
        "  - {name: inside, device: d1, address: 198.19.0.1/16}\n"
        "services:\n";
    for (int i = 0; i < services; ++i) {
        const int vip_host = 256 + i / 60000, port = 1 + i % 60000;
        y += "  - name: s" + std::to_string(i) + "\n    protocol: tcp\n    vip: 198.18." +
             std::to_string(vip_host / 256) + "." + std::to_string(vip_host % 256 + 1) +
             "\n    port: " + std::to_string(port) + "\n    scheduler: wlc\n    real_servers:\n";
        for (int j = 0; j < servers_each; ++j) {
            const int host = (i * servers_each + j) % 65000 + 2;
            y += "      - {address: 198.19." + std::to_string(host / 256) + "." +
                 std::to_string(host % 256) + ", port: " + std::to_string(8000 + j) +
                 ", weight: " + std::to_string(weight + j) + "}\n";
        }
    }
    return y;
}

double ms_since(Clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

}  // namespace

int main(int argc, char** argv) {
    const int services = argc > 1 ? std::atoi(argv[1]) : 10000;
    const int servers_each = argc > 2 ? std::atoi(argv[2]) : 4;
    const uint32_t workers = 2;
    const std::vector<vsnat::cp::PortBinding> ports = {{0, {}}, {1, {}}};
    std::printf("vsnat reload benchmark: %d services x %d real servers, %u workers\n", services,
                servers_each, workers);
    std::printf("command: %s %d %d\n\n", argv[0], services, servers_each);

    const std::string first_text = big_config(services, servers_each, 1);
    const std::string second_text = big_config(services, servers_each, 2);  // weights shifted
    std::printf("config text: %.1f MB\n", static_cast<double>(first_text.size()) / 1e6);

    auto t0 = Clock::now();
    auto first = vsnat::cp::load_config_text(first_text, "first.yaml");
    const double parse_first = ms_since(t0);
    if (!first.config) {
        std::fprintf(stderr, "generated config rejected: %s\n",
                     first.errors.front().to_string().c_str());
        return 1;
    }
    t0 = Clock::now();
    auto snap = vsnat::cp::build_snapshot(*first.config, ports, workers);
    const double build_first = ms_since(t0);

    t0 = Clock::now();
    auto second = vsnat::cp::load_config_text(second_text, "second.yaml");
    const double parse_second = ms_since(t0);
    t0 = Clock::now();
    auto next = vsnat::cp::build_snapshot(*second.config, ports, workers, snap.get());
    const double build_second = ms_since(t0);

    std::printf("%-34s %10s %10s %10s\n", "", "read+check", "build", "total");
    std::printf("%-34s %8.1f ms %8.1f ms %8.1f ms\n", "start-up (first snapshot)", parse_first,
                build_first, parse_first + build_first);
    std::printf("%-34s %8.1f ms %8.1f ms %8.1f ms\n", "reload (weights shifted, ids kept)",
                parse_second, build_second, parse_second + build_second);
    std::printf("\nservices in the new snapshot: %zu\n", next->services.size());
    return 0;
}
