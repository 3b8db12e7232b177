#include "dp/conn_table.hpp"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cstddef>
#include <cstring>

#include <rte_malloc.h>
#include <rte_prefetch.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#if defined(__SSE4_2__)
#include <nmmintrin.h>
#else
#include <rte_hash_crc.h>
#endif

namespace vsnat::dp {
namespace {

// The bucket array is sized for at most 5 keys per 8-entry bucket at capacity, before rounding up
// to a power of two: at that load few keys overflow their primary bucket (so few lookups read
// two), and a displacement search almost never fails.
constexpr uint64_t kKeysPerBucket = 5;
// Buckets a displacement search looks at (breadth first, each once): about two moves deep.
constexpr uint32_t kMaxSearch = 64;
// Ids are shifted left by one to make room for the direction bit.
constexpr uint64_t kMaxCapacity = uint64_t{1} << 31;

// One step of CRC-32C: the SSE4.2 instruction where the build targets it (an intrinsic, which
// the compiler schedules; rte_hash_crc_8byte's inline assembly and its run-time choice of
// method cost 6 cycles a new connection and 4 an established packet in cache), else DPDK's pick
// for the CPU (ARMv8 CRC, or a table).
uint32_t crc32c(uint32_t crc, uint64_t word) {
#if defined(__SSE4_2__)
    return static_cast<uint32_t>(_mm_crc32_u64(crc, word));
#else
    return rte_hash_crc_8byte(word, crc);
#endif
}

// A key's hash: two CRC-32C chains over its 8-byte words, one forwards and one backwards, the
// first the low half (which picks the bucket), the second the high half (the signature). Each
// word costs one crc32 (3 cycles) per chain, and the two chains run side by side: an IPv4 key's
// hash waits 6 cycles, where mix64's dependent multiplies took about 20 (5 to 7 cycles a packet
// in cache). CRC is linear, so keys that differ in few bits (neighbouring addresses and ports)
// spread evenly over the buckets.
template <size_t N>
uint64_t crc_hash(const uint64_t (&words)[N]) {
    uint32_t low = 0;
    uint32_t high = 0;
    for (size_t i = 0; i < N; ++i) {
        low = crc32c(low, words[i]);
        high = crc32c(high, words[N - 1 - i]);
    }
    return uint64_t{high} << 32 | low;
}

uint64_t flow_hash(const FlowKey& key) {
    const auto [addresses, ports] = key.words();
    return crc_hash<2>({addresses, ports});
}

uint64_t flow_hash(const FlowKey6& key) {
    uint64_t words[5];
    static_assert(sizeof(words) == sizeof(FlowKey6));
    std::memcpy(words, &key, sizeof(words));
    return crc_hash(words);
}

}  // namespace

template <class Record>
uint32_t BasicConnTable<Record>::bucket_count(uint32_t capacity) {
    const uint64_t keys = 2ULL * capacity;
    return static_cast<uint32_t>(
        std::bit_ceil(std::max<uint64_t>((keys + kKeysPerBucket - 1) / kKeysPerBucket, 2)));
}

template <class Record>
size_t BasicConnTable<Record>::memory_bytes_for(uint32_t capacity) {
    return sizeof(Bucket) * size_t{bucket_count(capacity)} + sizeof(Record) * size_t{capacity} +
           sizeof(TimerWheel::Node) * TimerWheel::node_count(capacity);
}

template <class Record>
std::unique_ptr<BasicConnTable<Record>> BasicConnTable<Record>::create(const std::string& name,
                                                                       uint32_t capacity,
                                                                       int socket_id,
                                                                       uint32_t now_ms,
                                                                       std::string* error) {
    if (capacity > kMaxCapacity) {
        if (error) {
            *error = "cannot create connection table '" + name + "' for " +
                     std::to_string(capacity) + " connections: at most " +
                     std::to_string(kMaxCapacity);
        }
        return nullptr;
    }
    const uint32_t buckets = bucket_count(capacity);
    // Zeroed: every signature 0, every bucket empty.
    auto* index = static_cast<Bucket*>(rte_zmalloc_socket(
        "vsnat_conn_index", sizeof(Bucket) * size_t{buckets}, RTE_CACHE_LINE_SIZE, socket_id));
    auto* conns = static_cast<Record*>(rte_malloc_socket(
        "vsnat_conn_records", sizeof(Record) * capacity, RTE_CACHE_LINE_SIZE, socket_id));
    auto* nodes = static_cast<TimerWheel::Node*>(rte_malloc_socket(
        "vsnat_conn_timers", sizeof(TimerWheel::Node) * TimerWheel::node_count(capacity),
        RTE_CACHE_LINE_SIZE, socket_id));
    if (index == nullptr || conns == nullptr || nodes == nullptr) {
        rte_free(index);
        rte_free(conns);
        rte_free(nodes);
        if (error) {
            *error = "cannot allocate the index and records of " + std::to_string(capacity) +
                     " connections for '" + name + "'";
        }
        return nullptr;
    }
    return std::unique_ptr<BasicConnTable>(
        new BasicConnTable(index, buckets - 1, conns, nodes, capacity, now_ms));
}

template <class Record>
BasicConnTable<Record>::BasicConnTable(Bucket* buckets, uint32_t bucket_mask, Record* conns,
                                       TimerWheel::Node* nodes, uint32_t capacity, uint32_t now_ms)
    : buckets_(buckets),
      bucket_mask_(bucket_mask),
      capacity_(capacity),
      free_head_(kNoConn),
      conns_(conns),
      nodes_(nodes),
      wheel_({nodes, TimerWheel::node_count(capacity)}, capacity, now_ms) {
    for (uint32_t i = capacity; i-- > 0;) {
        conns_[i] = Record{};
        push_free(i);  // low ids on top
    }
}

template <class Record>
void BasicConnTable<Record>::push_free(uint32_t id) {
    conns_[id].persistence_slot = free_head_;
    free_head_ = id;
}

template <class Record>
BasicConnTable<Record>::~BasicConnTable() {
    rte_free(buckets_);
    rte_free(conns_);
    rte_free(nodes_);
}

template <class Record>
inline typename BasicConnTable<Record>::Hashed BasicConnTable<Record>::hash(const Key& key) const {
    const uint64_t h = flow_hash(key);
    const auto sig = static_cast<uint16_t>(h >> 48);
    return {static_cast<uint32_t>(h) & bucket_mask_, static_cast<uint16_t>(sig + (sig == 0))};
}

template <class Record>
inline uint32_t BasicConnTable<Record>::matches(const Bucket& b, uint16_t sig) {
#ifdef __SSE2__
    // The eight signatures in one compare (GCC leaves the loop below scalar: ~40 instructions,
    // and every lookup asks twice), the 16-bit results packed to bytes for one bit a slot.
    static_assert(kSlots * sizeof(b.sig[0]) == sizeof(__m128i) && offsetof(Bucket, sig) == 0);
    const __m128i equal = _mm_cmpeq_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(b.sig)),
                                          _mm_set1_epi16(static_cast<int16_t>(sig)));
    return static_cast<uint32_t>(_mm_movemask_epi8(_mm_packs_epi16(equal, _mm_setzero_si128())));
