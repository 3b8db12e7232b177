// Next-hop MAC addresses, IPv4's (ARP) and IPv6's (neighbor discovery), written by the control
// thread (ARP and neighbor discovery, static neighbors) and read by every worker without locks.
// Entries the director no longer needs age out and their slots are reused (docs/ARCHITECTURE.md,
// "The neighbor table").
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <type_traits>

#include "vsnat/types.hpp"

namespace vsnat::dp {

/// What a neighbor is to the director; decides whether it ages.
enum class NeighborKind : uint8_t {
    learned,   ///< a host the director sends to now (a client, a host it asked for): ages
    next_hop,  ///< a configured next hop (real server, gateway): kept, the resolver refreshes it
    fixed,     ///< a static `neighbors` entry: kept, never changed by ARP or neighbor discovery
};

/// The kind's name for operators: learned, next_hop, static. Any thread.
std::string_view neighbor_kind_name(NeighborKind kind);

/// What an aging pass asks of, or tells, its caller (BasicNeighborTable::age).
enum class NeighborAgingWhat : uint8_t {
    probe,         ///< in use but not confirmed lately: send an ARP request (IPv6: a neighbor
                   ///< solicitation) for it
    expired_idle,  ///< removed: not used for kIdleMs
    expired_unconfirmed,  ///< removed: in use, but kProbes requests went unanswered
};

template <class Address>
struct BasicNeighborAging {
    using What = NeighborAgingWhat;
    What what;
    uint16_t port_id;
    Address ip;  // network order
    MacAddress mac;
};
using NeighborAging = BasicNeighborAging<uint32_t>;
using NeighborAging6 = BasicNeighborAging<Ipv6>;

/// What the IPv4 and the IPv6 table share: aging times, results, and the words of a slot.
class NeighborTableBase {
  public:
    /// Aging, after Linux's neighbor defaults (arp(7), and the same for IPv6 in ndisc): a
    /// neighbor confirmed within kReachableMs (base_reachable_time) is used without asking; one
    /// used after that is asked for again kProbes times kProbeIntervalMs apart (ucast_solicit,
    /// retrans_time_ms), the old MAC in use meanwhile, and removed if it does not answer; one not
    /// used for kIdleMs (gc_stale_time) is removed.
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

  protected:
    // A slot's words. The first key word: kLive | generation | port << 32 | 32 bits of the
    // address; kEmpty, or kTombstone. Each further key word (IPv6): generation | 48 bits of the
    // address. The MAC word: generation | MAC (its 6 bytes in memory order, in the low 48 bits).
    static constexpr uint64_t kEmpty = 0;
    static constexpr uint64_t kTombstone = 1;
    static constexpr uint64_t kLive = 1ULL << 63;
    static constexpr uint64_t kGenOne = 1ULL << 48;
    static constexpr uint64_t kGenMask = 0x7fffULL << 48;
    static constexpr uint64_t kPayload = kGenOne - 1;
    static constexpr uint32_t kNoSlot = UINT32_MAX;

