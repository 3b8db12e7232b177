#include "cp/memory_budget.hpp"

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "cp/kernel_mirrors.hpp"
#include "cp/snapshot_builder.hpp"
#include "cp/sync_daemon.hpp"
#include "cp/workers.hpp"
#include "dp/alg/expectation.hpp"
#include "dp/alg/ftp_control.hpp"
#include "dp/conn_sync.hpp"
#include "dp/conn_table.hpp"
#include "dp/fragments.hpp"
#include "dp/heap.hpp"
#include "dp/neighbor.hpp"
#include "dp/persistence.hpp"
#include "dp/pipeline.hpp"
#include "dp/snapshot.hpp"

namespace vsnat::cp {
namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

// A string's heap: none while it fits std::string's own 15 bytes.
size_t string_bytes(const std::string& s) {
    return s.size() <= 15 ? 0 : dp::malloc_bytes(s.size() + 1);
}

// A health check's heap: its strings and its command. An exec check of 32 short arguments on
// each of 65,535 services and their real servers holds 130 MiB.
uint64_t check_bytes(const std::optional<HealthCheck>& check) {
    if (!check) {
        return 0;
    }
    uint64_t bytes = string_bytes(check->path) + string_bytes(check->payload) +
                     dp::malloc_bytes(check->command.size() * sizeof(std::string));
    for (const std::string& argument : check->command) {
        bytes += string_bytes(argument);
    }
    return bytes;
}

// One copy of the configuration (vsnatd keeps two: the one in force and the generation's).
uint64_t config_bytes(const Config& config) {
    uint64_t bytes = dp::malloc_bytes(config.services.size() * sizeof(Service)) +
                     dp::malloc_bytes(config.interfaces.size() * sizeof(Interface)) +
                     dp::malloc_bytes(config.neighbors.size() * sizeof(Neighbor)) +
                     dp::malloc_bytes(config.eal.size() * sizeof(std::string));
    for (const Service& s : config.services) {
        bytes += string_bytes(s.name) +
                 dp::malloc_bytes(s.real_servers.size() * sizeof(RealServer)) +
                 check_bytes(s.health_check);
        for (const RealServer& rs : s.real_servers) {
            bytes += check_bytes(rs.health_check);
        }
    }
    for (const Interface& i : config.interfaces) {
        bytes += string_bytes(i.name) + string_bytes(i.device) +
                 dp::malloc_bytes(i.floating.size() * sizeof(Prefix)) +
                 dp::malloc_bytes(i.floating6.size() * sizeof(Prefix6));
    }
    if (config.ha.sync) {
        bytes += string_bytes(config.ha.sync->interface) +
                 dp::malloc_bytes(config.ha.sync->peers.size() * sizeof(Ipv4));
    }
    for (const Neighbor& n : config.neighbors) {
        bytes += string_bytes(n.interface);
    }
    for (const std::string& e : config.eal) {
        bytes += string_bytes(e);
    }
    return bytes;
}

uint64_t snapshot_bytes(const Config& config, std::string& detail) {
    std::vector<dp::ServiceShape> shapes;
    size_t mh = 0;
    for (const Service& s : config.services) {
        shapes.push_back({dataplane_scheduler(s.scheduler),
                          static_cast<uint32_t>(s.real_servers.size() + (s.sorry_server ? 1 : 0)),
                          s.vip.is_v6});
        mh += s.scheduler == Scheduler::mh ? 1 : 0;
    }
    detail = std::to_string(config.services.size()) + " services";
    if (mh > 0) {
        detail += ", " + std::to_string(mh) + " of them mh (a 65537-slot table each)";
    }
    return dp::Snapshot::memory_bytes_for(shapes, config.interfaces.size(), config.workers);
}

std::optional<uint64_t> meminfo_field(std::string_view text, std::string_view name) {
    for (size_t at = 0; at < text.size();) {
        const size_t end = std::min(text.find('\n', at), text.size());
        std::string_view line = text.substr(at, end - at);
        at = end + 1;
        if (line.size() <= name.size() || line.substr(0, name.size()) != name ||
            line[name.size()] != ':') {
            continue;
        }
        line.remove_prefix(name.size() + 1);
        line.remove_prefix(std::min(line.find_first_not_of(' '), line.size()));
        uint64_t value = 0;
        const auto [rest, ec] = std::from_chars(line.data(), line.data() + line.size(), value);
        if (ec != std::errc{}) {
            return std::nullopt;
        }
        // "kB" (1024 bytes) where there is a unit; page counts have none.
        return std::string_view(rest, line.data() + line.size() - rest) == " kB" ? value << 10
                                                                                 : value;
    }
    return std::nullopt;
}

}  // namespace

std::optional<MachineMemory> parse_meminfo(std::string_view text) {
    const auto available = meminfo_field(text, "MemAvailable");
    const auto total = meminfo_field(text, "HugePages_Total");
    const auto free = meminfo_field(text, "HugePages_Free");
    const auto size = meminfo_field(text, "Hugepagesize");
    if (!available || !total || !free || !size) {
        return std::nullopt;
    }
    return MachineMemory{*available, *total, *free, *size};
}

