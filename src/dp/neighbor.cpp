#include "dp/neighbor.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace vsnat::dp {
namespace {

// A MAC's 6 bytes, and IPv6's 48-bit pieces, go in the low bits of their words.
static_assert(std::endian::native == std::endian::little);

uint64_t pack_mac(const MacAddress& mac) {
    uint64_t v = 0;
    std::memcpy(&v, mac.data(), mac.size());
    return v;
}

MacAddress unpack_mac(uint64_t word) {
    MacAddress mac;
    std::memcpy(mac.data(), &word, mac.size());
    return mac;
}

}  // namespace

std::string_view neighbor_kind_name(NeighborKind kind) {
    switch (kind) {
        case NeighborKind::learned:
            return "learned";
        case NeighborKind::next_hop:
            return "next_hop";
        case NeighborKind::fixed:
            return "static";
    }
    return "?";
}

template <class Address>
BasicNeighborTable<Address>::BasicNeighborTable(uint32_t capacity)
    : capacity_(std::max<uint32_t>(capacity, 1)),
      mask_(std::bit_ceil(capacity_ * 2) - 1),
      probe_limit_(std::min(kProbeLimit, mask_ + 1)),
      entries_(new Entry[mask_ + 1]),
      meta_(new Meta[mask_ + 1]) {}

template <class Address>
bool BasicNeighborTable<Address>::peek(uint16_t port_id, AddressArg ip, MacAddress& mac) const {
    return read<false>(KeyOf::make(port_id, ip), mac, [] {});
}

template <class Address>
void BasicNeighborTable<Address>::for_each(
    const std::function<void(uint16_t, AddressArg, const MacAddress&, NeighborKind)>& fn) const {
    for (uint32_t i = 0; i <= mask_; ++i) {
        const Entry& e = entries_[i];
        Words words;
        words[0] = e.key.load(std::memory_order_acquire);
        if ((words[0] & kLive) == 0) {
            continue;
        }
        const uint64_t m = e.mac.load(std::memory_order_relaxed);
        uint64_t other_generation = (m ^ words[0]) & kGenMask;
        if constexpr (kWords > 1) {
            for (size_t w = 1; w < kWords; ++w) {
                words[w] = e.more[w - 1].load(std::memory_order_relaxed);
                other_generation |= (words[w] ^ words[0]) & kGenMask;
            }
        }
        if (other_generation != 0) {
            continue;  // given to another key meanwhile: skipped, as if just removed
        }
        fn(static_cast<uint16_t>(words[0] >> 32), KeyOf::address(words), unpack_mac(m),
           meta_[i].kind.load(std::memory_order_relaxed));
    }
}

template <class Address>
bool BasicNeighborTable<Address>::holds(const Entry& e, const Words& key) const {
    if ((e.key.load(std::memory_order_relaxed) & ~kGenMask) != key[0]) {
        return false;
    }
    if constexpr (kWords > 1) {
        for (size_t w = 1; w < kWords; ++w) {
            if ((e.more[w - 1].load(std::memory_order_relaxed) & ~kGenMask) != key[w]) {
                return false;
            }
        }
    }
    return true;
}

template <class Address>
typename BasicNeighborTable<Address>::Words BasicNeighborTable<Address>::words_of(
    const Entry& e) const {
    Words words;
    words[0] = e.key.load(std::memory_order_relaxed);
    if constexpr (kWords > 1) {
        for (size_t w = 1; w < kWords; ++w) {
            words[w] = e.more[w - 1].load(std::memory_order_relaxed);
        }
    }
    return words;
}

template <class Address>
uint32_t BasicNeighborTable<Address>::slot_of(const Words& key) const {
    for (uint32_t n = 0, i = home_slot(key); n < probe_limit_; ++n, i = (i + 1) & mask_) {
        const Entry& e = entries_[i];
        if (holds(e, key)) {
            return i;
        }
        if (e.key.load(std::memory_order_relaxed) == kEmpty) {
            break;
        }
    }
    return kNoSlot;
}