    /// How a port and an address make a slot's key words, and back.
    template <class Address>
    struct Key;
};

/// IPv4: one word, kLive | port << 32 | address.
template <>
struct NeighborTableBase::Key<uint32_t> {
    static constexpr size_t kWords = 1;
    using Words = std::array<uint64_t, kWords>;
    static Words make(uint16_t port_id, uint32_t ip) {
        return {kLive | (static_cast<uint64_t>(port_id) << 32) | ip};
    }
    static uint64_t hash(const Words& key) { return key[0] * 0x9e3779b97f4a7c15ULL; }
    static uint32_t address(const Words& words) { return static_cast<uint32_t>(words[0]); }
};

/// IPv6: three words. The first, which a lookup compares before it reads the others, holds the
/// port and the address's last four bytes (the ones that differ most between hosts on a link,
/// which share a prefix); the second bytes 0-5, the third bytes 6-11.
template <>
struct NeighborTableBase::Key<Ipv6> {
    static constexpr size_t kWords = 3;
    using Words = std::array<uint64_t, kWords>;
    static Words make(uint16_t port_id, const Ipv6& ip) {
        uint32_t last = 0;
        uint64_t first = 0, middle = 0;
        std::memcpy(&last, ip.data() + 12, 4);
        std::memcpy(&first, ip.data(), 6);  // the low 48 bits (the hosts are little-endian)
        std::memcpy(&middle, ip.data() + 6, 6);
        return {kLive | (static_cast<uint64_t>(port_id) << 32) | last, first, middle};
    }
    static uint64_t hash(const Words& key) {
        return (key[0] ^ (key[1] * 0xc2b2ae3d27d4eb4fULL) ^ (key[2] * 0x165667b19e3779f9ULL)) *
               0x9e3779b97f4a7c15ULL;
    }
    static Ipv6 address(const Words& words) {
        Ipv6 ip;
        const auto last = static_cast<uint32_t>(words[0]);
        const uint64_t first = words[1] & kPayload, middle = words[2] & kPayload;
        std::memcpy(ip.data(), &first, 6);
        std::memcpy(ip.data() + 6, &middle, 6);
        std::memcpy(ip.data() + 12, &last, 4);
        return ip;
    }
};

/// Fixed-capacity open addressing (linear probing) with tombstones, for one address family:
/// NeighborTable (IPv4) and NeighborTable6 (IPv6) below. One writer (the control thread), any
/// number of readers that never lock, wait or retry more than once.
///
/// Why a reader never returns a wrong or torn MAC: a slot's key and MAC are 64-bit atomic
/// words, each read whole: one key word for IPv4, three for IPv6 (whose 144 bits of port and
/// address are cut in 48-bit pieces). Every word carries the slot's generation in the same bits,
/// and the writer increments it each time the slot takes a new key, writing the MAC word and
/// the further key words first and publishing the first key word last (release). A reader loads
/// the first key word (acquire), then the others and the MAC, and keeps the MAC only if all the
/// generations agree. Each word it loads after the acquire is the one written for that
/// generation or a later one, and a later one carries another generation: so when they agree,
/// the slot cannot have been emptied and given to another key between the reader's loads, and
/// the words it read together are one key and its MAC, never pieces of two keys. (A generation
/// repeats only after 2^15 reuses of one slot, and the resolver removes entries in its aging
/// pass, once a second: hours, against nanoseconds between a reader's loads.) When they
/// disagree the reader looks once more and then reports "not resolved", which the packet path
/// already handles (ARP request or neighbor solicitation, hold). The key words of a slot do not
/// change while it holds a key; its MAC changes in one store, and a reader sees the old or the
/// new one, each right for that key at some instant.
///
/// Removal leaves a tombstone (in the first key word) that lookups step over, so the probe chain
/// of every key behind it stays unbroken; inserts reuse tombstones. A tombstone that only an
/// empty slot follows ends no chain and becomes empty again. Keys sit at most kProbeLimit slots
/// past their home slot, and the table has twice as many slots as entries, so a lookup reads a
/// bounded run of slots even when tombstones accumulate.
template <class Address>
class BasicNeighborTable : public NeighborTableBase {
  public:
    /// How an address is passed: IPv4's by value, IPv6's by reference.
    using AddressArg = std::conditional_t<std::is_scalar_v<Address>, Address, const Address&>;
    using Aging = BasicNeighborAging<Address>;

    /// At most `capacity` entries, in twice as many slots.
    explicit BasicNeighborTable(uint32_t capacity = 4096);

    // --- readers: any thread, lock-free ---

    /// The packet path's lookup: whether `ip` (network order) on `port_id` is resolved; if so,
    /// its MAC is written to `mac` and the entry is marked as used (a store only when the mark
    /// was clear, so once per aging pass). When it is not, the caller solicits it (ARP request,
    /// neighbor solicitation) and holds the packet. Any thread. (A std::optional<MacAddress>
    /// return was built through the stack at odd offsets and stalled every lookup on store
    /// forwarding.) Inline, read() too: with set_ethernet_addresses() inline as well, the
    /// packet path's route_and_queue() makes no call for a resolved neighbor.
    bool lookup(uint16_t port_id, AddressArg ip, MacAddress& mac) const {
        return read<true>(KeyOf::make(port_id, ip), mac, [] {});
    }
    /// The same without marking the entry used: for looking, not for sending. Any thread.
    bool peek(uint16_t port_id, AddressArg ip, MacAddress& mac) const;
    /// Any thread. The MAC for `ip` (network order) on `port_id`, if resolved; does not mark.
    std::optional<MacAddress> find(uint16_t port_id, AddressArg ip) const {
        MacAddress mac;
        return peek(port_id, ip, mac) ? std::optional<MacAddress>(mac) : std::nullopt;
    }
    /// lookup() that calls `between()` between its loads of a slot's words: after the first key
    /// word, and for IPv6 again after the MAC, before the further key words. For the concurrency
    /// test, which widens the windows the class comment is about. Any thread.
    template <class Between>
    bool lookup_between(uint16_t port_id, AddressArg ip, MacAddress& mac, Between&& between) const {
        return read<true>(Key<Address>::make(port_id, ip), mac, between);
    }
    /// Calls `fn(port_id, ip, mac, kind)` for every entry, in slot order; an entry changed
    /// meanwhile is seen before or after the change. Any thread.
    void for_each(
        const std::function<void(uint16_t, AddressArg, const MacAddress&, NeighborKind)>& fn) const;
    /// Entries in the table. Any thread.
    uint32_t size() const { return live_.load(std::memory_order_relaxed); }
    /// Entries the table can hold. Any thread.
    uint32_t capacity() const { return capacity_; }

    // --- the writer: the control thread only ---

