#include "cp/neighbor_resolver.hpp"

#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace vsnat::cp {
namespace {

constexpr uint64_t kUnresolvedRetryMs = 1000;
constexpr uint64_t kRefreshMs = 30000;
// Reports taken per tick at most (the ring's size): a flood of them cannot hold up the rest of
// the control loop, and what is left waits for the next tick.
constexpr unsigned kReportBatch = 64;
constexpr unsigned kReportBatchesPerPoll = 64;

std::string ip_text(uint32_t network_order) {
    return format_ipv4(__builtin_bswap32(network_order));
}

constexpr int kAwaitedSlotBits = 12;  // 4096 addresses awaited at once, at most

size_t awaited_slot(uint64_t key) {
    return static_cast<size_t>((key * 0x9e3779b97f4a7c15ULL) >> (64 - kAwaitedSlotBits));
}

}  // namespace

NeighborResolver::NeighborResolver() : awaited_(size_t{1} << kAwaitedSlotBits) {}

void NeighborResolver::configure(const Config& config, const std::vector<PortBinding>& ports,
                                 const dp::Snapshot& snapshot, uint64_t now_ms) {
    table_.unpin_all(now_ms);
    static_ips_.clear();
    for (const Neighbor& n : config.neighbors) {
        static_ips_.insert(to_network(n.address));
        for (size_t i = 0; i < config.interfaces.size(); ++i) {
            if (config.interfaces[i].name == n.interface &&
                table_.set(ports[i].port_id, to_network(n.address), n.mac, dp::NeighborKind::fixed,
                           now_ms) == dp::NeighborTable::SetResult::full) {
                spdlog::warn("neighbor table full: static neighbor {} not set",
                             format_ipv4(n.address));
            }
        }
    }
    std::set<std::pair<uint16_t, uint32_t>> hops;
    for (const dp::ServiceEntry& s : snapshot.services) {
        for (const dp::Destination& d : s.servers) {
            uint32_t next_hop = 0;
            if (const dp::InterfaceEntry* out = snapshot.route(d.ip, next_hop)) {
                hops.insert({out->port_id, next_hop});
            }
        }
    }
    for (const dp::InterfaceEntry& in : snapshot.interfaces) {
        if (in.gateway != 0) {
            hops.insert({in.port_id, in.gateway});
        }
    }
    next_hops_.clear();
    next_hop_keys_.clear();
    for (const auto& [port, ip] : hops) {
        if (!static_ips_.contains(ip)) {
            next_hops_.push_back({port, ip});
            next_hop_keys_.insert(key_of(port, ip));
            table_.set_kind(port, ip, dp::NeighborKind::next_hop, now_ms);
        }
    }
}

void NeighborResolver::poll(rte_ring* sightings, rte_ring* arp_orders, uint64_t now_ms) {
    dp::NeighborSighting reports[kReportBatch];
    for (unsigned batch = 0; batch < kReportBatchesPerPoll; ++batch) {
        const unsigned n = rte_ring_sc_dequeue_burst_elem(
            sightings, reports, sizeof(dp::NeighborSighting), kReportBatch, nullptr);
        if (n == 0) {
            break;
        }
        take({reports, n}, now_ms);
    }
    request(now_ms, [arp_orders](uint16_t port_id, uint32_t ip) {
        uint64_t order = (static_cast<uint64_t>(port_id) << 32) | ip;
        return rte_ring_sp_enqueue_elem(arp_orders, &order, sizeof order) == 0;
    });
    flush_log(now_ms);
}

