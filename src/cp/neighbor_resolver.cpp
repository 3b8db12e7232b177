#include "cp/neighbor_resolver.hpp"

#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <spdlog/spdlog.h>

#include "dp/pipeline.hpp"

namespace vsnat::cp {
namespace {

constexpr uint64_t kUnresolvedRetryMs = 1000;
constexpr uint64_t kRefreshMs = 30000;

std::string ip_text(uint32_t network_order) {
    return format_ipv4(__builtin_bswap32(network_order));
}

}  // namespace

void NeighborResolver::configure(const Config& config, const std::vector<PortBinding>& ports,
                                 const dp::Snapshot& snapshot) {
    static_ips_.clear();
    for (const Neighbor& n : config.neighbors) {
        static_ips_.insert(to_network(n.address));
        for (size_t i = 0; i < config.interfaces.size(); ++i) {
            if (config.interfaces[i].name == n.interface &&
                table_.set(ports[i].port_id, to_network(n.address), n.mac) ==
                    dp::NeighborTable::SetResult::full) {
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
    for (const auto& [port, ip] : hops) {
        if (!static_ips_.contains(ip)) {
            next_hops_.push_back({port, ip});
        }
    }
}

void NeighborResolver::poll(rte_ring* sightings, rte_ring* arp_orders, uint64_t now_ms) {
    learn(sightings);
    order(arp_orders, now_ms);
}

void NeighborResolver::learn(rte_ring* sightings) {
    dp::NeighborSighting seen[64];
    unsigned n;
    while ((n = rte_ring_sc_dequeue_burst_elem(sightings, seen, sizeof(dp::NeighborSighting), 64,
                                               nullptr)) > 0) {
        for (unsigned i = 0; i < n; ++i) {
            const dp::NeighborSighting& s = seen[i];
            const auto known = table_.find(s.port_id, s.ip);
            if (static_ips_.contains(s.ip) || (known && *known == s.mac)) {
                continue;
            }
            if (table_.set(s.port_id, s.ip, s.mac) == dp::NeighborTable::SetResult::full) {
                spdlog::warn("neighbor table full: {} not learned", ip_text(s.ip));
                continue;
            }
            spdlog::info("neighbor {} is at {} (port {})", ip_text(s.ip), format_mac(s.mac),
                         s.port_id);
        }
    }
}

void NeighborResolver::order(rte_ring* arp_orders, uint64_t now_ms) {
    for (NextHop& hop : next_hops_) {
        const bool known = table_.find(hop.port_id, hop.ip).has_value();
        const uint64_t interval = known ? kRefreshMs : kUnresolvedRetryMs;
        if (hop.last_request_ms != 0 && now_ms - hop.last_request_ms < interval) {
            continue;
        }
        uint64_t order = (static_cast<uint64_t>(hop.port_id) << 32) | hop.ip;
        if (rte_ring_sp_enqueue_elem(arp_orders, &order, sizeof order) == 0) {
            hop.last_request_ms = now_ms;
        }
    }
}

}  // namespace vsnat::cp
