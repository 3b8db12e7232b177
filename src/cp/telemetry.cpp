#include "cp/telemetry.hpp"

#include <rte_telemetry.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "cp/daemon.hpp"

namespace vsnat::cp {
namespace {

// DPDK 22.11's telemetry callbacks take no user pointer: the daemon is found through this.
std::atomic<const Daemon*> g_daemon{nullptr};
std::atomic<Daemon*> g_reloader{nullptr};  // the same daemon, for the one command that acts

// DPDK 22.11 telemetry nests one level only (a dict may hold arrays of numbers or strings), so
// tables are sent by column: each key holds one array with a value per row.
class Columns {
  public:
    explicit Columns(rte_tel_data* d) : d_(d) { rte_tel_data_start_dict(d_); }
    void u64(const char* name, uint64_t value) { column(name, RTE_TEL_U64_VAL).u64(value); }
    void text(const char* name, const std::string& value) {
        column(name, RTE_TEL_STRING_VAL).text(value);
    }
    void scalar(const char* name, uint64_t value) { rte_tel_data_add_dict_u64(d_, name, value); }
    // Hands the columns to the dict, which frees them after sending.
    ~Columns() {
        for (auto& [name, c] : columns_) {
            rte_tel_data_add_dict_container(d_, name.c_str(), c.data, 0);
        }
    }

