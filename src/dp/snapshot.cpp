#include "dp/snapshot.hpp"
#include "dp/heap.hpp"
#include "dp/mix.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace vsnat::dp {
namespace {

// A vector filled one push_back at a time holds a power of two (libstdc++ doubles it).
size_t grown_vector_bytes(size_t count, size_t element) {
    return count == 0 ? 0 : malloc_bytes(std::bit_ceil(count) * element);
}

// At most half full, so probes stay short and a free slot always exists.
size_t slot_count(size_t entries) {
    return std::bit_ceil(std::max<size_t>(2 * entries, 8));
}

}  // namespace

template <class Key>
size_t BasicFlatIndex<Key>::memory_bytes_for(size_t entries) {
    return malloc_bytes(slot_count(entries) * sizeof(Slot));
}

template <class Key>
void BasicFlatIndex<Key>::build(std::span<const std::pair<Key, uint32_t>> entries) {
    size_t size = slot_count(entries.size());
    slots_.assign(size, Slot{Key{}, kMissing});
    mask_ = size - 1;
    for (const auto& [key, value] : entries) {
        for (uint64_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
            if (slots_[i].value == kMissing || slots_[i].key == key) {
                slots_[i] = Slot{key, value};
                break;
            }
        }
    }
}

template class BasicFlatIndex<uint64_t>;
template class BasicFlatIndex<Ipv6>;

Ipv6 link_local_of(const MacAddress& mac) {
    return {
        0xfe,   0x80,   0,    0,    0,      0,      0,     0, static_cast<uint8_t>(mac[0] ^ 0x02),
        mac[1], mac[2], 0xff, 0xfe, mac[3], mac[4], mac[5]};
}

size_t Snapshot::memory_bytes_for(std::span<const ServiceShape> services, size_t interfaces,
                                  uint32_t workers) {
    // As cp::build_snapshot and finalize() make them.
    size_t servers = 0;
    size_t services6 = 0;
    size_t bytes =
        malloc_bytes(sizeof(Snapshot)) + grown_vector_bytes(services.size(), sizeof(ServiceEntry)) +
        grown_vector_bytes(interfaces, sizeof(InterfaceEntry)) +
        grown_vector_bytes(services.size(), sizeof(std::unique_ptr<SharedSchedulerState>)) +
        malloc_bytes(workers * sizeof(std::vector<std::unique_ptr<Scheduler>>)) +
        workers * grown_vector_bytes(services.size(), sizeof(std::unique_ptr<Scheduler>));
    for (const ServiceShape& s : services) {
        const SchedulerFootprint f = scheduler_footprint(s.scheduler, s.servers);
        bytes +=
            grown_vector_bytes(s.servers, sizeof(Destination)) + f.shared + workers * f.instance;
        servers += s.servers;
        services6 += s.ipv6;
    }
    const size_t services4 = services.size() - services6;
    // The indexes: by (protocol, vip, port), by vip, ours (vips and interface addresses), by
    // (service, dest id); IPv6 VIPs, and ours among IPv6 addresses (at most kMaxAddresses6 and
    // a link-local address per interface). route6()'s prefixes: at most kMaxAddresses6 each.
    bytes += grown_vector_bytes(interfaces * kMaxAddresses6, sizeof(OnLink6));
    return bytes + FlatIndex::memory_bytes_for(services.size()) +
           FlatIndex::memory_bytes_for(services4) +
           FlatIndex::memory_bytes_for(services4 + interfaces) +
           FlatIndex::memory_bytes_for(servers) + FlatIndex6::memory_bytes_for(services6) +
           FlatIndex6::memory_bytes_for(services6 + interfaces * (kMaxAddresses6 + 1));
}

bool Snapshot::finalize(uint32_t worker_count, const std::function<bool()>& stop) {
    std::vector<std::pair<uint64_t, uint32_t>> by_key, by_vip, by_dest;
    std::vector<std::pair<Ipv6, uint32_t>> vips6;
    for (uint32_t i = 0; i < services.size(); ++i) {
        const ServiceEntry& s = services[i];
        if (s.ipv6) {
            auto known = std::find_if(vips6.begin(), vips6.end(),
                                      [&](const auto& v) { return v.first == s.vip6; });
            if (known == vips6.end()) {
                known = vips6.insert(vips6.end(), {s.vip6, static_cast<uint32_t>(vips6.size())});
            }
            by_key.emplace_back(service_key6(s.protocol, known->second, s.port), i);
        } else {
            by_key.emplace_back(service_key(s.protocol, s.vip, s.port), i);
            by_vip.emplace_back(s.vip, i);
        }
        for (uint32_t j = 0; j < s.servers.size(); ++j) {
            by_dest.emplace_back(static_cast<uint64_t>(i) << 16 | s.servers[j].dest_id, j);
        }
    }
    service_index_.build(by_key);
    vip_index_.build(by_vip);
    std::vector<std::pair<uint64_t, uint32_t>> ours = by_vip;
    for (uint32_t i = 0; i < interfaces.size(); ++i) {
        ours.emplace_back(interfaces[i].address, i);
        for (const uint32_t f : interfaces[i].floating) {
            ours.emplace_back(f, i);
        }
    }
    ours_index_.build(ours);
    ours_filter_.fill(0);
    for (const auto& entry : ours) {
        const uint32_t bit = ours_filter_bit(static_cast<uint32_t>(entry.first));
        ours_filter_[bit / 64] |= uint64_t{1} << (bit % 64);
    }
    vip6_index_.build(vips6);
    std::vector<std::pair<Ipv6, uint32_t>> ours6 = vips6;
    for (uint32_t i = 0; i < interfaces.size(); ++i) {
        for (const Prefix6& p : interfaces[i].addresses6) {
            ours6.emplace_back(p.address, i);
        }
        if (!interfaces[i].addresses6.empty()) {
            ours6.emplace_back(interfaces[i].link_local, i);
        }
        for (const Ipv6& f : interfaces[i].floating6) {
            ours6.emplace_back(f, i);
        }
    }
    ours6_index_.build(ours6);
    std::vector<std::pair<uint64_t, uint32_t>> held_entries;
    for (const uint32_t a : held) {
        held_entries.emplace_back(a, 0);
    }
    held_index_.build(held_entries);
    std::vector<std::pair<Ipv6, uint32_t>> held6_entries;
    for (const Ipv6& a : held6) {
        held6_entries.emplace_back(a, 0);
    }
    held6_index_.build(held6_entries);
    server_index_.build(by_dest);
    index_interfaces();
    schedulers.clear();  // before the states they refer to
    schedulers.resize(worker_count);
    scheduler_states.clear();
    for (const ServiceEntry& s : services) {
        if (stop && stop()) {
            return false;
        }
        scheduler_states.push_back(make_shared_state(s.scheduler, s.servers));
    }
    for (auto& per_worker : schedulers) {
        for (size_t i = 0; i < services.size(); ++i) {
            per_worker.push_back(
                make_scheduler(services[i].scheduler, services[i].servers, *scheduler_states[i]));
        }
    }
    return true;
}

