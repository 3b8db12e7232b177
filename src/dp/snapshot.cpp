#include "dp/snapshot.hpp"
#include "dp/mix.hpp"

#include <algorithm>
#include <bit>

namespace vsnat::dp {
namespace {}  // namespace

void FlatIndex::build(std::span<const std::pair<uint64_t, uint32_t>> entries) {
    // At most half full, so probes stay short and a free slot always exists.
    size_t size = std::bit_ceil(std::max<size_t>(2 * entries.size(), 8));
    slots_.assign(size, Slot{0, kMissing});
    mask_ = size - 1;
    for (const auto& [key, value] : entries) {
        for (uint64_t i = mix64(key) & mask_;; i = (i + 1) & mask_) {
            if (slots_[i].value == kMissing || slots_[i].key == key) {
                slots_[i] = Slot{key, value};
                break;
            }
        }
    }
}

uint32_t FlatIndex::find(uint64_t key) const {
    if (slots_.empty()) {
        return kMissing;
    }
    for (uint64_t i = mix64(key) & mask_;; i = (i + 1) & mask_) {
        const Slot& s = slots_[i];
        if (s.value == kMissing || s.key == key) {
            return s.value == kMissing ? kMissing : s.value;
        }
    }
}

bool Snapshot::finalize(uint32_t worker_count, const std::function<bool()>& stop) {
    std::vector<std::pair<uint64_t, uint32_t>> by_key, by_vip, by_dest;
    for (uint32_t i = 0; i < services.size(); ++i) {
        const ServiceEntry& s = services[i];
        by_key.emplace_back(service_key(s.protocol, s.vip, s.port), i);
        by_vip.emplace_back(s.vip, i);
        for (uint32_t j = 0; j < s.servers.size(); ++j) {
            by_dest.emplace_back(static_cast<uint64_t>(i) << 16 | s.servers[j].dest_id, j);
        }
    }
    service_index_.build(by_key);
    vip_index_.build(by_vip);
    std::vector<std::pair<uint64_t, uint32_t>> ours = by_vip;
    for (uint32_t i = 0; i < interfaces.size(); ++i) {
        ours.emplace_back(interfaces[i].address, i);
    }
    ours_index_.build(ours);
    server_index_.build(by_dest);
    port_interface_.fill(-1);
    for (size_t i = 0; i < interfaces.size(); ++i) {
        if (interfaces[i].port_id < kMaxPorts) {
            port_interface_[interfaces[i].port_id] = static_cast<int16_t>(i);
        }
    }
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
    }
    return nullptr;
}

bool Snapshot::answers_arp_for_vip(const InterfaceEntry& iface, uint32_t address) const {
    if (!is_vip(address)) {
        return false;
    }
    auto on_link = [address](const InterfaceEntry& i) {
        return (address & i.netmask) == (i.address & i.netmask);
    };
    return on_link(iface) || std::none_of(interfaces.begin(), interfaces.end(), on_link);
}

const InterfaceEntry* Snapshot::route(uint32_t dst, uint32_t& next_hop) const {
    for (const InterfaceEntry& i : interfaces) {
        if ((dst & i.netmask) == (i.address & i.netmask)) {
            next_hop = dst;
            return &i;
        }
    }
    for (const InterfaceEntry& i : interfaces) {
        if (i.gateway != 0) {
            next_hop = i.gateway;
            return &i;
        }
    }
    return nullptr;
}

}  // namespace vsnat::dp
