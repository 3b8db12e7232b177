// vsnatctl: the operator's view of a running vsnatd, over DPDK telemetry, in ipvsadm's layout.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "cp/address.hpp"
#include "cp/telemetry_client.hpp"
#include "cp/telemetry_text.hpp"
#include "vsnat/counters.hpp"
#include "vsnat/types.hpp"

namespace {

using nlohmann::json;
using vsnat::cp::columns_to_rows;
using vsnat::cp::servers_by_service;
using vsnat::cp::TelemetryClient;

enum class ListMode { plain, stats, rate };

struct Options {
    std::string prefix = "vsnat";
    bool json_output = false;
    std::string command;
    ListMode list_mode = ListMode::plain;
    unsigned limit = 100000;
};

void usage(std::FILE* out) {
    std::fprintf(out,
                 "usage: vsnatctl [--prefix P] [--json] COMMAND\n"
                 "  list [--stats|--rate]  services and real servers, like ipvsadm -L -n\n"
                 "  stats                  per-worker packets, drops by reason, handover, table "
                 "fill\n"
                 "  conns [--limit N]      connections, like ipvsadm -L -c -n (default: up to "
                 "100000)\n"
                 "  reload                 re-read the daemon's config file; exit 1 with its "
                 "errors if refused\n"
                 "  --prefix P             the daemon's EAL --file-prefix (default: vsnat)\n"
                 "  --json                 machine-readable output\n");
}

// ipvsadm's print_largenum: the number if it fits 8 columns, else scaled with K/M/G/T.
std::string large_number(uint64_t n) {
    if (n < 100000000ULL) {
        return std::to_string(n);
    }
    const char* units = "KMGT";
    double v = static_cast<double>(n);
    int unit = -1;
    while (v >= 100000 && unit < 3) {
        v /= 1000;
        ++unit;
    }
    return std::to_string(static_cast<uint64_t>(v)) + units[unit];
}

// "198.18.0.100:80", "[2001:2:0:18::100]:80" as ipvsadm prints them; what is no address, as
// it came.
std::string endpoint(const json& row) {
    const std::string address = row.value("vip", row.value("address", "?"));
    const auto port = static_cast<uint16_t>(row.value("port", 0));
    const std::optional<vsnat::IpAddress> parsed = vsnat::cp::parse_ip_address(address);
    return parsed ? vsnat::cp::format_endpoint(*parsed, port)
                  : address + ":" + std::to_string(port);
}

std::string upper(std::string s) {
    for (char& c : s) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    return s;
}

void print_numbers(const std::string& label, const json& row, const char* const* keys) {
    std::printf("%-33s", label.c_str());
    for (int i = 0; i < 5; ++i) {
        std::printf(" %8s", large_number(row.value(keys[i], uint64_t{0})).c_str());
    }
    std::printf("\n");
}

// A real server's health as `list` shows it: "up", "down: http 503", "-" (no check); a sorry
// server "sorry: in use" or "sorry: standby". Empty from a vsnatd without health checks.
std::string health_text(const json& rs) {
    const std::string health = rs.value("health", "");
    const std::string reason = rs.value("health_reason", "");
    if (rs.value("role", "real") == "sorry") {
        return "sorry: " + health;
    }
    return health == "down" && !reason.empty() ? "down: " + reason : health;
}

void print_list(const json& services, const json& servers, ListMode mode) {
    static const char* const kStats[] = {"connections", "in_packets", "out_packets", "in_bytes",
                                         "out_bytes"};
    static const char* const kRates[] = {"cps", "in_pps", "out_pps", "in_bps", "out_bps"};
    std::printf("IP Virtual Server version 1.2.1 (vsnat)\n");
    switch (mode) {
        case ListMode::plain:
            std::printf(
                "Prot LocalAddress:Port Scheduler Flags\n"
                "  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn Health\n");
            break;
        case ListMode::stats:
            std::printf(
                "Prot LocalAddress:Port               Conns   InPkts  OutPkts  InBytes "
                "OutBytes\n  -> RemoteAddress:Port\n");
            break;
        case ListMode::rate:
            std::printf(
                "Prot LocalAddress:Port                 CPS    InPPS   OutPPS    InBPS   "
                "OutBPS\n  -> RemoteAddress:Port\n");
            break;
    }
    const std::vector<std::vector<size_t>> by_service = servers_by_service(services, servers);
    for (size_t i = 0; i < services.size(); ++i) {
        const json& svc = services[i];
        const std::string label = upper(svc.value("protocol", "?")) + "  " + endpoint(svc);
        if (mode == ListMode::plain) {
            std::printf("%s %s\n", label.c_str(), svc.value("scheduler", "?").c_str());
        } else {
            print_numbers(label, svc, mode == ListMode::stats ? kStats : kRates);
        }
        for (const size_t j : by_service[i]) {
            const json& rs = servers[j];
            const std::string dest = "  -> " + endpoint(rs);
            if (mode == ListMode::plain) {
                std::printf("  -> %-28s %-7s %-6llu %-10llu %-10llu %s\n", endpoint(rs).c_str(),
                            "Masq",
                            static_cast<unsigned long long>(rs.value("weight", uint64_t{0})),
                            static_cast<unsigned long long>(rs.value("active", uint64_t{0})),
                            static_cast<unsigned long long>(rs.value("inactive", uint64_t{0})),
                            health_text(rs).c_str());
            } else {
                print_numbers(dest, rs, mode == ListMode::stats ? kStats : kRates);
            }
        }
    }
}

uint64_t number(const json& row, const std::string& key) {
    return row.value(key, uint64_t{0});
}

// One line per counter, one column per worker, then the total: every counter of
// vsnat/counters.hpp and every drop reason, zero or not, so the list never hides one.
void print_counter_table(const json& workers) {
    std::printf("%-32s", "counter");
    for (const json& w : workers) {
        std::printf(" %14s", ("worker " + std::to_string(number(w, "worker"))).c_str());
    }
    std::printf(" %14s\n", "total");
    auto row = [&workers](const std::string& label, const std::string& key) {
        uint64_t total = 0;
        std::printf("%-32s", label.c_str());
        for (const json& w : workers) {
            std::printf(" %14llu", static_cast<unsigned long long>(number(w, key)));
            total += number(w, key);
        }
        std::printf(" %14llu\n", static_cast<unsigned long long>(total));
    };
    for (const vsnat::CounterInfo& c : vsnat::kWorkerCounters) {
        row(std::string(c.name), std::string(c.name));
    }
    for (size_t r = 0; r < vsnat::kDropReasonCount; ++r) {
        const std::string reason(vsnat::drop_reason_name(static_cast<vsnat::DropReason>(r)));
        row("dropped " + reason, "drop_" + reason);
    }
}

// One line per kernel mirror (/vsnat/kernel's rows): every counter of VSNAT_MIRROR_COUNTERS.
void print_mirrors(const json& kernel) {
    const std::string netns = kernel.value("netns", "");
    for (const json& m : columns_to_rows(kernel)) {
        std::printf("kernel mirror %s (interface %s, port %llu, %s, namespace %s):",
                    m.value("kernel", "?").c_str(), m.value("interface", "?").c_str(),
                    static_cast<unsigned long long>(number(m, "port")),
                    m.value("kernel_type", "?").c_str(),
                    netns.empty() ? "vsnatd's own" : netns.c_str());
        const char* separator = " ";
        for (const vsnat::CounterInfo& c : vsnat::kMirrorCounters) {
            const std::string name(c.name);
            std::printf("%s%s %llu", separator, name.c_str(),
                        static_cast<unsigned long long>(number(m, name.c_str())));
            separator = ", ";
        }
        std::printf("\n");
    }
}

// One line for connection sync (/vsnat/sync), when it runs: every counter of
// VSNAT_SYNC_COUNTERS.
void print_sync(const json& sync) {
    if (number(sync, "active") == 0) {
        return;
    }
    std::printf(
        "connection sync on %s to %s port %llu, syncid %llu:", sync.value("interface", "?").c_str(),
        sync.value("to", "?").c_str(), static_cast<unsigned long long>(number(sync, "port")),
        static_cast<unsigned long long>(number(sync, "syncid")));
    const char* separator = " ";
    for (const vsnat::CounterInfo& c : vsnat::kSyncCounters) {
        const std::string name(c.name);
        std::printf("%s%s %llu", separator, name.c_str(),
                    static_cast<unsigned long long>(number(sync, name.c_str())));
        separator = ", ";
    }
    std::printf("\n");
}

void print_stats(const json& stats, const json& ports) {
    const json rows = columns_to_rows(stats);
    std::printf("connections: %llu\n",
                static_cast<unsigned long long>(number(stats, "connections_total")));
    for (const json& w : rows) {
        const uint64_t rx = number(w, "rx_packets");
        const uint64_t handed = number(w, "handed_over");
        const uint64_t conns = number(w, "connections");
        const uint64_t capacity = std::max<uint64_t>(number(w, "capacity"), 1);
        std::printf(
            "worker %llu: connections %llu of %llu (%.1f%% full), rx %llu, tx %llu, "
            "handed over %llu (%.1f%% of rx)\n",
            static_cast<unsigned long long>(number(w, "worker")),
            static_cast<unsigned long long>(conns), static_cast<unsigned long long>(capacity),
            100.0 * static_cast<double>(conns) / static_cast<double>(capacity),
            static_cast<unsigned long long>(rx),
            static_cast<unsigned long long>(number(w, "tx_packets")),
            static_cast<unsigned long long>(handed),
            rx == 0 ? 0.0 : 100.0 * static_cast<double>(handed) / static_cast<double>(rx));
    }
    print_counter_table(rows);
    for (const json& p : ports) {
        auto n = [&p](const char* key) { return static_cast<unsigned long long>(number(p, key)); };
        std::printf(
            "port %llu: rx %llu, missed %llu, errors %llu, no mbuf %llu; tx %llu, errors %llu\n",
            n("port"), n("ipackets"), n("imissed"), n("ierrors"), n("rx_nombuf"), n("opackets"),
            n("oerrors"));
    }
}

// A reload's messages, each joined from the telemetry strings it was sent in (an older vsnatd
// sends no "pieces": one string each).
std::vector<std::string> reload_messages(const json& reply) {
    std::vector<std::string> pieces;
    for (const json& m : reply.value("messages", json::array())) {
        pieces.push_back(m.is_string() ? m.get<std::string>() : m.dump());
    }
    std::vector<uint64_t> counts(pieces.size(), 1);
    if (reply.contains("pieces") && reply["pieces"].is_array()) {
        counts.clear();
        for (const json& n : reply["pieces"]) {
            counts.push_back(n.is_number_unsigned() ? n.get<uint64_t>() : 1);
        }
    }
    return vsnat::cp::join_telemetry_pieces(pieces, counts);
}

bool parse(int argc, char** argv, Options& o) {
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--prefix" && i + 1 < argc) {
            o.prefix = argv[++i];
        } else if (a == "--json") {
            o.json_output = true;
        } else if (a == "--stats" && o.command == "list") {
            o.list_mode = ListMode::stats;
        } else if (a == "--rate" && o.command == "list") {
            o.list_mode = ListMode::rate;
        } else if (a == "--limit" && o.command == "conns" && i + 1 < argc) {
            o.limit = static_cast<unsigned>(std::strtoul(argv[++i], nullptr, 10));
        } else if (o.command.empty() &&
                   (a == "list" || a == "stats" || a == "reload" || a == "conns")) {
            o.command = a;
        } else {
            return false;
        }
    }
    return !o.command.empty();
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    if (argc == 2 && (std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help")) {
        usage(stdout);
        return 0;
    }
    if (!parse(argc, argv, o)) {
        usage(stderr);
        return 2;
    }
    TelemetryClient client(vsnat::cp::telemetry_socket(o.prefix));
    auto fetch = [&client](const char* command) {
        auto v = client.query(command);
        if (!v) {
            std::fprintf(stderr, "vsnatctl: %s\n", client.error().c_str());
        }
        return v;
    };
    // Every row of a paged table (a telemetry reply holds at most 16 kB): `limit` at most.
    auto fetch_rows = [&fetch](const std::string& command, unsigned page,
                               unsigned limit) -> std::optional<json> {
        json rows = json::array();
        for (unsigned offset = 0; offset < limit;) {
            const unsigned count = std::min(page, limit - offset);
            const auto part = fetch(
                (command + "," + std::to_string(offset) + "," + std::to_string(count)).c_str());
            if (!part) {
                return std::nullopt;
            }
            const json part_rows = columns_to_rows(*part);
            rows.insert(rows.end(), part_rows.begin(), part_rows.end());
            if (part_rows.size() < count) {
                break;
            }
            offset += count;
        }
        return rows;
    };
    if (o.command == "reload") {
        const auto reply = fetch("/vsnat/reload");
        if (!reply) {
            return 1;
        }
        const bool applied = reply->value("applied", 0) == 1;
        const std::vector<std::string> messages = reload_messages(*reply);
        if (o.json_output) {
            std::printf("%s\n",
                        json{{"applied", applied ? 1 : 0}, {"messages", messages}}.dump(2).c_str());
        } else {
            if (applied) {
                std::printf("reload applied\n");
            }
            for (const std::string& m : messages) {
                std::fprintf(stderr, "%s\n", m.c_str());
            }
        }
        return applied ? 0 : 1;
    }
    if (o.command == "conns") {
        const auto fetched = fetch_rows("/vsnat/conns", 128, o.limit);
        if (!fetched) {
            return 1;
        }
        const json& rows = *fetched;
        if (o.json_output) {
            std::printf("%s\n", rows.dump(2).c_str());
            return 0;
        }
        std::printf(
            "IPVS connection entries\npro expire state       source             virtual"
            "            destination\n");
        for (const json& r : rows) {
            const uint64_t s = r.value("expire_s", uint64_t{0});
            std::printf("%-3s %02llu:%02llu  %-11s %-18s %-18s %s\n",
                        r.value("protocol", "?").c_str(), static_cast<unsigned long long>(s / 60),
                        static_cast<unsigned long long>(s % 60), r.value("state", "?").c_str(),
                        r.value("source", "?").c_str(), r.value("virtual", "?").c_str(),
                        r.value("destination", "?").c_str());
        }
        return 0;
    }
    if (o.command == "stats") {
        auto stats = fetch("/vsnat/stats");
        if (!stats) {
            return 1;
        }
        // The ports' own counters (DPDK's /ethdev/stats): what a port lost before any worker
        // saw it (imissed: its RX ring was full; rx_nombuf: no buffer) is not in vsnat's drops.
        json ports = json::array();
        for (const json& id : client.query("/ethdev/list").value_or(json::array())) {
            if (auto p = client.query("/ethdev/stats," + std::to_string(id.get<int>()))) {
                (*p)["port"] = id;
                ports.push_back(*p);
            }
        }
        // The kernel mirrors (a vsnatd from before them has no /vsnat/kernel).
        const json kernel = client.query("/vsnat/kernel").value_or(json::object());
        const json sync = client.query("/vsnat/sync").value_or(json::object());
        if (o.json_output) {
            (*stats)["ports"] = ports;
            (*stats)["kernel"] = columns_to_rows(kernel);
            (*stats)["sync"] = sync;
            std::printf("%s\n", stats->dump(2).c_str());
        } else {
            print_stats(*stats, ports);
            print_mirrors(kernel);
            print_sync(sync);
        }
        return 0;
    }
    constexpr unsigned kAll = 1u << 24;
    const auto services = fetch_rows("/vsnat/services", 32, kAll);
    const auto servers = services ? fetch_rows("/vsnat/real_servers", 32, kAll) : std::nullopt;
    if (!services || !servers) {
        return 1;
    }
    const json& service_rows = *services;
    const json& server_rows = *servers;
    if (o.json_output) {
        std::printf(
            "%s\n",
            json{{"services", service_rows}, {"real_servers", server_rows}}.dump(2).c_str());
    } else {
        print_list(service_rows, server_rows, o.list_mode);
    }
    return 0;
}