template <class Address>
void BasicNeighborTable<Address>::start_aging(Meta& m, uint64_t now_ms) {
    m.confirmed_ms = now_ms;
    m.used_ms = now_ms;
    m.probes = 0;
}

template <class Address>
NeighborTableBase::SetResult BasicNeighborTable<Address>::set(uint16_t port_id, AddressArg ip,
                                                              const MacAddress& mac,
                                                              NeighborKind kind, uint64_t now_ms) {
    const Words key = KeyOf::make(port_id, ip);
    uint32_t free_slot = kNoSlot;
    for (uint32_t n = 0, i = home_slot(key); n < probe_limit_; ++n, i = (i + 1) & mask_) {
        Entry& e = entries_[i];
        const uint64_t k = e.key.load(std::memory_order_relaxed);
        if (holds(e, key)) {
            Meta& meta = meta_[i];
            meta.kind.store(kind, std::memory_order_relaxed);
            meta.confirmed_ms = now_ms;
            meta.probes = 0;
            const uint64_t old = e.mac.load(std::memory_order_relaxed);
            const uint64_t word = (old & kGenMask) | pack_mac(mac);
            if (word == old) {
                return SetResult::confirmed;
            }
            // Same key, same generation: one store, the old MAC or the new to any reader.
            e.mac.store(word, std::memory_order_relaxed);
            return SetResult::changed;
        }
        if (free_slot == kNoSlot && (k == kEmpty || k == kTombstone)) {
            free_slot = i;
        }
        if (k == kEmpty) {
            break;
        }
    }
    if (kind != NeighborKind::learned && (free_slot == kNoSlot || size() >= capacity_) &&
        evict_learned()) {
        // A static neighbor or a next hop is never refused for a client's sake. The eviction may
        // have freed a slot in this key's run: look again.
        free_slot = kNoSlot;
        for (uint32_t n = 0, i = home_slot(key); n < probe_limit_; ++n, i = (i + 1) & mask_) {
            const uint64_t k = entries_[i].key.load(std::memory_order_relaxed);
            if (k == kEmpty || k == kTombstone) {
                free_slot = i;
                break;
            }
        }
    }
    if (free_slot == kNoSlot || size() >= capacity_) {
        return SetResult::full;
    }
    Entry& e = entries_[free_slot];
    const uint64_t gen = ((e.mac.load(std::memory_order_relaxed) & kGenMask) + kGenOne) & kGenMask;
    e.used.store(0, std::memory_order_relaxed);
    e.mac.store(gen | pack_mac(mac), std::memory_order_relaxed);
    if constexpr (kWords > 1) {
        for (size_t w = 1; w < kWords; ++w) {
            e.more[w - 1].store(gen | key[w], std::memory_order_relaxed);
        }
    }
    // Publish the first key word after the others: a reader that sees it sees this generation's
    // words or later ones.
    e.key.store(gen | key[0], std::memory_order_release);
    Meta& meta = meta_[free_slot];
    meta.kind.store(kind, std::memory_order_relaxed);
    start_aging(meta, now_ms);
    live_.store(size() + 1, std::memory_order_relaxed);
    return SetResult::added;
}

template <class Address>
void BasicNeighborTable<Address>::remove_at(uint32_t slot) {
    entries_[slot].key.store(kTombstone, std::memory_order_relaxed);
    live_.store(size() - 1, std::memory_order_relaxed);
    // A key's chain runs from its home slot to its own without an empty slot. So when an empty
    // slot follows, no chain passes through this tombstone, nor through the tombstones just
    // before it: they can all become empty, and lookups of absent keys stop sooner.
    if (entries_[(slot + 1) & mask_].key.load(std::memory_order_relaxed) != kEmpty) {
        return;
    }
    for (uint32_t i = slot; entries_[i].key.load(std::memory_order_relaxed) == kTombstone;
         i = (i - 1) & mask_) {
        entries_[i].key.store(kEmpty, std::memory_order_relaxed);
    }
}

