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

}  // namespace

NeighborTable::NeighborTable(uint32_t capacity)
    : mask_(std::bit_ceil(capacity) - 1), entries_(new Entry[mask_ + 1]) {}

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

bool NeighborTable::lookup(uint16_t port_id, uint32_t ip, MacAddress& mac) const {
    const uint64_t key = make_key(port_id, ip);
    for (uint32_t n = 0, i = start_slot(key); n <= mask_; ++n, i = (i + 1) & mask_) {
        const Entry& e = entries_[i];
        uint64_t current = e.key.load(std::memory_order_acquire);
        if (current == key) {
            const uint64_t packed = e.mac.load(std::memory_order_relaxed);
            std::memcpy(mac.data(), &packed, mac.size());
            return true;
        }
        if (current == 0) {
            return false;
        }
    }
    return false;
}

}  // namespace vsnat::dp
