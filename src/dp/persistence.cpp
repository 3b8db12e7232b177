#include "dp/persistence.hpp"
#include "dp/mix.hpp"

#include <new>

namespace vsnat::dp {
namespace {

using namespace persistence_state;

static_assert(std::atomic<uint64_t>::is_always_lock_free);

// First identity word: dest id (16) | service id (16) | masked IPv4 client address (32), or 0.
constexpr uint64_t kWho = 0x0000ffffffffffffULL;  // what a lookup matches: not the dest
constexpr int kDestShift = 48;
constexpr uint64_t kDestMask = 0xffffULL << kDestShift;

constexpr uint32_t kLockSpins = 4096;

uint64_t with_dest(uint64_t first_word, uint16_t dest_id) {
    return static_cast<uint64_t>(dest_id) << kDestShift | first_word;
}
uint16_t dest_of(uint64_t identity) {
    return static_cast<uint16_t>(identity >> kDestShift);
}

// The dest id of a slot whose identity is `who`'s, or -1. Exact only while the caller holds a
// reference on the slot (persistence.hpp); a filter before.
template <size_t N>
int32_t dest_if_holds(const std::atomic<uint64_t> (&identity)[N],
                      const std::array<uint64_t, N>& who) {
    const uint64_t first = identity[0].load(std::memory_order_acquire);
    if ((first & kWho) != who[0]) {
        return -1;
    }
    for (size_t w = 1; w < N; ++w) {
        if (identity[w].load(std::memory_order_acquire) != who[w]) {
            return -1;
        }
    }
    return dest_of(first);
}

uint32_t refs_of(uint64_t state) {
    return static_cast<uint32_t>(state);
}
uint32_t expiry_of(uint64_t state) {
    return static_cast<uint32_t>(state >> 32);
}
// Wrapping comparison: valid while expiries lie within 2^31 ms of now, which the sweep and the
// configuration's limit on persistence timeouts guarantee.
bool expired(uint64_t state, uint32_t now_ms) {
    return static_cast<int32_t>(expiry_of(state) - now_ms) <= 0;
}
// Referenced, or unreferenced but within its timeout.
bool is_live(uint64_t state, uint32_t now_ms) {
    const uint32_t refs = refs_of(state);
    return refs < kDead && (refs > 0 || !expired(state, now_ms));
}
bool reusable(uint64_t state, uint32_t now_ms) {
    const uint32_t refs = refs_of(state);
    return refs == kDead || (refs == 0 && expired(state, now_ms));
}

// Takes a reference on a live template; false when it is not live (or absurdly shared).
bool take(std::atomic<uint64_t>& state, uint32_t now_ms) {
    uint64_t s = state.load(std::memory_order_acquire);
    while (is_live(s, now_ms) && refs_of(s) < kMaxRefs) {
        if (state.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel,
                                        std::memory_order_acquire)) {
            return true;
        }
    }
    return false;
}

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    asm volatile("yield");
#endif
}

}  // namespace

template <class Client>
std::unique_ptr<BasicPersistenceTable<Client>> BasicPersistenceTable<Client>::create(
    uint32_t capacity, std::string* error) {
    const std::string name = Identity::kTableName;
    if (capacity == 0 || capacity > kMaxCapacity) {
        if (error != nullptr) {
            *error = name + ": capacity " + std::to_string(capacity) + " is outside 1.." +
                     std::to_string(kMaxCapacity);
        }
        return nullptr;
    }
    const uint32_t buckets = bucket_count_for(capacity);
    std::unique_ptr<BasicPersistenceTable> t(new (std::nothrow) BasicPersistenceTable(buckets));
    if (t == nullptr || t->buckets_ == nullptr || t->locks_ == nullptr) {
        if (error != nullptr) {
            *error = name + ": cannot allocate " +
                     std::to_string(static_cast<uint64_t>(buckets) * sizeof(Bucket) >> 20) +
                     " MiB for " + std::to_string(capacity) + " templates";
        }
        return nullptr;
    }
    return t;
}