#else
    uint32_t mask = 0;
    for (uint32_t s = 0; s < kSlots; ++s) {
        mask |= uint32_t{b.sig[s] == sig} << s;
    }
    return mask;
#endif
}

template <class Record>
inline bool BasicConnTable<Record>::holds(uint32_t ref, const Key& key) const {
    return conns_[ref >> 1].has_key(key, ref & 1);
}

template <class Record>
inline uint32_t BasicConnTable<Record>::match_in(const Bucket& b, uint32_t candidates,
                                                 const Key& key) const {
    for (; candidates != 0; candidates &= candidates - 1) {
        const uint32_t ref = b.ref[std::countr_zero(candidates)];
        if (holds(ref, key)) {
            return ref >> 1;
        }
    }
    return kNoConn;
}

template <class Record>
inline uint32_t BasicConnTable<Record>::find(const Key& key, Hashed h) const {
    const Bucket& primary = buckets_[h.bucket];
    if (const uint32_t id = match_in(primary, matches(primary, h.sig), key); id != kNoConn) {
        return id;
    }
    if (primary.displaced == 0) {
        return kNoConn;
    }
    const Bucket& other = buckets_[alternate(h.bucket, h.sig)];
    return match_in(other, matches(other, h.sig), key);
}

template <class Record>
uint32_t BasicConnTable<Record>::lookup(const Key& key) const {
    return find(key, hash(key));
}