  private:
    struct Column {
        rte_tel_data* data;
        void u64(uint64_t v) { rte_tel_data_add_array_u64(data, v); }
        void text(const std::string& v) { rte_tel_data_add_array_string(data, v.c_str()); }
    };
    Column& column(const char* name, rte_tel_value_type type) {
        for (auto& [n, c] : columns_) {
            if (n == name) {
                return c;
            }
        }
        Column c{rte_tel_data_alloc()};
        rte_tel_data_start_array(c.data, type);
        columns_.emplace_back(name, c);
        return columns_.back().second;
    }
    rte_tel_data* d_;
    std::vector<std::pair<std::string, Column>> columns_;
};

void add_rates(Columns& t, const Rates& r) {
    t.u64("cps", r.cps);
    t.u64("in_pps", r.in_pps);
    t.u64("out_pps", r.out_pps);
    t.u64("in_bps", r.in_bps);
    t.u64("out_bps", r.out_bps);
}

void add_counters(Columns& t, const dp::DestCounters& c) {
    t.u64("connections", c.connections);
    t.u64("active", static_cast<uint64_t>(std::max<int64_t>(c.active, 0)));
    t.u64("inactive", static_cast<uint64_t>(std::max<int64_t>(c.inactive, 0)));
    t.u64("in_packets", c.in_packets);
    t.u64("out_packets", c.out_packets);
    t.u64("in_bytes", c.in_bytes);
    t.u64("out_bytes", c.out_bytes);
}

// Rows OFFSET .. OFFSET+COUNT-1 of a table, from a command's parameters "OFFSET,COUNT" (both
// optional). DPDK 22.11 truncates replies beyond 16 kB, so every table is read in pages of at
// most `max_rows` (vsnatctl asks for page after page).
struct Page {
    uint32_t offset = 0;
    uint32_t count = 0;
    bool contains(size_t row) const { return row >= offset && row - offset < count; }
};

Page parse_page(const char* params, uint32_t max_rows) {
    constexpr unsigned long kMaxOffset = 1ul << 24;  // bounds what a page can make us copy
    Page page{0, max_rows};
    if (params == nullptr || *params == '\0') {
        return page;
    }
    char* rest = nullptr;
    page.offset = static_cast<uint32_t>(std::min(std::strtoul(params, &rest, 10), kMaxOffset));
    if (rest != nullptr && *rest == ',') {
        page.count = static_cast<uint32_t>(
            std::min<unsigned long>(max_rows, std::strtoul(rest + 1, nullptr, 10)));
    }
    return page;
}

constexpr uint32_t kTablePageRows = 32;  // a service or real server row is about 300 bytes

// One row per worker.
int handle_stats(const char*, const char*, rte_tel_data* d) {
    const Daemon* daemon = g_daemon.load();
    if (daemon == nullptr) {
        return -1;
    }
    Columns t(d);
    t.scalar("connections_total", daemon->live_connections());
    t.scalar("reloads_applied", daemon->reloads_applied());
    t.scalar("reloads_refused", daemon->reloads_refused());
    for (const dp::WorkerContext* w : daemon->workers()) {
        const dp::WorkerCounters& c = w->counters;
        t.u64("worker", w->worker_id);
        t.u64("connections", w->table->size());
        t.u64("capacity", w->table->capacity());
        t.u64("rx_packets", c.rx_packets);
        t.u64("tx_packets", c.tx_packets);
        t.u64("handed_over", c.handed_over);
        t.u64("connections_created", c.connections_created);
        t.u64("connections_expired", c.connections_expired);
        t.u64("connections_reused", c.connections_reused);
        t.u64("connections_drained", c.connections_drained);
        t.u64("connections_evicted", c.connections_evicted);
        t.u64("arp_replies", c.arp_replies);
        t.u64("arp_requests", c.arp_requests);
        t.u64("arp_received", c.arp_received);
        t.u64("echo_replies", c.echo_replies);
        t.u64("resets_sent", c.resets_sent);
        t.u64("unreachables_sent", c.unreachables_sent);
        t.u64("icmp_errors_translated", c.icmp_errors_translated);
        t.u64("held_for_arp", c.held_for_arp);
        t.u64("persistence_hits", c.persistence_hits);
        t.u64("persistence_unrecorded", c.persistence_unrecorded);
        t.u64("ftp_controls", w->ftp_controls->in_use());
        t.u64("ftp_expectations", c.ftp_expectations);
        t.u64("ftp_data_connections", c.ftp_data_connections);
        t.u64("ftp_rewrites", c.ftp_rewrites);
        t.u64("ftp_split_lines", c.ftp_split_lines);
        t.u64("ftp_malformed_lines", c.ftp_malformed_lines);
        t.u64("ftp_foreign_addresses", c.ftp_foreign_addresses);
        t.u64("ftp_expectations_full", c.ftp_expectations_full);
        t.u64("ftp_unrewritten", c.ftp_unrewritten);
        for (size_t r = 0; r < kDropReasonCount; ++r) {
            const std::string name =
                "drop_" + std::string(drop_reason_name(static_cast<DropReason>(r)));
            t.u64(name.c_str(), c.drops[r]);
        }
    }
    return 0;
}

// Answers a paged table command from the configuration in force: `fill(daemon, generation,
// page, columns)` adds the page's rows.
template <class Fill>
int answer_table(const char* params, rte_tel_data* d, Fill&& fill) {
    const Daemon* daemon = g_daemon.load();
    if (daemon == nullptr) {
        return -1;
    }
    const auto gen = daemon->generation();
    Columns t(d);
    fill(*daemon, *gen, parse_page(params, kTablePageRows), t);
    return 0;
}

// One row per service, its real servers' counters summed.
int handle_services(const char*, const char* params, rte_tel_data* d) {
    return answer_table(
        params, d, [](const Daemon& daemon, const Generation& gen, const Page& page, Columns& t) {
            const dp::Snapshot& snap = *gen.snapshot;
            for (size_t i = 0; i < snap.services.size(); ++i) {
                if (!page.contains(i)) {
                    continue;
                }
                const Service& cs = gen.config.services[i];
                t.text("name", cs.name);
                t.text("protocol", std::string(protocol_name(cs.protocol)));
                t.text("vip", format_ipv4(cs.vip));
                t.u64("port", cs.port);
                t.text("scheduler", std::string(scheduler_name(cs.scheduler)));
                t.u64("real_servers", snap.services[i].servers.size());
                dp::DestCounters total;
                Rates rates;
                for (const dp::Destination& dest : snap.services[i].servers) {
                    total += sum_dest_counters(daemon.workers(), dest.dest_id);
                    rates += daemon.rates(dest.dest_id).load();
                }
                add_counters(t, total);
                add_rates(t, rates);
            }
        });
}

// One row per real server of every service.
int handle_real_servers(const char*, const char* params, rte_tel_data* d) {
    return answer_table(
        params, d, [](const Daemon& daemon, const Generation& gen, const Page& page, Columns& t) {
            const dp::Snapshot& snap = *gen.snapshot;
            size_t row = 0;
            for (size_t i = 0; i < snap.services.size(); ++i) {
                for (size_t j = 0; j < snap.services[i].servers.size(); ++j) {
                    if (!page.contains(row++)) {
                        continue;
                    }
                    const RealServer& rs = gen.config.services[i].real_servers[j];
                    const dp::Destination& dest = snap.services[i].servers[j];
                    t.text("service", gen.config.services[i].name);
                    t.text("address", format_ipv4(rs.address));
                    t.u64("port", rs.port);
                    t.u64("weight", dest.weight);
                    add_counters(t, sum_dest_counters(daemon.workers(), dest.dest_id));
                    add_rates(t, daemon.rates(dest.dest_id).load());
                }
            }
        });
}

std::string endpoint_text(uint32_t ip, uint16_t port) {
    return format_ipv4(__builtin_bswap32(ip)) + ":" + std::to_string(__builtin_bswap16(port));
}

// Connections, by column, one page at a time: /vsnat/conns,OFFSET,COUNT. A page is small
// enough for DPDK's 16 kB reply limit; the table may change between pages, as ipvsadm's may.
int handle_conns(const char*, const char* params, rte_tel_data* d) {
    constexpr uint32_t kPageRows = 128;
    Daemon* daemon = g_reloader.load();
    if (daemon == nullptr) {
        return -1;
    }
    const Page page = parse_page(params, kPageRows);
    const auto rows = daemon->dump_connections(page.offset + page.count);
    Columns t(d);
    for (size_t i = page.offset; i < rows.size(); ++i) {
        const dp::Conn& c = rows[i].conn;
        const dp::ConnDump::Row& row = rows[i];
        t.text("protocol", c.protocol == 6 ? "TCP" : "UDP");
        t.u64("expire_s", (row.expires_in_ms + 999) / 1000);
        t.text("state", std::string(dp::conn_state_name(c.state)));
        t.text("source", endpoint_text(c.client_ip, c.client_port));
        t.text("virtual", endpoint_text(c.vip, c.vport));
        t.text("destination", endpoint_text(c.rip, c.rport));
    }
    return 0;
}

// Re-reads the config file now; answers {"applied": 0|1, "messages": [...]}.
int handle_reload(const char*, const char*, rte_tel_data* d) {
    Daemon* daemon = g_reloader.load();
    if (daemon == nullptr) {
        return -1;
    }
    const ReloadResult r = daemon->request_reload();
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_u64(d, "applied", r.applied ? 1 : 0);
    rte_tel_data* messages = rte_tel_data_alloc();
    rte_tel_data_start_array(messages, RTE_TEL_STRING_VAL);
    for (const std::string& m : r.messages) {
        rte_tel_data_add_array_string(messages, m.substr(0, RTE_TEL_MAX_STRING_LEN - 1).c_str());
    }
    rte_tel_data_add_dict_container(d, "messages", messages, 0);
    return 0;
}

}  // namespace

void register_telemetry(Daemon& daemon) {
    g_daemon.store(&daemon);
    g_reloader.store(&daemon);
    rte_telemetry_register_cmd(
        "/vsnat/conns", handle_conns,
        "Connections by column, like ipvsadm -L -c. Parameters: offset,count "
        "(count <= 128)");
    rte_telemetry_register_cmd("/vsnat/reload", handle_reload,
                               "Re-read the configuration file. No parameters");
    rte_telemetry_register_cmd("/vsnat/stats", handle_stats,
                               "Per-worker packet, connection and drop counters, by column. "
                               "No parameters");
    rte_telemetry_register_cmd(
        "/vsnat/services", handle_services,
        "Per-service counters, by column. Parameters: offset,count (count <= 32)");
    rte_telemetry_register_cmd(
        "/vsnat/real_servers", handle_real_servers,
        "Per-real-server counters, by column. Parameters: offset,count (count <= 32)");
}

void unregister_telemetry() {
    g_daemon.store(nullptr);
}

}  // namespace vsnat::cp
