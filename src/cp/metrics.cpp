#include "cp/metrics.hpp"

#include <array>
#include <optional>
#include <sstream>
#include <vector>

#include "cp/daemon.hpp"
#include "cp/snapshot_builder.hpp"

namespace vsnat::cp {
namespace {

class Exposition {
  public:
    // Each family's HELP and TYPE come once, before its first sample.
    void sample(const char* family, const char* type, const char* help, const std::string& labels,
                uint64_t value) {
        if (last_family_ != family) {
            out_ << "# HELP " << family << ' ' << help << "\n# TYPE " << family << ' ' << type
                 << '\n';
            last_family_ = family;
        }
        out_ << family;
        if (!labels.empty()) {
            out_ << '{' << labels << '}';
        }
        out_ << ' ' << value << '\n';
    }
    std::string text() const { return out_.str(); }

  private:
    std::ostringstream out_;
    std::string last_family_;
};

std::string label(const char* name, const std::string& value) {
    return std::string(name) + "=\"" + escape_label_value(value) + "\"";
}

std::string service_labels(const Service& s) {
    return label("service", s.name) + "," +
           label("protocol", std::string(protocol_name(s.protocol))) + "," +
           label("vip", format_ip_address(s.vip)) + "," + label("port", std::to_string(s.port));
}

// What the families below read of one real server (or sorry server).
struct ServerSample {
    dp::DestCounters counters;
    std::optional<ServerHealthView> health;  // none: no check
    bool down = false;                       // by its check; a sorry server: on standby
};

// One family at a time over every real server, as the format wants families contiguous; a
// server `value` gives nothing for is left out of the family.
template <typename Value>
void real_server_family(Exposition& e, const Daemon& d, const char* family, const char* type,
                        const char* help, Value value) {
    const auto gen = d.generation();
    const dp::Snapshot& snap = *gen->snapshot;
    for (size_t i = 0; i < snap.services.size(); ++i) {
        const Service& s = gen->config.services[i];
        for (size_t j = 0; j < snap.services[i].servers.size(); ++j) {
            const dp::Destination& dest = snap.services[i].servers[j];
            ServerSample sample{d.workers().dest_totals(dest.dest_id), std::nullopt, dest.down};
            if (j < s.real_servers.size()) {
                sample.health = d.health().view(s.real_servers[j]);
            }
            const std::optional<uint64_t> v = value(sample);
            if (!v) {
                continue;
            }
            const auto [address, port] = server_endpoint(s, j);
            const std::string labels =
                service_labels(s) + "," + label("real_server", format_endpoint(address, port)) +
                (j < s.real_servers.size() ? "" : "," + label("role", "sorry"));
            e.sample(family, type, help, labels, *v);
        }
    }
}

uint64_t non_negative(int64_t v) {
    return v < 0 ? 0 : static_cast<uint64_t>(v);
}

// Every worker counter of vsnat/counters.hpp, as vsnat_worker_<name>_total{worker="N"}.
void worker_counter_families(Exposition& e, const Daemon& d) {
    const auto& contexts = d.workers().contexts();
    std::vector<std::array<uint64_t, kWorkerCounterCount>> values;
    for (const dp::WorkerContext* w : contexts) {
        values.push_back(w->counters.values());
    }
    for (size_t i = 0; i < kWorkerCounterCount; ++i) {
        const std::string family =
            "vsnat_worker_" + std::string(kWorkerCounters[i].name) + "_total";
        const std::string help(kWorkerCounters[i].help);
        for (size_t w = 0; w < contexts.size(); ++w) {
            e.sample(family.c_str(), "counter", help.c_str(),
                     label("worker", std::to_string(contexts[w]->worker_id)), values[w][i]);
        }
    }
}

// Every counter of each port's kernel mirror, as
// vsnat_kernel_<name>_total{interface="outside",kernel="vsn-outside"}.
void mirror_counter_families(Exposition& e, const Daemon& d) {
    const KernelMirrors& kernel = d.kernel_mirrors();
    std::vector<MirrorTotals> totals;
    for (const KernelMirrors::Mirror& m : kernel.mirrors()) {
        totals.push_back(kernel.totals(m.port_id, d.workers().contexts()));
    }
    for (size_t i = 0; i < kMirrorCounterCount; ++i) {
        const std::string family =
            "vsnat_kernel_" + std::string(kMirrorCounters[i].name) + "_total";
        const std::string help(kMirrorCounters[i].help);
        for (size_t m = 0; m < totals.size(); ++m) {
            const KernelMirrors::Mirror& mirror = kernel.mirrors()[m];
            e.sample(family.c_str(), "counter", help.c_str(),
                     label("interface", mirror.interface) + "," + label("kernel", mirror.name),
                     totals[m][i]);
        }
    }
}

// The connection sync thread's counters, as vsnat_sync_<name>_total (with ha.sync only).
void sync_counter_families(Exposition& e, const Daemon& d) {
    if (!d.sync().active()) {
        return;
    }
    const SyncTotals totals = d.sync().totals();
    for (size_t i = 0; i < kSyncCounterCount; ++i) {
        const std::string family = "vsnat_sync_" + std::string(kSyncCounters[i].name) + "_total";
        const std::string help(kSyncCounters[i].help);
        e.sample(family.c_str(), "counter", help.c_str(), "", totals[i]);
    }
}

}  // namespace

// The text format's rule for label values (Prometheus, "Exposition formats", "Text format
// details"): without it a service named `web"} 1\nvsnat_x 42` would add a series of its own.
std::string escape_label_value(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (const char c : value) {
        switch (c) {
            case '\\':
                out += "\\\\";
                break;
            case '"':
                out += "\\\"";
                break;
            case '\n':
                out += "\\n";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string render_metrics(const Daemon& d) {
    Exposition e;
    real_server_family(e, d, "vsnat_real_server_connections_total", "counter",
                       "Connections scheduled to the real server.",
                       [](const ServerSample& x) { return x.counters.connections; });
    real_server_family(e, d, "vsnat_real_server_active_connections", "gauge",
                       "Connections in ESTABLISHED (ipvsadm ActiveConn).",
                       [](const ServerSample& x) { return non_negative(x.counters.active); });
    real_server_family(e, d, "vsnat_real_server_inactive_connections", "gauge",
                       "Connections in any other state (ipvsadm InActConn).",
                       [](const ServerSample& x) { return non_negative(x.counters.inactive); });
    real_server_family(e, d, "vsnat_real_server_in_packets_total", "counter",
                       "Packets from clients forwarded to the real server.",
                       [](const ServerSample& x) { return x.counters.in_packets; });
    real_server_family(e, d, "vsnat_real_server_out_packets_total", "counter",
                       "Packets from the real server forwarded to clients.",
                       [](const ServerSample& x) { return x.counters.out_packets; });
    real_server_family(e, d, "vsnat_real_server_in_bytes_total", "counter",
                       "IP bytes from clients forwarded to the real server.",
                       [](const ServerSample& x) { return x.counters.in_bytes; });
    real_server_family(e, d, "vsnat_real_server_out_bytes_total", "counter",
                       "IP bytes from the real server forwarded to clients.",
                       [](const ServerSample& x) { return x.counters.out_bytes; });
    real_server_family(e, d, "vsnat_real_server_up", "gauge",
                       "1 while the real server takes new connections by its health check "
                       "(always, without one); a sorry server: 1 while in use.",
                       [](const ServerSample& x) { return static_cast<uint64_t>(!x.down); });
    real_server_family(e, d, "vsnat_real_server_health_checks_total", "counter",
                       "Health check probes of the real server that ended.",
                       [](const ServerSample& x) {
                           return x.health ? std::optional(x.health->probes) : std::nullopt;
                       });
    real_server_family(e, d, "vsnat_real_server_health_check_failures_total", "counter",
                       "Health check probes of the real server that failed.",
                       [](const ServerSample& x) {
                           return x.health ? std::optional(x.health->failures) : std::nullopt;
                       });
    for (size_t r = 0; r < kDropReasonCount; ++r) {
        uint64_t total = 0;
        for (const dp::WorkerContext* w : d.workers().contexts()) {
            total += w->counters.drops[r];
        }
        e.sample("vsnat_drops_total", "counter", "Packets dropped, by reason.",
                 label("reason", std::string(drop_reason_name(static_cast<DropReason>(r)))), total);
    }
    for (const dp::WorkerContext* w : d.workers().contexts()) {
        const std::string worker = label("worker", std::to_string(w->worker_id));
        const char* help = "Connections in the worker's table of the family.";
        e.sample("vsnat_worker_connections", "gauge", help, worker + "," + label("family", "ipv4"),
                 w->table->size());
        if (w->table6 != nullptr) {
            e.sample("vsnat_worker_connections", "gauge", help,
                     worker + "," + label("family", "ipv6"), w->table6->size());
        }
    }
    worker_counter_families(e, d);
    mirror_counter_families(e, d);
    sync_counter_families(e, d);
    return e.text();
}

bool MetricsServer::start(const Daemon& daemon, const std::string& address, uint16_t port,
                          std::string& error) {
    auto listener = std::make_unique<HttpListener>();
    listener->routes().Get("/metrics", [&daemon](const httplib::Request&, httplib::Response& res) {
        res.set_content(render_metrics(daemon), "text/plain; version=0.0.4");
    });
    listener->routes().Get("/healthz", [](const httplib::Request&, httplib::Response& res) {
        res.set_content("ok\n", "text/plain");
    });
    if (!listener->start(address, port, error)) {
        return false;
    }
    listener_ = std::move(listener);
    return true;
}

}  // namespace vsnat::cp
