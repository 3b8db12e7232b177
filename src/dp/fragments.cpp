#include "dp/fragments.hpp"

#include <cstring>
#include <thread>

#include "dp/mix.hpp"

namespace vsnat::dp {
namespace {

constexpr uint32_t kBucketLockSpins = 64;
// A record that finds its bucket busy yields the CPU between its spins, this many times at most:
// the holder may be a worker preempted inside its few dozen nanoseconds (lcores sharing a CPU),
// and a translation not recorded loses its datagram's later fragments. A lookup that misses
// only waits for the next look.
constexpr uint32_t kRecordYields = 64;

// How long entry expiry `expires_ms` has left at `now_ms`; 0 once it has passed. A translation
// never has more than its lifetime left, so anything past that is an entry untouched for so
// long (24.8 days or more) that the 32-bit clock wrapped around it: expired too, not live again.
uint32_t time_left(uint32_t expires_ms, uint32_t now_ms, uint32_t lifetime_ms) {
    const uint32_t left = expires_ms - now_ms;
    return left <= lifetime_ms ? left : 0;
}

uint64_t hash_of(const FragmentKey& key) {
    const uint64_t a = static_cast<uint64_t>(key.src) << 32 | key.dst;
    const uint64_t b = static_cast<uint64_t>(key.id) << 8 | key.protocol;
    return mix64(a ^ mix64(b));
}

uint64_t hash_of(const FragmentKey6& key) {
    uint64_t words[4];
    std::memcpy(words, key.src.data(), sizeof(key.src));
    std::memcpy(words + 2, key.dst.data(), sizeof(key.dst));
    const uint64_t b = static_cast<uint64_t>(key.id) << 8 | key.protocol;
    return mix64(words[0] ^ mix64(words[1] ^ mix64(words[2] ^ mix64(words[3] ^ mix64(b)))));
}

}  // namespace

template <class Address>
BasicFragmentTable<Address>::BasicFragmentTable()
    : buckets_(std::make_unique<Bucket[]>(kBuckets)),
      locks_(std::make_unique<std::atomic<uint8_t>[]>(kBuckets)) {
    static_assert(sizeof(Entry) == (std::is_same_v<Address, uint32_t> ? 28 : 64),
                  "the entry sizes the header speaks of");
}

template <class Address>
uint32_t BasicFragmentTable<Address>::bucket_of(const Key& key) {
    return static_cast<uint32_t>(hash_of(key)) % kBuckets;
}

template <class Address>
bool BasicFragmentTable<Address>::lock(uint32_t bucket) {
    std::atomic<uint8_t>& l = locks_[bucket];
    for (uint32_t i = 0; i < kBucketLockSpins; ++i) {
        if (l.load(std::memory_order_relaxed) == 0 &&
            l.exchange(1, std::memory_order_acquire) == 0) {
            return true;
        }
    }
    return false;
}

template <class Address>
void BasicFragmentTable<Address>::unlock(uint32_t bucket) {
    locks_[bucket].store(0, std::memory_order_release);
}

// Where datagram `key` goes in `bucket`: its own entry (a retransmitted first fragment), a free
// or expired one, or else the one closest to expiry.
template <class Address>
typename BasicFragmentTable<Address>::Entry& BasicFragmentTable<Address>::place_for(
    Bucket& bucket, const Key& key, uint32_t now_ms) {
    for (Entry& e : bucket.entries) {
        if (e.used && e.key == key) {
            return e;
        }
    }
    Entry* oldest = &bucket.entries[0];
    uint32_t oldest_left = UINT32_MAX;
    for (Entry& e : bucket.entries) {
        const uint32_t left = e.used ? time_left(e.expires_ms, now_ms, kLifetimeMs) : 0;
        if (left == 0) {
            return e;
        }
        if (left < oldest_left) {
            oldest = &e;
            oldest_left = left;
        }
    }
    return *oldest;
}

template <class Address>
bool BasicFragmentTable<Address>::record(const Key& key, const Rewrite& rewrite, uint32_t now_ms) {
    const uint32_t b = bucket_of(key);
    bool locked = lock(b);
    for (uint32_t i = 0; !locked && i < kRecordYields; ++i) {
        std::this_thread::yield();
        locked = lock(b);
    }
    if (!locked) {
        return false;
    }
    Entry& e = place_for(buckets_[b], key, now_ms);
    e.key = key;
    e.rewrite = rewrite;
    e.expires_ms = now_ms + kLifetimeMs;
    e.used = true;
    unlock(b);
    recorded_.fetch_add(1, std::memory_order_release);
    return true;
}

template <class Address>
bool BasicFragmentTable<Address>::find(const Key& key, uint32_t now_ms, Rewrite& out) {
    const uint32_t b = bucket_of(key);
    if (!lock(b)) {
        return false;
    }
    bool found = false;
    for (Entry& e : buckets_[b].entries) {
        if (e.used && e.key == key && time_left(e.expires_ms, now_ms, kLifetimeMs) > 0) {
            e.expires_ms = now_ms + kLifetimeMs;
            out = e.rewrite;
            found = true;
            break;
        }
    }
    unlock(b);
    return found;
}

template class BasicFragmentTable<uint32_t>;
template class BasicFragmentTable<Ipv6>;

}  // namespace vsnat::dp
