#include "dp/fragments.hpp"

#include "dp/mix.hpp"

namespace vsnat::dp {
namespace {

constexpr uint32_t kLockSpins = 64;

bool before(uint32_t a, uint32_t b) {
    return static_cast<int32_t>(a - b) < 0;
}

}  // namespace

FragmentTable::FragmentTable()
    : buckets_(std::make_unique<Bucket[]>(kBuckets)),
      locks_(std::make_unique<std::atomic<uint8_t>[]>(kBuckets)) {}

uint32_t FragmentTable::bucket_of(const FragmentKey& key) {
    const uint64_t a = static_cast<uint64_t>(key.src) << 32 | key.dst;
    const uint64_t b = static_cast<uint64_t>(key.id) << 8 | key.protocol;
    return static_cast<uint32_t>(mix64(a ^ mix64(b))) % kBuckets;
}

bool FragmentTable::lock(uint32_t bucket) {
    std::atomic<uint8_t>& l = locks_[bucket];
    for (uint32_t i = 0; i < kLockSpins; ++i) {
        if (l.load(std::memory_order_relaxed) == 0 &&
            l.exchange(1, std::memory_order_acquire) == 0) {
            return true;
        }
    }
    return false;
}

void FragmentTable::unlock(uint32_t bucket) {
    locks_[bucket].store(0, std::memory_order_release);
}

// Where datagram `key` goes in `bucket`: its own entry (a retransmitted first fragment), a free
// or expired one, or else the one closest to expiry.
FragmentTable::Entry& FragmentTable::place_for(Bucket& bucket, const FragmentKey& key,
                                               uint32_t now_ms) {
    for (Entry& e : bucket.entries) {
        if (e.used && e.key == key) {
            return e;
        }
    }
    Entry* oldest = &bucket.entries[0];
    for (Entry& e : bucket.entries) {
        if (!e.used || !before(now_ms, e.expires_ms)) {
            return e;
        }
        if (before(e.expires_ms, oldest->expires_ms)) {
            oldest = &e;
        }
    }
    return *oldest;
}

bool FragmentTable::record(const FragmentKey& key, const FragmentRewrite& rewrite,
                           uint32_t now_ms) {
    const uint32_t b = bucket_of(key);
    if (!lock(b)) {
        return false;
    }
    Entry& e = place_for(buckets_[b], key, now_ms);
    e.key = key;
    e.rewrite = rewrite;
    e.expires_ms = now_ms + kLifetimeMs;
    e.used = true;
    unlock(b);
    return true;
}

bool FragmentTable::find(const FragmentKey& key, uint32_t now_ms, FragmentRewrite& out) {
    const uint32_t b = bucket_of(key);
    if (!lock(b)) {
        return false;
    }
    bool found = false;
    for (Entry& e : buckets_[b].entries) {
        if (e.used && e.key == key && before(now_ms, e.expires_ms)) {
            e.expires_ms = now_ms + kLifetimeMs;
            out = e.rewrite;
            found = true;
            break;
        }
    }
    unlock(b);
    return found;
}

}  // namespace vsnat::dp