template <class Address>
bool BasicNeighborTable<Address>::evict_learned() {
    uint32_t victim = kNoSlot;
    for (uint32_t i = 0; i <= mask_; ++i) {
        const Meta& meta = meta_[i];
        if ((entries_[i].key.load(std::memory_order_relaxed) & kLive) != 0 &&
            meta.kind.load(std::memory_order_relaxed) == NeighborKind::learned &&
            (victim == kNoSlot || meta.used_ms < meta_[victim].used_ms)) {
            victim = i;
        }
    }
    if (victim == kNoSlot) {
        return false;
    }
    remove_at(victim);
    return true;
}

template <class Address>
bool BasicNeighborTable<Address>::erase(uint16_t port_id, AddressArg ip) {
    const uint32_t slot = slot_of(KeyOf::make(port_id, ip));
    if (slot == kNoSlot) {
        return false;
    }
    remove_at(slot);
    return true;
}

template <class Address>
std::optional<NeighborKind> BasicNeighborTable<Address>::kind(uint16_t port_id,
                                                              AddressArg ip) const {
    const uint32_t slot = slot_of(KeyOf::make(port_id, ip));
    if (slot == kNoSlot) {
        return std::nullopt;
    }
    return meta_[slot].kind.load(std::memory_order_relaxed);
}

template <class Address>
bool BasicNeighborTable<Address>::set_kind(uint16_t port_id, AddressArg ip, NeighborKind kind,
                                           uint64_t now_ms) {
    const uint32_t slot = slot_of(KeyOf::make(port_id, ip));
    if (slot == kNoSlot) {
        return false;
    }
    Meta& meta = meta_[slot];
    if (kind == NeighborKind::learned && meta.kind.load(std::memory_order_relaxed) != kind) {
        start_aging(meta, now_ms);
    }
    meta.kind.store(kind, std::memory_order_relaxed);
    return true;
}

template <class Address>
void BasicNeighborTable<Address>::unpin_all(uint64_t now_ms) {
    for (uint32_t i = 0; i <= mask_; ++i) {
        Meta& meta = meta_[i];
        if ((entries_[i].key.load(std::memory_order_relaxed) & kLive) != 0 &&
            meta.kind.load(std::memory_order_relaxed) != NeighborKind::learned) {
            meta.kind.store(NeighborKind::learned, std::memory_order_relaxed);
            start_aging(meta, now_ms);
        }
    }
}

template <class Address>
void BasicNeighborTable<Address>::age(uint64_t now_ms,
                                      const std::function<bool(const Aging&)>& on_event) {
    using What = NeighborAgingWhat;
    for (uint32_t i = 0; i <= mask_; ++i) {
        Entry& e = entries_[i];
        Meta& meta = meta_[i];
        const uint64_t k = e.key.load(std::memory_order_relaxed);
        if ((k & kLive) == 0 ||
            meta.kind.load(std::memory_order_relaxed) != NeighborKind::learned) {
            continue;
        }
        if (e.used.load(std::memory_order_relaxed) != 0) {
            e.used.store(0, std::memory_order_relaxed);  // a mark made in between is lost: sampling
            meta.used_ms = now_ms;
        }
        Aging event{What::probe, static_cast<uint16_t>(k >> 32), KeyOf::address(words_of(e)),
                    unpack_mac(e.mac.load(std::memory_order_relaxed))};
        if (now_ms - meta.used_ms >= kIdleMs) {
            remove_at(i);
            event.what = What::expired_idle;
            on_event(event);
            continue;
        }
        // Confirmed lately, or not used since it went stale (the idle expiry decides): nothing.
        if (now_ms - meta.confirmed_ms < kReachableMs ||
            meta.used_ms < meta.confirmed_ms + kReachableMs) {
            continue;
        }
        if (meta.probes > 0 && now_ms - meta.probed_ms < kProbeIntervalMs) {
            continue;
        }
        if (meta.probes == kProbes) {
            remove_at(i);
            event.what = What::expired_unconfirmed;
            on_event(event);
            continue;
        }
        if (on_event(event)) {
            ++meta.probes;
            meta.probed_ms = now_ms;
        }
    }
}

template class BasicNeighborTable<uint32_t>;
template class BasicNeighborTable<Ipv6>;

}  // namespace vsnat::dp
