// Next-hop MAC addresses, written by the control thread (ARP, static neighbors) and read by every
// worker without locks. Entries the director no longer needs age out and their slots are reused
// (docs/ARCHITECTURE.md, "The neighbor table").
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "vsnat/types.hpp"

namespace vsnat::dp {

/// What a neighbor is to the director; decides whether it ages.
enum class NeighborKind : uint8_t {
    learned,   ///< a host the director sends to now (a client, a host it asked for): ages
    next_hop,  ///< a configured next hop (real server, gateway): kept, the resolver refreshes it
    fixed,     ///< a static `neighbors` entry: kept, never changed by ARP
};

/// The kind's name for operators: learned, next_hop, static. Any thread.
std::string_view neighbor_kind_name(NeighborKind kind);

/// What an aging pass asks of, or tells, its caller (NeighborTable::age).
struct NeighborAging {
    enum class What : uint8_t {
        probe,                ///< in use but not confirmed lately: send an ARP request for it
        expired_idle,         ///< removed: not used for kIdleMs
        expired_unconfirmed,  ///< removed: in use, but kProbes requests went unanswered
    };
    What what;
    uint16_t port_id;
    uint32_t ip;  // network order
    MacAddress mac;
};

/// Fixed-capacity open addressing (linear probing) with tombstones. One writer (the control
/// thread), any number of readers that never lock, wait or retry more than once.
///
/// Why a reader never returns a wrong or torn MAC: a slot's key and MAC are two 64-bit atomic
/// words, each read whole. Both carry the slot's generation in the same bits, and the writer
/// increments it each time the slot takes a new key. A reader loads the key (acquire), then the
/// MAC, and keeps the MAC only if the generations agree: the slot cannot have been emptied and
/// given to another key between its two loads, or the MAC word would carry a newer generation.
/// (A generation repeats only after 2^15 reuses of one slot, and the resolver removes entries
/// in its aging pass, once a second: hours, against nanoseconds between a reader's two loads.)
/// When they disagree the reader looks once more and
/// then reports "not resolved", which the packet path already handles (ARP request, hold).
/// The MAC of a key that keeps its slot changes in one store; a reader sees the old or the new
/// one, each right for that key at some instant.
///
/// Removal leaves a tombstone that lookups step over, so the probe chain of every key behind it
/// stays unbroken; inserts reuse tombstones. A tombstone that only an empty slot follows ends no
/// chain and becomes empty again. Keys sit at most kProbeLimit slots past their home slot, and
/// the table has twice as many slots as entries, so a lookup reads a bounded run of slots even
/// when tombstones accumulate.
class NeighborTable {
  public:
    /// Aging, after Linux's neighbor defaults (arp(7)): a neighbor confirmed within kReachableMs
    /// (base_reachable_time) is used without asking; one used after that is asked for again
    /// kProbes times kProbeIntervalMs apart (ucast_solicit, retrans_time_ms), the old MAC in use
    /// meanwhile, and removed if it does not answer; one not used for kIdleMs (gc_stale_time) is
    /// removed.
    static constexpr uint64_t kReachableMs = 30000;
    static constexpr uint64_t kProbeIntervalMs = 1000;
    static constexpr uint32_t kProbes = 3;
    static constexpr uint64_t kIdleMs = 60000;
    static constexpr uint32_t kProbeLimit = 64;

    enum class SetResult : uint8_t {
        added,      ///< a new entry
        changed,    ///< the entry's MAC changed
        confirmed,  ///< the entry had that MAC already; confirmed now
        full,       ///< not added: `capacity` entries (none of them learned, for a static entry
                    ///< or a next hop), or no free slot within kProbeLimit
    };

    /// At most `capacity` entries, in twice as many slots.
    explicit NeighborTable(uint32_t capacity = 4096);

    // --- readers: any thread, lock-free ---

    /// The packet path's lookup: whether `ip` (network order) on `port_id` is resolved; if so,
    /// its MAC is written to `mac` and the entry is marked as used (a store only when the mark
    /// was clear, so once per aging pass). Any thread. (A std::optional<MacAddress> return was
    /// built through the stack at odd offsets and stalled every lookup on store forwarding.)
    bool lookup(uint16_t port_id, uint32_t ip, MacAddress& mac) const;
    /// The same without marking the entry used: for looking, not for sending. Any thread.
    bool peek(uint16_t port_id, uint32_t ip, MacAddress& mac) const;
    /// Any thread. The MAC for `ip` (network order) on `port_id`, if resolved; does not mark.
    std::optional<MacAddress> find(uint16_t port_id, uint32_t ip) const {
        MacAddress mac;
        return peek(port_id, ip, mac) ? std::optional<MacAddress>(mac) : std::nullopt;
    }
    /// lookup() that calls `between()` between its two loads of a slot (key, then MAC): for the
    /// concurrency test, which widens the window the class comment is about. Any thread.
    template <class Between>
    bool lookup_between(uint16_t port_id, uint32_t ip, MacAddress& mac, Between&& between) const {
        return read<true>(make_key(port_id, ip), mac, between);
    }
    /// Calls `fn(port_id, ip, mac, kind)` for every entry, in slot order; an entry changed
    /// meanwhile is seen before or after the change. Any thread.
    void for_each(
        const std::function<void(uint16_t, uint32_t, const MacAddress&, NeighborKind)>& fn) const;
    /// Entries in the table. Any thread.
    uint32_t size() const { return live_.load(std::memory_order_relaxed); }
    /// Entries the table can hold. Any thread.
    uint32_t capacity() const { return capacity_; }