    /// Adds `ip` (network order) on `port_id` at `mac`, or updates the entry (its MAC and kind);
    /// either way it counts as confirmed at `now_ms`. In a full table a static entry or a next
    /// hop takes the place of the learned entry used longest ago; a learned one is refused. The
    /// defaults make a static entry, as tests and benchmarks want.
    SetResult set(uint16_t port_id, AddressArg ip, const MacAddress& mac,
                  NeighborKind kind = NeighborKind::fixed, uint64_t now_ms = 0);
    /// Removes the entry; false when there is none. Readers stop finding it at once.
    bool erase(uint16_t port_id, AddressArg ip);
    /// The entry's kind, if it is in the table.
    std::optional<NeighborKind> kind(uint16_t port_id, AddressArg ip) const;
    /// Changes an entry's kind; false when there is none. One that becomes `learned` starts
    /// aging at `now_ms`, as if just confirmed and used.
    bool set_kind(uint16_t port_id, AddressArg ip, NeighborKind kind, uint64_t now_ms);
    /// Every static and next-hop entry becomes `learned` at `now_ms` (before a new
    /// configuration marks its own again).
    void unpin_all(uint64_t now_ms);
    /// One aging pass over the learned entries at `now_ms` (call it about once a second): takes
    /// the workers' use marks, removes what has expired and asks for the probes due. `on_event`
    /// is told of each; for a probe it returns whether the request went out (one that did not is
    /// asked for again at the next pass).
    void age(uint64_t now_ms, const std::function<bool(const Aging&)>& on_event);

  private:
    using KeyOf = Key<Address>;
    using Words = typename KeyOf::Words;
    static constexpr size_t kWords = KeyOf::kWords;

    // One slot: 32 bytes for IPv4, 64 (a cache line) for IPv6.
    struct alignas(kWords == 1 ? 32 : 64) Entry {
        std::atomic<uint64_t> key{kEmpty};  // the first key word
        std::atomic<uint64_t> mac{0};
        mutable std::atomic<uint8_t> used{0};  // set by readers, taken by the aging pass
        std::array<std::atomic<uint64_t>, kWords - 1> more{};  // the further key words
    };
    static_assert(kWords > 1 || sizeof(Entry) == 32, "an IPv4 slot stays 32 bytes");
    // The writer's bookkeeping, kept apart from the entries so that its writes do not take the
    // readers' cache lines away. `kind` is atomic for for_each on other threads.
    struct Meta {
        std::atomic<NeighborKind> kind{NeighborKind::learned};
        uint8_t probes = 0;
        uint64_t confirmed_ms = 0;
        uint64_t used_ms = 0;
        uint64_t probed_ms = 0;
    };

    uint32_t home_slot(const Words& key) const {
        return static_cast<uint32_t>(KeyOf::hash(key) >> 40) & mask_;
    }
    template <bool kMarkUsed, class Between>
    bool read(Words key, MacAddress& mac, Between&& between) const;
    bool holds(const Entry& e, const Words& key) const;  // the writer's
    Words words_of(const Entry& e) const;                // the writer's, of a live slot
    uint32_t slot_of(const Words& key) const;            // the writer's: kNoSlot when absent
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

/// The IPv4 neighbors (ARP's cache), by port and address.
using NeighborTable = BasicNeighborTable<uint32_t>;
/// The IPv6 neighbors (neighbor discovery's cache), by port and address.
using NeighborTable6 = BasicNeighborTable<Ipv6>;
// Both are built in neighbor.cpp.
extern template class BasicNeighborTable<uint32_t>;
extern template class BasicNeighborTable<Ipv6>;

template <class Address>
template <bool kMarkUsed, class Between>
[[gnu::always_inline]] inline bool BasicNeighborTable<Address>::read(Words key, MacAddress& mac,
                                                                     Between&& between) const {
    // Two looks at most: a second one only when the slot was given to another key between the
    // loads of the first (see the class comment).
    for (int look = 0; look < 2; ++look) {
        bool reused = false;
        for (uint32_t n = 0, i = home_slot(key); n < probe_limit_; ++n, i = (i + 1) & mask_) {
            const Entry& e = entries_[i];
            const uint64_t k = e.key.load(std::memory_order_acquire);
            if ((k & ~kGenMask) == key[0]) {
                between();
                // After the acquire load of the first key word: each word is this key's, or a
                // later one's.
                const uint64_t m = e.mac.load(std::memory_order_relaxed);
                uint64_t other_generation = (m ^ k) & kGenMask;
                bool other_key = false;
                if constexpr (kWords > 1) {
                    between();
                    for (size_t w = 1; w < kWords; ++w) {
                        const uint64_t more = e.more[w - 1].load(std::memory_order_relaxed);
                        other_generation |= (more ^ k) & kGenMask;
                        other_key |= (more & ~kGenMask) != key[w];
                    }
                }
                if (other_generation != 0) {
                    reused = true;
                    break;
                }
                if (other_key) {
                    continue;  // another address that shares the first word's bits
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