std::optional<MachineMemory> read_machine_memory() {
    std::ifstream in("/proc/meminfo");
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    return parse_meminfo(text);
}

unsigned mirror_count(const Config& config) {
    return static_cast<unsigned>(
        std::count_if(config.interfaces.begin(), config.interfaces.end(),
                      [](const Interface& in) { return !in.kernel.empty(); }));
}

unsigned packet_buffer_count(const Config& config) {
    // A power of two minus one is the mempool's most efficient size. `packet_buffers` only
    // ever raises it, exactly (a net_pcap port with infinite_rx holds its whole file).
    const auto ports = static_cast<unsigned>(config.interfaces.size());
    const unsigned workers = config.workers;
    const unsigned punt_rings = mirror_count(config) > 0 ? workers * dp::kPuntClasses : 0;
    const unsigned needed = ports * workers * 2048 +
                            workers * workers * Workers::kHandoverRingSize +
                            punt_rings * KernelMirrors::kPuntRingSize + (workers + 1) * 512 + 4096;
    return std::max<unsigned>(std::bit_ceil(needed) - 1, config.packet_buffers);
}

MemoryNeed memory_need(const Config& config) {
    MemoryNeed need;
    need.hugepages =
        std::find(config.eal.begin(), config.eal.end(), "--no-huge") == config.eal.end();
    const uint32_t workers = config.workers;
    const uint32_t per_worker = std::max<uint32_t>(config.max_connections / workers, 1);
    auto add = [&need](std::string what, std::string detail, uint64_t bytes, bool eal) {
        (eal ? need.eal : need.ordinary) += bytes;
        need.parts.push_back(MemoryPart{std::move(what), std::move(detail), bytes, eal});
    };

    add("connection tables",
        std::to_string(config.max_connections) + " connections, " + std::to_string(workers) +
            (workers == 1 ? " table" : " tables of " + std::to_string(per_worker)),
        uint64_t{workers} * dp::ConnTable::memory_bytes_for(per_worker), true);
    if (ipv6_configured(config)) {
        add("IPv6 connection tables", "as many connections again, IPv6 ones",
            uint64_t{workers} * dp::ConnTable6::memory_bytes_for(per_worker), true);
    }
    const unsigned mbufs = packet_buffer_count(config);
    const uint32_t mbuf_bytes =
        rte_mempool_calc_obj_size(sizeof(rte_mbuf) + RTE_MBUF_DEFAULT_BUF_SIZE, 0, nullptr);
    add("packet buffers", std::to_string(mbufs) + " of " + std::to_string(mbuf_bytes) + " bytes",
        uint64_t{mbufs} * (mbuf_bytes + sizeof(void*)), true);  // and the pool's ring
    const uint64_t rings =
        uint64_t{workers} * (workers - 1) * Workers::kHandoverRingSize * sizeof(void*) +
        4096 * sizeof(dp::NeighborSighting) +
        workers * 256 * (sizeof(uint64_t) + sizeof(dp::NeighborSolicitOrder));
    add("rings", "handover between workers, ARP and neighbor discovery", rings, true);
    if (const unsigned mirrors = mirror_count(config); mirrors > 0) {
        const unsigned buffers = mirrors * KernelMirrors::kBuffersPerMirror;
        const uint64_t mirror_rings =
            (uint64_t{workers} * dp::kPuntClasses * KernelMirrors::kPuntRingSize +
             KernelMirrors::kToPortsRingSize) *
            sizeof(void*);
        add("kernel mirrors",
            std::to_string(mirrors) + " mirrors: " + std::to_string(buffers) +
                " packet buffers and their rings",
            uint64_t{buffers} * (mbuf_bytes + sizeof(void*)) + mirror_rings, true);
    }

    if (config.ha.sync) {
        // Each worker's rings to and from the sync thread, and its packet counts per connection.
        const uint64_t connections = uint64_t{per_worker} * (ipv6_configured(config) ? 2 : 1);
        add("connection sync rings",
            "each worker's rings of " + std::to_string(SyncDaemon::kRingSize) + " records each way",
            workers * (2 * uint64_t{SyncDaemon::kRingSize} * sizeof(dp::sync::AnyRecord)), true);
        add("connection sync counts", "a byte per connection and an outbox per worker",
            workers * (dp::malloc_bytes(connections) + dp::malloc_bytes(sizeof(dp::ConnSync))),
            false);
    }
    // One table per family, shared by the workers: how the later fragments of a datagram
    // follow its first.
    const bool ipv6 = ipv6_configured(config);
    add("fragment tables", ipv6 ? "IPv4 and IPv6" : "IPv4",
        dp::FragmentTable::memory_bytes() + (ipv6 ? dp::FragmentTable6::memory_bytes() : 0), false);
    const uint32_t templates = std::min(config.max_connections, dp::PersistenceTable::kMaxCapacity);
    add("persistence table", std::to_string(templates) + " templates",
        dp::PersistenceTable::memory_bytes_for(templates), false);
    if (ipv6_configured(config)) {
        add("IPv6 persistence table", "as many templates again, IPv6 ones",
            dp::PersistenceTable6::memory_bytes_for(templates), false);
    }
    // Each worker's counters for every real server id, its FTP control states, its queues of
    // evictable connections and its table-share counts; the FTP expectations (IPv6's too, with
    // IPv6) and the neighbor table, shared.
    const uint64_t ftp_controls = std::min(per_worker, dp::FtpControlPool::kMaxCapacity) + 1;
    const uint64_t evictable_ids = std::bit_ceil(std::min(per_worker, Workers::kMaxUnanswered));
    const uint64_t families = ipv6_configured(config) ? 2 : 1;  // evictable connections of each
    const uint64_t worker_bytes =
        dp::malloc_bytes(dp::kMaxDestinations * sizeof(dp::DestCounters)) +
        dp::malloc_bytes(ftp_controls * sizeof(dp::FtpControl)) +
        dp::malloc_bytes(ftp_controls * sizeof(uint16_t)) +
        families * 2 * dp::malloc_bytes(evictable_ids * sizeof(uint32_t)) +
        dp::malloc_bytes(dp::TableShareCounts::kPrefixBuckets * sizeof(uint32_t)) +
        dp::malloc_bytes(sizeof(dp::WorkerContext));
    add("worker state", "counters per real server id, FTP, evictable connections, table shares",
        workers * worker_bytes + dp::ExpectationTable::memory_bytes() +
            (ipv6_configured(config) ? dp::ExpectationTable6::memory_bytes() : 0) + 4096 * 16,
        false);

    std::string detail;
    const uint64_t snapshot = snapshot_bytes(config, detail);
    const uint64_t copy = config_bytes(config);
    add("snapshot", detail + "; a reload holds two", snapshot, false);
    add("configuration", "two copies", 2 * copy, false);
    need.reload = snapshot + copy;
    return need;
}