    // --- the writer: the control thread only ---

    /// Adds `ip` (network order) on `port_id` at `mac`, or updates the entry (its MAC and kind);
    /// either way it counts as confirmed at `now_ms`. In a full table a static entry or a next
    /// hop takes the place of the learned entry used longest ago; a learned one is refused. The
    /// defaults make a static entry, as tests and benchmarks want.
    SetResult set(uint16_t port_id, uint32_t ip, const MacAddress& mac,
                  NeighborKind kind = NeighborKind::fixed, uint64_t now_ms = 0);
    /// Removes the entry; false when there is none. Readers stop finding it at once.
    bool erase(uint16_t port_id, uint32_t ip);
    /// The entry's kind, if it is in the table.
    std::optional<NeighborKind> kind(uint16_t port_id, uint32_t ip) const;
    /// Changes an entry's kind; false when there is none. One that becomes `learned` starts
    /// aging at `now_ms`, as if just confirmed and used.
    bool set_kind(uint16_t port_id, uint32_t ip, NeighborKind kind, uint64_t now_ms);
    /// Every static and next-hop entry becomes `learned` at `now_ms` (before a new
    /// configuration marks its own again).
    void unpin_all(uint64_t now_ms);
    /// One aging pass over the learned entries at `now_ms` (call it about once a second): takes
    /// the workers' use marks, removes what has expired and asks for the probes due. `on_event`
    /// is told of each; for a probe it returns whether the request went out (one that did not is
    /// asked for again at the next pass).
    void age(uint64_t now_ms, const std::function<bool(const NeighborAging&)>& on_event);

  private:
    // The key word: kLive | generation | port << 32 | ip; 0 empty, 1 a tombstone. The MAC word:
    // generation | MAC (its 6 bytes in memory order, in the low 48 bits).
    static constexpr uint64_t kEmpty = 0;
    static constexpr uint64_t kTombstone = 1;
    static constexpr uint64_t kLive = 1ULL << 63;
    static constexpr uint64_t kGenOne = 1ULL << 48;
    static constexpr uint64_t kGenMask = 0x7fffULL << 48;
    static constexpr uint32_t kNoSlot = UINT32_MAX;

    struct alignas(32) Entry {
        std::atomic<uint64_t> key{kEmpty};
        std::atomic<uint64_t> mac{0};
        mutable std::atomic<uint8_t> used{0};  // set by readers, taken by the aging pass
    };
    // The writer's bookkeeping, kept apart from the entries so that its writes do not take the
    // readers' cache lines away. `kind` is atomic for for_each on other threads.
    struct Meta {
        std::atomic<NeighborKind> kind{NeighborKind::learned};
        uint8_t probes = 0;
        uint64_t confirmed_ms = 0;
        uint64_t used_ms = 0;
        uint64_t probed_ms = 0;
    };

    static uint64_t make_key(uint16_t port_id, uint32_t ip) {
        return kLive | (static_cast<uint64_t>(port_id) << 32) | ip;
    }
    uint32_t home_slot(uint64_t key) const {
        return static_cast<uint32_t>((key * 0x9e3779b97f4a7c15ULL) >> 40) & mask_;
    }
    template <bool kMarkUsed, class Between>
    bool read(uint64_t key, MacAddress& mac, Between&& between) const;
    uint32_t slot_of(uint64_t key) const;  // the writer's: kNoSlot when absent
    void remove_at(uint32_t slot);
    bool evict_learned();  // removes the learned entry used longest ago; false: none
    void start_aging(Meta& m, uint64_t now_ms);

    uint32_t capacity_;
    uint32_t mask_;
    uint32_t probe_limit_;
    std::atomic<uint32_t> live_{0};
    std::unique_ptr<Entry[]> entries_;
    std::unique_ptr<Meta[]> meta_;
};

template <bool kMarkUsed, class Between>
bool NeighborTable::read(uint64_t key, MacAddress& mac, Between&& between) const {
    // Two looks at most: a second one only when the slot was given to another key between the
    // two loads of the first (see the class comment).
    for (int look = 0; look < 2; ++look) {
        bool reused = false;
        for (uint32_t n = 0, i = home_slot(key); n < probe_limit_; ++n, i = (i + 1) & mask_) {
            const Entry& e = entries_[i];
            const uint64_t k = e.key.load(std::memory_order_acquire);
            if ((k & ~kGenMask) == key) {
                between();
                // After the acquire load of the key: this key's MAC word or a later one.
                const uint64_t m = e.mac.load(std::memory_order_relaxed);
                if (((m ^ k) & kGenMask) != 0) {
                    reused = true;
                    break;
                }
                std::memcpy(mac.data(), &m, mac.size());
                if constexpr (kMarkUsed) {
                    // Store only when clear: one write per entry per aging pass. A slot reused
                    // since the loads above marks its new key used once: harmless.
                    if (e.used.load(std::memory_order_relaxed) == 0) {
                        e.used.store(1, std::memory_order_relaxed);
                    }
                }
                return true;
            }
            if (k == kEmpty) {
                return false;
            }
        }
        if (!reused) {
            return false;
        }
    }
    return false;
}

}  // namespace vsnat::dp
