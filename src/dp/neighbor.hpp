// Next-hop MAC addresses, written by the control thread (ARP replies, static neighbors) and read
// by every worker without locks.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>

#include "vsnat/types.hpp"

namespace vsnat::dp {

/// Fixed-capacity open-addressing table. One writer (the control thread), any number of
/// readers. An entry, once added, keeps its slot; its MAC may change. A reader sees either the
/// old or the new MAC, never a torn one: the MAC sits in one 64-bit word.
class NeighborTable {
  public:
    explicit NeighborTable(uint32_t capacity = 4096);

    /// Control thread only. Returns false when the table is full.
    bool set(uint16_t port_id, uint32_t ip, const MacAddress& mac);
    /// Any thread. Whether `ip` (network order) on `port_id` is resolved; if so, its MAC is
    /// written to `mac`. The packet path's form: a std::optional<MacAddress> return was built
    /// through the stack at odd offsets and stalled every lookup on store forwarding.
    bool lookup(uint16_t port_id, uint32_t ip, MacAddress& mac) const;
    /// Any thread. The MAC for `ip` (network order) on `port_id`, if resolved.
    std::optional<MacAddress> find(uint16_t port_id, uint32_t ip) const {
        MacAddress mac;
        return lookup(port_id, ip, mac) ? std::optional<MacAddress>(mac) : std::nullopt;
    }

  private:
    struct Entry {
        std::atomic<uint64_t> key{0};  // 0: empty; else 1 << 63 | port << 32 | ip
        std::atomic<uint64_t> mac{0};
    };
    static uint64_t make_key(uint16_t port_id, uint32_t ip) {
        return (1ULL << 63) | (static_cast<uint64_t>(port_id) << 32) | ip;
    }
    uint32_t start_slot(uint64_t key) const {
        return static_cast<uint32_t>((key * 0x9e3779b97f4a7c15ULL) >> 40) & mask_;
    }

    uint32_t mask_;
    std::unique_ptr<Entry[]> entries_;
};

}  // namespace vsnat::dp
