// vsnatd: the VS/NAT load balancer daemon. Wiring only: arguments, config, then the Daemon.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "cp/config.hpp"
#include "cp/daemon.hpp"
#include "cp/memory_budget.hpp"
#include "cp/snapshot_builder.hpp"

namespace {

constexpr const char* kVersion = "0.1.0";

void usage(std::FILE* out) {
    std::fprintf(out,
                 "usage: vsnatd -c FILE [--check]\n"
                 "  -c, --config FILE  the configuration (YAML; see config/README.md)\n"
                 "      --check        validate FILE, print a summary and the memory it needs,\n"
                 "                     exit 0 (valid, and the machine can hold it) or 1\n"
                 "  -h, --help         this text\n"
                 "  -V, --version      the version\n"
                 "Signals: SIGTERM/SIGINT stop, SIGHUP reloads the file.\n");
}

// "http /health every 2s, timeout 1s, rise 2 fall 2", and the keys that are not their default.
std::string describe_check(const vsnat::cp::HealthCheck& c) {
    using namespace vsnat::cp;
    std::string out(check_type_name(c.type));
    if (c.type == CheckType::http) {
        out += " " + c.path;
        out += c.expect_status == 200 ? "" : " expect " + std::to_string(c.expect_status);
    } else if (c.type == CheckType::udp && !c.payload.empty()) {
        out += " payload of " + std::to_string(c.payload.size()) + " bytes";
    } else if (c.type == CheckType::exec) {
        for (const std::string& argument : c.command) {  // quoted when a space is in it
            const bool quote = argument.find(' ') != std::string::npos;
            out += quote ? " '" + argument + "'" : " " + argument;
        }
    }
    out += c.port == 0 ? "" : " port " + std::to_string(c.port);
    out += " every " + format_duration_ms(c.interval_ms) + ", timeout " +
           format_duration_ms(c.timeout_ms) + ", rise " + std::to_string(c.rise) + " fall " +
           std::to_string(c.fall);
    out += c.start_down ? ", start down" : "";
    out += c.passive ? ", passive" : "";
    return out;
}

// What a real server's check changes of its service's, briefly ("port 8081, rise 3"); the whole
// check when its type is another; empty when it is the same.
std::string check_difference(const vsnat::cp::HealthCheck& service,
                             const vsnat::cp::HealthCheck& own) {
    using vsnat::cp::format_duration_ms;
    if (own.type != service.type) {
        return describe_check(own);
    }
    std::vector<std::string> parts;
    const auto differs = [&parts](bool differ, const std::string& what) {
        if (differ) {
            parts.push_back(what);
        }
    };
    differs(own.interval_ms != service.interval_ms,
            "interval " + format_duration_ms(own.interval_ms));
    differs(own.timeout_ms != service.timeout_ms, "timeout " + format_duration_ms(own.timeout_ms));
    differs(own.rise != service.rise, "rise " + std::to_string(own.rise));
    differs(own.fall != service.fall, "fall " + std::to_string(own.fall));
    differs(own.port != service.port,
            own.port == 0 ? "the server's port" : "port " + std::to_string(own.port));
    differs(own.path != service.path, "path " + own.path);
    differs(own.expect_status != service.expect_status,
            "expect " + std::to_string(own.expect_status));
    differs(own.payload != service.payload,
            own.payload.empty() ? "no payload"
                                : "payload of " + std::to_string(own.payload.size()) + " bytes");
    differs(own.command != service.command, "its own command");
    differs(own.start_down != service.start_down, own.start_down ? "start down" : "start up");
    differs(own.passive != service.passive, own.passive ? "passive" : "not passive");
    std::string out;
    for (const std::string& part : parts) {
        out += (out.empty() ? "" : ", ") + part;
    }
    return out;
}

// A real server's check, as the summary shows it after the server: "check none", what its
// override changes, or nothing.
std::string real_server_check(const vsnat::cp::Service& s, const vsnat::cp::RealServer& rs) {
    if (!rs.health_check) {
        return s.health_check ? " check none" : "";
    }
    const std::string own = s.health_check ? check_difference(*s.health_check, *rs.health_check)
                                           : describe_check(*rs.health_check);
    return own.empty() ? "" : " check " + own;
}

// "addresses follow_kernel; sync on inside to 224.0.0.81:8848, syncid 1".
std::string describe_ha(const vsnat::cp::HaConfig& ha) {
    using namespace vsnat::cp;
    std::string out = "addresses " + std::string(address_ownership_name(ha.addresses)) + "; ";
    if (!ha.sync) {
        return out + "no connection sync";
    }
    const SyncConfig& sync = *ha.sync;
    const std::string port = ":" + std::to_string(sync.port);
    out += "sync on " + sync.interface + " to ";
    if (sync.group) {
        out += format_ipv4(*sync.group) + port;
    } else {
        out += sync.peers.size() == 1 ? "peer " : "peers ";
        for (size_t i = 0; i < sync.peers.size(); ++i) {
            out += (i == 0 ? "" : ", ") + format_ipv4(sync.peers[i]) + port;
        }
    }
    out += ", syncid " + std::to_string(sync.syncid);
    return sync.syncid == 0 ? out + " (receives any)" : out;
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
        std::string addresses = format_ipv4(in.address) + "/" + std::to_string(in.prefix_len);
        for (const vsnat::Prefix6& p : in.addresses6) {
            addresses += " " + format_ipv6(p.address) + "/" + std::to_string(p.length);
        }
        std::string floating;
        for (const Prefix& p : in.floating) {
            floating += (floating.empty() ? " floating " : ", ") + format_ipv4(p.address) + "/" +
                        std::to_string(p.length);
        }
        for (const vsnat::Prefix6& p : in.floating6) {
            floating += (floating.empty() ? " floating " : ", ") + format_ipv6(p.address) + "/" +
                        std::to_string(p.length);
        }
        std::printf("  interface %s %s on %s%s\n", in.name.c_str(), addresses.c_str(),
                    in.device.c_str(), floating.c_str());
    }
    std::string mirrors;
    for (const Interface& in : config.interfaces) {
        if (!in.kernel.empty()) {
            mirrors += (mirrors.empty() ? "" : ", ") + in.kernel + " (interface " + in.name + ", " +
                       std::string(kernel_type_name(in.kernel_type)) + ")";
        }
    }
    if (!mirrors.empty()) {
        const std::string where = config.kernel_netns.empty() ? "vsnatd's own namespace"
                                                              : "namespace " + config.kernel_netns;
        std::printf("  kernel mirrors: %s in %s\n", mirrors.c_str(), where.c_str());
    } else if (!config.kernel_netns.empty()) {
        std::printf("  kernel_netns %s: unused, no interface has a kernel mirror\n",
                    config.kernel_netns.c_str());
    }
    if (config.ha != HaConfig{}) {
        std::printf("  ha: %s\n", describe_ha(config.ha).c_str());
    }
    for (const Service& s : config.services) {
        const std::string helper =
            s.helper == Helper::none ? "" : " helper " + std::string(helper_name(s.helper));
        std::printf("  service %s %s %s %s%s\n", s.name.c_str(),
                    std::string(protocol_name(s.protocol)).c_str(),
                    format_endpoint(s.vip, s.port).c_str(),
                    std::string(scheduler_name(s.scheduler)).c_str(), helper.c_str());
        bool checked = false;
        for (const RealServer& rs : s.real_servers) {
            checked = checked || rs.health_check.has_value();
        }
        const std::string on_down = "on_down " + std::string(on_down_name(s.on_down));
        if (s.health_check) {
            std::printf("    health_check %s; %s\n", describe_check(*s.health_check).c_str(),
                        on_down.c_str());
        } else if (checked) {
            std::printf("    health_check only the real servers' own; %s\n", on_down.c_str());
        }
        if (s.sorry_server) {
            const uint16_t port = s.sorry_server->port != 0 ? s.sorry_server->port : s.port;
            std::printf("    sorry_server %s\n",
                        format_endpoint(s.sorry_server->address, port).c_str());
        }
        for (const RealServer& rs : s.real_servers) {
            std::printf("    -> %s weight %u%s\n", format_endpoint(rs.address, rs.port).c_str(),
                        rs.weight, real_server_check(s, rs).c_str());
        }
    }
}