template <class Client>
BasicPersistenceTable<Client>::BasicPersistenceTable(uint32_t bucket_count)
    : bucket_count_(bucket_count),
      buckets_(new (std::nothrow) Bucket[bucket_count]),
      locks_(new (std::nothrow) std::atomic<uint8_t>[bucket_count]()) {}

template <class Client>
BasicPersistenceTable<Client>::~BasicPersistenceTable() = default;

template <class Client>
size_t BasicPersistenceTable<Client>::memory_bytes() const {
    return static_cast<size_t>(bucket_count_) * (sizeof(Bucket) + sizeof(std::atomic<uint8_t>));
}

template <class Client>
size_t BasicPersistenceTable<Client>::memory_bytes_for(uint32_t capacity) {
    return static_cast<size_t>(bucket_count_for(capacity)) *
           (sizeof(Bucket) + sizeof(std::atomic<uint8_t>));
}

template <class Client>
uint32_t BasicPersistenceTable<Client>::bucket_of(const Words& who) const {
    uint64_t h = mix64(who[0]);
    for (size_t w = 1; w < who.size(); ++w) {
        h = mix64(h ^ who[w]);
    }
    return static_cast<uint32_t>((h >> 32) * bucket_count_ >> 32);
}

template <class Client>
bool BasicPersistenceTable<Client>::try_lock(uint32_t bucket) {
    std::atomic<uint8_t>& lock = locks_[bucket];
    for (uint32_t i = 0; i < kLockSpins; ++i) {
        if (lock.load(std::memory_order_relaxed) == 0 &&
            lock.exchange(1, std::memory_order_acquire) == 0) {
            return true;
        }
        cpu_relax();
    }
    return false;
}

template <class Client>
void BasicPersistenceTable<Client>::unlock(uint32_t bucket) {
    locks_[bucket].store(0, std::memory_order_release);
}

template <class Client>
PersistenceRef BasicPersistenceTable<Client>::acquire(uint16_t service_id, Client client,
                                                      uint32_t now_ms) {
    const Words who = Identity::of(service_id, client);
    const uint32_t b = bucket_of(who);
    for (uint32_t w = 0; w < kSlotsPerBucket; ++w) {
        Slot& s = buckets_[b].slots[w];
        if (dest_if_holds(s.identity, who) < 0 || !take(s.state, now_ms)) {
            continue;
        }
        // The slot may have been reused for another client between the two reads: then the
        // reference went to someone else's template, and is given back.
        const int32_t dest = dest_if_holds(s.identity, who);
        if (dest >= 0) {
            return Ref{b * kSlotsPerBucket + w, static_cast<uint16_t>(dest)};
        }
        s.state.fetch_sub(1, std::memory_order_acq_rel);
    }
    return Ref{};
}

template <class Client>
PersistenceRef BasicPersistenceTable<Client>::bind(uint16_t service_id, Client client,
                                                   uint16_t dest_id, uint32_t now_ms,
                                                   uint32_t timeout_ms) {
    const Words who = Identity::of(service_id, client);
    const uint32_t b = bucket_of(who);
    if (!try_lock(b)) {
        return Ref{};
    }
    Bucket& bucket = buckets_[b];
    // Under the lock no other template of this bucket can be recorded, so one found here is
    // the only one: follow it. (Its identity cannot change under us either: only its dest,
    // by redirect(), which is why the dest is read after the reference is taken.)
    for (uint32_t w = 0; w < kSlotsPerBucket; ++w) {
        Slot& s = bucket.slots[w];
        if (dest_if_holds(s.identity, who) >= 0 && take(s.state, now_ms)) {
            unlock(b);
            return Ref{b * kSlotsPerBucket + w,
                       dest_of(s.identity[0].load(std::memory_order_acquire))};
        }
    }
    for (uint32_t w = 0; w < kSlotsPerBucket; ++w) {
        Slot& s = bucket.slots[w];
        uint64_t state = s.state.load(std::memory_order_acquire);
        while (reusable(state, now_ms)) {
            // Claimed first, so that no reader takes a reference while the identity changes.
            if (s.state.compare_exchange_weak(state, state_of(0, kClaimed),
                                              std::memory_order_acq_rel,
                                              std::memory_order_acquire)) {
                s.identity[0].store(with_dest(who[0], dest_id), std::memory_order_relaxed);
                for (size_t i = 1; i < who.size(); ++i) {
                    s.identity[i].store(who[i], std::memory_order_relaxed);
                }
                s.state.store(state_of(now_ms + timeout_ms, 1), std::memory_order_release);
                unlock(b);
                return Ref{b * kSlotsPerBucket + w, dest_id};
            }
        }
    }
    unlock(b);
    return Ref{};
}

