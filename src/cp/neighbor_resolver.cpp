#include "cp/neighbor_resolver.hpp"

#include <rte_ring.h>
#include <rte_ring_elem.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <string_view>
#include <type_traits>

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

std::string ip_text(const Ipv6& ip) {
    return format_ipv6(ip);
}

// What the director asks a neighbor of the family with.
template <class Address>
constexpr std::string_view kRequests =
    std::is_same_v<Address, Ipv6> ? "neighbor solicitations" : "ARP requests";

constexpr int kAwaitedSlotBits = 12;  // 4096 addresses of each family awaited at once, at most

size_t awaited_slot(uint16_t port_id, uint32_t ip) {
    const uint64_t key = (1ULL << 63) | (static_cast<uint64_t>(port_id) << 32) | ip;
    return static_cast<size_t>((key * 0x9e3779b97f4a7c15ULL) >> (64 - kAwaitedSlotBits));
}

size_t awaited_slot(uint16_t port_id, const Ipv6& ip) {
    uint64_t high = 0, low = 0;
    std::memcpy(&high, ip.data(), 8);
    std::memcpy(&low, ip.data() + 8, 8);
    const uint64_t key = (high * 0xc2b2ae3d27d4eb4fULL) ^ low ^ port_id;
    return static_cast<size_t>((key * 0x9e3779b97f4a7c15ULL) >> (64 - kAwaitedSlotBits));
}

}  // namespace

template <class Address>
NeighborResolver::Family<Address>::Family() : awaited(size_t{1} << kAwaitedSlotBits) {}

NeighborResolver::NeighborResolver() = default;

template <class Address>
void NeighborResolver::set_static(Family<Address>& f, uint16_t port_id, const Address& ip,
                                  const MacAddress& mac, uint64_t now_ms) {
    if (f.table.set(port_id, ip, mac, dp::NeighborKind::fixed, now_ms) ==
        dp::NeighborTable::SetResult::full) {
        spdlog::warn("neighbor table full: static neighbor {} not set", ip_text(ip));
    }
}

template <class Address>
void NeighborResolver::set_next_hops(Family<Address>& f,
                                     const std::set<std::pair<uint16_t, Address>>& hops,
                                     uint64_t now_ms) {
    f.next_hops.clear();
    f.next_hop_keys.clear();
    for (const auto& [port, ip] : hops) {
        if (!f.static_ips.contains(ip)) {
            f.next_hops.push_back({port, ip});
            f.next_hop_keys.insert({port, ip});
            f.table.set_kind(port, ip, dp::NeighborKind::next_hop, now_ms);
        }
    }
}

