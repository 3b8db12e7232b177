#include "dp/neighbor.hpp"

#include <bit>
#include <cstring>

namespace vsnat::dp {
namespace {

uint64_t pack_mac(const MacAddress& mac) {
    uint64_t v = 0;
    std::memcpy(&v, mac.data(), mac.size());
    return v;
}

MacAddress unpack_mac(uint64_t v) {
    MacAddress mac;
    std::memcpy(mac.data(), &v, mac.size());
    return mac;
}

}  // namespace

NeighborTable::NeighborTable(uint32_t capacity)
    : mask_(std::bit_ceil(capacity) - 1), entries_(new Entry[mask_ + 1]) {}

uint32_t NeighborTable::start_slot(uint64_t key) const {
    return static_cast<uint32_t>((key * 0x9e3779b97f4a7c15ULL) >> 40) & mask_;
}

bool NeighborTable::set(uint16_t port_id, uint32_t ip, const MacAddress& mac) {
    const uint64_t key = make_key(port_id, ip);
    for (uint32_t n = 0, i = start_slot(key); n <= mask_; ++n, i = (i + 1) & mask_) {
        Entry& e = entries_[i];
        uint64_t current = e.key.load(std::memory_order_relaxed);
        if (current == key || current == 0) {
            e.mac.store(pack_mac(mac), std::memory_order_relaxed);
            // Publish the key after the MAC: a reader that sees the key sees a MAC.
            e.key.store(key, std::memory_order_release);
            return true;
        }
    }
    return false;
}

std::optional<MacAddress> NeighborTable::find(uint16_t port_id, uint32_t ip) const {
    const uint64_t key = make_key(port_id, ip);
    for (uint32_t n = 0, i = start_slot(key); n <= mask_; ++n, i = (i + 1) & mask_) {
        const Entry& e = entries_[i];
        uint64_t current = e.key.load(std::memory_order_acquire);
        if (current == key) {
            return unpack_mac(e.mac.load(std::memory_order_relaxed));
        }
        if (current == 0) {
            return std::nullopt;
        }
    }
    return std::nullopt;
}

}  // namespace vsnat::dp