void NeighborResolver::take(std::span<const dp::NeighborSighting> reports, uint64_t now_ms) {
    using Result = dp::NeighborTable::SetResult;
    for (const dp::NeighborSighting& s : reports) {
        if (s.kind == dp::NeighborSighting::Kind::asked) {
            await(s.port_id, s.ip, now_ms);
            continue;
        }
        if (static_ips_.contains(s.ip)) {
            continue;
        }
        const bool next_hop = next_hop_keys_.contains(key_of(s.port_id, s.ip));
        const auto known = table_.find(s.port_id, s.ip);
        if (!next_hop && !known && !awaited(s.port_id, s.ip, now_ms)) {
            may_log(Event::ignored, now_ms);  // never a line of its own
            continue;
        }
        const auto kind = next_hop
                              ? dp::NeighborKind::next_hop
                              : table_.kind(s.port_id, s.ip).value_or(dp::NeighborKind::learned);
        switch (table_.set(s.port_id, s.ip, s.mac, kind, now_ms)) {
            case Result::added:
                if (may_log(Event::learned, now_ms)) {
                    spdlog::info("neighbor {} is at {} (port {})", ip_text(s.ip), format_mac(s.mac),
                                 s.port_id);
                }
                break;
            case Result::changed:
                if (may_log(Event::changed, now_ms)) {
                    spdlog::info("neighbor {} moved from {} to {} (port {})", ip_text(s.ip),
                                 format_mac(known.value_or(s.mac)), format_mac(s.mac), s.port_id);
                }
                break;
            case Result::confirmed:
                break;
            case Result::full:
                if (may_log(Event::full, now_ms)) {
                    spdlog::warn("neighbor table full ({} entries): {} not learned",
                                 table_.capacity(), ip_text(s.ip));
                }
                break;
        }
    }
}

void NeighborResolver::request(uint64_t now_ms,
                               const std::function<bool(uint16_t, uint32_t)>& send) {
    for (NextHop& hop : next_hops_) {
        const bool known = table_.find(hop.port_id, hop.ip).has_value();
        const uint64_t interval = known ? kRefreshMs : kUnresolvedRetryMs;
        if (hop.last_request_ms != 0 && now_ms - hop.last_request_ms < interval) {
            continue;
        }
        if (send(hop.port_id, hop.ip)) {
            hop.last_request_ms = now_ms;
            await(hop.port_id, hop.ip, now_ms);
        }
    }
    if (last_aging_ms_ != 0 && now_ms - last_aging_ms_ < kAgingIntervalMs) {
        return;
    }
    last_aging_ms_ = now_ms;
    using What = dp::NeighborAging::What;
    table_.age(now_ms, [&](const dp::NeighborAging& a) {
        if (a.what == What::probe) {
            if (!send(a.port_id, a.ip)) {
                return false;
            }
            await(a.port_id, a.ip, now_ms);
            return true;
        }
        if (may_log(Event::expired, now_ms)) {
            spdlog::info("neighbor {} ({}, port {}) removed: {}", ip_text(a.ip), format_mac(a.mac),
                         a.port_id,
                         a.what == What::expired_idle ? "not used for 60 s"
                                                      : "did not answer 3 ARP requests");
        }
        return true;
    });
}

void NeighborResolver::flush_log(uint64_t now_ms) {
    if (now_ms - log_window_ms_ < kLogWindowMs) {
        return;
    }
    auto count = [this](Event e) { return unlogged_[static_cast<size_t>(e)]; };
    bool any = false;
    for (uint64_t n : unlogged_) {
        any |= n != 0;
    }
    if (any) {
        spdlog::info(
            "neighbors in the last {} s, not logged one by one: {} learned, {} moved to another "
            "MAC, {} removed, {} not learned (table full), {} ARP senders ignored (not asked "
            "for); {} of {} entries in use",
            (now_ms - log_window_ms_) / 1000, count(Event::learned), count(Event::changed),
            count(Event::expired), count(Event::full), count(Event::ignored), table_.size(),
            table_.capacity());
    }
    log_window_ms_ = now_ms;
    log_lines_ = 0;
    std::fill(std::begin(unlogged_), std::end(unlogged_), 0);
}

bool NeighborResolver::may_log(Event event, uint64_t now_ms) {
    flush_log(now_ms);
    if (event != Event::ignored && log_lines_ < kLogLines) {
        ++log_lines_;
        return true;
    }
    ++unlogged_[static_cast<size_t>(event)];
    return false;
}

void NeighborResolver::await(uint16_t port_id, uint32_t ip, uint64_t now_ms) {
    const uint64_t key = key_of(port_id, ip);
    awaited_[awaited_slot(key)] = {key, now_ms};
}

bool NeighborResolver::awaited(uint16_t port_id, uint32_t ip, uint64_t now_ms) const {
    const uint64_t key = key_of(port_id, ip);
    const Awaited& a = awaited_[awaited_slot(key)];
    return a.key == key && now_ms - a.since_ms < kAwaitMs;
}

}  // namespace vsnat::cp
