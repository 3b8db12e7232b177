#include "cp/telemetry.hpp"

#include <rte_errno.h>
#include <rte_telemetry.h>

#include <algorithm>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "cp/daemon.hpp"
#include "cp/snapshot_builder.hpp"
#include "cp/telemetry_text.hpp"

namespace vsnat::cp {
namespace {

// DPDK 22.11's telemetry callbacks take no user pointer, and DPDK cannot unregister a command:
// the daemon is found through this one registration, which also counts the calls in flight so
// that the daemon can wait for them before it goes.
class Registration {
  public:
    void attach(Daemon& daemon) {
        std::lock_guard<std::mutex> lock(mutex_);
        daemon_ = &daemon;
    }
    // No new call gets the daemon; returns once the calls that got it have returned.
    void detach() {
        std::unique_lock<std::mutex> lock(mutex_);
        daemon_ = nullptr;
        idle_.wait(lock, [this] { return in_flight_ == 0; });
    }
    Daemon* enter() {
        std::lock_guard<std::mutex> lock(mutex_);
        if (daemon_ != nullptr) {
            ++in_flight_;
        }
        return daemon_;
    }
    void leave() {
        std::lock_guard<std::mutex> lock(mutex_);
        if (--in_flight_ == 0) {
            idle_.notify_all();
        }
    }

  private:
    std::mutex mutex_;
    std::condition_variable idle_;
    Daemon* daemon_ = nullptr;
    int in_flight_ = 0;
};

// Never destroyed: DPDK's telemetry threads outlive main() and may still call in at exit.
Registration& registration() {
    static auto* const the_registration = new Registration();
    return *the_registration;
}

// The daemon for the length of one command; null before it is ready and once it is stopping
// (the command then answers with an error).
class DaemonCall {
  public:
    DaemonCall() : daemon_(registration().enter()) {}
    ~DaemonCall() {
        if (daemon_ != nullptr) {
            registration().leave();
        }
    }
    DaemonCall(const DaemonCall&) = delete;
    DaemonCall& operator=(const DaemonCall&) = delete;
    Daemon* operator->() const { return daemon_; }
    Daemon& operator*() const { return *daemon_; }
    explicit operator bool() const { return daemon_ != nullptr; }