void NeighborResolver::configure(const Config& config, const std::vector<PortBinding>& ports,
                                 const dp::Snapshot& snapshot, uint64_t now_ms,
                                 std::span<const StaticNeighbor6> statics6) {
    v4_.table.unpin_all(now_ms);
    v4_.static_ips.clear();
    for (const Neighbor& n : config.neighbors) {
        if (n.address.is_v6) {
            continue;  // into the IPv6 table below
        }
        v4_.static_ips.insert(to_network(n.address.v4));
        for (size_t i = 0; i < config.interfaces.size(); ++i) {
            if (config.interfaces[i].name == n.interface) {
                set_static(v4_, ports[i].port_id, to_network(n.address.v4), n.mac, now_ms);
            }
        }
    }
    std::set<std::pair<uint16_t, uint32_t>> hops;
    for (const dp::ServiceEntry& s : snapshot.services) {
        if (s.ipv6) {
            continue;  // next_hops6()
        }
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
    set_next_hops(v4_, hops, now_ms);
    std::vector<StaticNeighbor6> statics(statics6.begin(), statics6.end());
    for (const Neighbor& n : config.neighbors) {
        for (size_t i = 0; n.address.is_v6 && i < config.interfaces.size(); ++i) {
            if (config.interfaces[i].name == n.interface) {
                statics.push_back({ports[i].port_id, n.address.v6, n.mac});
            }
        }
    }
    configure6(statics, next_hops6(snapshot), now_ms);
}

std::vector<NeighborResolver::NextHop6> NeighborResolver::next_hops6(const dp::Snapshot& snapshot) {
    std::vector<NextHop6> hops;
    for (const dp::ServiceEntry& s : snapshot.services) {
        if (!s.ipv6) {
            continue;
        }
        for (const dp::Destination& d : s.servers) {
            Ipv6 next_hop{};
            if (const dp::InterfaceEntry* out = snapshot.route6(d.ip6, next_hop)) {
                hops.push_back({out->port_id, next_hop});
            }
        }
    }
    for (const dp::InterfaceEntry& in : snapshot.interfaces) {
        if (in.has_gateway6) {
            hops.push_back({in.port_id, in.gateway6});
        }
    }
    return hops;  // configure6() drops the repeats
}

void NeighborResolver::configure6(std::span<const StaticNeighbor6> statics,
                                  std::span<const NextHop6> next_hops, uint64_t now_ms) {
    v6_.table.unpin_all(now_ms);
    v6_.static_ips.clear();
    for (const StaticNeighbor6& n : statics) {
        v6_.static_ips.insert(n.ip);
        set_static(v6_, n.port_id, n.ip, n.mac, now_ms);
    }
    std::set<std::pair<uint16_t, Ipv6>> hops;
    for (const NextHop6& hop : next_hops) {
        hops.insert({hop.port_id, hop.ip});
    }
    set_next_hops(v6_, hops, now_ms);
}

void NeighborResolver::poll(rte_ring* sightings, rte_ring* arp_orders, uint64_t now_ms,
                            rte_ring* nd_orders) {
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
    request6(now_ms, [nd_orders](uint16_t port_id, const Ipv6& target) {
        dp::NeighborSolicitOrder order{target, port_id};
        return nd_orders != nullptr &&
               rte_ring_sp_enqueue_elem(nd_orders, &order, sizeof order) == 0;
    });
    flush_log(now_ms);
}

void NeighborResolver::take(std::span<const dp::NeighborSighting> reports, uint64_t now_ms) {
    for (const dp::NeighborSighting& s : reports) {
        if (s.ipv6) {
            take_one(v6_, s, s.ip6, now_ms);
        } else {
            take_one(v4_, s, s.ip, now_ms);
        }
    }
}

template <class Address>
void NeighborResolver::take_one(Family<Address>& f, const dp::NeighborSighting& s,
                                const Address& ip, uint64_t now_ms) {
    using Result = dp::NeighborTable::SetResult;
    if (s.kind == dp::NeighborSighting::Kind::asked) {
        await(f, s.port_id, ip, now_ms);
        return;
    }
    if (f.static_ips.contains(ip)) {
        return;
    }
    const bool next_hop = f.next_hop_keys.contains({s.port_id, ip});
    const auto known = f.table.find(s.port_id, ip);
    if (!next_hop && !known && !awaited(f, s.port_id, ip, now_ms)) {
        // Never a line of its own.
        may_log(std::is_same_v<Address, Ipv6> ? Event::ignored6 : Event::ignored, now_ms);
        return;
    }
    const auto kind = next_hop ? dp::NeighborKind::next_hop
                               : f.table.kind(s.port_id, ip).value_or(dp::NeighborKind::learned);
    switch (f.table.set(s.port_id, ip, s.mac, kind, now_ms)) {
        case Result::added:
            if (may_log(Event::learned, now_ms)) {
                spdlog::info("neighbor {} is at {} (port {})", ip_text(ip), format_mac(s.mac),
                             s.port_id);
            }
            break;
        case Result::changed:
            if (may_log(Event::changed, now_ms)) {
                spdlog::info("neighbor {} moved from {} to {} (port {})", ip_text(ip),
                             format_mac(known.value_or(s.mac)), format_mac(s.mac), s.port_id);
            }
            break;
        case Result::confirmed:
            break;
        case Result::full:
            if (may_log(Event::full, now_ms)) {
                spdlog::warn("neighbor table full ({} entries): {} not learned", f.table.capacity(),
                             ip_text(ip));
            }
            break;
    }
}

void NeighborResolver::request(uint64_t now_ms,
                               const std::function<bool(uint16_t, uint32_t)>& send) {
    request_in(v4_, now_ms, send);
}

void NeighborResolver::request6(uint64_t now_ms,
                                const std::function<bool(uint16_t, const Ipv6&)>& send) {
    request_in(v6_, now_ms, send);
}

template <class Address, class Send>
void NeighborResolver::request_in(Family<Address>& f, uint64_t now_ms, const Send& send) {
    for (auto& hop : f.next_hops) {
        const bool known = f.table.find(hop.port_id, hop.ip).has_value();
        const uint64_t interval = known ? kRefreshMs : kUnresolvedRetryMs;
        if (hop.last_request_ms != 0 && now_ms - hop.last_request_ms < interval) {
            continue;
        }
        if (send(hop.port_id, hop.ip)) {
            hop.last_request_ms = now_ms;
            await(f, hop.port_id, hop.ip, now_ms);
        }
    }
    if (f.last_aging_ms != 0 && now_ms - f.last_aging_ms < kAgingIntervalMs) {
        return;
    }
    f.last_aging_ms = now_ms;
    using What = dp::NeighborAgingWhat;
    f.table.age(now_ms, [&](const dp::BasicNeighborAging<Address>& a) {
        if (a.what == What::probe) {
            if (!send(a.port_id, a.ip)) {
                return false;
            }
            await(f, a.port_id, a.ip, now_ms);
            return true;
        }
        if (may_log(Event::expired, now_ms)) {
            spdlog::info("neighbor {} ({}, port {}) removed: {}", ip_text(a.ip), format_mac(a.mac),
                         a.port_id,
                         a.what == What::expired_idle
                             ? std::string("not used for 60 s")
                             : "did not answer 3 " + std::string(kRequests<Address>));
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
        // The IPv6 parts only when there is IPv6 to speak of: an IPv4-only director's line is
        // as it was.
        const uint64_t ignored6 = count(Event::ignored6);
        const uint32_t entries6 = v6_.table.size();
        spdlog::info(
            "neighbors in the last {} s, not logged one by one: {} learned, {} moved to another "
            "MAC, {} removed, {} not learned (table full), {} ARP senders{} ignored (not asked "
            "for); {} of {} entries in use{}",
            (now_ms - log_window_ms_) / 1000, count(Event::learned), count(Event::changed),
            count(Event::expired), count(Event::full), count(Event::ignored),
            ignored6 != 0 ? fmt::format(" and {} neighbor discovery senders", ignored6) : "",
            v4_.table.size(), v4_.table.capacity(),
            entries6 != 0 ? fmt::format(", {} of {} IPv6 entries", entries6, v6_.table.capacity())
                          : "");
    }
    log_window_ms_ = now_ms;
    log_lines_ = 0;
    std::fill(std::begin(unlogged_), std::end(unlogged_), 0);
}

bool NeighborResolver::may_log(Event event, uint64_t now_ms) {
    flush_log(now_ms);
    if (event != Event::ignored && event != Event::ignored6 && log_lines_ < kLogLines) {
        ++log_lines_;
        return true;
    }
    ++unlogged_[static_cast<size_t>(event)];
    return false;
}

template <class Address>
void NeighborResolver::await(Family<Address>& f, uint16_t port_id, const Address& ip,
                             uint64_t now_ms) {
    f.awaited[awaited_slot(port_id, ip)] = {true, port_id, ip, now_ms};
}

template <class Address>
bool NeighborResolver::awaited(const Family<Address>& f, uint16_t port_id, const Address& ip,
                               uint64_t now_ms) {
    const auto& a = f.awaited[awaited_slot(port_id, ip)];
    return a.any && a.port_id == port_id && a.ip == ip && now_ms - a.since_ms < kAwaitMs;
}

}  // namespace vsnat::cp
