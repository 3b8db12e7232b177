// vsnatd: the VS/NAT load balancer daemon. Wiring only: arguments, config, then the Daemon.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "cp/config.hpp"
#include "cp/daemon.hpp"
#include "cp/snapshot_builder.hpp"

namespace {

constexpr const char* kVersion = "0.1.0";

void usage(std::FILE* out) {
    std::fprintf(out,
                 "usage: vsnatd -c FILE [--check]\n"
                 "  -c, --config FILE  the configuration (YAML; see config/README.md)\n"
                 "      --check        validate FILE, print a summary, exit 0 (valid) or 1\n"
                 "  -h, --help         this text\n"
                 "  -V, --version      the version\n"
                 "Signals: SIGTERM/SIGINT stop, SIGHUP reloads the file.\n");
}

void print_summary(const vsnat::cp::Config& config, const std::string& path) {
    using namespace vsnat::cp;
    size_t servers = 0;
    for (const Service& s : config.services) {
        servers += s.real_servers.size();
    }
    std::printf("%s: valid: %zu services, %zu real servers, %zu interfaces, %u workers\n",
                path.c_str(), config.services.size(), servers, config.interfaces.size(),
                config.workers);
    for (const Interface& in : config.interfaces) {
        std::printf("  interface %s %s/%u on %s\n", in.name.c_str(),
                    format_ipv4(in.address).c_str(), in.prefix_len, in.device.c_str());
    }
    for (const Service& s : config.services) {
        const std::string helper =
            s.helper == Helper::none ? "" : " helper " + std::string(helper_name(s.helper));
        std::printf("  service %s %s %s:%u %s%s\n", s.name.c_str(),
                    std::string(protocol_name(s.protocol)).c_str(), format_ipv4(s.vip).c_str(),
                    s.port, std::string(scheduler_name(s.scheduler)).c_str(), helper.c_str());
        for (const RealServer& rs : s.real_servers) {
            std::printf("    -> %s:%u weight %u\n", format_ipv4(rs.address).c_str(), rs.port,
                        rs.weight);
        }
    }
}

}  // namespace

int main(int argc, char** argv) {
    std::string path;
    bool check = false;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if ((arg == "-c" || arg == "--config") && i + 1 < argc) {
            path = argv[++i];
        } else if (arg == "--check") {
            check = true;
        } else if (arg == "-h" || arg == "--help") {
            usage(stdout);
            return 0;
        } else if (arg == "-V" || arg == "--version") {
            std::printf("vsnatd %s\n", kVersion);
            return 0;
        } else {
            std::fprintf(stderr, "vsnatd: unknown argument '%s'\n", arg.c_str());
            usage(stderr);
            return 2;
        }
    }
    if (path.empty()) {
        usage(stderr);
        return 2;
    }
    vsnat::cp::LoadResult loaded = vsnat::cp::load_config_file(path);
    for (const vsnat::cp::ConfigError& e : loaded.errors) {
        std::fprintf(stderr, "%s\n", e.to_string().c_str());
    }
    if (!loaded.config) {
        return 1;
    }
    if (check) {
        print_summary(*loaded.config, path);
        return 0;
    }
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
    vsnat::cp::Daemon daemon(std::move(*loaded.config), path);
    return daemon.run();
}