const InterfaceEntry* Snapshot::own_address(uint32_t address) const {
    for (const InterfaceEntry& i : interfaces) {
        if (i.address == address) {
            return &i;
        }
        if (std::find(i.floating.begin(), i.floating.end(), address) != i.floating.end()) {
            return serves(address) ? &i : nullptr;
        }
    }
    return nullptr;
}

const InterfaceEntry* Snapshot::own_address6(const Ipv6& address) const {
    for (const InterfaceEntry& i : interfaces) {
        if (i.addresses6.empty()) {
            continue;
        }
        if (i.link_local == address ||
            std::any_of(i.addresses6.begin(), i.addresses6.end(),
                        [&](const Prefix6& p) { return p.address == address; })) {
            return &i;
        }
        if (std::find(i.floating6.begin(), i.floating6.end(), address) != i.floating6.end()) {
            return serves6(address) ? &i : nullptr;
        }
    }
    return nullptr;
}

// What the packet path asks of the interfaces on every packet, worked out once: the interface
// of each port, the smallest MTU, the default gateways and the IPv6 prefixes as masked words.
void Snapshot::index_interfaces() {
    port_interface_.fill(-1);
    smallest_mtu_ = UINT16_MAX;
    default_interface_ = -1;
    default_gateway_ = 0;
    on_link6_.clear();
    default_interface6_ = -1;
    for (size_t i = 0; i < interfaces.size(); ++i) {
        const InterfaceEntry& iface = interfaces[i];
        if (iface.gateway != 0 && default_interface_ < 0) {
            default_interface_ = static_cast<int16_t>(i);
            default_gateway_ = iface.gateway;
        }
        if (iface.has_gateway6 && default_interface6_ < 0) {
            default_interface6_ = static_cast<int16_t>(i);
            default_gateway6_ = iface.gateway6;
        }
        for (const Prefix6& p : iface.addresses6) {
            OnLink6 entry{{}, {}, static_cast<int16_t>(i)};
            const Ipv6 mask = prefix6_netmask(p.length);
            const Ipv6 network = masked(p.address, mask);
            std::memcpy(entry.mask.data(), mask.data(), sizeof(entry.mask));
            std::memcpy(entry.network.data(), network.data(), sizeof(entry.network));
            on_link6_.push_back(entry);
        }
        smallest_mtu_ = std::min(smallest_mtu_, iface.mtu);
        if (iface.port_id < kMaxPorts) {
            port_interface_[iface.port_id] = static_cast<int16_t>(i);
        }
    }
}

const InterfaceEntry* Snapshot::route6(const Ipv6& dst, Ipv6& next_hop) const {
    // As route(): every prefix is looked at and the first that holds `dst` chosen by selects,
    // each compared as two masked words.
    std::array<uint64_t, 2> words;
    std::memcpy(words.data(), dst.data(), sizeof(words));
    int32_t on_link = -1;
    for (size_t n = on_link6_.size(); n-- > 0;) {
        const OnLink6& p = on_link6_[n];
        const uint64_t differs =
            ((words[0] & p.mask[0]) ^ p.network[0]) | ((words[1] & p.mask[1]) ^ p.network[1]);
        on_link = differs == 0 ? p.interface : on_link;
    }
    const int32_t out = on_link >= 0 ? on_link : default_interface6_;
    next_hop = *(on_link >= 0 ? &dst : &default_gateway6_);
    return out >= 0 ? &interfaces[static_cast<size_t>(out)] : nullptr;
}

bool Snapshot::interface_address(uint32_t address) const {
    return std::any_of(interfaces.begin(), interfaces.end(),
                       [address](const InterfaceEntry& i) { return i.address == address; });
}

bool Snapshot::answers_arp_for_vip(const InterfaceEntry& iface, uint32_t address) const {
    if (!is_vip(address) || !serves(address)) {
        return false;
    }
    auto on_link = [address](const InterfaceEntry& i) {
        return (address & i.netmask) == (i.address & i.netmask);
    };
    return on_link(iface) || std::none_of(interfaces.begin(), interfaces.end(), on_link);
}

}  // namespace vsnat::dp