// The memory the configuration needs, part by part, and what the machine has.
void print_memory(std::FILE* out, const vsnat::cp::MemoryNeed& need,
                  const std::optional<vsnat::cp::MachineMemory>& machine) {
    using vsnat::cp::format_bytes;
    const char* eal = need.hugepages ? "hugepages" : "EAL";
    std::fprintf(out,
                 "  memory: %s of %s, %s of other memory; a reload to this file needs %s more\n",
                 format_bytes(need.eal).c_str(), need.hugepages ? "hugepages" : "EAL memory",
                 format_bytes(need.ordinary).c_str(), format_bytes(need.reload).c_str());
    for (const vsnat::cp::MemoryPart& p : need.parts) {
        std::fprintf(out, "    %-22s %10s  %-9s %s\n", p.what.c_str(),
                     format_bytes(p.bytes).c_str(), p.eal ? eal : "memory", p.detail.c_str());
    }
    if (!machine) {
        std::fprintf(out, "  machine: /proc/meminfo unreadable: not compared\n");
        return;
    }
    std::fprintf(out,
                 "  machine: %s available (MemAvailable); hugepages of %s: %llu reserved, %llu "
                 "free\n",
                 format_bytes(machine->available).c_str(),
                 format_bytes(machine->hugepage_size).c_str(),
                 static_cast<unsigned long long>(machine->hugepages_total),
                 static_cast<unsigned long long>(machine->hugepages_free));
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
        const vsnat::cp::MemoryNeed need = vsnat::cp::memory_need(*loaded.config);
        const auto machine = vsnat::cp::read_machine_memory();
        const vsnat::cp::MemoryVerdict verdict =
            machine ? vsnat::cp::check_start(need, *machine) : vsnat::cp::MemoryVerdict{};
        if (verdict.refusal) {
            std::fprintf(stderr, "%s: %s: this machine cannot run it\n", path.c_str(),
                         verdict.refusal->c_str());
            print_memory(stderr, need, machine);
            return 1;
        }
        print_summary(*loaded.config, path);
        print_memory(stdout, need, machine);
        if (verdict.advice) {
            std::printf("  %s\n", verdict.advice->c_str());
        }
        return 0;
    }
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
    vsnat::cp::Daemon daemon(std::move(*loaded.config), path);
    return daemon.run();
}