std::string format_bytes(uint64_t bytes) {
    char out[32];
    const auto value = static_cast<double>(bytes);
    if (bytes >= (kMiB << 10)) {
        std::snprintf(out, sizeof out, "%.1f GiB", value / static_cast<double>(kMiB << 10));
    } else if (bytes >= kMiB) {
        std::snprintf(out, sizeof out, "%.1f MiB", value / static_cast<double>(kMiB));
    } else {
        std::snprintf(out, sizeof out, "%.1f KiB", value / 1024);
    }
    return out;
}

// "(the largest: snapshot, 8.4 GiB for 65535 services)" among the parts in EAL memory or not.
std::string largest(const MemoryNeed& need, bool eal_parts, bool ordinary_parts) {
    const MemoryPart* top = nullptr;
    for (const MemoryPart& p : need.parts) {
        if ((p.eal ? eal_parts : ordinary_parts) && (top == nullptr || p.bytes > top->bytes)) {
            top = &p;
        }
    }
    return top == nullptr ? ""
                          : " (the largest part: " + top->what + ", " + format_bytes(top->bytes) +
                                " for " + top->detail + ")";
}

MemoryVerdict check_start(const MemoryNeed& need, const MachineMemory& machine) {
    MemoryVerdict verdict;
    const uint64_t ordinary = need.ordinary + (need.hugepages ? 0 : need.eal);
    const std::string available = format_bytes(machine.available) + " available (MemAvailable)";
    if (ordinary > machine.available) {
        verdict.refusal = "needs " + format_bytes(ordinary) + " of memory" +
                          largest(need, !need.hugepages, true) + ", more than the " + available;
        return verdict;
    }
    if (!need.hugepages) {
        return verdict;
    }
    const uint64_t reserved = machine.hugepages_total * machine.hugepage_size;
    const uint64_t could_reserve = machine.available - ordinary;
    if (need.eal > reserved + could_reserve) {
        verdict.refusal = "needs " + format_bytes(need.eal) + " of hugepages" +
                          largest(need, true, false) + ", more than the " + format_bytes(reserved) +
                          " reserved and the " + format_bytes(could_reserve) +
                          " more that could be (MemAvailable)";
    } else if (need.eal > reserved && machine.hugepage_size > 0) {
        const uint64_t pages = (need.eal + machine.hugepage_size - 1) / machine.hugepage_size;
        verdict.advice = "reserve at least " + std::to_string(pages) + " hugepages of " +
                         format_bytes(machine.hugepage_size) + " before starting it (" +
                         std::to_string(machine.hugepages_total) +
                         " are; scripts/hugepages.sh PAGES)";
    }
    return verdict;
}

std::optional<std::string> check_reload(const MemoryNeed& need, const MachineMemory& machine) {
    if (need.reload <= machine.available) {
        return std::nullopt;
    }
    return "the new configuration needs " + format_bytes(need.reload) +
           " more while the running one is held, more than the " + format_bytes(machine.available) +
           " available (MemAvailable)";
}

}  // namespace vsnat::cp