template <class Record>
typename BasicConnTable<Record>::PendingLookup BasicConnTable<Record>::start_lookup(
    const Key& key) const {
    const Hashed h = hash(key);
    rte_prefetch0(&buckets_[h.bucket]);
    return h;
}

template <class Record>
uint32_t BasicConnTable<Record>::fetch_candidate(const PendingLookup& p) const {
    const Bucket& b = buckets_[p.bucket];
    if (const uint32_t m = matches(b, p.sig); m != 0) {
        const uint32_t id = b.ref[std::countr_zero(m)] >> 1;
        prefetch(id);
        return id;
    }
    if (b.displaced != 0) {
        rte_prefetch0(&buckets_[alternate(p.bucket, p.sig)]);
    }
    return kNoConn;
}

template <class Record>
uint32_t BasicConnTable<Record>::finish_lookup(const Key& key, const PendingLookup& p) const {
    // The bucket is read afresh: an earlier packet may have changed it since its fetch.
    return find(key, p);
}

template <class Record>
void BasicConnTable<Record>::lookup_bulk(const Key* const* keys, uint32_t n, uint32_t* ids) const {
    assert(n <= kMaxBurst);
    PendingLookup pending[kMaxBurst];
    for (uint32_t i = 0; i < n; ++i) {
        pending[i] = start_lookup(*keys[i]);
    }
    for (uint32_t i = 0; i < n; ++i) {
        fetch_candidate(pending[i]);
    }
    for (uint32_t i = 0; i < n; ++i) {
        ids[i] = finish_lookup(*keys[i], pending[i]);
    }
}

template <class Record>
void BasicConnTable<Record>::move(uint32_t from, uint32_t slot, uint32_t to, uint32_t to_slot) {
    Bucket& src = buckets_[from];
    Bucket& dst = buckets_[to];
    const bool was_alternate = (src.in_alternate >> slot) & 1;
    dst.sig[to_slot] = src.sig[slot];
    dst.ref[to_slot] = src.ref[slot];
    dst.in_alternate = static_cast<uint8_t>(dst.in_alternate | (!was_alternate) << to_slot);
    src.sig[slot] = 0;
    src.in_alternate = static_cast<uint8_t>(src.in_alternate & ~(1u << slot));
    // `from` and `to` are the key's two buckets: it leaves its primary or goes back to it.
    if (was_alternate) {
        --dst.displaced;
    } else {
        ++src.displaced;
    }
}

template <class Record>
bool BasicConnTable<Record>::place(Hashed h, uint32_t ref) {
    const uint32_t primary = h.bucket;
    const uint32_t other = alternate(primary, h.sig);
    auto put = [&](uint32_t bucket, uint32_t slot) {
        Bucket& b = buckets_[bucket];
        b.sig[slot] = h.sig;
        b.ref[slot] = ref;
        if (bucket == other) {
            b.in_alternate = static_cast<uint8_t>(b.in_alternate | 1u << slot);
            ++buckets_[primary].displaced;
        }
    };
    if (const uint32_t empty = matches(buckets_[primary], 0); empty != 0) {
        put(primary, std::countr_zero(empty));
        return true;
    }
    if (const uint32_t empty = matches(buckets_[other], 0); empty != 0) {
        put(other, std::countr_zero(empty));
        return true;
    }
    // Both full: search breadth first for a chain of moves, each entry to its other bucket,
    // ending in a bucket with room; then make the moves from that end, so that every key stays
    // findable throughout. Each bucket is visited once, so a chain never crosses itself.
    struct Node {
        uint32_t bucket;
        uint8_t parent;  // the node whose entry at `slot` would move into this bucket
        uint8_t slot;
    };
    Node nodes[kMaxSearch] = {{primary, 0, 0}, {other, 0, 0}};
    uint32_t count = 2;
    auto visited = [&](uint32_t bucket) {
        for (uint32_t i = 0; i < count; ++i) {
            if (nodes[i].bucket == bucket) {
                return true;
            }
        }
        return false;
    };
    for (uint32_t at = 0; at < count; ++at) {
        const Bucket& b = buckets_[nodes[at].bucket];
        for (uint32_t s = 0; s < kSlots; ++s) {
            const uint32_t to = alternate(nodes[at].bucket, b.sig[s]);
            if (const uint32_t empty = matches(buckets_[to], 0); empty != 0) {
                move(nodes[at].bucket, s, to, std::countr_zero(empty));
                uint32_t freed = s;
                uint32_t i = at;
                for (; i >= 2; i = nodes[i].parent) {
                    move(nodes[nodes[i].parent].bucket, nodes[i].slot, nodes[i].bucket, freed);
                    freed = nodes[i].slot;
                }
                put(nodes[i].bucket, freed);
                return true;
            }
            if (count < kMaxSearch && !visited(to)) {
                nodes[count++] = {to, static_cast<uint8_t>(at), static_cast<uint8_t>(s)};
            }
        }
    }
    return false;
}