template <class Client>
uint16_t BasicPersistenceTable<Client>::redirect(uint32_t index, uint16_t from_dest,
                                                 uint16_t to_dest) {
    std::atomic<uint64_t>& identity = slot(index).identity[0];
    uint64_t current = identity.load(std::memory_order_acquire);
    while (dest_of(current) == from_dest) {
        const uint64_t next = with_dest(current & ~kDestMask, to_dest);
        if (identity.compare_exchange_weak(current, next, std::memory_order_acq_rel,
                                           std::memory_order_acquire)) {
            return to_dest;
        }
    }
    return dest_of(current);
}

template <class Client>
void BasicPersistenceTable<Client>::release(uint32_t index, uint32_t now_ms, uint32_t timeout_ms) {
    std::atomic<uint64_t>& state = slot(index).state;
    uint64_t s = state.load(std::memory_order_acquire);
    // The expiry only matters once the count is 0; every release restarts it, so the last one
    // to end sets it. (Workers' clocks agree to within a loop, well below a timeout.)
    while (!state.compare_exchange_weak(s, state_of(now_ms + timeout_ms, refs_of(s) - 1),
                                        std::memory_order_acq_rel, std::memory_order_acquire)) {
    }
}

template <class Client>
void BasicPersistenceTable<Client>::sweep(uint32_t& cursor, uint32_t buckets, uint32_t now_ms) {
    for (uint32_t n = 0; n < buckets; ++n) {
        cursor = cursor + 1 < bucket_count_ ? cursor + 1 : 0;
        for (Slot& s : buckets_[cursor].slots) {
            uint64_t state = s.state.load(std::memory_order_acquire);
            // A failed exchange means a worker took or reused it: nothing to sweep then.
            if (refs_of(state) == 0 && expired(state, now_ms)) {
                s.state.compare_exchange_strong(state, state_of(0, kDead),
                                                std::memory_order_acq_rel);
            }
        }
    }
    // The next sweep's bucket, fetched now: it arrives while the worker forwards its next
    // burst, where reading it cold held up every loop (a memory wait each, in a large table).
    const Bucket& next = buckets_[cursor + 1 < bucket_count_ ? cursor + 1 : 0];
    for (size_t line = 0; line < sizeof(Bucket); line += 64) {
        __builtin_prefetch(reinterpret_cast<const char*>(&next) + line);
    }
}

template <class Client>
uint32_t BasicPersistenceTable<Client>::live(uint32_t now_ms) const {
    uint32_t n = 0;
    for (uint32_t b = 0; b < bucket_count_; ++b) {
        for (const Slot& s : buckets_[b].slots) {
            n += is_live(s.state.load(std::memory_order_acquire), now_ms) ? 1 : 0;
        }
    }
    return n;
}

template class BasicPersistenceTable<uint32_t>;
template class BasicPersistenceTable<Ipv6>;

}  // namespace vsnat::dp