  private:
    Daemon* daemon_;
};

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
    void scalar_text(const char* name, const std::string& value) {
        rte_tel_data_add_dict_string(d_, name, value.c_str());
    }
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

// One row per worker: every counter of vsnat/counters.hpp and every drop reason.
int handle_stats(const char*, const char*, rte_tel_data* d) {
    const DaemonCall daemon;
    if (!daemon) {
        return -1;
    }
    const Workers& workers = daemon->workers();
    Columns t(d);
    t.scalar("connections_total", workers.live_connections());
    t.scalar("reloads_applied", daemon->reloads_applied());
    t.scalar("reloads_refused", daemon->reloads_refused());
    for (const dp::WorkerContext* w : workers.contexts()) {
        const dp::WorkerCounters& c = w->counters;
        t.u64("worker", w->worker_id);
        t.u64("connections", w->table->size());
        t.u64("capacity", w->table->capacity());
        t.u64("ftp_controls", w->ftp_controls->in_use());
        const auto values = c.values();
        for (size_t i = 0; i < kWorkerCounterCount; ++i) {
            t.u64(std::string(kWorkerCounters[i].name).c_str(), values[i]);
        }
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
    const DaemonCall daemon;
    if (!daemon) {
        return -1;
    }
    const auto gen = daemon->generation();
    Columns t(d);
    fill(*daemon, *gen, parse_page(params, kTablePageRows), t);
    return 0;
}

// One row per service, its real servers' counters summed. "id" is the service's id, which its
// real servers' rows carry as "service_id": a name may be cut by telemetry, an id is not.
int handle_services(const char*, const char* params, rte_tel_data* d) {
    return answer_table(
        params, d, [](const Daemon& daemon, const Generation& gen, const Page& page, Columns& t) {
            const dp::Snapshot& snap = *gen.snapshot;
            const size_t end =
                std::min<size_t>(snap.services.size(), size_t{page.offset} + page.count);
            for (size_t i = page.offset; i < end; ++i) {
                const Service& cs = gen.config.services[i];
                t.u64("id", snap.services[i].service_id);
                t.text("name", cs.name);
                t.text("protocol", std::string(protocol_name(cs.protocol)));
                t.text("vip", format_ip_address(cs.vip));
                t.u64("port", cs.port);
                t.text("scheduler", std::string(scheduler_name(cs.scheduler)));
                t.u64("real_servers", snap.services[i].servers.size());
                dp::DestCounters total;
                Rates rates;
                for (const dp::Destination& dest : snap.services[i].servers) {
                    total += daemon.workers().dest_totals(dest.dest_id);
                    rates += daemon.rates().rates(dest.dest_id);
                }
                add_counters(t, total);
                add_rates(t, rates);
            }
        });
}

// A real server's health columns: "role" real or sorry; "health" up, down, or "-" without a
// check (a sorry server: in use, standby); "health_reason" the check's last result.
void add_health(Columns& t, const Daemon& daemon, const Service& service, size_t index,
                const dp::Destination& dest) {
    const bool sorry = index >= service.real_servers.size();
    t.text("role", sorry ? "sorry" : "real");
    std::optional<ServerHealthView> view;
    if (!sorry) {
        view = daemon.health().view(service.real_servers[index]);
    }
    if (sorry) {
        t.text("health", dest.down ? "standby" : "in use");
    } else {
        t.text("health", !view ? "-" : view->up ? "up" : "down");
    }
    t.text("health_reason", view ? view->reason : "");
}

// One row per real server of every service, with its service's id and name.
int handle_real_servers(const char*, const char* params, rte_tel_data* d) {
    return answer_table(
        params, d, [](const Daemon& daemon, const Generation& gen, const Page& page, Columns& t) {
            const dp::Snapshot& snap = *gen.snapshot;
            size_t row = 0;
            for (size_t i = 0; i < snap.services.size() && row < page.offset + page.count; ++i) {
                const size_t servers = snap.services[i].servers.size();
                if (row + servers <= page.offset) {  // the whole service is before the page
                    row += servers;
                    continue;
                }
                for (size_t j = 0; j < servers; ++j) {
                    if (!page.contains(row++)) {
                        continue;
                    }
                    const dp::Destination& dest = snap.services[i].servers[j];
                    const Service& service = gen.config.services[i];
                    const auto [address, port] = server_endpoint(service, j);
                    t.u64("service_id", snap.services[i].service_id);
                    t.text("service", service.name);
                    t.text("address", format_ip_address(address));
                    t.u64("port", port);
                    t.u64("weight", dest.weight);
                    add_health(t, daemon, service, j, dest);
                    add_counters(t, daemon.workers().dest_totals(dest.dest_id));
                    add_rates(t, daemon.rates().rates(dest.dest_id));
                }
            }
        });
}

std::string endpoint_text(uint32_t ip, uint16_t port) {
    return format_ipv4(__builtin_bswap32(ip)) + ":" + std::to_string(__builtin_bswap16(port));
}

// "[2001:2:0:18::100]:80", as ipvsadm writes an IPv6 endpoint.
std::string endpoint_text(const Ipv6& ip, uint16_t port) {
    return format_endpoint(IpAddress::of(ip), __builtin_bswap16(port));
}

// Connections, by column, one page at a time: /vsnat/conns,OFFSET,COUNT. A page is small
// enough for DPDK's 16 kB reply limit; the table may change between pages, as ipvsadm's may.
int handle_conns(const char*, const char* params, rte_tel_data* d) {
    constexpr uint32_t kPageRows = 128;
    const DaemonCall daemon;
    if (!daemon) {
        return -1;
    }
    const Page page = parse_page(params, kPageRows);
    const auto rows = daemon->workers().dump_connections(page.offset + page.count);
    Columns t(d);
    for (size_t i = page.offset; i < rows.size(); ++i) {
        const uint32_t expires_in_ms = rows[i].expires_in_ms;
        std::visit(
            [&](const auto& c) {
                t.text("protocol", c.protocol == 6 ? "TCP" : "UDP");
                t.u64("expire_s", (expires_in_ms + 999) / 1000);
                t.text("state", std::string(dp::conn_state_name(c.state)));
                t.text("source", endpoint_text(c.client_ip, c.client_port));
                t.text("virtual", endpoint_text(c.vip, c.vport));
                t.text("destination", endpoint_text(c.rip, c.rport));
            },
            rows[i].conn);
    }
    return 0;
}

// The neighbor tables by column, one page at a time: /vsnat/neighbors,OFFSET,COUNT (like
// `ip neigh`), IPv4's rows, then IPv6's; `size` and `capacity` are IPv4's, `size6` and
// `capacity6` IPv6's. The tables may change between pages. Read without locks, as the workers
// read them.
int handle_neighbors(const char*, const char* params, rte_tel_data* d) {
    constexpr uint32_t kPageRows = 128;
    const DaemonCall daemon;
    if (!daemon) {
        return -1;
    }
    const dp::NeighborTable& table = daemon->neighbors();
    const dp::NeighborTable6& table6 = daemon->neighbors6();
    const Page page = parse_page(params, kPageRows);
    Columns t(d);
    t.scalar("size", table.size());
    t.scalar("capacity", table.capacity());
    t.scalar("size6", table6.size());
    t.scalar("capacity6", table6.capacity());
    size_t row = 0;
    auto add = [&](const std::string& address, uint16_t port_id, const MacAddress& mac,
                   dp::NeighborKind kind) {
        if (page.contains(row++)) {
            t.text("address", address);
            t.u64("port", port_id);
            t.text("mac", format_mac(mac));
            t.text("kind", std::string(dp::neighbor_kind_name(kind)));
        }
    };
    table.for_each(
        [&](uint16_t port_id, uint32_t ip, const MacAddress& mac, dp::NeighborKind kind) {
            add(format_ipv4(__builtin_bswap32(ip)), port_id, mac, kind);
        });
    table6.for_each([&](uint16_t port_id, const Ipv6& ip, const MacAddress& mac,
                        dp::NeighborKind kind) { add(format_ipv6(ip), port_id, mac, kind); });
    return 0;
}

// The kernel mirrors by column (README.md, "The kernel side of the director"): one row per
// port with a mirror, every counter of VSNAT_MIRROR_COUNTERS.
int handle_kernel(const char*, const char*, rte_tel_data* d) {
    const DaemonCall daemon;
    if (!daemon) {
        return -1;
    }
    const KernelMirrors& kernel = daemon->kernel_mirrors();
    Columns t(d);
    t.scalar("mirrors", kernel.mirrors().size());
    t.scalar_text("netns", kernel.netns_name());
    for (const KernelMirrors::Mirror& m : kernel.mirrors()) {
        t.text("interface", m.interface);
        t.u64("port", m.port_id);
        t.text("kernel", m.name);
        t.text("kernel_type", std::string(kernel_type_name(m.type)));
        t.u64("mirror_port", m.mirror_port_id);
        const MirrorTotals totals = kernel.totals(m.port_id, daemon->workers().contexts());
        for (size_t i = 0; i < kMirrorCounterCount; ++i) {
            t.u64(std::string(kMirrorCounters[i].name).c_str(), totals[i]);
        }
    }
    return 0;
}

// Connection sync (README.md, "A pair of directors"): whether it runs, where it sends, and the
// sync thread's counters (the workers' are in /vsnat/stats, sync_*).
int handle_sync(const char*, const char*, rte_tel_data* d) {
    const DaemonCall daemon;
    if (!daemon) {
        return -1;
    }
    const SyncDaemon& sync = daemon->sync();
    Columns t(d);
    t.scalar("active", sync.active() ? 1 : 0);
    if (!sync.active()) {
        return 0;
    }
    const SyncConfig& config = sync.config();
    std::string to = config.group ? format_ipv4(*config.group) : std::string();
    for (const Ipv4 peer : config.peers) {
        to += (to.empty() ? "" : " ") + format_ipv4(peer);
    }
    t.scalar_text("interface", config.interface);
    t.scalar_text("to", to);
    t.scalar("port", config.port);
    t.scalar("syncid", config.syncid);
    const SyncTotals totals = sync.totals();
    for (size_t i = 0; i < kSyncCounterCount; ++i) {
        t.scalar(std::string(kSyncCounters[i].name).c_str(), totals[i]);
    }
    return 0;
}

static_assert(kTelemetryStringBytes == RTE_TEL_MAX_STRING_LEN - 1);
static_assert(kMaxServiceNameBytes == kTelemetryStringBytes, "service names must not be cut");

// Re-reads the config file now; answers {"applied": 0|1, "pieces": [...], "messages": [...]}.
// A message longer than a telemetry string goes in pieces ("pieces": how many each took, for
// vsnatctl to join). DPDK cuts a reply at 16 kB: messages past what fits are left out, and a
// last one says how many (vsnatd's log has them all).
int handle_reload(const char*, const char*, rte_tel_data* d) {
    // Of the 16 kB, what the messages may take: the rest is for the keys and "applied".
    constexpr size_t kBudget = 15 * 1024;
    const DaemonCall daemon;
    if (!daemon) {
        return -1;
    }
    const ReloadResult r = daemon->request_reload();
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_u64(d, "applied", r.applied ? 1 : 0);
    rte_tel_data* counts = rte_tel_data_alloc();
    rte_tel_data* messages = rte_tel_data_alloc();
    rte_tel_data_start_array(counts, RTE_TEL_U64_VAL);
    rte_tel_data_start_array(messages, RTE_TEL_STRING_VAL);
    auto add = [&](const std::vector<std::string>& pieces) {
        for (const std::string& p : pieces) {
            rte_tel_data_add_array_string(messages, p.c_str());
        }
        rte_tel_data_add_array_u64(counts, pieces.size());
    };
    const std::string left_out =
        " more messages did not fit in the telemetry reply: vsnatd's "
        "log has them, and so has vsnatd -c FILE --check";
    size_t used = 0;
    size_t sent = 0;
    for (const std::string& m : r.messages) {
        const std::vector<std::string> pieces = telemetry_pieces(m);
        size_t bytes = 0;
        for (const std::string& p : pieces) {
            bytes += telemetry_json_bytes(p) + 4;  // and its count
        }
        if (used + bytes + telemetry_json_bytes(left_out) + 32 > kBudget) {
            break;
        }
        add(pieces);
        used += bytes;
        ++sent;
    }
    if (sent < r.messages.size()) {
        add(telemetry_pieces(std::to_string(r.messages.size() - sent) + left_out));
    }
    rte_tel_data_add_dict_container(d, "pieces", counts, 0);
    rte_tel_data_add_dict_container(d, "messages", messages, 0);
    return 0;
}

}  // namespace

bool register_telemetry(Daemon& daemon, std::string& error) {
    struct Command {
        const char* name;
        telemetry_cb handler;
        const char* help;
    };
    static const Command kCommands[] = {
        {"/vsnat/conns", handle_conns,
         "Connections by column, like ipvsadm -L -c. Parameters: offset,count (count <= 128)"},
        {"/vsnat/reload", handle_reload, "Re-read the configuration file. No parameters"},
        {"/vsnat/stats", handle_stats,
         "Per-worker packet, connection and drop counters, by column. No parameters"},
        {"/vsnat/services", handle_services,
         "Per-service counters, by column. Parameters: offset,count (count <= 32)"},
        {"/vsnat/real_servers", handle_real_servers,
         "Per-real-server counters, by column. Parameters: offset,count (count <= 32)"},
        {"/vsnat/kernel", handle_kernel,
         "The ports' kernel mirrors and their counters, by column. No parameters"},
        {"/vsnat/sync", handle_sync,
         "Connection sync: where it sends and the sync thread's counters. No parameters"},
        {"/vsnat/neighbors", handle_neighbors,
         "The neighbor table, by column. Parameters: offset,count (count <= 128)"},
    };
    registration().attach(daemon);
    for (const Command& c : kCommands) {
        if (const int rc = rte_telemetry_register_cmd(c.name, c.handler, c.help); rc != 0) {
            error = std::string("cannot register telemetry command ") + c.name + ": " +
                    rte_strerror(-rc);
            return false;
        }
    }
    return true;
}

void unregister_telemetry() {
    registration().detach();
}

}  // namespace vsnat::cp