template <class Record>
uint32_t BasicConnTable<Record>::slot_of(const Bucket& b, uint16_t sig, uint32_t ref) {
    for (uint32_t m = matches(b, sig); m != 0; m &= m - 1) {
        if (b.ref[std::countr_zero(m)] == ref) {
            return std::countr_zero(m);
        }
    }
    return kSlots;
}

template <class Record>
void BasicConnTable<Record>::remove(Hashed h, uint32_t ref) {
    Bucket& primary = buckets_[h.bucket];
    if (const uint32_t s = slot_of(primary, h.sig, ref); s < kSlots) {
        primary.sig[s] = 0;
        return;
    }
    Bucket& other = buckets_[alternate(h.bucket, h.sig)];
    if (const uint32_t s = slot_of(other, h.sig, ref); s < kSlots) {
        other.sig[s] = 0;
        other.in_alternate = static_cast<uint8_t>(other.in_alternate & ~(1u << s));
        --primary.displaced;
    }
}

template <class Record>
uint32_t BasicConnTable<Record>::insert(const Record& conn, uint32_t expires_ms,
                                        InsertError& error) {
    if (free_head_ == kNoConn) {
        error = InsertError::full;
        return kNoConn;
    }
    const Key inbound = conn.inbound_key();
    const Key reply = conn.reply_key();
    const Hashed inbound_hash = hash(inbound);
    const Hashed reply_hash = hash(reply);
    if (find(inbound, inbound_hash) != kNoConn || find(reply, reply_hash) != kNoConn) {
        error = InsertError::conflict;
        return kNoConn;
    }
    const uint32_t id = free_head_;
    if (!place(inbound_hash, id << 1)) {
        error = InsertError::full;
        return kNoConn;
    }
    if (!place(reply_hash, id << 1 | 1)) {
        remove(inbound_hash, id << 1);
        error = InsertError::full;
        return kNoConn;
    }
    free_head_ = conns_[id].persistence_slot;
    conns_[id] = conn;
    conns_[id].expires_ms = expires_ms;
    wheel_.schedule(id, expires_ms);
    ++size_;
    error = InsertError::none;
    return id;
}

template <class Record>
void BasicConnTable<Record>::remove_keys_and_free(uint32_t id) {
    const Record& c = conns_[id];
    remove_keys_and_free(Expired{id, hash(c.inbound_key()), hash(c.reply_key())});
}

template <class Record>
typename BasicConnTable<Record>::Expired BasicConnTable<Record>::start_expiry(uint32_t id) const {
    const Record& c = conns_[id];
    const Expired e{id, hash(c.inbound_key()), hash(c.reply_key())};
    rte_prefetch0(&buckets_[e.inbound.bucket]);
    rte_prefetch0(&buckets_[e.reply.bucket]);
    return e;
}

template <class Record>
void BasicConnTable<Record>::remove_keys_and_free(const Expired& e) {
    remove(e.inbound, e.id << 1);
    remove(e.reply, e.id << 1 | 1);
    push_free(e.id);
    --size_;
}

template <class Record>
void BasicConnTable<Record>::erase(uint32_t id) {
    wheel_.cancel(id);
    remove_keys_and_free(id);
}

template class BasicConnTable<Conn>;
template class BasicConnTable<Conn6>;

}  // namespace vsnat::dp
